"""No leakage: features at origin t never change when data after week t - k change.

Property-based (hypothesis): random small panels, lags, origins and neighbourhoods; every value and
coverage flag after the cutoff is rewritten at random. Also: features at t equal those built from the
panel truncated at t - k, and building the panel from events edited after the cutoff changes nothing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.build import build_features
from features.panel import MEASURE_COLUMNS, build_panel
from tests.synth import make_events
from tests.test_features import synthetic_panel


def assert_same_features(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Assert two feature frames are identical: same keys and columns, bit-equal values (NaN equal NaN)."""
    assert list(got.columns) == list(want.columns)
    keys = ["region_id", "week", "iso3"]
    pd.testing.assert_frame_equal(got[keys], want[keys])
    a, b = got.drop(columns=keys).to_numpy(), want.drop(columns=keys).to_numpy()
    assert a.dtype == b.dtype == np.float32
    differ = ~((a == b) | (np.isnan(a) & np.isnan(b)))
    assert not differ.any(), f"features differ: {sorted(set(got.columns[3:][differ.any(axis=0)]))[:10]}"


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def panel_case(draw: st.DrawFn) -> dict:
    seed = draw(st.integers(0, 2**32 - 1))
    n_weeks = draw(st.integers(1, 70))
    k = draw(st.integers(1, 4))
    countries = draw(st.dictionaries(st.sampled_from(["AAA", "BBB", "CCC"]), st.integers(1, 3), min_size=1))
    origin = draw(st.integers(k, n_weeks - 1 + k))  # origin index; it reads weeks <= origin - k
    return {
        "seed": seed,
        "n_weeks": n_weeks,
        "k": k,
        "countries": countries,
        "origin": origin,
        "p_covered": draw(st.sampled_from([0.0, 0.5, 0.9, 1.0])),
        "edge_share": draw(st.floats(0.0, 1.0)),
    }


def _neighbours(panel: pd.DataFrame, share: float, rng: np.random.Generator) -> pd.DataFrame:
    ids = sorted(panel["region_id"].unique())
    pairs = [(a, b) for a in ids for b in ids if a != b and rng.random() < share]
    return pd.DataFrame(pairs, columns=["region_id", "neighbour_id"], dtype="string")


