"""Onset features (features/onset.py): neighbours' harm trend, km to the nearest recent harm, weeks since an
actor class first appeared; each read from weeks <= t - k (the property test in test_features_leakage.py
builds them too)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.build import build_features
from features.onset import km_to_harm, pairwise_km, weeks_since_first
from tests.test_features import synthetic_panel


def _quiet_panel(rng: np.random.Generator, n_weeks: int = 40) -> pd.DataFrame:
    """Return 3 fully covered regions (AAA-0, AAA-1, AAA-2) with every measure 0."""
    panel = synthetic_panel(rng, n_weeks=n_weeks, countries={"AAA": 3}, p_covered=1.0)
    measures = [c for c in panel.columns if c not in ("region_id", "unit", "iso3", "week", "covered")]
    panel[measures] = 0.0
    return panel


def _set(panel: pd.DataFrame, region: str, week_index: int, measure: str, value: float) -> None:
    week = panel["week"].min() + pd.Timedelta(weeks=week_index)
    panel.loc[(panel["region_id"] == region) & (panel["week"] == week), measure] = value


REGIONS = pd.DataFrame(
    {
        "region_id": pd.array(["AAA-0", "AAA-1", "AAA-2"], dtype="string"),
        "lat": [0.0, 0.0, 0.0],
        "lon": [0.0, 1.0, 2.0],  # 111.2 km apart on the equator
    }
)


def test_weeks_since_an_actor_class_first_appeared(rng) -> None:
    panel = _quiet_panel(rng)
    _set(panel, "AAA-1", 20, "events_class_private_military", 2)
    _set(panel, "AAA-1", 25, "events_class_private_military", 1)  # a later event does not reset it
    origins = [panel["week"].min() + pd.Timedelta(weeks=w) for w in (20, 21, 31)]
    f = build_features(panel, None, 1, origins).set_index(["region_id", "week"])
    col = f["weeks_since_first_private_military_lag1"]
    # origin 20 reads weeks <= 19: not seen yet (the cap); origin 21 reads week 20: 0; origin 31: 10
    assert col.loc["AAA-1"].tolist() == [520, 0, 10]
    assert col.loc["AAA-0"].tolist() == [520, 520, 520]


def test_km_to_the_nearest_recent_harm(rng) -> None:
    panel = _quiet_panel(rng)
    _set(panel, "AAA-2", 10, "civ_harm_events", 1)
    origin = panel["week"].min() + pd.Timedelta(weeks=12)  # reads weeks <= 11: week 10 is 2 weeks back
    f = build_features(panel, None, 1, [origin], regions=REGIONS).set_index("region_id")
    km4 = f["km_to_harm_4w_lag1"]
    assert km4["AAA-0"] == pytest.approx(222.4, abs=0.5)
    assert km4["AAA-1"] == pytest.approx(111.2, abs=0.5)
    assert km4["AAA-2"] == 1000.0  # its own harm does not count; no other region had any: the cap
    later = panel["week"].min() + pd.Timedelta(weeks=16)  # week 10 left the 4-week window
    g = build_features(panel, None, 1, [later], regions=REGIONS).set_index("region_id")
    assert (g["km_to_harm_4w_lag1"] == 1000.0).all()
    assert g.loc["AAA-0", "km_to_harm_12w_lag1"] == pytest.approx(222.4, abs=0.5)
    # without the region table there are no distance features
    assert "km_to_harm_4w_lag1" not in build_features(panel, None, 1, [origin]).columns


def test_unknown_points_give_nan_distances() -> None:
    km = pairwise_km(np.array([0.0, np.nan, 0.0]), np.array([0.0, 0.0, 1.0]))
    out = km_to_harm(np.array([[1.0, 1.0, 0.0]]), km, 1000.0)
    assert np.isnan(out[0, 1])
    assert out[0, 0] == 1000.0  # the only other harm is at an unknown point
    assert out[0, 2] == pytest.approx(111.2, abs=0.5)


def test_harm_rising_next_door_shows_in_the_neighbour_trend(rng) -> None:
    panel = _quiet_panel(rng)
    for w in range(30, 34):
        _set(panel, "AAA-1", w, "civ_harm_events", 3)
    nb = pd.DataFrame({"region_id": ["AAA-0", "AAA-1"], "neighbour_id": ["AAA-1", "AAA-0"]}, dtype="string")
    origin = panel["week"].min() + pd.Timedelta(weeks=34)
    f = build_features(panel, nb, 1, [origin]).set_index("region_id")
    trend = f["nb_civ_harm_events_trend_4w_12w_lag1"]
    assert trend["AAA-0"] == pytest.approx(np.log1p(3.0))  # 3 a week next door, 0 in the 12 weeks before
    assert trend["AAA-1"] == 0.0  # its neighbour AAA-0 was quiet
    assert trend["AAA-2"] == 0.0  # no neighbours: an empty sum, no change


def test_weeks_since_first_ignores_uncovered_weeks() -> None:
    values = np.array([[np.nan], [0.0], [1.0], [0.0]], dtype=np.float32)
    out = weeks_since_first(values, np.array([0, 1, 2, 3]), cap=52)
    assert out[:, 0].tolist() == [52, 52, 0, 1]


def test_only_points_that_do_not_move_with_events_feed_distances() -> None:
    from types import SimpleNamespace

    from experiments.inputs import fixed_points

    regions = REGIONS.assign(iso3="AAA", unit="admin1", name=["a", "b", "c"])
    drawn = SimpleNamespace(regions=pd.DataFrame({"region_id": ["AAA-0", "AAA-1"]}))  # AAA-2 from events
    got = fixed_points(regions, drawn, "admin1")  # type: ignore[arg-type]
    assert got is not None
    assert got["lat"].isna().tolist() == [False, False, True]
    assert fixed_points(regions, None, "admin1") is None  # every point is an event average
    assert fixed_points(regions, None, "country") is None
    assert fixed_points(regions, None, "grid") is regions  # cell centres
