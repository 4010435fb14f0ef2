"""Targets: hand-computed windows on a tiny panel, the NaN rules, and no leakage outside t .. t+h-1."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from civrisk.contracts import validate_targets
from forecasting.targets import ALL_TARGETS, TARGET_KINDS, build_targets

WEEKS = pd.date_range("2021-01-04", periods=6, freq="7D")  # Mondays
GROUPS = ("state_allied", "jihadist_rebel", "militia", "other_unknown")


def make_panel(rows: dict[str, dict[str, list[float]]], weeks: pd.DatetimeIndex = WEEKS) -> pd.DataFrame:
    """Return a PANEL-contract frame; per region: civ_deaths and per-group deaths (NaN = uncovered)."""
    frames = []
    for region, m in rows.items():
        civ = np.asarray(m["civ_deaths"], dtype=float)
        covered = ~np.isnan(civ)
        f = pd.DataFrame(
            {
                "region_id": region,
                "unit": "admin1",
                "iso3": "MLI",
                "week": weeks[: len(civ)],
                "covered": covered,
                "events": np.where(covered, (civ > 0).astype(float), np.nan),
                "deaths": civ,
                "civ_deaths": civ,
                "civ_harm_events": np.where(covered, (civ > 0).astype(float), np.nan),
            }
        )
        for g in GROUPS:
            f[f"civ_deaths_{g}"] = np.asarray(m.get(g, np.where(covered, 0.0, np.nan)), dtype=float)
        frames.append(f)
    panel = pd.concat(frames, ignore_index=True)
    panel["region_id"] = panel["region_id"].astype("string")
    panel["unit"] = panel["unit"].astype("string")
    panel["iso3"] = panel["iso3"].astype("string")
    return panel


nan = np.nan
TINY = {
    "A": {
        "civ_deaths": [0, 2, 0, 12, 0, 1],
        "state_allied": [0, 2, 0, 0, 0, 0],
        "jihadist_rebel": [0, 0, 0, 12, 0, 0],
        "militia": [0, 0, 0, 0, 0, 1],
    },
    "B": {"civ_deaths": [0, 0, nan, 0, 0, 0]},  # week 2 uncovered
    "C": {"civ_deaths": [6, 6, 0, 0, 0, 0], "militia": [6, 6, 0, 0, 0, 0]},  # 12 in 2 weeks, no mass week
}


def labels(out: pd.DataFrame, region: str, target: str, h: int) -> list[float]:
    sel = out[(out["region_id"] == region) & (out["target"] == target) & (out["horizon"] == h)]
    return sel.sort_values("week")["y"].tolist()


def assert_same(got: list[float], expected: list[float]) -> None:
    np.testing.assert_array_equal(np.asarray(got, dtype=float), np.asarray(expected, dtype=float))


def test_hand_computed_windows_h2() -> None:
    out = build_targets(make_panel(TINY), horizons=[2])
    validate_targets(out)
    # region A, windows (w0,w1) (w1,w2) (w2,w3) (w3,w4) (w4,w5) (w5,beyond)
    assert_same(labels(out, "A", "civ_deaths", 2), [2, 2, 12, 12, 1, nan])
    assert_same(labels(out, "A", "civ_any", 2), [1, 1, 1, 1, 1, nan])
    assert_same(labels(out, "A", "civ_mass", 2), [0, 0, 1, 1, 0, nan])
    assert_same(labels(out, "A", "civ_any_state_allied", 2), [1, 1, 0, 0, 0, nan])
    assert_same(labels(out, "A", "civ_any_jihadist_rebel", 2), [0, 0, 1, 1, 0, nan])
    assert_same(labels(out, "A", "civ_any_militia", 2), [0, 0, 0, 0, 1, nan])
    # region B: any window touching the uncovered week 2 is NaN, never 0
    assert_same(labels(out, "B", "civ_any", 2), [0, nan, nan, 0, 0, nan])
    assert_same(labels(out, "B", "civ_deaths", 2), [0, nan, nan, 0, 0, nan])
    # region C: 12 civilians over two weeks is not a mass-killing week (needs >= 10 in one week)
    assert_same(labels(out, "C", "civ_mass", 2), [0, 0, 0, 0, 0, nan])
    assert_same(labels(out, "C", "civ_any_militia", 2), [1, 1, 0, 0, 0, nan])


def test_h1_is_the_origin_week_itself_and_long_layout() -> None:
    out = build_targets(make_panel(TINY), horizons=[1, 4], targets=["civ_deaths", "civ_any"])
    assert_same(labels(out, "A", "civ_deaths", 1), [0, 2, 0, 12, 0, 1])
    assert_same(labels(out, "A", "civ_deaths", 4), [14, 14, 13, nan, nan, nan])
    assert list(out.columns) == ["region_id", "week", "horizon", "target", "y"]
    assert len(out) == 3 * 6 * 2 * 2
    assert not out.duplicated(["region_id", "week", "horizon", "target"]).any()
    assert out["week"].dtype == make_panel(TINY)["week"].dtype


def test_week_missing_from_panel_counts_as_uncovered() -> None:
    panel = make_panel(TINY)
    gap = panel[~((panel["region_id"] == "A") & (panel["week"] == WEEKS[1]))].reset_index(drop=True)
    out = build_targets(gap, horizons=[2], targets=["civ_any"])
    assert_same(labels(out, "A", "civ_any", 2), [nan, nan, 1, 1, 1, nan])


def test_explicit_origins_outside_panel_get_nan() -> None:
    origins = [WEEKS[0] - pd.Timedelta(weeks=1), WEEKS[2], WEEKS[-1] + pd.Timedelta(weeks=3)]
    out = build_targets(make_panel(TINY), horizons=[2], targets=["civ_deaths"], origins=origins)
    assert_same(labels(out, "A", "civ_deaths", 2), [nan, 12, nan])
    assert sorted(out["week"].unique()) == sorted(origins)


def test_target_kinds_cover_all_targets() -> None:
    assert set(TARGET_KINDS) == set(ALL_TARGETS)
    assert TARGET_KINDS["civ_deaths"] == "count"
    assert {TARGET_KINDS[t] for t in ALL_TARGETS if t != "civ_deaths"} == {"binary"}


@pytest.mark.parametrize("seed", range(5))
def test_no_leakage_label_depends_only_on_its_window(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_weeks = 30
    weeks = pd.date_range("2020-01-06", periods=n_weeks, freq="7D")

    def random_rows() -> dict[str, dict[str, list[float]]]:
        rows = {}
        for r in ("R1", "R2"):
            civ = rng.poisson(3, n_weeks).astype(float) * rng.integers(0, 2, n_weeks)
            civ[rng.random(n_weeks) < 0.1] = np.nan
            split = rng.dirichlet(np.ones(4), n_weeks)
            groups = {g: list(civ * split[:, i]) for i, g in enumerate(GROUPS)}
            rows[r] = {"civ_deaths": list(civ), **groups}
        return rows

    base = make_panel(random_rows(), weeks)
    t_idx, h = int(rng.integers(0, n_weeks - 6)), int(rng.integers(1, 6))
    other = make_panel(random_rows(), weeks)  # fresh random data everywhere ...
    inside = base["week"].between(weeks[t_idx], weeks[t_idx + h - 1])
    mutated = other.copy()
    mutated.loc[inside] = base.loc[inside]  # ... except the window t .. t+h-1 itself
    a = build_targets(base, horizons=[h], origins=[weeks[t_idx]])
    b = build_targets(mutated, horizons=[h], origins=[weeks[t_idx]])
    pd.testing.assert_frame_equal(a, b)
    # and the check has teeth: changing one week inside the window changes the count label
    bumped = mutated.copy()
    first = inside & (bumped["region_id"] == "R1")
    bumped.loc[first, ["civ_deaths", "covered"]] = [5.0, True]
    c = build_targets(bumped, horizons=[h], targets=["civ_deaths"], origins=[weeks[t_idx]])
    assert c.loc[c["region_id"] == "R1", "y"].item() == 5.0 * h


def test_unknown_target_error() -> None:
    msg = "build_targets: unknown targets ['civ_fun']; expected some of " + str(list(ALL_TARGETS))
    with pytest.raises(ValueError, match=re.escape(msg)):
        build_targets(make_panel(TINY), horizons=[1], targets=["civ_fun"])


def test_missing_measure_error() -> None:
    panel = make_panel(TINY).drop(columns=["civ_deaths_militia"])
    msg = "the panel lacks measure columns ['civ_deaths_militia'] needed by targets ['civ_any_militia']"
    with pytest.raises(ValueError, match=re.escape(msg)):
        build_targets(panel, horizons=[1])


@pytest.mark.parametrize("horizons", [[0], [], [2, 2], [1.5]])
def test_bad_horizons_error(horizons: list) -> None:
    with pytest.raises(ValueError, match=re.escape("build_targets: horizons")):
        build_targets(make_panel(TINY), horizons=horizons)


def test_non_monday_origin_error() -> None:
    msg = "build_targets: 1 origins are not Mondays, e.g. [datetime.date(2021, 1, 5)]"
    with pytest.raises(ValueError, match=re.escape(msg)):
        build_targets(make_panel(TINY), horizons=[1], origins=[pd.Timestamp("2021-01-05")])