def _regions(panel: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Return a region table with random points (one unknown), so distance features are checked too."""
    ids = sorted(panel["region_id"].unique())
    lat, lon = rng.uniform(10, 20, len(ids)), rng.uniform(-5, 5, len(ids))
    lat[:1] = np.nan
    return pd.DataFrame({"region_id": pd.array(ids, dtype="string"), "lat": lat, "lon": lon})


def _mutate_after(panel: pd.DataFrame, cutoff: pd.Timestamp, rng: np.random.Generator) -> pd.DataFrame:
    """Return ``panel`` with every measure and coverage flag after ``cutoff`` redrawn at random.

    The first late row becomes a covered week with 1,000 of everything, so a late row always changes.
    """
    out = panel.copy()
    late = (out["week"] > cutoff).to_numpy()
    covered = rng.random(late.sum()) < 0.5
    covered[:1] = True
    out.loc[late, "covered"] = covered
    for m in MEASURE_COLUMNS:
        values = rng.poisson(5.0, late.sum()).astype("float32")
        values[:1] = 1000.0
        out.loc[late, m] = np.where(covered, values, np.nan).astype("float32")
    return out


@pytest.mark.slow  # ~4-5 s of CPU for 60 cases x 4 feature builds; kept in the default run
@PROPERTY
@given(case=panel_case())
def test_data_after_the_cutoff_never_changes_features(case: dict) -> None:
    rng = np.random.default_rng(case["seed"])
    panel = synthetic_panel(
        rng, n_weeks=case["n_weeks"], countries=case["countries"], p_covered=case["p_covered"]
    )
    nb = _neighbours(panel, case["edge_share"], rng)
    regions = _regions(panel, rng)
    weeks = np.sort(panel["week"].unique())
    k = case["k"]
    origin = pd.Timestamp(weeks[0]) + pd.Timedelta(weeks=case["origin"])
    cutoff = origin - pd.Timedelta(weeks=k)  # the last week origin may read

    expected = build_features(panel, nb, k, [origin], regions=regions)
    mutated = _mutate_after(panel, cutoff, rng)
    assert mutated.equals(panel) == bool((panel["week"] <= cutoff).all())
    assert_same_features(build_features(mutated, nb, k, [origin], regions=regions), expected)

    truncated = panel[panel["week"] <= cutoff].reset_index(drop=True)
    assert_same_features(build_features(truncated, nb, k, [origin], regions=regions), expected)

    # the same origin inside a run over every possible origin: other origins do not bleed into it
    all_origins = [pd.Timestamp(weeks[0]) + pd.Timedelta(weeks=i) for i in range(k, case["n_weeks"] + k)]
    everything = build_features(panel, nb, k, all_origins, regions=regions)
    at_origin = everything[everything["week"] == origin].reset_index(drop=True)
    assert_same_features(at_origin, expected)


def _coverage(last_date: pd.Timestamp) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source": pd.array(["ucdp_ged"], dtype="string"),
            "iso3": pd.array(["MLI"], dtype="string"),
            "first_date": pd.to_datetime(["2018-01-01"]).astype("datetime64[ns]"),
            "last_date": pd.to_datetime([last_date]).astype("datetime64[ns]"),
            "declared": [True],
        }
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    origin_week=st.integers(2, 60),
    k=st.integers(1, 5),
    coverage_end_week=st.integers(0, 60),
)
def test_events_after_the_cutoff_never_change_features(
    seed: int, origin_week: int, k: int, coverage_end_week: int
) -> None:
    rng = np.random.default_rng(seed)
    events = make_events(n_events=150, n_regions=4, start="2018-01-01", end="2019-03-31", seed=seed % 1000)
    regions = pd.DataFrame({"region_id": [f"MLI-R{i}" for i in range(4)], "unit": "admin1", "iso3": "MLI"})
    first = pd.Timestamp("2018-01-01")
    origin = first + pd.Timedelta(weeks=max(origin_week, k))
    cutoff = origin - pd.Timedelta(weeks=k)  # last week the origin may read
    end = first + pd.Timedelta(weeks=65)
    full_cover = _coverage(end + pd.Timedelta(days=6))

    def features(ev: pd.DataFrame, coverage: pd.DataFrame) -> pd.DataFrame:
        panel = build_panel(ev, regions, coverage, "admin1", start=first, end=end)
        return build_features(panel, None, k, [origin])

    expected = features(events, full_cover)
    late = (events["date_start"] >= cutoff + pd.Timedelta(days=7)).to_numpy()
    edited = events.copy()
    edited.loc[late, "deaths_civilians"] = rng.integers(0, 50, int(late.sum()))
    edited.loc[late, "deaths_best"] = edited.loc[late, "deaths_civilians"] + 1
    edited.loc[late, "violence_type"] = rng.choice(["one_sided", "state_based", "other"], int(late.sum()))
    edited.loc[late, "admin1_id"] = rng.choice([f"MLI-R{i}" for i in range(4)], int(late.sum()))
    shift = pd.to_timedelta(rng.integers(0, 60, int(late.sum())), unit="D")
    edited.loc[late, "date_start"] = edited.loc[late, "date_start"] + shift
    edited.loc[late, "date_end"] = edited.loc[late, "date_start"]
    edited = edited[~late | (rng.random(len(edited)) < 0.7)]  # and drop some late events altogether
    shrunk = _coverage(
        max(cutoff + pd.Timedelta(days=6), first + pd.Timedelta(weeks=coverage_end_week, days=6))
    )
    assert_same_features(features(edited, shrunk), expected)
