"""Source coverage: observed windows, declared overrides, validation messages and the weekly mask."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from civrisk.contracts import COVERAGE, validate
from ingest.coverage import compute_coverage, read_declared, validate_declared, weekly_mask
from tests.synth import make_events


def _declared(**overrides: list) -> pd.DataFrame:
    base = {
        "source": ["acled", "ucdp_ged"],
        "iso3": ["BFA", "MLI"],
        "first_date": ["2019-01-01", "2017-01-02"],
        "last_date": ["2019-12-31", "2021-01-03"],
    }
    return pd.DataFrame({**base, **overrides})


def test_observed_coverage_spans_first_start_to_last_end() -> None:
    ev = pd.concat([make_events(50, seed=1), make_events(30, seed=2, iso3="NER")], ignore_index=True)
    ev.loc[ev.index[0], "date_end"] = pd.Timestamp("2021-03-15 10:30")  # a multi-week event stretches it
    cov = compute_coverage(ev)
    validate(cov, COVERAGE)
    mli = cov.set_index("iso3").loc["MLI"]
    assert mli["first_date"] == ev.loc[ev["iso3"] == "MLI", "date_start"].min()
    assert mli["last_date"] == pd.Timestamp("2021-03-15")  # whole days
    assert not cov["declared"].any()
    assert cov["iso3"].tolist() == ["MLI", "NER"]


def test_declared_windows_override_and_add() -> None:
    ev = make_events(50)  # ucdp_ged, MLI, 2018-2020
    cov = compute_coverage(ev, _declared())
    assert cov[["source", "iso3", "declared"]].values.tolist() == [
        ["acled", "BFA", True],  # declared without events: covered, zero events
        ["ucdp_ged", "MLI", True],  # overrides the observed window
    ]
    mli = cov.set_index("iso3").loc["MLI"]
    assert (mli["first_date"], mli["last_date"]) == (pd.Timestamp("2017-01-02"), pd.Timestamp("2021-01-03"))


BAD_DECLARATIONS = [
    (_declared().drop(columns="last_date"), "declared coverage lacks columns ['last_date']"),
    (_declared(iso3=["BFA", None]), "declared coverage: empty cells in required columns {'iso3': 1}"),
    (
        _declared(iso3=["BFA", "Mali"]),
        "iso3 must be three capital letters (ISO 3166-1 alpha-3), got ['Mali'] in data rows [2]",
    ),
    (
        _declared(first_date=["2019-01-01", "3 May"]),
        "column first_date: 1 values are not dates (expected YYYY-MM-DD), e.g. data rows [2]: ['3 May']",
    ),
    (
        _declared(last_date=["2018-12-31", "2021-01-03"]),
        "declared coverage: last_date before first_date in data rows [1]",
    ),
    (
        _declared(iso3=["MLI", "MLI"], source=["acled", "acled"]),
        "declared coverage: more than one window for [{'source': 'acled', 'iso3': 'MLI'}]",
    ),
]


@pytest.mark.parametrize("declared, msg", BAD_DECLARATIONS)
def test_declared_coverage_errors_say_what_and_where(declared: pd.DataFrame, msg: str) -> None:
    with pytest.raises(ValueError, match=re.escape(msg)):
        validate_declared(declared)


def test_read_declared_csv(tmp_path: Path) -> None:
    path = tmp_path / "coverage.csv"
    path.write_text("source,iso3,first_date,last_date\nacled, BFA ,2019-01-01,2019-12-31\n", encoding="utf-8")
    got = read_declared(path)
    assert got.to_dict("records") == [
        {
            "source": "acled",
            "iso3": "BFA",
            "first_date": pd.Timestamp("2019-01-01"),
            "last_date": pd.Timestamp("2019-12-31"),
        }
    ]
    bad = tmp_path / "bad.csv"
    bad.write_text("source,iso3,first_date,last_date\nacled,BFA,2019-01-01,\n", encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(f"declared coverage file {bad}: empty cells")):
        read_declared(bad)
    with pytest.raises(FileNotFoundError, match=re.escape("does not exist")):
        read_declared(tmp_path / "absent.csv")


def test_weekly_mask_needs_the_whole_week_inside_a_window() -> None:
    cov = compute_coverage(
        make_events(5),
        _declared(
            source=["acled", "ucdp_ged"],
            iso3=["MLI", "MLI"],
            first_date=["2020-01-08", "2020-02-03"],  # a Wednesday; a Monday
            last_date=["2020-01-26", "2020-02-08"],  # a Sunday; a Saturday
        ),
    )
    weeks = pd.date_range("2020-01-06", "2020-02-03", freq="W-MON")
    mask = weekly_mask(cov, ["MLI", "NER"], weeks)
    assert mask.columns.tolist() == ["iso3", "week", "covered"]
    mli = mask[mask["iso3"] == "MLI"].set_index("week")["covered"]
    assert mli.to_dict() == {
        pd.Timestamp("2020-01-06"): False,  # window starts mid-week
        pd.Timestamp("2020-01-13"): True,
        pd.Timestamp("2020-01-20"): True,  # ends on the Sunday: the whole week is in
        pd.Timestamp("2020-01-27"): False,
        pd.Timestamp("2020-02-03"): False,  # ends on the Saturday: the week is incomplete
    }
    assert not mask.loc[mask["iso3"] == "NER", "covered"].any()  # no source covers NER


def test_weekly_mask_unions_sources_and_rejects_non_mondays() -> None:
    decl = _declared(
        source=["acled", "ucdp_ged"],
        iso3=["MLI", "MLI"],
        first_date=["2020-01-06", "2020-01-13"],
        last_date=["2020-01-12", "2020-01-19"],
    )
    cov = compute_coverage(make_events(5), decl)
    mask = weekly_mask(cov, ["MLI"], pd.to_datetime(["2020-01-06", "2020-01-13"]))
    assert mask["covered"].tolist() == [True, True]
    with pytest.raises(
        ValueError, match=re.escape("weeks must be Mondays (ISO weeks keyed by their Monday)")
    ):
        weekly_mask(cov, ["MLI"], pd.to_datetime(["2020-01-07"]))


def test_compute_coverage_names_missing_columns() -> None:
    msg = "compute_coverage: events lack columns ['date_end'] (expected the canonical events table)"
    with pytest.raises(ValueError, match=re.escape(msg)):
        compute_coverage(make_events(5).drop(columns="date_end"))


def _dated(rows: list[tuple[str, str, str, int | None, str]]) -> pd.DataFrame:
    """Return events (source, start, end, date precision, iso3) on make_events' columns."""
    ev = make_events(len(rows), seed=5)
    ev["source"] = pd.array([r[0] for r in rows], dtype="string")
    ev["date_start"] = pd.to_datetime([r[1] for r in rows])
    ev["date_end"] = pd.to_datetime([r[2] for r in rows])
    ev["date_precision"] = pd.array([r[3] for r in rows], dtype="Int64")
    ev["iso3"] = pd.array([r[4] for r in rows], dtype="string")
    return ev


