"""Alert rules: opening, tier Updates and cancelling alerts week by week, and their record in the store."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting.alert_levels import AlertLevels, HorizonLevels, LevelRule, simulate
from publish.alerting.rules import (
    MESSAGE_COLUMNS,
    AlertRules,
    alert_id,
    alerts_in_force,
    evaluate_alerts,
    with_standing,
)
from publish.store.alert_log import StoreAlertError
from publish.store.store import ScoreStore
from tests.synth_scores import make_scores

LEVEL = LevelRule(enter=0.5, exit=0.4, min_weeks=3, tiers=(0.75,))
ESCALATION = LevelRule(enter=0.2, exit=0.15, min_weeks=2)
LEVELS = AlertLevels((HorizonLevels(1, LEVEL, ESCALATION), HorizonLevels(4, LEVEL, ESCALATION)))
LEVEL_ONLY = AlertRules(levels=LEVELS, escalation=False, mass=None, horizons=(1,))
RULES = AlertRules(levels=LEVELS, escalation=False, mass=LevelRule(0.3, 0.2, 1), horizons=(1,))


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


def carry(open_before: pd.DataFrame | None, messages: pd.DataFrame) -> pd.DataFrame:
    """What the store reports as open after ``messages``: the latest message of each alert, not cancelled."""
    both = messages if open_before is None else pd.concat([open_before, messages], ignore_index=True)
    last = both.drop_duplicates("alert_id", keep="last")
    return last[last["msg_type"] != "Cancel"].reset_index(drop=True)


def week_of(i: int) -> str:
    return (pd.Timestamp("2020-06-01") + pd.Timedelta(weeks=i)).strftime("%Y-%m-%d")


def run_weeks(path: list[float], rules: AlertRules = LEVEL_ONLY) -> list[pd.DataFrame]:
    """Evaluate one region's weekly p path, carrying the open alerts as the store would."""
    open_now, out = None, []
    for i, p in enumerate(path):
        msgs = evaluate_alerts(scores(week_of(i), {"A": p}), None, open_now, rules)
        out.append(msgs)
        open_now = carry(open_now, msgs)
    return out


def test_level_rule_opens_stands_silently_moves_a_tier_and_cancels_after_the_minimum():
    weeks = run_weeks([0.62, 0.45, 0.30, 0.30, 0.80, 0.70, 0.66, 0.39])
    kinds = [w["msg_type"].tolist() for w in weeks]
    # 0.45 and 0.30 stand without a message (hysteresis, then the 3-week minimum); 0.30 in week 4 closes;
    # 0.80 opens at the tier 0.75; 0.70 and 0.66 stay in that tier (within the margin); 0.39 closes
    assert kinds == [["Alert"], [], [], ["Cancel"], ["Alert"], [], [], ["Cancel"]]
    first, cancel = weeks[0].iloc[0], weeks[3].iloc[0]
    assert first["alert_id"] == "civrisk-A-level-civ_any-h1-2020-W23" and first["level"] == 0.5
    assert first["reason"] == "p 0.62 reached the alert level 0.50"
    assert cancel["alert_id"] == first["alert_id"] and cancel["first_week"] == pd.Timestamp("2020-06-01")
    assert cancel["reason"] == "p 0.30 fell below 0.40 after 3 weeks" and cancel["level"] == 0.5
    reopened = weeks[4].iloc[0]
    assert reopened["level"] == 0.75 and reopened["alert_id"].endswith("2020-W27")
    assert weeks[0].columns.tolist() == list(MESSAGE_COLUMNS)


def test_an_update_only_when_the_tier_changes_and_its_state_comes_from_the_last_message():
    weeks = run_weeks([0.55, 0.60, 0.78, 0.72, 0.60, 0.64])
    kinds = [w["msg_type"].tolist() for w in weeks]
    assert kinds == [["Alert"], [], ["Update"], [], ["Update"], []]
    up, down = weeks[2].iloc[0], weeks[4].iloc[0]
    assert up["level"] == 0.75 and up["reason"] == "p 0.78 moved the alert up to the level 0.75"
    assert down["level"] == 0.5 and down["reason"] == "p 0.60 moved the alert down to the level 0.50"


