"""Row checks: each quarantine reason on a tiny hand-built file, and rows read == kept + quarantined."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from civrisk.contracts import QUARANTINE, validate
from ingest.pipeline import ingest_files
from ingest.quarantine import REASONS, find_duplicates, native_id, parse_codes, parse_counts, parse_dates

UCDP_COLUMNS = (
    "id",
    "relid",
    "year",
    "active_year",
    "code_status",
    "type_of_violence",
    "conflict_dset_id",
    "conflict_new_id",
    "conflict_name",
    "dyad_dset_id",
    "dyad_new_id",
    "dyad_name",
    "side_a_dset_id",
    "side_a_new_id",
    "side_a",
    "side_b_dset_id",
    "side_b_new_id",
    "side_b",
    "number_of_sources",
    "source_article",
    "source_office",
    "source_date",
    "source_headline",
    "source_original",
    "where_prec",
    "where_coordinates",
    "where_description",
    "adm_1",
    "adm_2",
    "latitude",
    "longitude",
    "geom_wkt",
    "priogrid_gid",
    "country",
    "country_id",
    "region",
    "event_clarity",
    "date_prec",
    "date_start",
    "date_end",
    "deaths_a",
    "deaths_b",
    "deaths_civilians",
    "deaths_unknown",
    "best",
    "high",
    "low",
    "gwnoa",
    "gwnob",
)
"""The official UCDP GED header (49 columns), as published."""

_UCDP_DEFAULTS = {
    "code_status": "Clear",
    "type_of_violence": "3",
    "side_a": "Synthetic Armed Group",
    "side_b": "Civilians",
    "where_prec": "1",
    "adm_1": "Mopti region",
    "adm_2": "Mopti cercle",
    "latitude": "14.49",
    "longitude": "-4.19",
    "country": "Mali",
    "country_id": "432",
    "date_prec": "1",
    "date_start": "2020-03-02",
    "date_end": "2020-03-02",
    "deaths_a": "0",
    "deaths_b": "0",
    "deaths_civilians": "2",
    "deaths_unknown": "0",
    "best": "2",
    "high": "3",
    "low": "2",
}


def write_ucdp_csv(
    path: Path, rows: Sequence[Mapping[str, str]], columns: Sequence[str] = UCDP_COLUMNS
) -> Path:
    """Write hand-built UCDP rows (defaults filled in; ids 1, 2, ... unless given) in the official layout."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for i, row in enumerate(rows, start=1):
            writer.writerow({c: "" for c in columns} | _UCDP_DEFAULTS | {"id": str(i)} | dict(row))
    return path


def ingest_one(tmp_path: Path, rows: Sequence[Mapping[str, str]], name: str = "ged231_synthetic.csv"):
    path = write_ucdp_csv(tmp_path / name, rows)
    result = ingest_files([path])
    assert len(result.events) + len(result.quarantine) == result.rows_read == len(rows)
    validate(result.quarantine, QUARANTINE)
    return result


@pytest.mark.parametrize(
    ("row", "reason", "detail"),
    [
        ({"date_start": "2020-13-45"}, "unparseable_date", "date_start '2020-13-45' is not a date"),
        ({"date_end": ""}, "unparseable_date", "date_end is empty"),
        ({"best": "two"}, "non_numeric_deaths", "deaths_best 'two' is not a whole number"),
        ({"best": "2.5"}, "non_numeric_deaths", "deaths_best '2.5' is not a whole number"),
        (
            {"type_of_violence": "1", "deaths_civilians": "-1"},
            "negative_deaths",
            "deaths_civilians '-1' is negative",
        ),
        (
            {"best": "5", "low": "2", "high": "3"},
            "best_outside_low_high",
            "best 5 is outside low 2 .. high 3",
        ),
        (
            {"best": "1", "low": "2", "high": "3"},
            "best_outside_low_high",
            "best 1 is outside low 2 .. high 3",
        ),
        (
            {"date_start": "2020-03-05", "date_end": "2020-03-02"},
            "end_before_start",
            "date_end 2020-03-02 is before date_start 2020-03-05",
        ),
        ({"country": "Atlantis", "country_id": ""}, "unknown_country", "country 'Atlantis' matches no ISO"),
        ({"country": "Atlantis", "country_id": "99999"}, "unknown_country", "country 'Atlantis' matches no"),
        ({"type_of_violence": "4"}, "unknown_violence_type", "violence type '4' is not a known type"),
        ({"latitude": "north"}, "unparseable_coordinates", "latitude north, longitude -4.19"),
        ({"longitude": "-400"}, "unparseable_coordinates", "latitude 14.49, longitude -400"),
        ({"id": ""}, "missing_id", "the row has no event id"),
    ],
)
def test_each_reason_quarantines_its_row_and_keeps_the_rest(tmp_path, row, reason, detail) -> None:
    result = ingest_one(tmp_path, [{}, row, {}])
    q = result.quarantine
    assert q["reason"].tolist() == [reason]
    assert q["source_row"].tolist() == [2]
    assert q["source_file"].tolist() == ["ged231_synthetic.csv"]
    assert detail in q["detail"].iloc[0]
    assert len(result.events) == 2


