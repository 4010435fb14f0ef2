"""Alert rules: opening, updating and cancelling alerts week by week, and their record in the store."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publish.alerting.rules import MESSAGE_COLUMNS, AlertRules, alert_id, evaluate_alerts
from publish.store.alert_log import StoreAlertError
from publish.store.store import ScoreStore
from tests.synth_scores import make_scores

RULES = AlertRules(threshold=0.5, rise=0.2, mass=0.3, hysteresis=0.1, horizons=(1,))
ANY_ONLY = AlertRules(threshold=0.5, rise=0.2, mass=None, hysteresis=0.1, horizons=(1,))


def scores(
    week: str, p: dict[str, float], target: str = "civ_any", horizon: int = 1, **extra
) -> pd.DataFrame:
    """Scores of one week: region -> p for ``target``, plus other (target, region) -> p in ``extra``."""
    rows = [(r, target, v) for r, v in p.items()]
    rows += [(r, t, v) for (t, r), v in extra.get("other", {}).items()]
    return pd.DataFrame(
        {
            "region_id": [r for r, _, _ in rows],
            "iso3": "MLI",
            "region_name": [f"Name {r}" for r, _, _ in rows],
            "week": pd.Timestamp(week),
            "horizon": horizon,
            "target": [t for _, t, _ in rows],
            "p": [v for _, _, v in rows],
        }
    )


def as_open(messages: pd.DataFrame) -> pd.DataFrame:
    """What the store would report as open after recording ``messages`` (no earlier alerts)."""
    return messages[messages["msg_type"] != "Cancel"]


def test_threshold_opens_then_updates_then_cancels_with_hysteresis():
    rules = AlertRules(threshold=0.5, rise=None, mass=None, hysteresis=0.1, horizons=(1,))
    w1 = evaluate_alerts(scores("2020-06-01", {"A": 0.62, "B": 0.3}), None, None, rules)
    assert w1["msg_type"].tolist() == ["Alert"] and w1["region_id"].tolist() == ["A"]
    aid = w1["alert_id"].iloc[0]
    assert aid == "civrisk-A-threshold-civ_any-h1-2020-W23" and w1["level"].iloc[0] == 0.5
    assert w1.columns.tolist() == list(MESSAGE_COLUMNS)
    # p 0.45 is below the threshold but inside the hysteresis band: the alert holds
    w2 = evaluate_alerts(scores("2020-06-08", {"A": 0.45, "B": 0.3}), None, as_open(w1), rules)
    assert w2[["alert_id", "msg_type"]].values.tolist() == [[aid, "Update"]]
    assert w2["first_week"].iloc[0] == pd.Timestamp("2020-06-01") and w2["reason"].iloc[0].startswith(
        "p 0.45 still"
    )
    w3 = evaluate_alerts(scores("2020-06-15", {"A": 0.39, "B": 0.3}), None, as_open(w2), rules)
    assert w3[["alert_id", "msg_type"]].values.tolist() == [[aid, "Cancel"]]
    assert w3["reason"].iloc[0] == "p 0.39 fell below 0.40"
    # crossing again later opens a new alert with a new id
    w5 = evaluate_alerts(scores("2020-06-29", {"A": 0.7, "B": 0.3}), None, as_open(w3), rules)
    assert w5["msg_type"].tolist() == ["Alert"] and w5["alert_id"].iloc[0].endswith("2020-W27")


def test_rise_rule_needs_last_weeks_score_and_holds_at_its_level():
    rules = AlertRules(threshold=None, rise=0.2, mass=None, hysteresis=0.1, horizons=(1,))
    prev = scores("2020-06-01", {"A": 0.10, "B": 0.30, "C": 0.05})
    cur = scores("2020-06-08", {"A": 0.35, "B": 0.45, "C": 0.9, "D": 0.9})  # D is new: no previous score
    out = evaluate_alerts(cur, prev, None, rules)
    assert out["region_id"].tolist() == ["A", "C"] and set(out["msg_type"]) == {"Alert"}
    assert out["level"].round(10).tolist() == [0.3, 0.25] and out["p_prev"].tolist() == [0.10, 0.05]
    assert out["reason"].iloc[0] == "p rose from 0.10 to 0.35 in a week (alert on a rise of 0.20)"
    assert evaluate_alerts(cur, None, None, rules).empty
    nxt = evaluate_alerts(scores("2020-06-15", {"A": 0.21, "C": 0.1}), cur, as_open(out), rules)
    assert nxt.set_index("region_id")["msg_type"].to_dict() == {"A": "Update", "C": "Cancel"}


def test_mass_rule_and_perpetrator_drivers():
    groups = {
        ("civ_any_jihadist_rebel", "A"): 0.6,
        ("civ_any_state_allied", "A"): 0.3,
        ("civ_any_militia", "A"): 0.1,
    }
    cur = scores(
        "2020-06-01", {"A": 0.35, "B": 0.1}, target="civ_mass", other={**groups, ("civ_any", "A"): 0.2}
    )
    out = evaluate_alerts(cur, None, None, RULES)
    assert out[["rule", "region_id", "target", "msg_type"]].values.tolist() == [
        ["mass", "A", "civ_mass", "Alert"]
    ]
    assert json.loads(out["drivers"].iloc[0]) == [
        ["jihadist_rebel", 0.6],
        ["state_allied", 0.3],
        ["militia", 0.1],
    ]


def test_open_alert_without_a_score_is_cancelled_as_unknown():
    w1 = evaluate_alerts(scores("2020-06-01", {"A": 0.9, "B": 0.9}), None, None, ANY_ONLY)
    w2 = evaluate_alerts(scores("2020-06-08", {"A": 0.9}), None, as_open(w1), ANY_ONLY)
    b = w2[w2["region_id"] == "B"].iloc[0]
    assert (
        b["msg_type"] == "Cancel" and np.isnan(b["p"]) and b["iso3"] == "MLI" and b["region_name"] == "Name B"
    )
    assert "risk unknown, not low" in b["reason"]


def test_only_watched_horizons_alert():
    cur = pd.concat(
        [scores("2020-06-01", {"A": 0.9}, horizon=1), scores("2020-06-01", {"A": 0.9}, horizon=4)]
    )
    both = AlertRules(threshold=0.5, rise=None, mass=None, horizons=(1, 4))
    assert evaluate_alerts(cur, None, None, both)["horizon"].tolist() == [1, 4]
    only4 = AlertRules(threshold=0.5, rise=None, mass=None, horizons=(4,))
    assert evaluate_alerts(cur, None, None, only4)["horizon"].tolist() == [4]


def test_misconfiguration_is_loud():
    cur = scores("2020-06-01", {"A": 0.9})
    msg = "current_scores have no horizon the alert rules watch [2] (they have [1]); set AlertRules(horizons="
    with pytest.raises(ValueError, match=re.escape(msg)):
        evaluate_alerts(cur, None, None, AlertRules(horizons=(2,)))
    msg = "alert rule 'mass' watches target 'civ_mass' at horizons [1], which current_scores lack (targets: "
    with pytest.raises(ValueError, match=re.escape(msg)):
        evaluate_alerts(cur, None, None, RULES)
    with pytest.raises(
        ValueError, match=re.escape("AlertRules.threshold must be in (0, 1] or None (off); got 1.5")
    ):
        AlertRules(threshold=1.5)
    with pytest.raises(ValueError, match=re.escape("previous_scores must be from weeks before 2020-06-01")):
        evaluate_alerts(cur, cur, None, AlertRules(mass=None))
    twice = pd.concat([as_open(evaluate_alerts(cur, None, None, AlertRules(mass=None, rise=None)))] * 2)
    with pytest.raises(
        ValueError, match=re.escape("open_alerts hold 2 alerts that share a (rule, region_id,")
    ):
        evaluate_alerts(cur, None, twice, AlertRules(mass=None))


def test_alert_ids_are_safe_cap_identifiers():
    aid = alert_id("Région A, <x>&y", "threshold", "civ_any", 4, pd.Timestamp("2020-06-01"))
    assert not re.search(r"[\s,<&]", aid) and aid.endswith("-threshold-civ_any-h4-2020-W23")


def test_an_alert_reopened_by_a_later_revision_gets_a_new_id():
    """Revision 1 opens, revision 2 cancels, revision 3 reopens in the same week: three messages, two ids."""
    rules = AlertRules(threshold=0.5, rise=None, mass=None, horizons=(1,))
    r1 = evaluate_alerts(scores("2020-06-01", {"A": 0.8}).assign(revision=1), None, None, rules)
    r2 = evaluate_alerts(scores("2020-06-01", {"A": 0.1}).assign(revision=2), None, as_open(r1), rules)
    r3 = evaluate_alerts(scores("2020-06-01", {"A": 0.8}).assign(revision=3), None, as_open(r2), rules)
    assert [r1["msg_type"].iloc[0], r2["msg_type"].iloc[0], r3["msg_type"].iloc[0]] == [
        "Alert",
        "Cancel",
        "Alert",
    ]
    assert r2["alert_id"].iloc[0] == r1["alert_id"].iloc[0] == "civrisk-A-threshold-civ_any-h1-2020-W23"
    assert r3["alert_id"].iloc[0] == "civrisk-A-threshold-civ_any-h1-2020-W23r3"


REGIONS = ("A", "B", "C", "D", "E")


@settings(max_examples=12, deadline=None)
@given(st.lists(st.tuples(*[st.floats(0.0, 1.0)] * len(REGIONS)), min_size=1, max_size=8))
def test_alert_histories_are_well_formed(weeks):
    """Any p paths give alerts that open on a crossing, hold in the band and close below it."""
    rules = AlertRules(threshold=0.5, rise=None, mass=None, hysteresis=0.1, horizons=(1,))
    open_msgs = None
    history: dict[str, list[str]] = {}
    for i, ps in enumerate(weeks):
        week = (pd.Timestamp("2020-06-01") + pd.Timedelta(weeks=i)).strftime("%Y-%m-%d")
        out = evaluate_alerts(scores(week, dict(zip(REGIONS, ps, strict=True))), None, open_msgs, rules)
        was_open = set() if open_msgs is None else set(open_msgs["region_id"])
        got = dict(zip(out["region_id"], out["msg_type"], strict=True))
        for region, p in zip(REGIONS, ps, strict=True):
            if region in was_open:
                assert got[region] == ("Update" if p >= 0.4 else "Cancel")
            else:
                assert got.get(region) == ("Alert" if p >= 0.5 else None)
        for aid, kind in zip(out["alert_id"], out["msg_type"], strict=True):
            history.setdefault(aid, []).append(kind)
        open_msgs = pd.concat([open_msgs, out]) if open_msgs is not None else out
        open_msgs = open_msgs.drop_duplicates("alert_id", keep="last")
        open_msgs = open_msgs[open_msgs["msg_type"] != "Cancel"]
    for kinds in history.values():
        assert kinds[0] == "Alert" and "Alert" not in kinds[1:] and "Cancel" not in kinds[:-1]


def test_weekly_cycle_through_the_store(tmp_path):
    rules = AlertRules(threshold=0.5, rise=0.2, mass=0.3, horizons=(1, 4))
    with ScoreStore(f"sqlite:///{tmp_path / 's.db'}") as store:
        previous = None
        recorded = []
        for i, week in enumerate(["2020-06-01", "2020-06-08", "2020-06-15"]):
            pub = store.record_publication(
                week, make_scores(n_regions=30, week=week, seed=i), "m", "1", f"fp{i}", datetime(2020, 1, 1)
            )
            current = store.scores(week)
            msgs = evaluate_alerts(current, previous, store.open_alerts(), rules)
            recorded.append(store.record_alerts(pub.id, msgs))
            previous = current
        assert len(recorded[0]) > 0 and set(recorded[0]["msg_type"]) == {"Alert"}
        last = recorded[-1]
        updates = last[last["msg_type"] != "Alert"]
        assert len(updates) > 0 and (updates["seq"] >= 2).all()
        assert (
            updates["references_message_id"] == updates["alert_id"] + "." + (updates["seq"] - 1).astype(str)
        ).all()
        assert updates["references_sent"].notna().all() and last["sent"].dt.tz is not None
        one = updates["alert_id"].iloc[0]
        hist = store.alert_history(one)
        assert hist["seq"].tolist() == list(range(1, len(hist) + 1)) and hist["msg_type"].iloc[0] == "Alert"
        open_now = store.open_alerts()
        assert "Cancel" not in set(open_now["msg_type"])
        assert open_now["alert_id"].is_unique
        since = store.alerts_since(datetime(2000, 1, 1, tzinfo=UTC))
        assert len(since) == sum(len(r) for r in recorded)
        assert store.alerts_since(datetime(2100, 1, 1)).empty
        with pytest.raises(LookupError, match=re.escape("no alert with id 'nope' in the store")):
            store.alert_history("nope")


def test_store_refuses_alert_messages_that_break_history(tmp_path):
    with ScoreStore(f"sqlite:///{tmp_path / 's.db'}") as store:
        w1 = store.record_publication(
            "2020-06-01", scores("2020-06-01", {"A": 0.9}), "m", "1", "f1", datetime(2020, 1, 1)
        )
        w2 = store.record_publication(
            "2020-06-08", scores("2020-06-08", {"A": 0.2}), "m", "1", "f2", datetime(2020, 1, 1)
        )
        rules = AlertRules(rise=None, mass=None, horizons=(1,))
        first = evaluate_alerts(store.scores(w1.week), None, None, rules)
        store.record_alerts(w1.id, first)
        aid = first["alert_id"].iloc[0]
        with pytest.raises(
            StoreAlertError, match=re.escape(f"alert {aid} already exists (last message: #1, Alert)")
        ):
            store.record_alerts(w1.id, first)
        with pytest.raises(
            StoreAlertError, match=re.escape("alert messages are for weeks ['2020-06-01'], but")
        ):
            store.record_alerts(w2.id, first)
        cancel = evaluate_alerts(store.scores(w2.week), None, store.open_alerts(), rules)
        assert cancel["msg_type"].tolist() == ["Cancel"]
        store.record_alerts(w2.id, cancel)
        assert store.open_alerts().empty
        with pytest.raises(StoreAlertError, match=re.escape(f"cannot cancel alert {aid}: it was cancelled")):
            store.record_alerts(w2.id, cancel.assign(week=pd.Timestamp("2020-06-08")))
        ghost = cancel.assign(alert_id="civrisk-ghost", msg_type="Update")
        with pytest.raises(
            StoreAlertError, match=re.escape("cannot update alert civrisk-ghost: it does not exist")
        ):
            store.record_alerts(w2.id, ghost)
        assert len(store.alerts()) == 2
