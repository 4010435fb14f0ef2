"""A seeded synthetic feature frame and labels for model tests (FEATURES contract, civrisk feature names)."""

from __future__ import annotations

import numpy as np
import pandas as pd

GROUPS = ("state_allied", "jihadist_rebel", "militia")


def make_model_data(
    n_regions: int = 12, n_weeks: int = 70, horizon: int = 4, seed: int = 11
) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Return (X, y_binary, y_count): origins of ``n_regions`` regions over ``n_weeks`` weeks.

    Weekly civilian deaths follow a region-level rate with persistent regimes, so lagged window sums carry
    signal about the next ``horizon`` weeks. Features at origin t use weeks <= t-1 only; labels cover
    t .. t+h-1. A few feature values are NaN (outside coverage), like the real feature matrix.
    """
    rng = np.random.default_rng(seed)
    burn = 52
    total = burn + n_weeks + horizon
    base = rng.gamma(0.6, 0.6, n_regions)[:, None]
    regime = np.cumsum(rng.normal(0, 0.25, (n_regions, total)), axis=1)
    rate = base * np.exp(np.clip(regime, -3, 2))
    deaths = rng.poisson(rate).astype(float)
    share = rng.dirichlet(np.ones(len(GROUPS) + 1), (n_regions, total))
    by_group = {g: np.round(deaths * share[:, :, i]) for i, g in enumerate(GROUPS)}
    prefix = np.concatenate([np.zeros((n_regions, 1)), np.cumsum(deaths, axis=1)], axis=1)
    gprefix = {
        g: np.concatenate([np.zeros((n_regions, 1)), np.cumsum(v, axis=1)], axis=1)
        for g, v in by_group.items()
    }
    origins = np.arange(burn, burn + n_weeks)  # origin index t: features from weeks < t

    def window(p: np.ndarray, n: int) -> np.ndarray:
        return p[:, origins] - p[:, origins - n]

    cols: dict[str, np.ndarray] = {}
    for n in (1, 4, 12, 52):
        cols[f"civ_deaths_sum_{n}w_lag1"] = window(prefix, n)
        for g in GROUPS:
            cols[f"civ_deaths_{g}_sum_{n}w_lag1"] = window(gprefix[g], n)
    last_hit = np.full((n_regions, len(origins)), np.nan)
    for j, t in enumerate(origins):
        hits = np.nonzero(deaths[:, :t] > 0)
        for r in range(n_regions):
            weeks = hits[1][hits[0] == r]
            last_hit[r, j] = t - weeks.max() if len(weeks) else np.nan
    cols["weeks_since_civ_harm_lag1"] = last_hit
    cols["covered_share_4w_lag1"] = np.ones((n_regions, len(origins)))
    cols["covered_share_52w_lag1"] = np.ones((n_regions, len(origins)))
    hit_prefix = np.concatenate([np.zeros((n_regions, 1)), np.cumsum(deaths >= 1, axis=1)], axis=1)
    cols["civ_any_weeks_52w_lag1"] = window(hit_prefix, 52)
    label = prefix[:, origins + horizon] - prefix[:, origins]

    week0 = pd.Timestamp("2019-01-07")
    weeks = week0 + pd.to_timedelta(7 * np.arange(n_weeks), unit="D")
    X = pd.DataFrame(
        {
            "region_id": pd.array(
                np.repeat([f"R{r:02d}" for r in range(n_regions)], n_weeks), dtype="string"
            ),
            "week": np.tile(weeks.to_numpy(), n_regions),
            "iso3": pd.array(["MLI"] * (n_regions * n_weeks), dtype="string"),
            "unit": pd.array(["admin1"] * (n_regions * n_weeks), dtype="string"),
        }
    )
    for name, values in cols.items():
        X[name] = values.reshape(-1).astype("float32")
    # a little missingness, as outside coverage
    gaps = rng.random(len(X)) < 0.03
    X.loc[gaps, ["civ_deaths_sum_12w_lag1", "covered_share_4w_lag1"]] = np.nan
    y_count = pd.Series(label.reshape(-1), index=X.index, name="y")
    y_binary = (y_count >= 1).astype("float64")
    return X, y_binary, y_count
