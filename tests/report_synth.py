"""Seeded synthetic inputs of the planner report: one publication of square regions on a grid, with its
previous week, published history, observed weekly harm, drivers and freshness."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
import shapely

from publish.store.store import Publication
from tests.synth_scores import make_scores

DRIVER_FEATURES = (
    "civ_deaths_state_allied_sum_4w_lag1",
    "weeks_since_civ_harm_lag1",
    "nb_events_sum_12w_lag1",
    "odd_thing",
)


def publication(n_scores: int = 0, created_at: datetime = datetime(2020, 6, 1, 6, 30)) -> Publication:
    """Return a Publication of week 2020-W23 as the store would hand it over."""
    return Publication(
        id=7,
        week=date(2020, 6, 1),
        week_label="2020-W23",
        revision=2,
        model_name="xgb-civ",
        model_version="12",
        data_fingerprint="sha256:0123456789abcdef0123456789abcdef",
        scores_digest="d" * 64,
        n_scores=n_scores,
        as_of=datetime(2020, 6, 1),
        created_at=created_at,
        status="published",
    )


def observed_panel(ids: list[str], rng: np.random.Generator, weeks: int = 60) -> pd.DataFrame:
    """Return a weekly panel (region_id, week, covered, civ_deaths, civ_deaths_<group>) to 2020-W22."""
    grid = pd.date_range(end="2020-05-25", periods=weeks, freq="7D")
    n = len(ids) * weeks
    groups = {g: rng.poisson(0.6, n).astype(float) for g in ("state_allied", "jihadist_rebel", "militia")}
    panel = pd.DataFrame(
        {
            "region_id": np.repeat(ids, weeks),
            "week": np.tile(grid, len(ids)),
            "covered": True,
            **{f"civ_deaths_{g}": v for g, v in groups.items()},
        }
    )
    panel["civ_deaths"] = sum(panel[f"civ_deaths_{g}"] for g in groups)
    return panel


def synthetic_inputs(n_regions: int = 12, seed: int = 0, vertices: int = 4) -> dict[str, object]:
    """Return build_report_context keyword arguments: seeded scores on a grid of square regions."""
    rng = np.random.default_rng(seed)
    scores = make_scores(n_regions=n_regions, horizons=(1, 4, 12), seed=seed)
    ids = scores["region_id"].drop_duplicates().tolist()
    side = int(np.ceil(np.sqrt(n_regions)))
    lon = np.array([-5.0 + (i % side) for i in range(n_regions)])
    lat = np.array([12.0 + (i // side) for i in range(n_regions)])
    geoms = {
        rid: shapely.segmentize(shapely.box(x - 0.5, y - 0.5, x + 0.5, y + 0.5), 4.0 / vertices)
        for rid, x, y in zip(ids, lon, lat, strict=True)
    }
    names = scores.drop_duplicates("region_id").set_index("region_id")
    regions = pd.DataFrame(
        {
            "region_id": ids,
            "iso3": names.loc[ids, "iso3"].to_numpy(),
            "name": names.loc[ids, "region_name"].to_numpy(),
            "lat": lat,
            "lon": lon,
        }
    )
    previous = make_scores(n_regions=n_regions, horizons=(1, 4, 12), seed=seed + 1, week="2020-05-25")
    weeks = pd.date_range(end="2020-05-25", periods=25, freq="W-MON")
    history = pd.DataFrame(
        {
            "region_id": np.repeat(ids, len(weeks)),
            "week": np.tile(weeks, n_regions),
            "p": rng.uniform(0, 1, len(weeks) * n_regions),
        }
    )
    observed = observed_panel(ids, rng)
    last4 = observed[observed["week"] > pd.Timestamp("2020-04-27")].groupby("region_id")
    state4 = last4["civ_deaths_state_allied"].sum()
    drivers = pd.DataFrame(
        {
            "region_id": np.repeat(ids, len(DRIVER_FEATURES)),
            "feature": list(DRIVER_FEATURES) * n_regions,
            "contribution": rng.normal(0, 1, len(DRIVER_FEATURES) * n_regions),
            "value": np.ravel([[state4[r], 3.0, 40.0, 1.0] for r in ids]),
        }
    )
    freshness = pd.DataFrame(
        {
            "source": ["acled", "acled", "ucdp_candidate"],
            "iso3": ["MLI", "BFA", "NER"],
            "last_date": pd.to_datetime(["2020-05-30", "2020-05-29", "2020-04-30"]),
            "stale": [False, False, False],
        }
    )
    return {
        "scores": scores,
        "publication": publication(len(scores)),
        "regions": regions,
        "previous_scores": previous,
        "boundaries": geoms,
        "history": history,
        "observed": observed,
        "drivers": drivers,
        "freshness": freshness,
    }


def backtest_metrics() -> pd.DataFrame:
    """Return tidy backtest scores for the model and both baselines at horizons 1 and 4."""
    rows = []
    for h, (b_model, b_clim, b_pers) in {1: (0.08, 0.10, 0.09), 4: (0.15, 0.16, 0.20)}.items():
        for model, b in (("xgb-civ", b_model), ("climatology", b_clim), ("persistence", b_pers)):
            rows.append(("all", model, "civ_any", h, "brier", b, 5000))
        rows.append(("all", "xgb-civ", "civ_any", h, "roc_auc", 0.83, 5000))
        rows.append(("onset", "xgb-civ", "civ_any", h, "brier", 0.99, 100))  # another subset: not read
    return pd.DataFrame(rows, columns=["subset", "model", "target", "horizon", "metric", "value", "n"])
