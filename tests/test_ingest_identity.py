"""Event identity and supersession: content ids that survive ACLED revisions, and one rule (newest version
wins, whatever the order) shared by ``civrisk ingest`` and the events store (issue 8, item 5)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from civrisk.settings import Settings
from ingest.event_store import add_files, events_dir, load_store
from ingest.identity import content_ids, parse_timestamps
from ingest.pipeline import ingest_files
from ingest.plausibility import Limits
from ingest.releases import acled_version, merge_release, release_rank
from tests.test_ingest_layouts import ACLED, write_acled_csv

NOW = datetime(2024, 3, 4, tzinfo=UTC)
MALI_EXPORT = "acled/acled_export_mli_2015-01-01_2022-06-30.csv.gz"
AFRICA = "acled/acled_africa_1997_2022.csv.gz"


def no_id_rows(n: int, rng: np.random.Generator) -> list[dict[str, str]]:
    """Return ``n`` ACLED rows without event_id_cnty on distinct days and places (seeded)."""
    days = pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.permutation(365)[:n], unit="D")
    return [
        {
            "event_id_cnty": "",
            "event_date": f"{day:%Y-%m-%d}",
            "event_type": "Violence against civilians",
            "sub_event_type": "Attack",
            "actor1": "Unidentified Armed Group (Burkina Faso)",
            "actor2": "Civilians (Burkina Faso)",
            "latitude": f"{11 + rng.uniform(0, 3):.4f}",
            "longitude": f"{-3 + rng.uniform(0, 3):.4f}",
            "fatalities": str(int(rng.integers(0, 20))),
            "notes": f"attack {i}",
        }
        for i, day in enumerate(days)
    ]


def ids_of(rows: list[dict[str, str]]) -> pd.Series:
    frame = pd.DataFrame([{c: "" for c in ACLED} | r for r in rows], dtype="string").replace("", pd.NA)
    dates = pd.to_datetime(frame["event_date"])
    return content_ids(frame, dates, pd.to_numeric(frame["latitude"]), pd.to_numeric(frame["longitude"]))


def test_content_ids_survive_revisions_of_deaths_actors_notes_and_row_order(rng) -> None:
    rows = no_id_rows(40, rng)
    revised = [
        r
        | {"fatalities": str(int(r["fatalities"]) + 5), "actor1": "JNIM", "notes": "revised", "source": "AFP"}
        for r in rows
    ]
    reordered = revised[::-1]
    assert ids_of(rows).tolist() == ids_of(revised).tolist() == ids_of(reordered).tolist()[::-1]
    # a moved point or another day is another event
    moved = [rows[0] | {"latitude": "9.0000"}, rows[1] | {"event_date": "2021-01-01"}]
    assert not set(ids_of(moved)) & set(ids_of(rows[:2]))
    # the date and the coordinates are compared as values, not as the text of one layout
    spelled = [rows[0] | {"latitude": rows[0]["latitude"] + "00"}]
    assert ids_of(spelled).tolist() == ids_of(rows[:1]).tolist()


def test_rows_sharing_a_key_get_deterministic_suffixes(rng) -> None:
    base = no_id_rows(1, rng)[0]
    rows = [base, base | {"fatalities": "9", "notes": "second attack"}, base | {"notes": "third"}]
    ids = ids_of(rows)
    stem = ids.iloc[0].split("-")[1]
    assert sorted(ids) == sorted([f"syn-{stem}", f"syn-{stem}-2", f"syn-{stem}-3"])
    assert ids_of(rows[::-1]).tolist() == ids.tolist()[::-1]  # the same rows in any order: the same ids
    assert ids_of([base, base]).nunique() == 1  # word-for-word copies share the id (-> duplicate_id)


def test_revised_fatalities_on_rows_without_ids_supersede_instead_of_adding(tmp_path, rng) -> None:
    rows = no_id_rows(120, rng)
    settings = Settings(home=tmp_path / "home")
    first = write_acled_csv(tmp_path / "acled_bfa_1.csv", rows)
    add_files([first], settings, now=NOW)
    revised = [r | {"fatalities": str(int(r["fatalities"]) + 3)} if i < 50 else r for i, r in enumerate(rows)]
    delta = add_files([write_acled_csv(tmp_path / "acled_bfa_2.csv", revised)], settings, now=NOW)
    (f,) = delta.files
    assert (f.added, f.superseded) == (0, 120)
    events = load_store(events_dir(settings)).events
    assert len(events) == 120
    expected = sum(int(r["fatalities"]) for r in revised)
    assert int(events["deaths_best"].sum()) == expected


def test_acled_timestamps_decide_whatever_the_order(tmp_path) -> None:
    old = write_acled_csv(tmp_path / "acled_old.csv", [{"fatalities": "2", "timestamp": "1561469185"}])
    new = write_acled_csv(tmp_path / "acled_new.csv", [{"fatalities": "8", "timestamp": "1622068192"}])
    for order in ([old, new], [new, old]):
        result = ingest_files(order, limits=Limits(now=NOW))
        assert result.events["deaths_best"].tolist() == [8]
        assert result.events["revised_at"].tolist() == [pd.Timestamp("2021-05-26 22:29:52")]
        assert result.superseded == 1
    for order in ([old, new], [new, old]):
        settings = Settings(home=tmp_path / f"home_{order[0].stem}")
        for path in order:
            add_files([path], settings, now=NOW)
        assert load_store(events_dir(settings)).events["deaths_best"].tolist() == [8]


def test_an_equal_timestamp_falls_back_on_the_export_date(tmp_path) -> None:
    # the same row version in two exports: the newer export (its newest timestamp) wins, in either order
    shared = {"event_id_cnty": "MLI1", "timestamp": "1561469185"}
    older = write_acled_csv(tmp_path / "a.csv", [shared | {"actor2": ""}])
    newer = write_acled_csv(
        tmp_path / "b.csv", [shared, {"event_id_cnty": "MLI2", "timestamp": "1679937000"}]
    )
    for order in ([older, newer], [newer, older]):
        events = ingest_files(order, limits=Limits(now=NOW)).events.set_index("event_id")
        assert events.loc["acled:MLI1", "source_file"] == "b.csv"


def test_parse_timestamps_and_the_acled_release() -> None:
    text = pd.Series(["1622068192", "2023-03-27T17:27:13Z", "soon", None, "1"], dtype="string")
    parsed = parse_timestamps(text)
    assert parsed.iloc[0] == pd.Timestamp("2021-05-26 22:29:52")
    assert parsed.iloc[1] == pd.Timestamp("2023-03-27 17:27:13")
    assert parsed.iloc[2:].isna().all()  # not a time, missing, or before 2000
    assert acled_version(parsed, "acled-export") == "acled-2023-03-27"
    assert acled_version(parsed.iloc[2:], "acled-export") == "acled-export"
    assert release_rank("acled", "acled-2023-03-27") == ("acled", 20230327)


def test_merge_release_prefers_the_newer_timestamp_over_the_release() -> None:
    from tests.synth import make_events

    stored = make_events(n_events=2, seed=3).assign(source="acled")
    stored["source_version"] = pd.array(["acled-2023-01-01"] * 2, dtype="string")
    stored["revised_at"] = pd.to_datetime(["2022-01-01", "2022-01-01"])
    incoming = stored.copy()
    incoming["source_version"] = pd.array(["acled-2022-06-01"] * 2, dtype="string")
    incoming["revised_at"] = pd.to_datetime(["2022-05-01", "2021-01-01"])
    incoming["deaths_best"] = [77, 66]
    merged, added, superseded, stale = merge_release(stored, incoming)
    assert (added, superseded, stale) == (0, 1, 1)
    assert sorted(merged["deaths_best"].tolist())[-1] == 77 and 66 not in merged["deaths_best"].tolist()


@pytest.fixture(scope="module")
def mali_both_orders(shared_data):
    """Return the events of the Africa file and the Mali export ingested in both orders."""
    from ingest.boundaries import load_boundaries

    files = [shared_data / AFRICA, shared_data / MALI_EXPORT]
    shapes = load_boundaries(shared_data / "boundaries" / "sahel_adm1_mli_bfa_ner.geojson")
    return [ingest_files(order, boundaries=shapes) for order in (files, files[::-1])]


@pytest.mark.shared_data
@pytest.mark.slow
def test_the_mali_export_supersedes_the_africa_file_in_either_order(mali_both_orders, shared_data) -> None:
    first, second = mali_both_orders
    one = first.events.sort_values("event_id", ignore_index=True)
    two = second.events.sort_values("event_id", ignore_index=True)
    pd.testing.assert_frame_equal(one, two)
    assert first.superseded == second.superseded == 3618  # the events both files hold
    mali = pd.read_csv(shared_data / MALI_EXPORT, dtype=str)
    ids = "acled:" + mali["event_id_cnty"]
    kept = one.set_index("event_id").loc[ids]
    assert (kept["source_file"] == "acled_export_mli_2015-01-01_2022-06-30.csv.gz").all()
    assert kept["deaths_best"].tolist() == mali["fatalities"].astype(int).tolist()
    assert kept["side_a"].fillna("").tolist() == mali["actor1"].fillna("").tolist()
    assert {f.source_version for f in first.files} == {"acled-2022-03-04", "acled-2023-03-27"}


@pytest.mark.shared_data
def test_the_real_burkina_faso_rows_without_ids_are_not_double_counted(tmp_path, shared_data) -> None:
    raw = pd.read_csv(shared_data / AFRICA, dtype=str, keep_default_na=False)
    rows = raw[(raw["country"] == "Burkina Faso") & (raw["event_id_cnty"] == "")]
    rows = rows[rows["event_date"].str.startswith("2022")]
    first = tmp_path / "acled_bfa_2022.csv"
    rows.to_csv(first, index=False)
    revised = rows.copy()
    pick = revised.index[:50]
    revised.loc[pick, "fatalities"] = (revised.loc[pick, "fatalities"].astype(int) + 1).astype(str)
    second = tmp_path / "acled_bfa_2022_revised.csv"
    revised.to_csv(second, index=False)
    settings = Settings(home=tmp_path / "home")
    initial = add_files([first], settings)
    before = initial.events_after
    assert before + initial.total("quarantined") == len(rows) == 1460
    delta = add_files([second], settings)
    assert delta.total("added") == 0 and delta.events_after == before  # "50 new events" before the fix


@pytest.mark.shared_data
@pytest.mark.slow
def test_the_store_keeps_the_mali_versions_whatever_the_copy_order(tmp_path, shared_data) -> None:
    files = [shared_data / AFRICA, shared_data / MALI_EXPORT]
    tables = []
    for name, order in (("a", files), ("b", files[::-1])):
        settings = Settings(home=tmp_path / name)
        for path in order:  # one file per call, as the weekly cycle adds what is dropped in
            add_files([path], settings)
        events = load_store(events_dir(settings)).events
        tables.append(events.sort_values("event_id", ignore_index=True))
    pd.testing.assert_frame_equal(*tables)
    assert len(tables[0]) == 83610
    mali = tables[0][tables[0]["source_file"] == "acled_export_mli_2015-01-01_2022-06-30.csv.gz"]
    assert len(mali) == 5897