def test_coordinates_outside_country(tmp_path, shared_data) -> None:
    # Mali's label on a point in the Atlantic (the country polygons come from the shared boundaries)
    result = ingest_one(tmp_path, [{}, {"latitude": "14.0", "longitude": "-30.0"}])
    q = result.quarantine
    assert q["reason"].tolist() == ["coordinates_outside_country"]
    assert "point (lat 14.0, lon -30.0) lies outside MLI (Mali)" in q["detail"].iloc[0]


def test_ucdp_events_at_sea_are_not_checked_against_the_land(tmp_path, shared_data) -> None:
    row = {"latitude": "14.0", "longitude": "-30.0", "where_prec": "7"}
    result = ingest_one(tmp_path, [row])
    assert len(result.quarantine) == 0
    assert result.events["admin1_id"].isna().all() and result.events["grid_id"].isna().all()


def test_duplicate_ids_keep_the_first_and_name_it(tmp_path) -> None:
    result = ingest_one(tmp_path, [{"id": "7"}, {"id": "8"}, {"id": "7"}, {"id": "7.0"}])
    q = result.quarantine
    assert q["reason"].tolist() == ["duplicate_id", "duplicate_id"]
    assert q["source_row"].tolist() == [3, 4]
    assert q["detail"].iloc[0] == (
        "event id ucdp_ged:7 duplicates ged231_synthetic.csv row 1 (the first is kept)"
    )
    assert result.events["event_id"].tolist() == ["ucdp_ged:7", "ucdp_ged:8"]
    assert result.events["source_row"].tolist() == [1, 2]


def test_an_event_in_two_files_keeps_one_version_by_the_supersession_rule(tmp_path) -> None:
    # the same release twice: not newer either way, so the file given later wins (ingest.releases)
    first = write_ucdp_csv(tmp_path / "ged231_a.csv", [{"id": "1"}, {"id": "2"}])
    second = write_ucdp_csv(tmp_path / "ged231_b.csv", [{"id": "2", "best": "5", "high": "5"}, {"id": "3"}])
    result = ingest_files([first, second])
    assert (result.rows_read, len(result.events), len(result.quarantine), result.superseded) == (4, 3, 0, 1)
    events = result.events.set_index("event_id")
    assert events.loc["ucdp_ged:2", ["source_file", "deaths_best"]].tolist() == ["ged231_b.csv", 5]
    # a newer release wins whichever file comes first
    newer = write_ucdp_csv(tmp_path / "ged241_c.csv", [{"id": "2", "best": "7", "high": "7"}])
    for order in ([newer, second], [second, newer]):
        events = ingest_files(order).events.set_index("event_id")
        assert events.loc["ucdp_ged:2", ["source_version", "deaths_best"]].tolist() == ["24.1", 7]


def test_a_bad_first_copy_does_not_take_the_id(tmp_path) -> None:
    # the first row with id 5 is quarantined for its date, so the second copy is the one kept
    result = ingest_one(tmp_path, [{"id": "5", "date_start": "yesterday"}, {"id": "5"}])
    assert result.quarantine["reason"].tolist() == ["unparseable_date"]
    assert result.events["source_row"].tolist() == [2]


def test_a_row_with_several_problems_has_one_reason_and_names_the_others(tmp_path) -> None:
    row = {"date_start": "2020-03-05", "date_end": "2020-03-02", "best": "-4", "country": "Atlantis"}
    row["country_id"] = ""  # else the Gleditsch-Ward code still names Mali
    result = ingest_one(tmp_path, [row, {}])
    q = result.quarantine
    assert q["reason"].tolist() == ["negative_deaths"]
    detail = q["detail"].iloc[0]
    assert detail.startswith("deaths_best '-4' is negative")
    assert "also best_outside_low_high" in detail
    assert "also end_before_start" in detail
    assert "also unknown_country" in detail


