"""The dense weekly panel: measures, coverage, placement, accounting of every event."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from civrisk.contracts import ORGANIZED_VIOLENCE, PERPETRATOR_GROUPS, ContractError, validate_panel
from civrisk.weeks import week_start
from cli.main import app
from features.panel import (
    MEASURE_COLUMNS,
    PANEL_KEY_COLUMNS,
    build_panel,
    build_panel_with_report,
    country_regions,
)
from features.sources import select_source
from ingest.coverage import compute_coverage
from tests.synth import make_events

# ----------------------------------------------------------------------------------------------
# build_panel
# ----------------------------------------------------------------------------------------------


def _regions(ids: list[str], iso3: str = "MLI", unit: str = "admin1") -> pd.DataFrame:
    return pd.DataFrame(
        {"region_id": ids, "unit": unit, "iso3": iso3, "name": ids, "lat": 0.0, "lon": 0.0}
    ).astype({"region_id": "string", "unit": "string", "iso3": "string", "name": "string"})


def _coverage(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["source", "iso3", "first_date", "last_date"])
    frame["first_date"] = pd.to_datetime(frame["first_date"]).astype("datetime64[ns]")
    frame["last_date"] = pd.to_datetime(frame["last_date"]).astype("datetime64[ns]")
    frame["declared"] = True
    return frame.astype({"source": "string", "iso3": "string"})


MLI_REGIONS = [f"MLI-R{i}" for i in range(6)] + ["MLI-R9"]  # MLI-R9 never has an event
FULL = [("ucdp_ged", "MLI", "2018-01-01", "2020-12-27")]  # Monday 2018-01-01 .. Sunday 2020-12-27


@pytest.fixture()
def events() -> pd.DataFrame:
    return make_events(n_events=500, n_regions=6, start="2018-01-01", end="2020-12-27")


def test_panel_is_dense_typed_and_sorted(events: pd.DataFrame) -> None:
    panel = build_panel(events, _regions(MLI_REGIONS), _coverage(FULL), "admin1")
    weeks = pd.date_range("2018-01-01", "2020-12-21", freq="7D")
    assert list(panel.columns) == list(PANEL_KEY_COLUMNS) + list(MEASURE_COLUMNS)
    assert len(panel) == len(MLI_REGIONS) * len(weeks)
    assert all(panel[m].dtype == np.float32 for m in MEASURE_COLUMNS)
    assert panel["week"].dtype == "datetime64[ns]"
    expected_keys = pd.MultiIndex.from_product([sorted(MLI_REGIONS), weeks])
    assert (pd.MultiIndex.from_frame(panel[["region_id", "week"]]) == expected_keys).all()
    assert panel["covered"].all() and (panel["unit"] == "admin1").all()
    quiet = panel[panel["region_id"] == "MLI-R9"]
    assert (quiet[list(MEASURE_COLUMNS)] == 0).all().all()  # covered and nothing happened: 0, not NaN


def test_measures_equal_a_groupby_of_the_events(events: pd.DataFrame) -> None:
    panel, report = build_panel_with_report(events, _regions(MLI_REGIONS), _coverage(FULL), "admin1")
    assert report.counted == len(events) and report.events_in == len(events)
    ev = events.assign(week=week_start(events["date_start"]), region_id=events["admin1_id"])
    ev["jihadist"] = (ev["side_a_class"] == "jihadist") | (ev["side_b_class"] == "jihadist")
    ev["state_allied"] = ev["perpetrator_class"].isin(PERPETRATOR_GROUPS["state_allied"])
    ev["one_sided"] = ev["violence_type"] == "one_sided"
    want = ev.groupby(["region_id", "week"]).apply(
        lambda g: pd.Series(
            {
                "events": len(g),
                "deaths": g["deaths_best"].sum(),
                "civ_deaths": g["deaths_civilians"].sum(),
                "civ_harm_events": g["civilian_harm"].sum(),
                "deaths_one_sided": g.loc[g["one_sided"], "deaths_best"].sum(),
                "events_class_jihadist": g["jihadist"].sum(),
                "civ_deaths_state_allied": g.loc[g["state_allied"], "deaths_civilians"].sum(),
                "civ_harm_events_state_allied": (g["civilian_harm"] & g["state_allied"]).sum(),
            }
        )
    )
    got = panel.set_index(["region_id", "week"]).loc[want.index, list(want.columns)]
    np.testing.assert_array_equal(got.to_numpy(), want.to_numpy(dtype=np.float32))
    others = panel.set_index(["region_id", "week"]).drop(index=want.index)
    assert (others[list(MEASURE_COLUMNS)] == 0).all().all()


def test_breakdowns_add_up_to_totals(events: pd.DataFrame) -> None:
    events = events.copy()
    events.loc[events.index[:20], "perpetrator_class"] = pd.NA  # unknown perpetrator -> other_unknown
    panel = build_panel(events, _regions(MLI_REGIONS), _coverage(FULL), "admin1")
    totals = panel[list(MEASURE_COLUMNS)].sum()
    assert totals["events"] == sum(totals[f"events_{vt}"] for vt in ORGANIZED_VIOLENCE)
    assert totals["deaths"] == sum(totals[f"deaths_{vt}"] for vt in ORGANIZED_VIOLENCE)
    assert totals["civ_deaths"] == sum(totals[f"civ_deaths_{g}"] for g in PERPETRATOR_GROUPS)
    assert totals["civ_harm_events"] == sum(totals[f"civ_harm_events_{g}"] for g in PERPETRATOR_GROUPS)
    assert totals["events"] == len(events)


def test_outside_coverage_is_nan_and_reported(events: pd.DataFrame) -> None:
    cov = _coverage([("ucdp_ged", "MLI", "2019-01-07", "2019-12-29")])  # Monday .. Sunday
    panel, report = build_panel_with_report(
        events, _regions(MLI_REGIONS), cov, "admin1", start="2018-01-01", end="2020-12-21"
    )
    inside = (panel["week"] >= "2019-01-07") & (panel["week"] <= "2019-12-23")
    assert (panel["covered"] == inside).all()
    assert panel.loc[~inside, list(MEASURE_COLUMNS)].isna().all().all()
    assert panel.loc[inside, list(MEASURE_COLUMNS)].notna().all().all()
    in_window = week_start(events["date_start"]).between("2019-01-07", "2019-12-23")
    assert report.counted == int(in_window.sum()) == panel["events"].sum()
    assert report.outside_source_coverage == int((~in_window).sum())


def test_partly_covered_week_is_not_covered(events: pd.DataFrame) -> None:
    cov = _coverage([("ucdp_ged", "MLI", "2018-01-03", "2020-12-27")])  # starts on a Wednesday
    panel = build_panel(events, _regions(MLI_REGIONS), cov, "admin1")
    first = panel[panel["week"] == panel["week"].min()]
    assert first["week"].iloc[0] == pd.Timestamp("2018-01-01") and not first["covered"].any()
    assert first["events"].isna().all()


def test_events_are_placed_by_the_week_of_date_start(events: pd.DataFrame) -> None:
    ev = events.iloc[:2].copy()
    ev["date_start"] = pd.to_datetime(["2020-01-12", "2020-01-13"])  # a Sunday, then the next Monday
    ev["date_end"] = pd.to_datetime(["2020-02-20", "2020-01-13"])  # a long, imprecise first event
    ev["admin1_id"] = "MLI-R0"
    panel = build_panel(ev, _regions(MLI_REGIONS), _coverage(FULL), "admin1").set_index(["region_id", "week"])
    assert panel.loc[("MLI-R0", pd.Timestamp("2020-01-06")), "events"] == 1
    assert panel.loc[("MLI-R0", pd.Timestamp("2020-01-13")), "events"] == 1
    assert panel["events"].sum() == 2  # counted once each, whatever the span


def test_other_violence_is_left_out_and_counted(events: pd.DataFrame) -> None:
    ev = events.copy()
    ev.loc[ev.index[:30], "violence_type"] = "other"
    panel, report = build_panel_with_report(ev, _regions(MLI_REGIONS), _coverage(FULL), "admin1")
    assert report.not_organized == 30 and report.counted == len(ev) - 30
    assert panel["events"].sum() == len(ev) - 30


def test_imprecise_events_go_to_country_totals_and_the_report(
    events: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    ev = events.copy()
    ev["admin1_id"] = ev["admin1_id"].astype("string")
    ev.loc[ev.index[:25], "admin1_id"] = pd.NA
    regions = _regions(MLI_REGIONS)
    panel, report = build_panel_with_report(ev, regions, _coverage(FULL), "admin1")
    assert report.no_region == 25 == report.left_out and panel["events"].sum() == len(ev) - 25
    with caplog.at_level(logging.WARNING, logger="features.panel"):
        build_panel(ev, regions, _coverage(FULL), "admin1")
    assert "25 without a region at the admin1 level (country totals only)" in caplog.text
    assert caplog.records[-1].levelno == logging.WARNING
    country = build_panel(ev, country_regions(regions), _coverage(FULL), "country")
    assert list(country["region_id"].unique()) == ["MLI"]
    assert country["events"].sum() == len(ev)
    assert country["civ_deaths"].sum() == ev["deaths_civilians"].sum()


def test_regions_missing_from_the_table_are_reported(events: pd.DataFrame) -> None:
    regions = _regions([r for r in MLI_REGIONS if r != "MLI-R5"])
    _, report = build_panel_with_report(events, regions, _coverage(FULL), "admin1")
    assert report.unknown_region == int((events["admin1_id"] == "MLI-R5").sum()) > 0
    assert report.counted + report.unknown_region == len(events)


def test_grid_and_country_units(events: pd.DataFrame) -> None:
    cells = sorted(events["grid_id"].astype(str).unique())
    grid = build_panel(events, _regions(cells, unit="grid"), _coverage(FULL), "grid")
    assert set(grid["region_id"]) == set(cells) and grid["events"].sum() == len(events)
    country = build_panel(events, _regions(["MLI"], unit="country"), _coverage(FULL), "country")
    assert country["events"].sum() == len(events) and (country["unit"] == "country").all()


def test_overlapping_sources_raise(events: pd.DataFrame) -> None:
    cov = _coverage(
        [("ucdp_ged", "MLI", "2018-01-01", "2020-12-27"), ("acled", "MLI", "2020-01-01", "2020-12-27")]
    )
    msg = (
        "1 country windows are covered by several sources, which would count the same violence twice "
        "(MLI: ucdp_ged 2018-01-01..2020-12-27 overlaps acled 2020-01-01..2020-12-27). Build the panel "
        "from one source: civrisk panel --source acled (or features.sources.select_source)."
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        build_panel(events, _regions(MLI_REGIONS), cov, "admin1")


def test_consecutive_sources_each_count_in_their_own_window(events: pd.DataFrame) -> None:
    ev = events.copy()
    late = ev["date_start"] >= "2020-01-06"
    ev.loc[late, "source"] = "ucdp_candidate"
    cov = _coverage(
        [
            ("ucdp_ged", "MLI", "2018-01-01", "2020-01-05"),
            ("ucdp_candidate", "MLI", "2020-01-06", "2020-12-27"),
        ]
    )
    panel, report = build_panel_with_report(ev, _regions(MLI_REGIONS), cov, "admin1")
    assert panel["covered"].all() and report.counted == len(ev)
    ev.loc[ev.index[late.to_numpy()][:5], "source"] = "ucdp_ged"  # GED events after GED's window
    _, report = build_panel_with_report(ev, _regions(MLI_REGIONS), cov, "admin1")
    assert report.outside_source_coverage == 5


def test_select_source(events: pd.DataFrame) -> None:
    ev = pd.concat(
        [events, events.assign(source="acled", event_id=events["event_id"] + "-a")], ignore_index=True
    )
    cov = _coverage([FULL[0], ("acled", "MLI", "2018-01-01", "2020-12-27")])
    one_ev, one_cov = select_source(ev, cov, "acled")
    assert set(one_ev["source"]) == {"acled"} and list(one_cov["source"]) == ["acled"]
    assert build_panel(one_ev, _regions(MLI_REGIONS), one_cov, "admin1")["events"].sum() == len(events)
    msg = "source 'acled_x' is not in the events or coverage; available sources: ['acled', 'ucdp_ged']"
    with pytest.raises(ValueError, match=re.escape(msg)):
        select_source(ev, cov, "acled_x")


def test_input_errors(events: pd.DataFrame) -> None:
    cov = _coverage(FULL)
    with pytest.raises(ValueError, match=re.escape("regions table lacks columns ['iso3']")):
        build_panel(events, _regions(MLI_REGIONS).drop(columns="iso3"), cov, "admin1")
    twice = _regions(["MLI-R0", "MLI-R0"])
    with pytest.raises(
        ValueError, match=re.escape("regions table lists 1 region_ids twice, e.g. ['MLI-R0']")
    ):
        build_panel(events, twice, cov, "admin1")
    with pytest.raises(
        ValueError, match=re.escape("unit 'district' is not one of ['country', 'admin1', 'grid']")
    ):
        build_panel(events, _regions(MLI_REGIONS), cov, "district")
    with pytest.raises(
        ValueError, match=re.escape("panel end week 2018-01-01 is before its start week 2019-01-07")
    ):
        build_panel(events, _regions(MLI_REGIONS), cov, "admin1", start="2019-01-07", end="2018-01-01")
    with pytest.raises(ContractError, match=re.escape("events table from build_panel does not match")):
        build_panel(events.drop(columns="deaths_best"), _regions(MLI_REGIONS), cov, "admin1")


# ----------------------------------------------------------------------------------------------
# civrisk panel
# ----------------------------------------------------------------------------------------------

runner = CliRunner()


def write_events_dir(folder: Path, events: pd.DataFrame) -> Path:
    """Write events.parquet and coverage.csv as civrisk ingest does; return ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    events.to_parquet(folder / "events.parquet", index=False)
    compute_coverage(events).to_csv(folder / "coverage.csv", index=False, date_format="%Y-%m-%d")
    return folder


