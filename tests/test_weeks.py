"""The one weeks module: strict parsing of week names, explicit snapping, labels."""

from __future__ import annotations

import re
from datetime import date

import pandas as pd
import pytest

from civrisk.weeks import monday_of, parse_week, parse_week_label, week_label, week_start


def test_week_start_maps_every_day_to_its_monday() -> None:
    dates = pd.Series(
        pd.to_datetime(
            ["2020-01-05", "2020-01-06", "2020-01-12 23:59:00", "2021-01-03 00:00:00", None], format="ISO8601"
        )
    )
    got = week_start(dates)
    want = pd.to_datetime(["2019-12-30", "2020-01-06", "2020-01-06", "2020-12-28", None])
    assert got.tolist()[:4] == want.tolist()[:4] and pd.isna(got.iloc[4])
    assert got.dtype == "datetime64[ns]"
    assert (got.dropna().dt.day_of_week == 0).all()
    before_epoch = week_start(["1969-12-28", "1969-12-29", "1900-01-01"])
    assert before_epoch.tolist() == list(pd.to_datetime(["1969-12-22", "1969-12-29", "1900-01-01"]))


def test_week_start_keeps_the_index() -> None:
    dates = pd.Series(pd.to_datetime(["2020-06-03", "2020-06-07"]), index=[10, 20], name="date_start")
    got = week_start(dates)
    assert got.index.tolist() == [10, 20] and got.name == "date_start"


def test_iso_week_labels_round_trip() -> None:
    assert parse_week_label("2020-W23") == date(2020, 6, 1)
    assert week_label(pd.Timestamp("2020-06-07")) == "2020-W23"
    assert week_label("2021-01-03") == "2020-W53"  # a Sunday in ISO week 53 of 2020
    assert parse_week_label("2020-W53") == date(2020, 12, 28)
    assert parse_week_label("2020-W01") == date(2019, 12, 30)
    for monday in pd.date_range("2015-01-05", "2026-12-28", freq="7D"):
        assert parse_week_label(week_label(monday)) == monday.date()


def test_iso_week_errors() -> None:
    with pytest.raises(ValueError, match=re.escape("expected an ISO week label like '2020-W23'")):
        parse_week_label("2020-23")
    with pytest.raises(ValueError, match=re.escape("week '2021-W53': ISO year 2021 has no week 53")):
        parse_week_label("2021-W53")


def test_parse_week_is_strict_and_names_the_monday_meant() -> None:
    assert parse_week("2020-W23") == date(2020, 6, 1)
    assert parse_week("2020-06-01") == date(2020, 6, 1)
    assert parse_week(pd.Timestamp("2020-06-01")) == date(2020, 6, 1)
    msg = (
        "week 2020-06-03 is a Wednesday, not a Monday; weeks are keyed by their Monday: "
        "give 2020-06-01 or 2020-W23"
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        parse_week("2020-06-03")
    with pytest.raises(
        ValueError, match=re.escape("week 'soon': expected an ISO week label like '2020-W23'")
    ):
        parse_week("soon")


def test_monday_of_snaps_on_purpose() -> None:
    assert monday_of("2020-06-03") == date(2020, 6, 1)
    assert monday_of(pd.Timestamp("2020-06-07 23:00")) == date(2020, 6, 1)
    assert monday_of("2020-W23") == date(2020, 6, 1)