def test_rows_read_equal_kept_plus_quarantined_on_a_seeded_mix(tmp_path, rng) -> None:
    bad_values = [
        {"date_start": "31/02/2020"},
        {"best": "many"},
        {"low": "-1"},
        {"best": "9", "high": "3"},
        {"date_end": "2019-01-01"},
        {"country": "Nowhere", "country_id": "99999"},
        {"id": "1"},
    ]
    picks = rng.integers(0, len(bad_values) + 3, 200)
    rows = [bad_values[k] if k < len(bad_values) else {} for k in picks]
    result = ingest_one(tmp_path, rows)
    counts = result.quarantine["reason"].value_counts()
    assert set(counts.index) <= set(REASONS)
    assert counts.sum() + len(result.events) == 200
    assert int(counts.get("unparseable_date", 0)) >= int(np.sum(picks == 0))


def test_a_precision_code_off_the_codebook_is_quarantined(tmp_path) -> None:
    rows = [{"where_prec": "9"}, {"where_prec": "'"}, {"where_prec": "2"}, {"date_prec": "42"}]
    rows.append({"where_prec": "", "date_prec": ""})  # empty: precision unknown, the row is kept
    result = ingest_one(tmp_path, rows)
    kept = result.events["geo_precision"]
    assert len(kept) == 2 and kept.iloc[0] == 2 and pd.isna(kept.iloc[1])
    q = result.quarantine
    assert q["reason"].tolist() == ["precision_out_of_range"] * 3
    assert q["detail"].tolist() == [
        "where_prec '9' is not a code 1..7 of its codebook",
        "where_prec ''' is not a code 1..7 of its codebook",
        "date_prec '42' is not a code 1..5 of its codebook",
    ]


def test_emoji_and_lookalike_text_is_kept_as_published(tmp_path) -> None:
    side_a = "JΝΙΜ 🇲🇱"  # Greek capital Nu and Iota look like N and I
    result = ingest_one(tmp_path, [{"side_a": side_a, "adm_1": "Ségou région"}])
    assert result.events["side_a"].tolist() == [side_a]
    assert result.events["perpetrator"].tolist() == [side_a]
    assert result.events["admin1"].tolist() == ["Ségou région"]


# ----------------------------------------------------------------------------------------------
# Parsing helpers
# ----------------------------------------------------------------------------------------------


def test_parse_counts_reads_numbers_and_blanks_the_rest() -> None:
    text = pd.Series(["1", None, " 2.5 ", "abc", "15960.0", "-3", "inf", "", "1e3"], dtype="string")
    got = parse_counts(text)
    expected = [1.0, np.nan, 2.5, np.nan, 15960.0, -3.0, np.nan, np.nan, 1000.0]
    np.testing.assert_array_equal(got.to_numpy(), np.array(expected))


def test_parse_codes_keeps_whole_numbers_only() -> None:
    got = parse_codes(pd.Series(["1.0", "2", "2.5", None], dtype="string"))
    assert got.tolist() == [1, 2, pd.NA, pd.NA]


def test_native_id_turns_float_written_ids_into_integers_only() -> None:
    got = native_id(pd.Series(["15960.0", "612581", "ANG2", "1.5", " ", None], dtype="string"))
    assert got.tolist() == ["15960", "612581", "ANG2", "1.5", pd.NA, pd.NA]


def test_parse_dates_tries_each_format_in_order() -> None:
    text = pd.Series(["03/17/2020 00:00:00", "2020-03-18", "2026-01-21 00:00:00.000", "17.03.2020"])
    got = parse_dates(text, ("%m/%d/%Y %H:%M:%S", "ISO8601"))
    assert got.dt.strftime("%Y-%m-%d").tolist()[:3] == ["2020-03-17", "2020-03-18", "2026-01-21"]
    assert pd.isna(got.iloc[3])


def test_find_duplicates_points_at_the_first_row() -> None:
    ids = pd.Series(["a", "b", "a", None, None], dtype="string")
    detail = find_duplicates(ids, pd.Series(["f.csv"] * 5), pd.Series([1, 2, 3, 4, 5]))
    assert detail.isna().tolist() == [True, True, False, True, True]
    assert detail.iloc[2] == "event id a duplicates f.csv row 1 (the first is kept)"