def test_the_weekly_evaluation_sends_what_the_backtest_simulation_sends():
    """Carrying state through messages (as the store does) gives the messages the backtest simulates."""
    rng = np.random.default_rng(5)
    values = np.array([0.1, 0.35, 0.45, 0.55, 0.7, 0.8, 0.95, np.nan])
    paths = {f"R{i}": rng.choice(values, 14) for i in range(8)}
    open_now, published = None, {}
    for i in range(14):
        p = {r: float(v[i]) for r, v in paths.items() if np.isfinite(v[i])}
        msgs = evaluate_alerts(scores(week_of(i), p), None, open_now, LEVEL_ONLY)
        published |= {(r, i): m for r, m in zip(msgs["region_id"], msgs["msg_type"], strict=True)}
        open_now = carry(open_now, msgs)
    weeks = pd.to_datetime([week_of(i) for i in range(14)])
    for region, path in paths.items():
        frame = pd.DataFrame({"region_id": region, "week": weeks, "p": path, "signal": path})
        sim = simulate(frame, LEVEL)
        was_open = [False, *sim["active"].tolist()[:-1]]
        # a week without a score: the publication cancels; the simulation closes the alert the same way
        expected = [
            m if np.isfinite(v) else ("Cancel" if o else "")
            for m, v, o in zip(sim["msg"], path, was_open, strict=True)
        ]
        assert [published.get((region, i), "") for i in range(14)] == expected, region


def test_escalation_rule_watches_p_above_the_regions_recent_rate():
    rules = AlertRules(levels=LEVELS, level=False, mass=None, horizons=(1,))
    cur = scores("2020-06-01", {"A": 0.35, "B": 0.90, "C": 0.40})
    base = pd.DataFrame({"region_id": ["A", "B", "C"], "horizon": 1, "base": [0.10, 0.85, np.nan]})
    out = evaluate_alerts(cur, None, None, rules, base)
    assert out[["region_id", "rule", "msg_type"]].values.tolist() == [["A", "escalation", "Alert"]]
    assert out["level"].iloc[0] == pytest.approx(0.30)  # the region's rate plus 0.20
    assert out["reason"].iloc[0] == "p 0.35 is 0.25 above the region's recent rate 0.10 (alert at +0.20)"
    nxt = scores("2020-06-08", {"A": 0.24})
    held = evaluate_alerts(nxt, cur, carry(None, out), rules, base)
    assert held.empty  # +0.14 is below the exit, but the alert is in its 2-week minimum
    closed = evaluate_alerts(scores("2020-06-15", {"A": 0.24}), nxt, carry(None, out), rules, base)
    assert (
        closed["msg_type"].tolist() == ["Cancel"]
        and "under the +0.15 the alert holds at" in closed["reason"].iloc[0]
    )
    msg = "the escalation rule needs each region's recent rate (baseline: region_id, horizon, base from"
    with pytest.raises(ValueError, match=re.escape(msg)):
        evaluate_alerts(cur, None, None, rules)


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
    w1 = evaluate_alerts(scores("2020-06-01", {"A": 0.9, "B": 0.9}), None, None, LEVEL_ONLY)
    w2 = evaluate_alerts(scores("2020-06-08", {"A": 0.9}), None, carry(None, w1), LEVEL_ONLY)
    b = w2[w2["region_id"] == "B"].iloc[0]
    assert (
        b["msg_type"] == "Cancel" and np.isnan(b["p"]) and b["iso3"] == "MLI" and b["region_name"] == "Name B"
    )
    assert "risk unknown, not low" in b["reason"] and len(w2) == 1


def test_open_alerts_of_a_retired_rule_are_cancelled():
    """An alert of the old fixed-threshold rule still open when the rules change is closed, not left open."""
    old = pd.DataFrame(
        {
            "alert_id": ["civrisk-A-threshold-civ_any-h1-2020-W22"],
            "rule": "threshold",
            "region_id": "A",
            "iso3": "MLI",
            "region_name": "Name A",
            "target": "civ_any",
            "horizon": 1,
            "level": 0.5,
            "first_week": pd.Timestamp("2020-05-25"),
        }
    )
    out = evaluate_alerts(scores("2020-06-01", {"A": 0.9}), None, old, LEVEL_ONLY)
    assert out[["rule", "msg_type"]].values.tolist() == [["threshold", "Cancel"], ["level", "Alert"]][::-1]
    retired = out[out["rule"] == "threshold"].iloc[0]
    assert retired["reason"] == "the threshold rule no longer watches this target and horizon"


