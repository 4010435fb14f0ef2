"""``civrisk ingest`` end to end through typer's CliRunner: outputs, summary, errors, --strict, atomicity."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from typer.testing import CliRunner

from civrisk.contracts import COVERAGE, QUARANTINE, validate, validate_events
from cli.ingest import EXIT_BAD_INPUT, EXIT_STRICT
from cli.main import app
from ingest.event_store import load_store
from tests.test_ingest_quarantine import UCDP_COLUMNS, write_ucdp_csv

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, ["ingest", *map(str, args)])


@pytest.fixture()
def mixed_file(tmp_path):
    """A small official-layout file: three good rows, one with negative deaths, one duplicate id."""
    rows = [
        {
            "id": "1",
            "type_of_violence": "1",
            "side_a": "Government of Mali",
            "side_b": "JNIM",
            "deaths_civilians": "1",
        },
        {"id": "2"},
        {"id": "3", "where_prec": "6", "date_start": "2020-04-06", "date_end": "2020-04-08"},
        {"id": "4", "best": "-2"},
        {"id": "2"},
    ]
    return write_ucdp_csv(tmp_path / "ged231_mixed.csv", rows)


def test_ingest_writes_the_three_tables_and_prints_the_summary(tmp_path, mixed_file) -> None:
    out = tmp_path / "out"
    result = invoke(mixed_file, "--out", out)
    assert result.exit_code == 0, result.output
    events = validate_events(pd.read_parquet(out / "events.parquet"))
    assert events["event_id"].tolist() == ["ucdp_ged:1", "ucdp_ged:2", "ucdp_ged:3"]
    quarantine = pd.read_csv(out / "quarantine.csv", dtype={"source_file": "string", "reason": "string"})
    validate(quarantine, QUARANTINE)
    assert quarantine["reason"].tolist() == ["negative_deaths", "duplicate_id"]
    assert quarantine["source_row"].tolist() == [4, 5]
    coverage = pd.read_csv(out / "coverage.csv", parse_dates=["first_date", "last_date"])
    coverage = coverage.astype({"source": "string", "iso3": "string"})
    validate(coverage, COVERAGE)
    assert coverage[["source", "iso3"]].values.tolist() == [["ucdp_ged", "MLI"]]

    text = result.output
    assert "ged231_mixed.csv: UCDP GED official [ucdp_ged] -> source ucdp_ged 23.1, 5 rows" in text
    assert "rows read 5; kept 3; quarantined 2" in text
    assert re.search(r"negative_deaths\s+1", text) and re.search(r"duplicate_id\s+1", text)
    assert "dates 2020-03-02 .. 2020-04-08" in text
    assert "countries 1: MLI 3" in text
    assert (
        "country level only (no admin-1 region) 1: too imprecise for admin-1 (UCDP where_prec 6-7) 1" in text
    )
    assert re.search(r"one_sided\s+2 events", text) and re.search(r"state_based\s+1 events", text)
    assert "ucdp_ged        MLI 2020-03-02 .. 2020-04-08" in text


def test_missing_columns_fail_before_anything_is_written(tmp_path, mixed_file) -> None:
    bad = write_ucdp_csv(
        tmp_path / "x.csv", [{}], columns=[c for c in UCDP_COLUMNS if c not in ("date_start", "best")]
    )
    out = tmp_path / "out"
    result = invoke(mixed_file, bad, "--out", out)
    assert result.exit_code == EXIT_BAD_INPUT
    msg = (
        "events file x.csv lacks columns ['date_start', 'best'] (looked like UCDP GED official, 49 columns "
        "expected; got 47 columns). Pass --format to force a layout."
    )
    assert msg in result.output
    assert not out.exists()


def test_format_forces_a_layout(tmp_path, mixed_file) -> None:
    out = tmp_path / "out"
    result = invoke(mixed_file, "--out", out, "--format", "ucdp_explorer")
    assert result.exit_code == EXIT_BAD_INPUT
    assert (
        "lacks columns ['best_est', 'high_est', 'low_est'] required by --format ucdp_explorer"
        in result.output
    )
    # forcing the candidate layout on a final-GED header makes its events candidate events
    result = invoke(mixed_file, "--out", out, "--format", "ucdp_candidate")
    assert result.exit_code == 0, result.output
    events = pd.read_parquet(out / "events.parquet")
    assert set(events["source"]) == {"ucdp_candidate"}
    assert events["event_id"].str.startswith("ucdp_candidate:").all()


def test_strict_refuses_with_counts_and_writes_nothing(tmp_path, mixed_file) -> None:
    out = tmp_path / "out"
    result = invoke(mixed_file, "--out", out, "--strict")
    assert result.exit_code == EXIT_STRICT
    assert "--strict: 2 of 5 rows would be quarantined; nothing was written." in result.output
    assert "ged231_mixed.csv: duplicate_id 1" in result.output
    assert "ged231_mixed.csv: negative_deaths 1" in result.output
    assert not out.exists()


def test_strict_passes_a_clean_file(tmp_path) -> None:
    clean = write_ucdp_csv(tmp_path / "ged231_clean.csv", [{}, {}])
    result = invoke(clean, "--out", tmp_path / "out", "--strict")
    assert result.exit_code == 0, result.output
    assert "rows read 2; kept 2; quarantined 0" in result.output


def test_a_failing_run_leaves_earlier_outputs_untouched(tmp_path, mixed_file) -> None:
    out = tmp_path / "out"
    assert invoke(mixed_file, "--out", out).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert {"events.parquet", "quarantine.csv", "coverage.csv", "manifest.json"} <= set(before)
    broken = tmp_path / "broken.csv"
    broken.write_text("id,date\n1,2020-01-01\n", encoding="utf-8")
    assert invoke(broken, "--out", out).exit_code == EXIT_BAD_INPUT
    other = write_ucdp_csv(tmp_path / "ged231_other.csv", [{"id": "8"}, {"id": "9", "best": "-1"}])
    assert invoke(other, "--out", out, "--strict").exit_code == EXIT_STRICT
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert after == before  # no temporary files left behind either


def test_a_failure_while_writing_keeps_every_earlier_output(tmp_path, mixed_file, monkeypatch) -> None:
    out = tmp_path / "out"
    assert invoke(mixed_file, "--out", out).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def fail(self, *args, **kwargs):
        raise OSError("disk full")

    # events.parquet is written first; the coverage CSV write fails after it
    monkeypatch.setattr(pd.DataFrame, "to_csv", fail)
    result = invoke(write_ucdp_csv(tmp_path / "ged231_new.csv", [{"id": "99"}]), "--out", out)
    assert result.exit_code != 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_boundaries_option(tmp_path, mixed_file, shared_data) -> None:
    missing = tmp_path / "nope.geojson"
    result = invoke(mixed_file, "--out", tmp_path / "out", "--boundaries", missing)
    assert result.exit_code == EXIT_BAD_INPUT
    assert f"civrisk ingest: --boundaries: admin-1 boundaries file {missing} does not exist" in result.output
    sahel = shared_data / "boundaries" / "sahel_adm1_mli_bfa_ner.geojson"
    result = invoke(mixed_file, "--out", tmp_path / "out", "--boundaries", sahel)
    assert result.exit_code == 0, result.output
    events = pd.read_parquet(tmp_path / "out" / "events.parquet")
    assert events["admin1_id"].notna().tolist() == [True, True, False]  # the third is where_prec 6


def test_a_header_only_file_writes_empty_tables(tmp_path) -> None:
    empty = write_ucdp_csv(tmp_path / "ged231_empty.csv", [])
    result = invoke(empty, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "rows read 0; kept 0; quarantined 0" in result.output
    assert len(validate_events(pd.read_parquet(tmp_path / "out" / "events.parquet"))) == 0


def test_unknown_file(tmp_path) -> None:
    result = invoke(tmp_path / "nope.csv", "--out", tmp_path / "out")
    assert result.exit_code == EXIT_BAD_INPUT
    assert "events file" in result.output and "nope.csv does not exist" in result.output
    assert not (tmp_path / "out").exists()


@pytest.fixture()
def home(tmp_path, monkeypatch):
    """Point CIVRISK_HOME at a temporary folder for commands run without --out."""
    from civrisk.settings import get_settings

    monkeypatch.setenv("CIVRISK_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield tmp_path / "home"
    get_settings.cache_clear()


def test_without_out_every_ingest_adds_to_the_store_under_the_home(tmp_path, home, mixed_file) -> None:
    assert invoke(mixed_file).exit_code == 0
    rows = [{"id": "2", "best": "4", "high": "4"}, {"id": "7"}]
    later = write_ucdp_csv(tmp_path / "ged241_later.csv", rows)
    result = invoke(later)
    assert result.exit_code == 0, result.output
    assert f"events store {home / 'events'}: 1 new files, 0 already ingested" in result.output
    assert "events 3 -> 4 (+1 new, 1 superseded, 0 ignored as older)" in result.output
    events = load_store(home / "events").events.set_index("event_id")
    assert events.loc["ucdp_ged:2", "deaths_best"] == 4 and len(events) == 4
    again = invoke(later)
    assert "nothing new: store unchanged (4 events)" in again.output


@pytest.mark.shared_data
def test_ingest_real_files_together(tmp_path, shared_data) -> None:
    ucdp = shared_data / "ucdp"
    files = [ucdp / "GEDEvent_v26_01_26_06_sahel.csv.gz", ucdp / "ged_explorer_bfa_2016_2022h1.csv.gz"]
    out = tmp_path / "out"
    result = invoke(*files, "--out", out)
    assert result.exit_code == 0, result.output
    events = validate_events(pd.read_parquet(out / "events.parquet"))
    quarantine = pd.read_csv(out / "quarantine.csv")
    assert len(events) + len(quarantine) == 811 + 780
    assert set(events["source"]) == {"ucdp_candidate", "ucdp_ged"}
    assert re.search(r"best_outside_low_high\s+\d+", result.output)
    assert "coverage:" in result.output and "ucdp_candidate  MLI" in result.output


@pytest.mark.shared_data
@pytest.mark.slow
def test_the_mali_export_ingested_after_the_demo_adds_to_its_store(home, shared_data) -> None:
    """Issue 11: `make demo`, then `civrisk ingest <Mali export>`, then `civrisk weekly`."""
    from civrisk.settings import get_settings
    from ingest.event_store import add_files
    from operations.weekly_steps import ingest_step

    settings = get_settings()
    demo = add_files([shared_data / "acled" / "acled_africa_1997_2022.csv.gz"], settings)  # as the demo does
    result = invoke(shared_data / "acled" / "acled_export_mli_2015-01-01_2022-06-30.csv.gz")
    assert result.exit_code == 0, result.output
    store = load_store(home / "events")
    assert len(store.events) == demo.events_after + 5897 - 3618  # the 3,618 shared events superseded
    assert "3,618 superseded a stored row" in result.output
    lines = ingest_step(settings)  # the weekly cycle's ingest reads the same, consistent store
    assert lines[-1].strip() == f"nothing new: store unchanged ({len(store.events):,} events)"