def test_coverage_comes_from_events_with_precise_dates() -> None:
    ev = _dated(
        [
            ("ucdp_ged", "2021-01-01", "2021-03-31", 5, "MLI"),  # only the quarter is known
            ("ucdp_ged", "2021-02-15", "2021-02-15", 1, "MLI"),
            ("ucdp_ged", "2021-03-01", "2021-03-04", 4, "MLI"),  # a vague code, but a 4-day window
            ("acled", "2021-01-15", "2021-01-15", 3, "BFA"),  # ACLED: a month, written as one day
            ("acled", "2021-02-03", "2021-02-03", 2, "BFA"),
            ("acled", "2021-02-20", "2021-02-20", None, "BFA"),  # no code: its one-day window
        ]
    )
    cov = compute_coverage(ev).set_index(["source", "iso3"])
    assert cov.loc[("ucdp_ged", "MLI"), ["first_date", "last_date"]].tolist() == [
        pd.Timestamp("2021-02-15"),
        pd.Timestamp("2021-03-04"),
    ]
    assert cov.loc[("acled", "BFA"), ["first_date", "last_date"]].tolist() == [
        pd.Timestamp("2021-02-03"),
        pd.Timestamp("2021-02-20"),
    ]
    # January is not "covered, zero" any more: no week of it lies in the window
    mask = weekly_mask(cov.reset_index(), ["MLI"], pd.date_range("2021-01-04", periods=4, freq="7D"))
    assert not mask["covered"].any()


def test_a_source_country_with_only_imprecise_events_has_no_observed_window() -> None:
    ev = _dated(
        [
            ("ucdp_ged", "2021-01-01", "2021-06-30", 5, "NER"),
            ("ucdp_ged", "2021-02-01", "2021-02-01", 1, "MLI"),
        ]
    )
    cov = compute_coverage(ev)
    assert cov["iso3"].tolist() == ["MLI"]
    declared = compute_coverage(
        ev, _declared(source=["ucdp_ged"], iso3=["NER"], first_date=["2021-01-01"], last_date=["2021-06-30"])
    )
    assert declared.set_index("iso3").loc["NER", "declared"]
