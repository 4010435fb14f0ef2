"""The incremental events store: re-adds, supersession by release, coverage, quarantine, atomicity."""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from filelock import FileLock

import ingest.event_store as es
from civrisk.contracts import validate_events
from civrisk.settings import Settings
from ingest.event_store import (
    MANIFEST_FILE,
    EventStoreError,
    add_files,
    events_dir,
    file_sha256,
    load_store,
    read_manifest,
)
from ingest.layouts import LayoutError
from ingest.releases import merge_release, release_is_older, release_rank
from tests.test_ingest_quarantine import write_ucdp_csv

NOW = datetime(2024, 3, 4, 6, 0, tzinfo=UTC)


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


def snapshot(folder: Path) -> dict[str, bytes]:
    """Return every file in the store folder (lock files aside) with its bytes."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if not p.name.endswith(".lock")}


def ged(tmp_path: Path, name: str, rows: list[dict[str, str]]) -> Path:
    return write_ucdp_csv(tmp_path / name, rows)


def by_id(folder: Path) -> pd.DataFrame:
    return load_store(folder).events.set_index("event_id")


def test_first_add_writes_the_tables_and_a_manifest(tmp_path, settings) -> None:
    path = ged(tmp_path, "ged231_a.csv", [{"id": "1"}, {"id": "2", "best": "-1"}, {"id": "3"}])
    delta = add_files([path], settings, now=NOW)
    folder = events_dir(settings)
    assert folder == settings.home / "events"
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [
        "coverage.csv",
        "events.parquet",
        MANIFEST_FILE,
        "quarantine.csv",
    ]
    (f,) = delta.files
    assert (f.status, f.rows_read, f.kept, f.quarantined, f.added, f.superseded, f.stale) == (
        "ingested",
        3,
        2,
        1,
        2,
        0,
        0,
    )
    assert (delta.events_before, delta.events_after, delta.written) == (0, 2, True)
    events = validate_events(pd.read_parquet(folder / "events.parquet"))
    assert events["event_id"].tolist() == ["ucdp_ged:1", "ucdp_ged:3"]
    manifest = read_manifest(folder)
    entry = manifest["files"][file_sha256(path)]
    assert entry["name"] == "ged231_a.csv" and entry["ingested_at"] == "2024-03-04T06:00:00+00:00"
    assert (entry["rows_read"], entry["kept"], entry["quarantined"], entry["source_version"]) == (
        3,
        2,
        1,
        "23.1",
    )
    assert manifest["outputs"]["events.parquet"]["rows"] == 2
    assert manifest["outputs"]["events.parquet"]["sha256"] == file_sha256(folder / "events.parquet")


def test_the_same_file_again_changes_nothing_even_under_another_name(tmp_path, settings) -> None:
    path = ged(tmp_path, "ged231_a.csv", [{"id": "1"}, {"id": "2"}])
    add_files([path], settings, now=NOW)
    before = snapshot(events_dir(settings))
    copy = tmp_path / "renamed_copy.csv"
    shutil.copyfile(path, copy)
    delta = add_files([path, copy], settings)
    assert [f.status for f in delta.files] == ["already ingested", "already ingested"]
    assert delta.files[1].first_ingested == "2024-03-04T06:00:00+00:00 as ged231_a.csv"
    assert not delta.written and delta.events_after == delta.events_before == 2
    assert snapshot(events_dir(settings)) == before
    assert delta.lines()[-2:] == [
        "  skipped (same SHA-256 already ingested): ged231_a.csv, renamed_copy.csv",
        "  nothing new: store unchanged (2 events)",
    ]


def test_a_newer_release_supersedes_the_older_row_and_counts_it(tmp_path, settings) -> None:
    add_files([ged(tmp_path, "ged231_a.csv", [{"id": "1"}, {"id": "2"}])], settings)
    newer = ged(tmp_path, "ged241_a.csv", [{"id": "1", "best": "7", "high": "8"}, {"id": "9"}])
    delta = add_files([newer], settings)
    (f,) = delta.files
    assert (f.added, f.superseded, f.stale) == (1, 1, 0)
    assert f.line().endswith(
        "1 new events, 1 superseded a stored row, 0 ignored (stored row is a newer release)"
    )
    events = by_id(events_dir(settings))
    assert events.index.tolist() == ["ucdp_ged:2", "ucdp_ged:1", "ucdp_ged:9"]
    assert events.loc["ucdp_ged:1", ["deaths_best", "source_version", "source_file"]].tolist() == [
        7,
        "24.1",
        "ged241_a.csv",
    ]
    assert "events 2 -> 3 (+1 new, 1 superseded, 0 ignored as older)" in delta.lines()[-1]


def test_an_older_release_ingested_later_does_not_supersede(tmp_path, settings) -> None:
    add_files([ged(tmp_path, "ged241_a.csv", [{"id": "1", "best": "7", "high": "8"}])], settings)
    older = ged(tmp_path, "ged211_a.csv", [{"id": "1"}, {"id": "5"}])  # GED 21.1: data to 2020
    delta = add_files([older], settings)
    (f,) = delta.files
    assert (f.kept, f.added, f.superseded, f.stale) == (2, 1, 0, 1)
    events = by_id(events_dir(settings))
    assert events.loc["ucdp_ged:1", "deaths_best"] == 7
    assert events.loc["ucdp_ged:5", "source_version"] == "21.1"
    assert read_manifest(events_dir(settings))["files"][file_sha256(older)]["stale"] == 1


def test_releases_that_cannot_be_ordered_let_the_later_file_win(tmp_path, settings) -> None:
    add_files([ged(tmp_path, "ged241_a.csv", [{"id": "1"}])], settings)
    # no release in the name: version "ucdp-official" (not comparable with 24.1), so ingest order decides
    export = ged(tmp_path, "my_export.csv", [{"id": "1", "best": "3", "high": "3"}])
    delta = add_files([export], settings)
    assert (delta.files[0].superseded, delta.files[0].stale) == (1, 0)
    assert by_id(events_dir(settings)).loc["ucdp_ged:1", "deaths_best"] == 3


def test_files_in_one_call_are_merged_in_the_order_given(tmp_path, settings) -> None:
    first = ged(tmp_path, "ged231_a.csv", [{"id": "1"}])
    second = ged(tmp_path, "ged241_a.csv", [{"id": "1", "best": "4", "high": "4"}])
    delta = add_files([first, second], settings)
    assert [(f.added, f.superseded) for f in delta.files] == [(1, 0), (0, 1)]
    assert by_id(events_dir(settings)).loc["ucdp_ged:1", "deaths_best"] == 4


@pytest.mark.parametrize(
    ("source", "version", "rank"),
    [
        ("ucdp_candidate", "v23_0_10", ("ucdp_candidate", 2310)),
        ("ucdp_candidate", "v23_0_9", ("ucdp_candidate", 2309)),
        ("ucdp_candidate", "v26_01_26_06", ("ucdp_candidate", 2606)),
        ("ucdp_ged", "23.1", ("ucdp_ged", 23001)),
        ("ucdp_ged", "ucdp-explorer-export", None),
        ("ucdp_candidate", "ucdp-candidate-reduced", None),
        ("acled", "acled-export", None),
        ("ucdp_ged", "v23_0_10", None),
    ],
)
def test_release_rank(source, version, rank) -> None:
    assert release_rank(source, version) == rank


def test_release_is_older_compares_only_within_a_scheme() -> None:
    sources = np.array(["ucdp_candidate"] * 4 + ["ucdp_ged", "acled"], dtype=object)
    new = np.array(
        ["v23_0_9", "v23_0_11", "v23_01_23_06", "ucdp-candidate-reduced", "20.1", "x"], dtype=object
    )
    old = np.array(["v23_0_10", "v23_0_10", "v23_0_10", "v23_0_10", "23.1", "y"], dtype=object)
    assert release_is_older(sources, new, old).tolist() == [True, False, True, False, True, False]


def test_merge_release_is_pure_and_counts_every_row() -> None:
    from tests.synth import make_events

    stored = make_events(n_events=6, seed=1)
    stored["source_version"] = pd.array(["23.1"] * 6, dtype="string")
    incoming = stored.iloc[[0, 1]].copy()
    incoming["source_version"] = pd.array(["24.1", "20.1"], dtype="string")
    incoming["deaths_best"] = [99, 98]
    extra = stored.iloc[[2]].assign(event_id=pd.array(["ucdp_ged:new"], dtype="string"))
    incoming = pd.concat([incoming, extra], ignore_index=True)
    before = stored.copy()
    merged, added, superseded, stale = merge_release(stored, incoming)
    pd.testing.assert_frame_equal(stored, before)
    assert (added, superseded, stale) == (1, 1, 1)
    assert len(merged) == 7 and merged["event_id"].is_unique
    assert merged.set_index("event_id").loc[stored["event_id"].iloc[0], "deaths_best"] == 99
    assert merged.set_index("event_id").loc[stored["event_id"].iloc[1], "deaths_best"] != 98


def test_coverage_is_recomputed_and_declared_windows_are_kept(tmp_path, settings) -> None:
    declared = pd.DataFrame(
        {"source": ["ucdp_ged"], "iso3": ["BFA"], "first_date": ["2019-01-01"], "last_date": ["2020-12-31"]}
    )
    add_files([ged(tmp_path, "ged231_a.csv", [{"id": "1"}])], settings, declared_coverage=declared)
    later = {"id": "2", "date_start": "2020-06-01", "date_end": "2020-06-03"}
    add_files([ged(tmp_path, "ged241_a.csv", [later])], settings)
    coverage = load_store(events_dir(settings)).coverage.set_index("iso3")
    assert coverage.loc["MLI", ["first_date", "last_date", "declared"]].tolist() == [
        pd.Timestamp("2020-03-02"),
        pd.Timestamp("2020-06-03"),
        False,
    ]
    assert coverage.loc["BFA", ["first_date", "last_date", "declared"]].tolist() == [
        pd.Timestamp("2019-01-01"),
        pd.Timestamp("2020-12-31"),
        True,
    ]


def test_the_quarantine_accumulates_with_file_names(tmp_path, settings) -> None:
    a = ged(tmp_path, "ged231_a.csv", [{"id": "1", "best": "-1"}, {"id": "2"}])
    b = ged(tmp_path, "ged241_b.csv", [{"id": "3"}, {"id": "4", "date_start": "2020-13-45"}])
    add_files([a], settings)
    add_files([b], settings)
    quarantine = load_store(events_dir(settings)).quarantine
    assert quarantine[["source_file", "source_row", "reason"]].values.tolist() == [
        ["ged231_a.csv", 1, "negative_deaths"],
        ["ged241_b.csv", 2, "unparseable_date"],
    ]
    assert quarantine["file_sha256"].tolist() == [file_sha256(a), file_sha256(b)]


def test_a_failure_while_writing_leaves_the_previous_store_intact(tmp_path, settings, monkeypatch) -> None:
    add_files([ged(tmp_path, "ged231_a.csv", [{"id": "1"}])], settings)
    folder = events_dir(settings)
    before = snapshot(folder)

    def disk_full(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", disk_full)
    with pytest.raises(OSError, match="No space left"):
        add_files([ged(tmp_path, "ged241_a.csv", [{"id": "2"}])], settings)
    monkeypatch.undo()
    assert snapshot(folder) == before  # no temporaries left behind either
    assert len(load_store(folder).events) == 1


def test_a_bad_file_in_a_batch_writes_nothing(tmp_path, settings) -> None:
    add_files([ged(tmp_path, "ged231_a.csv", [{"id": "1"}])], settings)
    before = snapshot(events_dir(settings))
    good = ged(tmp_path, "ged241_a.csv", [{"id": "2"}])
    bad = tmp_path / "broken.csv"
    bad.write_text("foo,bar\n1,2\n", encoding="utf-8")
    with pytest.raises(LayoutError, match=re.escape("broken.csv")):
        add_files([good, bad], settings)
    assert snapshot(events_dir(settings)) == before


def test_a_crash_between_renames_is_caught_when_the_store_is_opened(tmp_path, settings, monkeypatch) -> None:
    add_files([ged(tmp_path, "ged231_a.csv", [{"id": "1"}])], settings)
    real_replace, calls = os.replace, []

    def crash_on_second(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(5, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_second)
    with pytest.raises(OSError, match="Input/output error"):
        add_files([ged(tmp_path, "ged241_a.csv", [{"id": "2", "date_end": "2020-03-09"}])], settings)
    monkeypatch.undo()
    # coverage.csv was renamed into place; the manifest (renamed last) still holds the old digests
    assert Path(calls[0]).name == "coverage.csv"
    folder = events_dir(settings)
    msg = f"events store {folder} is inconsistent: coverage.csv has sha256"
    with pytest.raises(EventStoreError, match=re.escape(msg)):
        load_store(folder)
    with pytest.raises(EventStoreError, match="Rebuild the store"):
        add_files([ged(tmp_path, "ged241_b.csv", [{"id": "3"}])], settings)


def test_a_folder_written_by_civrisk_ingest_is_adopted_and_said_so(tmp_path, settings) -> None:
    from ingest.pipeline import ingest_files, write_outputs

    folder = events_dir(settings)
    first = ged(tmp_path, "ged231_a.csv", [{"id": "1"}, {"id": "2", "best": "-1"}])
    write_outputs(ingest_files([first]), folder)  # what civrisk ingest --out and civrisk demo write
    quiet = add_files([first], settings)  # not in a manifest, so it is ingested again: same rows
    assert quiet.adopted == {"events": 1, "source_files": ["ged231_a.csv"]}
    assert quiet.lines()[1] == (
        "  adopted the 1 events already in the folder (written without a manifest by civrisk ingest or "
        "civrisk demo; from ged231_a.csv)"
    )
    assert (quiet.files[0].superseded, quiet.files[0].added) == (1, 0)
    delta = add_files([ged(tmp_path, "ged241_b.csv", [{"id": "3"}])], settings)
    assert delta.adopted is None and delta.events_after == 2
    manifest = read_manifest(folder)
    assert manifest["adopted"]["events"] == 1 and manifest["adopted"]["source_files"] == ["ged231_a.csv"]
    tables = load_store(folder)
    assert tables.quarantine["source_file"].tolist() == ["ged231_a.csv", "ged231_a.csv"]
    assert tables.quarantine["file_sha256"].isna().tolist() == [True, False]


def test_a_folder_with_only_some_tables_is_refused(tmp_path, settings) -> None:
    folder = events_dir(settings)
    folder.mkdir(parents=True)
    (folder / "events.parquet").write_bytes(b"PAR1")
    msg = f"{folder} holds ['events.parquet'] but not ['quarantine.csv', 'coverage.csv'] and no manifest.json"
    with pytest.raises(EventStoreError, match=re.escape(msg)):
        add_files([ged(tmp_path, "ged231_a.csv", [{"id": "1"}])], settings)


def test_other_boundaries_than_the_stores_are_refused(tmp_path, shared_data) -> None:
    original = shared_data / "boundaries" / "sahel_adm1_mli_bfa_ner.geojson"
    copy = tmp_path / "adm1.geojson"
    shutil.copyfile(original, copy)
    add_files([ged(tmp_path, "ged231_a.csv", [{"id": "1"}])], Settings(home=tmp_path / "h", boundaries=copy))
    edited = tmp_path / "adm1_edited.geojson"
    edited.write_text(json.dumps(json.loads(copy.read_text(encoding="utf-8"))), encoding="utf-8")
    with pytest.raises(EventStoreError, match="mixing them would give regions two meanings"):
        add_files(
            [ged(tmp_path, "ged241_a.csv", [{"id": "2"}])], Settings(home=tmp_path / "h", boundaries=edited)
        )


def test_a_busy_store_fails_with_the_lock_named(tmp_path, settings, monkeypatch) -> None:
    folder = events_dir(settings)
    folder.mkdir(parents=True)
    monkeypatch.setattr(es, "LOCK_TIMEOUT_S", 0.05)
    with FileLock(folder / ".store.lock"), pytest.raises(EventStoreError, match=re.escape(".store.lock")):
        add_files([ged(tmp_path, "ged231_a.csv", [{"id": "1"}])], settings)


def test_a_header_only_file_is_recorded_with_zero_rows(tmp_path, settings) -> None:
    delta = add_files([ged(tmp_path, "ged231_empty.csv", [])], settings)
    assert (delta.files[0].rows_read, delta.events_after, delta.written) == (0, 0, True)
    tables = load_store(events_dir(settings))
    assert tables.events.empty and tables.quarantine.empty and tables.coverage.empty


@pytest.mark.shared_data
def test_a_real_release_dropped_in_gives_its_delta(tmp_path, settings, shared_data) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    real = drop / "GEDEvent_v23_0_10.csv.gz"
    shutil.copyfile(shared_data / "ucdp" / "GEDEvent_v23_0_10.csv.gz", real)
    add_files([ged(tmp_path, "ged231_a.csv", [{"id": "1"}])], settings)
    delta = add_files([real], settings)
    (f,) = delta.files
    assert (f.source, f.source_version, f.rows_read) == ("ucdp_candidate", "v23_0_10", 2391)
    assert f.kept + f.quarantined == f.rows_read and f.quarantined > 0
    assert (f.added, f.superseded, f.stale) == (f.kept, 0, 0)
    assert delta.events_after == 1 + f.kept
    tables = load_store(events_dir(settings))
    assert set(tables.quarantine["source_file"]) == {"GEDEvent_v23_0_10.csv.gz"}
    assert len(tables.quarantine) == f.quarantined
    assert set(tables.coverage["source"]) == {"ucdp_ged", "ucdp_candidate"}
    again = add_files([real], settings)
    assert [d.status for d in again.files] == ["already ingested"] and not again.written
