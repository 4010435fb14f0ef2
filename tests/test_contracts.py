"""The contracts name every problem in their error message."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from civrisk.contracts import ContractError, validate_events, validate_panel
from tests.synth import make_events


def test_synthetic_events_meet_the_contract() -> None:
    events = make_events()
    assert len(validate_events(events)) == 400


def test_missing_and_mistyped_columns_are_all_named() -> None:
    events = make_events().drop(columns=["iso3", "deaths_best"])
    events["date_start"] = events["date_start"].astype(str)
    with pytest.raises(ContractError) as err:
        validate_events(events, "x.parquet")
    msg = str(err.value)
    assert "events table from x.parquet" in msg
    assert "missing columns ['iso3', 'deaths_best']" in msg
    assert re.search(r"mistyped columns \['date_start \((object|str)", msg)


def test_duplicate_event_ids_are_reported() -> None:
    events = make_events(n_events=10)
    events.loc[3, "event_id"] = events.loc[2, "event_id"]
    with pytest.raises(ContractError, match=r"2 rows share a key \['event_id'\]"):
        validate_events(events)


def test_unknown_actor_class_is_rejected() -> None:
    events = make_events(n_events=10)
    events.loc[0, "side_a_class"] = "ninja"
    with pytest.raises(ContractError, match=re.escape("unknown actor classes ['ninja']")):
        validate_events(events)


def test_panel_outside_coverage_must_be_nan() -> None:
    panel = pd.DataFrame(
        {
            "region_id": ["A", "A"],
            "unit": "admin1",
            "iso3": "MLI",
            "week": pd.to_datetime(["2020-01-06", "2020-01-13"]),
            "covered": [True, False],
            "events": [1.0, 0.0],
            "deaths": [1.0, 0.0],
            "civ_deaths": [0.0, 0.0],
            "civ_harm_events": [0.0, 0.0],
        }
    )
    with pytest.raises(ContractError, match="1 region-weeks outside coverage hold numbers"):
        validate_panel(panel)
