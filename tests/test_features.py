"""Feature families checked against direct loops on small panels, and every input error."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from civrisk.contracts import validate_features
from cli.main import app
from features.build import DEFAULT_SPEC, FeatureSpec, build_features
from features.panel import MEASURE_COLUMNS
from tests.synth import make_events
from tests.test_panel import write_boxes_geojson, write_events_dir

KEYS = ["region_id", "week", "iso3"]


def synthetic_panel(
    rng: np.random.Generator,
    n_weeks: int = 40,
    countries: dict[str, int] | None = None,
    p_covered: float = 0.85,
    rate: float = 0.6,
    start: str = "2019-12-30",
    unit: str = "admin1",
) -> pd.DataFrame:
    """Return a dense panel: ``countries`` maps iso3 -> number of regions; coverage is per country."""
    countries = countries or {"AAA": 3, "BBB": 2}
    weeks = pd.date_range(start, periods=n_weeks, freq="7D").astype("datetime64[ns]")
    ids = [iso3 if unit == "country" else f"{iso3}-{r}" for iso3, n in countries.items() for r in range(n)]
    iso3s = [iso3 for iso3, n in countries.items() for _ in range(n)]
    by_country = {iso3: rng.random(n_weeks) < p_covered for iso3 in countries}
    covered = np.concatenate([by_country[iso3] for iso3 in iso3s])
    panel = pd.DataFrame(
        {
            "region_id": pd.array(np.repeat(ids, n_weeks), dtype="string"),
            "unit": pd.array([unit] * len(covered), dtype="string"),
            "iso3": pd.array(np.repeat(iso3s, n_weeks), dtype="string"),
            "week": np.tile(weeks, len(ids)),
            "covered": covered,
        }
    )
    values = rng.poisson(rate, (len(covered), len(MEASURE_COLUMNS))).astype("float32")
    values[~covered] = np.nan
    return pd.concat([panel, pd.DataFrame(values, columns=list(MEASURE_COLUMNS))], axis=1)


def _window(panel: pd.DataFrame, region: str, origin: pd.Timestamp, k: int, n: int) -> pd.DataFrame:
    """Return the panel rows of the ``n`` weeks ending at origin - k (direct, loop-style reference)."""
    last = origin - pd.Timedelta(weeks=k)
    first = last - pd.Timedelta(weeks=n - 1)
    rows = panel[(panel["region_id"] == region) & (panel["week"] >= first) & (panel["week"] <= last)]
    return rows


def _nansum_or_nan(values: pd.Series) -> float:
    return float("nan") if values.isna().all() else float(values.sum())


@pytest.fixture()
def panel(rng: np.random.Generator) -> pd.DataFrame:
    return synthetic_panel(rng)


@pytest.fixture()
def neighbours() -> pd.DataFrame:
    # AAA-0 <-> AAA-1 <-> AAA-2, AAA-2 -> BBB-0 (one way); BBB-1 has none
    return pd.DataFrame(
        {
            "region_id": ["AAA-0", "AAA-1", "AAA-1", "AAA-2", "AAA-2"],
            "neighbour_id": ["AAA-1", "AAA-0", "AAA-2", "AAA-1", "BBB-0"],
        }
    )


def test_columns_rows_and_dtypes(panel: pd.DataFrame, neighbours: pd.DataFrame) -> None:
    f = build_features(panel, neighbours, data_lag_weeks=2)
    assert list(f.columns) == KEYS + DEFAULT_SPEC.names(2)
    # a present_class feature per actor class (placeholder too); 2 neighbour trends, 3 first appearances
    assert len(DEFAULT_SPEC.names(2)) == 142
    assert len(DEFAULT_SPEC.names(2, coords=True)) == 144  # + km to recent harm (4 and 12 weeks)
    assert all(f[c].dtype == np.float32 for c in DEFAULT_SPEC.names(2))
    weeks = np.sort(panel["week"].unique())
    assert len(f) == 5 * (len(weeks) - 2)
    assert f["week"].min() == weeks[2]  # default origins start k weeks after the first panel week
    assert f["week"].max() == weeks[-1]
    assert not f.duplicated(["region_id", "week"]).any()
    assert "civ_deaths_state_allied_sum_4w_lag2" in f.columns
    assert "events_one_sided_sum_12w_lag2" in f.columns


def test_rolling_sums_and_coverage_share_match_a_direct_loop(panel: pd.DataFrame) -> None:
    for k in (1, 3):
        f = build_features(panel, None, data_lag_weeks=k).set_index(["region_id", "week"])
        for region, origin in [
            ("AAA-0", f.index[10][1]),
            ("BBB-1", f.index[-1][1]),
            ("AAA-2", f.index[0][1]),
        ]:
            for n in (1, 4, 12, 52):
                rows = _window(panel, region, origin, k, n)
                got = f.loc[(region, origin)]
                for m in ("civ_deaths", "events_one_sided", "civ_harm_events_militia"):
                    want = _nansum_or_nan(rows[m])
                    assert got[f"{m}_sum_{n}w_lag{k}"] == pytest.approx(want, nan_ok=True), (
                        region,
                        origin,
                        n,
                        m,
                    )
                assert got[f"covered_share_{n}w_lag{k}"] == pytest.approx(rows["covered"].sum() / n)


def test_uncovered_weeks_are_missing_not_zero(rng: np.random.Generator) -> None:
    panel = synthetic_panel(rng, n_weeks=10, countries={"AAA": 1}, p_covered=1.0)
    uncovered = panel["week"].isin(panel["week"].unique()[3:7])
    panel.loc[uncovered, "covered"] = False
    panel.loc[uncovered, list(MEASURE_COLUMNS)] = np.nan
    f = build_features(panel, None).set_index("week")
    weeks = panel["week"].unique()
    at = f.loc[weeks[7]]  # reads weeks 3..6, all uncovered
    assert np.isnan(at["civ_deaths_sum_4w_lag1"]) and at["covered_share_4w_lag1"] == 0
    at = f.loc[weeks[8]]  # 4-week window 4..7: one covered week
    assert at["civ_deaths_sum_4w_lag1"] == panel["civ_deaths"].iloc[7]
    assert at["covered_share_4w_lag1"] == 0.25


def _one_region(values: list[float], covered: list[bool] | None = None, measure: str = "civ_harm_events"):
    n = len(values)
    covered = covered if covered is not None else [True] * n
    weeks = pd.date_range("2020-01-06", periods=n, freq="7D").astype("datetime64[ns]")
    frame = pd.DataFrame(
        {"region_id": "AAA-0", "unit": "admin1", "iso3": "AAA", "week": weeks, "covered": covered}
    )
    for m in MEASURE_COLUMNS:
        frame[m] = np.where(covered, 0.0, np.nan).astype("float32")
    frame[measure] = np.where(covered, values, np.nan).astype("float32")
    return frame.astype({"region_id": "string", "unit": "string", "iso3": "string"})


def test_weeks_since_last_civilian_harm() -> None:
    covered = [False, True, True, True, True, True, True, True]
    panel = _one_region([0, 0, 0, 2, 0, 0, 0, 0], covered)
    f = build_features(panel, None)
    got = f["weeks_since_civ_harm_lag1"].tolist()
    # origins are weeks 1..7 and origin i reads weeks <= i-1: week 0 is uncovered -> NaN; then no event
    # since coverage began (1, 2 weeks observed); the event in week 3 -> 0, then 1, 2, 3
    assert got[0] != got[0]
    assert got[1:] == [1, 2, 0, 1, 2, 3]
    capped = build_features(panel, None, spec=FeatureSpec(since_cap=2))["weeks_since_civ_harm_lag1"]
    assert capped.tolist()[1:] == [1, 2, 0, 1, 2, 2]


def test_trend_compares_recent_and_previous_rates() -> None:
    values = [1.0] * 12 + [3.0] * 4  # previous 12 weeks: 1 a week; recent 4: 3 a week
    panel = _one_region(values, measure="civ_deaths")
    weeks = panel["week"]
    origin = weeks.iloc[-1] + pd.Timedelta(weeks=1)
    f = build_features(panel, None, origins=[origin])
    assert f["civ_deaths_trend_4w_12w_lag1"].iloc[0] == pytest.approx(np.log1p(3) - np.log1p(1), rel=1e-6)
    uncovered_prev = _one_region(values, [False] * 12 + [True] * 4, measure="civ_deaths")
    f = build_features(uncovered_prev, None, origins=[origin])
    assert np.isnan(f["civ_deaths_trend_4w_12w_lag1"].iloc[0])


def test_neighbour_and_country_sums(panel: pd.DataFrame, neighbours: pd.DataFrame) -> None:
    f = build_features(panel, neighbours).set_index(["region_id", "week"])
    origin = f.index[15][1]
    own = {
        r: f.loc[(r, origin), "civ_deaths_sum_4w_lag1"] for r in ("AAA-0", "AAA-1", "AAA-2", "BBB-0", "BBB-1")
    }
    nb = {r: f.loc[(r, origin), "nb_civ_deaths_sum_4w_lag1"] for r in own}
    assert nb["AAA-1"] == pytest.approx(np.nansum([own["AAA-0"], own["AAA-2"]]))
    assert nb["AAA-2"] == pytest.approx(np.nansum([own["AAA-1"], own["BBB-0"]]))
    assert nb["BBB-1"] == 0  # no neighbours: an empty sum
    cty = {r: f.loc[(r, origin), "cty_civ_deaths_sum_4w_lag1"] for r in own}
    assert cty["AAA-0"] == cty["AAA-2"] == pytest.approx(own["AAA-0"] + own["AAA-1"] + own["AAA-2"])
    assert cty["BBB-1"] == pytest.approx(own["BBB-0"] + own["BBB-1"])


def test_neighbours_all_uncovered_give_nan(rng: np.random.Generator) -> None:
    panel = synthetic_panel(rng, n_weeks=8, countries={"AAA": 1, "BBB": 1}, p_covered=1.0)
    bbb = panel["iso3"] == "BBB"
    panel.loc[bbb, "covered"] = False
    panel.loc[bbb, list(MEASURE_COLUMNS)] = np.nan
    nb = pd.DataFrame({"region_id": ["AAA-0"], "neighbour_id": ["BBB-0"]})
    f = build_features(panel, nb)
    assert f.loc[f["region_id"] == "AAA-0", "nb_events_sum_4w_lag1"].isna().all()


def test_country_panel_supplies_totals_with_unlocated_events(panel: pd.DataFrame) -> None:
    country = panel.groupby(["iso3", "week"], as_index=False).agg(
        covered=("covered", "first"), **{m: (m, lambda s: s.sum(min_count=1)) for m in MEASURE_COLUMNS}
    )
    country.insert(0, "region_id", country["iso3"])
    country.insert(1, "unit", "country")
    covered = country["covered"].to_numpy()
    country.loc[covered, "civ_deaths"] += 1  # one unlocated civilian death each covered week
    country = country.astype({"region_id": "string", "unit": "string", "iso3": "string"})
    plain = build_features(panel, None)
    with_country = build_features(panel, None, country_panel=country)
    diff = with_country["cty_civ_deaths_sum_4w_lag1"] - plain["cty_civ_deaths_sum_4w_lag1"]
    share = with_country["covered_share_4w_lag1"]
    np.testing.assert_allclose(diff.dropna(), (share * 4).loc[diff.notna()], rtol=1e-6)
    pd.testing.assert_series_equal(with_country["cty_events_sum_12w_lag1"], plain["cty_events_sum_12w_lag1"])


def test_country_unit_has_no_cty_family(rng: np.random.Generator) -> None:
    panel = synthetic_panel(rng, countries={"AAA": 1, "BBB": 1}, unit="country")
    f = build_features(panel, None)
    assert not [c for c in f.columns if c.startswith(("cty_", "nb_"))]
    assert list(f.columns) == KEYS + DEFAULT_SPEC.names(1, neighbours=False, country=False)


def test_class_presence_and_season(panel: pd.DataFrame) -> None:
    f = build_features(panel, None)
    present = f.set_index(["region_id", "week"])["present_class_jihadist_12w_lag1"]
    assert set(present.dropna().unique()) == {0.0, 1.0}
    for (region, origin), got in present.iloc[::7].items():
        window = _window(panel, region, origin, 1, 12)["events_class_jihadist"]
        want = np.nan if window.isna().all() else float(window.sum() > 0)
        assert got == pytest.approx(want, nan_ok=True), (region, origin)
    angle = 2 * np.pi * (f["week"].dt.day_of_year - 1) / 365.25
    np.testing.assert_allclose(f["week_of_year_sin"], np.sin(angle), atol=1e-6)
    np.testing.assert_allclose(f["week_of_year_cos"], np.cos(angle), atol=1e-6)


def test_row_order_of_the_panel_does_not_matter(panel: pd.DataFrame, neighbours: pd.DataFrame) -> None:
    shuffled = panel.sample(frac=1.0, random_state=3).reset_index(drop=True)
    pd.testing.assert_frame_equal(build_features(shuffled, neighbours), build_features(panel, neighbours))


def test_live_origin_after_the_panel_end(panel: pd.DataFrame) -> None:
    last = panel["week"].max()
    live = last + pd.Timedelta(weeks=2)
    f = build_features(panel, None, data_lag_weeks=2, origins=[live])
    assert (f["week"] == live).all() and len(f) == 5
    ref = build_features(panel, None, data_lag_weeks=1, origins=[last + pd.Timedelta(weeks=1)])
    np.testing.assert_array_equal(
        f["civ_deaths_sum_4w_lag2"].to_numpy(), ref["civ_deaths_sum_4w_lag1"].to_numpy()
    )


def test_origin_errors(panel: pd.DataFrame) -> None:
    first, last = panel["week"].min(), panel["week"].max()
    msg = (
        "1 origins (e.g. ['2020-10-12']) need data outside the panel: with data_lag_weeks=1 an origin t "
        "reads weeks up to t-1, and the panel holds 2019-12-30..2020-09-28, so origins must lie in "
        "2020-01-06..2020-10-05"
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        build_features(panel, None, origins=[last + pd.Timedelta(weeks=2)])
    with pytest.raises(ValueError, match=re.escape("need data outside the panel")):
        build_features(panel, None, origins=[first])
    with pytest.raises(ValueError, match=re.escape("1 origins are not Mondays, e.g. ['2020-03-04']")):
        build_features(panel, None, origins=[pd.Timestamp("2020-03-04")])
    with pytest.raises(ValueError, match=re.escape("data_lag_weeks must be an integer >= 1")):
        build_features(panel, None, data_lag_weeks=0)


def test_panel_errors(panel: pd.DataFrame, neighbours: pd.DataFrame) -> None:
    holed = panel.drop(index=[3, 50])
    with pytest.raises(
        ValueError, match=re.escape("is not dense: 198 rows for 5 regions x 40 weeks (expected 200)")
    ):
        build_features(holed, None)
    bad = panel.copy()
    bad.loc[bad["covered"].to_numpy().nonzero()[0][:2], "deaths"] = np.nan
    with pytest.raises(
        ValueError, match=re.escape("panel column 'deaths' holds NaN in 2 covered region-weeks")
    ):
        build_features(bad, None)
    stray = pd.concat([neighbours, pd.DataFrame({"region_id": ["ZZZ-9"], "neighbour_id": ["AAA-0"]})])
    with pytest.raises(
        ValueError, match=re.escape("neighbours table has 1 rows naming regions that are not")
    ):
        build_features(panel, stray)
    wrong = neighbours.rename(columns={"neighbour_id": "other"})
    with pytest.raises(ValueError, match=re.escape("neighbours table lacks columns ['neighbour_id']")):
        build_features(panel, wrong)


def test_features_cli_all_origins_and_cutoff(tmp_path: Path) -> None:
    runner = CliRunner()
    src = write_events_dir(tmp_path / "events", make_events(n_events=300, n_regions=6))
    shapes = write_boxes_geojson(tmp_path / "adm1.geojson")
    folder = tmp_path / "panel"
    args = [
        "panel",
        "--events",
        str(src),
        "--unit",
        "admin1",
        "--out",
        str(folder),
        "--boundaries",
        str(shapes),
    ]
    assert runner.invoke(app, args).exit_code == 0

    out = tmp_path / "features.parquet"
    result = runner.invoke(app, ["features", "--panel", str(folder), "--unit", "admin1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (
        "features: 936 rows (6 regions x origins 2018-W02..2020-W53), 142 features with data lag 1"
        in result.output
    )
    every = validate_features(pd.read_parquet(out))
    panel = pd.read_parquet(folder / "panel_admin1.parquet")
    assert list(every.columns) == KEYS + DEFAULT_SPEC.names(1)
    assert every["cty_events_sum_12w_lag1"].max() > every["events_sum_12w_lag1"].max()

    one = tmp_path / "one.parquet"
    args = ["features", "--panel", str(folder), "--unit", "admin1", "--out", str(one), "--lag", "2"]
    result = runner.invoke(app, [*args, "--cutoff", "2020-W10"])
    assert result.exit_code == 0, result.output
    single = pd.read_parquet(one)
    assert (single["week"] == pd.Timestamp("2020-03-02")).all() and len(single) == 6
    assert "civ_deaths_sum_4w_lag2" in single.columns
    direct = build_features(
        panel,
        pd.read_parquet(folder / "neighbours_admin1.parquet"),
        2,
        [pd.Timestamp("2020-03-02")],
        country_panel=pd.read_parquet(folder / "panel_country.parquet"),
    )
    pd.testing.assert_frame_equal(single, direct, check_dtype=False)

    result = runner.invoke(app, [*args, "--cutoff", "2030-01-01"])  # a Tuesday: refused, not snapped
    assert result.exit_code == 1
    assert "week 2030-01-01 is a Tuesday, not a Monday" in result.output
    result = runner.invoke(app, [*args, "--cutoff", "2029-12-31"])
    assert result.exit_code == 1
    assert "civrisk features: 1 origins (e.g. ['2029-12-31']) need data outside the panel" in result.output
    result = runner.invoke(app, ["features", "--panel", str(tmp_path), "--unit", "grid", "--out", str(one)])
    assert (
        result.exit_code == 1
        and "panel_grid.parquet not found; run civrisk panel --unit grid" in result.output
    )


def test_features_cli_without_neighbour_pairs_leaves_out_the_nb_family(tmp_path: Path) -> None:
    runner = CliRunner()
    src = write_events_dir(tmp_path / "events", make_events(n_events=100, n_regions=3))
    folder = tmp_path / "panel"
    args = ["panel", "--events", str(src), "--unit", "admin1", "--out", str(folder)]
    args += ["--boundaries", str(write_boxes_geojson(tmp_path / "far.geojson", 1))]  # one box: no pairs
    assert runner.invoke(app, args).exit_code == 0
    out = tmp_path / "f.parquet"
    result = runner.invoke(app, ["features", "--panel", str(folder), "--unit", "admin1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "neighbours_admin1.parquet holds no neighbour pairs" in result.output
    columns = pd.read_parquet(out).columns
    assert not [c for c in columns if c.startswith("nb_")] and "cty_events_sum_4w_lag1" in columns
