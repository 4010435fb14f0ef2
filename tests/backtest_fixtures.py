"""Seeded synthetic weekly panels with persistent, predictable civilian harm, for backtest-level tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from civrisk.contracts import ACTOR_CLASSES, ORGANIZED_VIOLENCE, PERPETRATOR_GROUPS, validate_panel


def make_panel(
    n_regions: int = 8,
    start: str = "2014-01-06",
    end: str = "2019-12-30",
    seed: int = 11,
    uncovered: tuple[int, str, str] | None = (0, "2016-03-07", "2016-06-27"),
) -> pd.DataFrame:
    """Return a dense PANEL with every measure column; region-specific AR(1) risk drives civilian deaths.

    ``uncovered`` = (region index, first week, last week) outside coverage (measures NaN there).
    """
    rng = np.random.default_rng(seed)
    weeks = pd.date_range(start, end, freq="W-MON")
    n_w = len(weeks)
    level = rng.normal(-1.5, 1.0, n_regions)
    latent = np.zeros((n_regions, n_w))
    for j in range(1, n_w):
        latent[:, j] = 0.9 * latent[:, j - 1] + rng.normal(0, 0.45, n_regions)
    rate = np.exp(level[:, None] + latent)
    civ = rng.poisson(rate).astype(float)
    civ[rng.uniform(size=civ.shape) < 0.01] += 12  # rare mass killings
    harm = np.minimum(civ, rng.poisson(1 + rate / 2)).astype(float)
    events = harm + rng.poisson(rate)
    group_share = rng.dirichlet(np.ones(len(PERPETRATOR_GROUPS)), size=n_regions)
    measures: dict[str, np.ndarray] = {
        "events": events,
        "deaths": civ + rng.poisson(rate),
        "civ_deaths": civ,
        "civ_harm_events": harm,
    }
    for i, vt in enumerate(ORGANIZED_VIOLENCE):
        measures[f"events_{vt}"] = np.floor(events * (i + 1) / 6)
        measures[f"deaths_{vt}"] = np.floor(measures["deaths"] * (i + 1) / 6)
    shares = np.broadcast_to(group_share[:, None, :], (n_regions, n_w, len(PERPETRATOR_GROUPS)))
    civ_split = rng.multinomial(civ.astype(np.int64), shares)
    for g_i, g in enumerate(PERPETRATOR_GROUPS):
        measures[f"civ_deaths_{g}"] = civ_split[:, :, g_i].astype(float)
        measures[f"civ_harm_events_{g}"] = np.minimum(harm, civ_split[:, :, g_i]).astype(float)
    for c in ACTOR_CLASSES:
        measures[f"events_class_{c}"] = rng.binomial(events.astype(int), 0.2).astype(float)

    covered = np.ones((n_regions, n_w), dtype=bool)
    if uncovered is not None:
        r, a, b = uncovered
        covered[r, (weeks >= pd.Timestamp(a)) & (weeks <= pd.Timestamp(b))] = False
    regions = np.array([f"R{i:02d}" for i in range(n_regions)], dtype=object)
    iso3 = np.where(np.arange(n_regions) % 2 == 0, "MLI", "BFA").astype(object)
    panel = pd.DataFrame(
        {
            "region_id": pd.array(np.repeat(regions, n_w), dtype="string"),
            "unit": pd.array(["admin1"] * (n_regions * n_w), dtype="string"),
            "iso3": pd.array(np.repeat(iso3, n_w), dtype="string"),
            "week": np.tile(weeks.to_numpy(dtype="datetime64[ns]"), n_regions),
            "covered": covered.ravel(),
        }
    )
    for name, values in measures.items():
        panel[name] = np.where(covered, values, np.nan).ravel().astype("float32")
    return validate_panel(panel, "tests.backtest_fixtures.make_panel")


@dataclass(frozen=True)
class Inputs:
    """A synthetic panel with its features and targets."""

    panel: pd.DataFrame
    features: pd.DataFrame
    targets: pd.DataFrame


def make_inputs(
    horizons: tuple[int, ...] = (1, 4), targets: tuple[str, ...] = ("civ_any", "civ_deaths"), **kw
) -> Inputs:
    """Return a synthetic panel, its features (lag 1, no neighbours) and targets."""
    from features.build import build_features
    from forecasting.targets import build_targets

    panel = make_panel(**kw)
    features = build_features(panel, None, data_lag_weeks=1)
    labels = build_targets(panel, horizons, targets, origins=pd.DatetimeIndex(features["week"].unique()))
    return Inputs(panel, features, labels)