def write_boxes_geojson(path: Path, n_regions: int = 6) -> Path:
    """Write admin-1 boxes around tests.synth.make_events' regions; box r touches box r+1."""
    features = []
    for r in range(n_regions):
        x0, y0 = -4.0 + 0.5 * r, 11.95 + 0.7 * r
        ring = [[x0, y0], [x0 + 0.5, y0], [x0 + 0.5, y0 + 0.71], [x0, y0 + 0.71], [x0, y0]]
        features.append(
            {
                "type": "Feature",
                "properties": {"adm1_pcode": f"MLI-R{r}", "adm1_name": f"Region {r}", "iso3": "MLI"},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


def test_panel_cli_writes_panel_regions_neighbours_and_country_totals(tmp_path: Path) -> None:
    events = make_events(n_events=300, n_regions=6)
    src = write_events_dir(tmp_path / "events", events)
    shapes = write_boxes_geojson(tmp_path / "adm1.geojson")
    out = tmp_path / "panel"
    args = ["panel", "--events", str(src), "--unit", "admin1", "--out", str(out), "--boundaries", str(shapes)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "admin1 panel: 6 regions x 157 weeks" in result.output
    assert "weeks 2018-W01..2020-W53" in result.output
    panel = validate_panel(pd.read_parquet(out / "panel_admin1.parquet"))
    regions = pd.read_parquet(out / "regions_admin1.parquet")
    nbrs = pd.read_parquet(out / "neighbours_admin1.parquet")
    country = validate_panel(pd.read_parquet(out / "panel_country.parquet"))
    assert sorted(regions["region_id"]) == [f"MLI-R{r}" for r in range(6)]
    assert {("MLI-R0", "MLI-R1"), ("MLI-R1", "MLI-R0")} <= set(
        zip(nbrs["region_id"], nbrs["neighbour_id"], strict=True)
    )
    assert ("MLI-R0", "MLI-R2") not in set(zip(nbrs["region_id"], nbrs["neighbour_id"], strict=True))
    assert panel["events"].sum() == country["events"].sum() > 0
    assert country["week"].min() == panel["week"].min() and country["week"].max() == panel["week"].max()
    assert not list(out.glob(".*.tmp"))


def test_panel_cli_overlapping_sources_need_source(tmp_path: Path) -> None:
    events = make_events(n_events=200, n_regions=3)
    both = pd.concat(
        [events, events.assign(source="acled", event_id=events["event_id"] + "a")], ignore_index=True
    )
    src = write_events_dir(tmp_path / "events", both)
    shapes = write_boxes_geojson(tmp_path / "adm1.geojson", 3)
    base = ["panel", "--events", str(src), "--unit", "admin1", "--boundaries", str(shapes)]
    result = runner.invoke(app, [*base, "--out", str(tmp_path / "a")])
    assert result.exit_code == 1
    assert "civrisk panel: 1 country windows are covered by several sources" in result.output
    assert "civrisk panel --source acled" in result.output
    assert not (tmp_path / "a").exists()
    result = runner.invoke(app, [*base, "--out", str(tmp_path / "b"), "--source", "ucdp_ged"])
    assert result.exit_code == 0, result.output
    assert pd.read_parquet(tmp_path / "b" / "panel_admin1.parquet")["events"].sum() > 0


def test_panel_cli_grid_unit_and_missing_input(tmp_path: Path) -> None:
    events = make_events(n_events=200, n_regions=3)
    src = write_events_dir(tmp_path / "events", events)
    result = runner.invoke(
        app, ["panel", "--events", str(src), "--unit", "grid", "--out", str(tmp_path / "g")]
    )
    assert result.exit_code == 0, result.output
    grid = pd.read_parquet(tmp_path / "g" / "panel_grid.parquet")
    assert set(events["grid_id"].astype(str)) <= set(grid["region_id"])
    assert (
        grid["events"].sum() + 0 == pd.read_parquet(tmp_path / "g" / "panel_country.parquet")["events"].sum()
    )
    result = runner.invoke(
        app, ["panel", "--events", str(tmp_path / "nowhere"), "--unit", "grid", "--out", "x"]
    )
    assert result.exit_code == 1
    assert "events.parquet" in result.output and "not found" in result.output