def test_only_watched_horizons_alert():
    cur = pd.concat(
        [scores("2020-06-01", {"A": 0.9}, horizon=1), scores("2020-06-01", {"A": 0.9}, horizon=4)]
    )
    both = AlertRules(levels=LEVELS, escalation=False, mass=None, horizons=(1, 4))
    assert evaluate_alerts(cur, None, None, both)["horizon"].tolist() == [1, 4]
    only4 = AlertRules(levels=LEVELS, escalation=False, mass=None, horizons=(4,))
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
        ValueError, match=re.escape("AlertRules.horizons must be whole numbers of weeks >= 1; got (0,)")
    ):
        AlertRules(horizons=(0,))
    with pytest.raises(ValueError, match=re.escape("previous_scores must be from weeks before 2020-06-01")):
        evaluate_alerts(cur, cur, None, LEVEL_ONLY)
    twice = pd.concat([carry(None, evaluate_alerts(cur, None, None, LEVEL_ONLY))] * 2)
    with pytest.raises(
        ValueError, match=re.escape("open_alerts hold 2 alerts that share a (rule, region_id,")
    ):
        evaluate_alerts(cur, None, twice, LEVEL_ONLY)


def test_alert_ids_are_safe_cap_identifiers():
    aid = alert_id("Région A, <x>&y", "level", "civ_any", 4, pd.Timestamp("2020-06-01"))
    assert not re.search(r"[\s,<&]", aid) and aid.endswith("-level-civ_any-h4-2020-W23")


def test_an_alert_reopened_by_a_later_revision_gets_a_new_id():
    """Revision 1 opens, revision 2 cancels (its scores are gone), revision 3 reopens in the same week."""
    r1 = evaluate_alerts(
        scores("2020-06-01", {"A": 0.8, "B": 0.1}).assign(revision=1), None, None, LEVEL_ONLY
    )
    r2 = evaluate_alerts(
        scores("2020-06-01", {"B": 0.1}).assign(revision=2), None, carry(None, r1), LEVEL_ONLY
    )
    r3 = evaluate_alerts(
        scores("2020-06-01", {"A": 0.8}).assign(revision=3), None, carry(carry(None, r1), r2), LEVEL_ONLY
    )
    assert [r1["msg_type"].iloc[0], r2["msg_type"].iloc[0], r3["msg_type"].iloc[0]] == [
        "Alert",
        "Cancel",
        "Alert",
    ]
    assert r2["alert_id"].iloc[0] == r1["alert_id"].iloc[0] == "civrisk-A-level-civ_any-h1-2020-W23"
    assert r3["alert_id"].iloc[0] == "civrisk-A-level-civ_any-h1-2020-W23r3"


def test_alerts_in_force_and_the_report_frame_with_standing_alerts():
    history = pd.DataFrame(
        {
            "alert_id": ["a", "a", "b", "b", "c"],
            "seq": [1, 2, 1, 2, 1],
            "week": pd.to_datetime(["2020-06-01", "2020-06-15", "2020-06-01", "2020-06-08", "2020-06-15"]),
            "msg_type": ["Alert", "Update", "Alert", "Cancel", "Alert"],
            "region_id": ["A", "A", "B", "B", "C"],
        }
    )
    assert alerts_in_force(history, "2020-06-08")["alert_id"].tolist() == ["a"]
    assert alerts_in_force(history, "2020-06-15")["alert_id"].tolist() == ["a", "c"]
    this_week = history.iloc[[4]]
    report = with_standing(this_week, alerts_in_force(history.iloc[:4], "2020-06-15"))
    assert report["alert_id"].tolist() == ["c", "a"] and report["msg_type"].isna().tolist() == [False, True]


REGIONS = ("A", "B", "C", "D", "E")


