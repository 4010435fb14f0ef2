"""The contracts name every problem in their error message."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from civrisk.contracts import (
    ALERTS,
    METRICS,
    REGIONS,
    ContractError,
    validate_alerts,
    validate_events,
    validate_forecasts,
    validate_metrics,
    validate_panel,
    validate_regions,
)
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


def _forecasts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "region_id": ["A", "B", "A"],
            "week": pd.to_datetime(["2020-06-01"] * 3),
            "horizon": [4, 4, 4],
            "target": ["civ_any", "civ_any", "civ_deaths"],
            "model": ["m", "m", "m"],
            "p": [0.2, 0.9, 12.5],
            "q10": [float("nan"), float("nan"), 2.0],
            "q50": [float("nan"), float("nan"), 9.0],
            "q90": [float("nan"), float("nan"), 30.0],
        }
    )


def test_forecasts_must_be_probabilities_or_counts() -> None:
    assert len(validate_forecasts(_forecasts())) == 3
    bad = _forecasts()
    bad.loc[1, "p"] = 1.2  # a probability above 1
    with pytest.raises(ContractError, match=re.escape("1 values of p are not probabilities in [0, 1]")):
        validate_forecasts(bad, "model x")
    bad = _forecasts()
    bad.loc[2, "p"] = -1.0  # a negative count
    with pytest.raises(ContractError, match="non-negative counts"):
        validate_forecasts(bad)
    bad = _forecasts()
    bad.loc[0, "target"] = "civ_sometimes"
    with pytest.raises(ContractError, match=re.escape("unknown targets ['civ_sometimes']")):
        validate_forecasts(bad)


def test_count_quantiles_must_not_decrease() -> None:
    bad = _forecasts()
    bad.loc[2, "q50"] = 40.0  # above q90
    with pytest.raises(ContractError, match=re.escape("1 rows have quantiles that decrease (q10, q50, q90")):
        validate_forecasts(bad)


def test_empty_tables_take_the_contract_dtypes() -> None:
    empty = ALERTS.empty()
    assert list(empty.columns) == list(ALERTS.columns) and len(empty) == 0
    assert str(empty["horizon"].dtype) == "Int64" and str(empty["week"].dtype) == "datetime64[ns]"
    assert len(validate_regions(REGIONS.empty())) == 0
    assert len(validate_metrics(METRICS.empty())) == 0


def test_alert_messages_name_their_unknown_type() -> None:
    row = {c: ["x"] for c in ALERTS.columns} | {
        "horizon": [4],
        "week": pd.to_datetime(["2020-06-01"]),
        "first_week": pd.to_datetime(["2020-06-01"]),
        "p": [0.6],
        "p_prev": [0.4],
        "level": [0.5],
        "msg_type": ["Reminder"],
    }
    with pytest.raises(ContractError, match=re.escape("unknown msg_type values ['Reminder']")):
        validate_alerts(pd.DataFrame(row), "test")
