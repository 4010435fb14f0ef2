"""Plausibility at ingest: dates after the file's release or before its source, impossible death counts,
precision codes off the codebook; each quarantined with a named reason (issue 8, items 1 and 2)."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from civrisk.settings import Settings
from ingest.event_store import add_files, events_dir, load_store
from ingest.pipeline import ingest_files
from ingest.plausibility import Limits
from tests.test_ingest_layouts import write_acled_csv
from tests.test_ingest_quarantine import write_ucdp_csv

NOW = datetime(2024, 3, 4, 6, 0, tzinfo=UTC)
LIMITS = Limits(now=NOW)


def reasons(result) -> list[tuple[int, str, str]]:
    q = result.quarantine
    return list(zip(q["source_row"], q["reason"], q["detail"], strict=True))


def test_an_acled_row_dated_after_the_ingest_is_quarantined(tmp_path) -> None:
    rows = [{}, {"event_date": "2031-01-01", "fatalities": "0"}, {"event_date": "2024-03-05"}]
    result = ingest_files([write_acled_csv(tmp_path / "acled_bfa.csv", rows)], limits=LIMITS)
    assert reasons(result) == [
        (
            2,
            "date_after_release",
            "date_start 2031-01-01 is more than 1 day after 2024-03-04, the ingest date",
        )
    ]
    assert len(result.events) == 2  # one day ahead of the ingest is within the time-zone tolerance
    # the clock is injectable: the same file ingested in 2031 keeps the row
    later = ingest_files([tmp_path / "acled_bfa.csv"], limits=Limits(now=datetime(2031, 1, 2, tzinfo=UTC)))
    assert later.quarantine.empty


def test_a_release_is_held_to_the_end_of_its_own_data(tmp_path) -> None:
    rows = [
        {"date_start": "2026-06-30", "date_end": "2026-07-01"},  # ends a day after the data: kept
        {"date_start": "2099-01-01", "date_end": "2099-01-01"},
        {"date_start": "2026-06-20", "date_end": "2026-07-20"},  # runs 20 days past the data's end
    ]
    path = write_ucdp_csv(tmp_path / "GEDEvent_v26_01_26_06.csv", rows)
    result = ingest_files([path], limits=Limits(now=datetime(2099, 6, 1, tzinfo=UTC)))
    assert [(r, why) for r, why, _ in reasons(result)] == [
        (2, "date_after_release"),
        (3, "date_after_release"),
    ]
    assert reasons(result)[0][2].startswith(
        "date_start 2099-01-01 is more than 1 day after 2026-06-30, the end of the data of release "
        "v26_01_26_06"
    )
    assert reasons(result)[1][2] == (
        "date_end 2026-07-20 is more than 14 days after 2026-06-30, the end of the data of release "
        "v26_01_26_06"
    )
    # GED 23.1 holds data up to the end of 2022
    ged = write_ucdp_csv(tmp_path / "ged231_x.csv", [{"date_start": "2023-01-05", "date_end": "2023-01-05"}])
    assert reasons(ingest_files([ged], limits=LIMITS))[0][1] == "date_after_release"


def test_the_acled_export_tool_names_the_end_of_its_data(tmp_path) -> None:
    name = "acled_export_bfa_2015-01-01_2022-06-30.csv"
    rows = [{"event_date": "2022-06-30"}, {"event_date": "2022-08-01"}]
    result = ingest_files([write_acled_csv(tmp_path / name, rows)], limits=LIMITS)
    assert [(r, why) for r, why, _ in reasons(result)] == [(2, "date_after_release")]


@pytest.mark.parametrize(
    ("writer", "row", "detail"),
    [
        (
            "ucdp",
            {"date_start": "1850-01-01", "date_end": "1850-01-01"},
            "date_start 1850-01-01 is before UCDP's first year 1989",
        ),
        ("acled", {"event_date": "1996-12-31"}, "date_start 1996-12-31 is before ACLED's first year 1997"),
    ],
)
def test_dates_before_the_source_began_are_quarantined(tmp_path, writer, row, detail) -> None:
    if writer == "ucdp":
        path = write_ucdp_csv(tmp_path / "ged231_old.csv", [row])
    else:
        path = write_acled_csv(tmp_path / "acled_old.csv", [row])
    assert reasons(ingest_files([path], limits=LIMITS)) == [(1, "date_before_source", detail)]


def test_death_counts_beyond_int64_or_the_ceiling_are_quarantined_never_wrapped(tmp_path) -> None:
    rows = [
        {"best": "99999999999999999999", "high": "99999999999999999999"},
        {"best": "9223372036854775807", "high": "9223372036854775807"},
        {"best": "150000", "high": "150000"},
        {"best": "25000", "high": "25000"},
    ]
    result = ingest_files([write_ucdp_csv(tmp_path / "ged231_big.csv", rows)], limits=LIMITS)
    assert [(r, why) for r, why, _ in reasons(result)] == [
        (1, "deaths_above_ceiling"),
        (2, "deaths_above_ceiling"),
        (3, "deaths_above_ceiling"),
    ]
    details = result.quarantine["detail"].tolist()
    assert details[0].startswith("deaths_best '99999999999999999999' does not fit a 64-bit integer")
    assert details[1].startswith("deaths_best '9223372036854775807' does not fit a 64-bit integer")
    assert details[2].startswith(
        "deaths_best '150000' is above the ceiling of 100,000 deaths per event (setting max_deaths_per_event)"
    )
    assert result.events["deaths_best"].tolist() == [25000]
    assert (result.events[["deaths_best", "deaths_low", "deaths_high"]] >= 0).all().all()


def test_the_death_ceiling_is_a_setting(tmp_path) -> None:
    path = write_acled_csv(tmp_path / "acled_c.csv", [{"fatalities": "11"}, {"fatalities": "10"}])
    limits = Limits.from_settings(Settings(max_deaths_per_event=10), now=NOW)
    result = ingest_files([path], limits=limits)
    assert [(r, why) for r, why, _ in reasons(result)] == [(1, "deaths_above_ceiling")]
    assert "above the ceiling of 10 deaths per event" in result.quarantine["detail"].iloc[0]


def test_acled_precision_codes_off_the_codebook_are_quarantined(tmp_path) -> None:
    rows = [{"time_precision": "4"}, {"geo_precision": "0"}, {"time_precision": "3", "geo_precision": "3"}]
    result = ingest_files([write_acled_csv(tmp_path / "acled_p.csv", rows)], limits=LIMITS)
    assert reasons(result) == [
        (1, "precision_out_of_range", "time_precision '4' is not a code 1..3 of its codebook"),
        (2, "precision_out_of_range", "geo_precision '0' is not a code 1..3 of its codebook"),
    ]


def test_a_future_row_dropped_into_the_store_leaves_its_coverage_unchanged(tmp_path) -> None:
    settings = Settings(home=tmp_path / "home")
    add_files(
        [write_acled_csv(tmp_path / "acled_a.csv", [{}, {"event_date": "2021-06-01"}])], settings, now=NOW
    )
    before = load_store(events_dir(settings)).coverage
    poisoned = write_acled_csv(tmp_path / "acled_b.csv", [{"event_date": "2031-01-01", "fatalities": "0"}])
    delta = add_files([poisoned], settings, now=NOW)
    assert (delta.files[0].kept, delta.files[0].quarantined) == (0, 1)
    tables = load_store(events_dir(settings))
    pd.testing.assert_frame_equal(tables.coverage, before)
    assert tables.quarantine["reason"].tolist() == ["date_after_release"]