@settings(max_examples=8, deadline=None)
@given(st.lists(st.tuples(*[st.floats(0.0, 1.0)] * len(REGIONS)), min_size=1, max_size=8))
def test_alert_histories_are_well_formed(weeks):
    """Any p paths give alerts that open on a crossing, hold while at or above the exit or young, close."""
    open_msgs = None
    history: dict[str, list[str]] = {}
    for i, ps in enumerate(weeks):
        out = evaluate_alerts(
            scores(week_of(i), dict(zip(REGIONS, ps, strict=True))), None, open_msgs, LEVEL_ONLY
        )
        was_open = (
            {}
            if open_msgs is None
            else dict(zip(open_msgs["region_id"], open_msgs["first_week"], strict=True))
        )
        got = dict(zip(out["region_id"], out["msg_type"], strict=True))
        for region, p in zip(REGIONS, ps, strict=True):
            if region in was_open:
                young = (pd.Timestamp(week_of(i)) - was_open[region]).days // 7 + 1 <= LEVEL.min_weeks
                assert (got.get(region) == "Cancel") == (p < 0.4 and not young)
            else:
                assert got.get(region) == ("Alert" if p >= 0.5 else None)
        for aid, kind in zip(out["alert_id"], out["msg_type"], strict=True):
            history.setdefault(aid, []).append(kind)
        open_msgs = carry(open_msgs, out)
    for kinds in history.values():
        assert kinds[0] == "Alert" and "Alert" not in kinds[1:] and "Cancel" not in kinds[:-1]


def test_weekly_cycle_through_the_store_recovers_each_alerts_state(tmp_path):
    rules = AlertRules(levels=LEVELS, escalation=False, mass=LevelRule(0.3, 0.2, 1), horizons=(1, 4))
    with ScoreStore(f"sqlite:///{tmp_path / 's.db'}") as store:
        previous = None
        recorded = []
        for i, week in enumerate(["2020-06-01", "2020-06-08", "2020-06-15", "2020-06-22"]):
            pub = store.record_publication(
                week, make_scores(n_regions=30, week=week, seed=i), "m", "1", f"fp{i}", datetime(2020, 1, 1)
            )
            current = store.scores(week)
            msgs = evaluate_alerts(current, previous, store.open_alerts(), rules)
            recorded.append(store.record_alerts(pub.id, msgs))
            previous = current
        assert len(recorded[0]) > 0 and set(recorded[0]["msg_type"]) == {"Alert"}
        later = pd.concat(recorded[1:])
        updates = later[later["msg_type"] != "Alert"]
        assert len(updates) > 0 and (updates["seq"] >= 2).all()
        assert (
            updates["references_message_id"] == updates["alert_id"] + "." + (updates["seq"] - 1).astype(str)
        ).all()
        assert updates["references_sent"].notna().all() and updates["sent"].dt.tz is not None
        # an Update is a tier change: its level differs from the alert's message before
        moved = later[later["msg_type"] == "Update"]
        for aid, seq, level in zip(moved["alert_id"], moved["seq"], moved["level"], strict=True):
            hist = store.alert_history(aid).set_index("seq")
            assert hist.at[seq - 1, "level"] != level
        # nothing happens to an alert between its messages that the store could not replay
        stood = set(recorded[0]["alert_id"]) - set(later["alert_id"])
        assert stood and stood <= set(store.open_alerts()["alert_id"])
        since = store.alerts_since(datetime(2000, 1, 1, tzinfo=UTC))
        assert len(since) == sum(len(r) for r in recorded)
        assert store.alerts_since(datetime(2100, 1, 1)).empty


def test_store_refuses_alert_messages_that_break_history(tmp_path):
    with ScoreStore(f"sqlite:///{tmp_path / 's.db'}") as store:
        w1 = store.record_publication(
            "2020-06-01", scores("2020-06-01", {"A": 0.9}), "m", "1", "f1", datetime(2020, 1, 1)
        )
        w2 = store.record_publication(
            "2020-06-08", scores("2020-06-08", {"A": 0.2}), "m", "1", "f2", datetime(2020, 1, 1)
        )
        rules = AlertRules(
            levels=AlertLevels((HorizonLevels(1, LevelRule(0.5, 0.4, 1)),)),
            escalation=False,
            mass=None,
            horizons=(1,),
        )
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
