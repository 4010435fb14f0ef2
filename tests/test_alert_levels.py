"""Alert levels: hysteresis, minimum duration, tier Updates; levels chosen on a backtest; alert statistics."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from forecasting.alert_choice import LEVEL_GRID, choose_alert_levels
from forecasting.alert_levels import DEFAULT_LEVELS, LevelRule, min_weeks_for, simulate, transition
from forecasting.alert_stats import alert_metrics, backtest_alert_table, episodes, rule_frame, rule_metrics

WEEKS = pd.date_range("2021-01-04", periods=10, freq="7D")


def run(p: list[float], rule: LevelRule, region: str = "R") -> pd.DataFrame:
    """Simulate ``rule`` on one region's weekly p (signal = p)."""
    weeks = pd.date_range("2021-01-04", periods=len(p), freq="7D")
    return simulate(pd.DataFrame({"region_id": region, "week": weeks, "p": p, "signal": p}), rule)


def test_enter_exit_hysteresis_minimum_duration_and_updates_only_on_a_tier_change() -> None:
    """Enter 0.5, hold down to 0.4, at least 3 weeks, a tier at 0.75."""
    p = [0.2, 0.55, 0.45, 0.3, 0.3, 0.8, 0.42, 0.35, 0.6, 0.39]
    st = run(p, LevelRule(enter=0.5, exit=0.4, min_weeks=3, tiers=(0.75,)))
    # 0.45 holds (>= exit); 0.3 holds in week 3 (minimum duration) and closes in week 4; 0.8 opens at
    # tier 1; 0.42 drops a tier (Update); 0.35 holds (week 3); 0.6 holds silently; 0.39 closes
    assert st["msg"].tolist() == ["", "Alert", "", "", "Cancel", "Alert", "Update", "", "", "Cancel"]
    assert st["active"].tolist() == [False, True, True, True, False, True, True, True, True, False]
    assert st["tier"].tolist() == [0, 0, 0, 0, 0, 1, 0, 0, 0, 0]
    assert st.loc[st["active"], "open_week"].tolist() == [WEEKS[1]] * 3 + [WEEKS[5]] * 4


def test_a_tier_drops_only_a_full_margin_below_its_cut() -> None:
    """Around the 0.75 cut p moves 0.76 / 0.70 / 0.76 / 0.64: one Update up, one down, no flapping."""
    st = run([0.6, 0.76, 0.70, 0.76, 0.64, 0.66], LevelRule(0.5, 0.4, 1, (0.75,)))
    assert st["msg"].tolist() == ["Alert", "Update", "", "", "Update", ""]
    assert st["tier"].tolist() == [0, 1, 1, 1, 0, 0]


def test_a_week_without_a_score_closes_the_alert() -> None:
    weeks = pd.date_range("2021-01-04", periods=4, freq="7D")[[0, 1, 3]]
    frame = pd.DataFrame({"region_id": "R", "week": weeks, "p": 0.9, "signal": 0.9})
    st = simulate(frame, LevelRule(0.5, 0.4, 4))
    assert st["msg"].tolist() == ["Alert", "", "Alert"] and st.attrs["gap_cancels"] == 1
    assert transition(LevelRule(0.5, 0.4, 4), np.nan, np.nan, 0, 2).msg == "Cancel"


def test_rules_refuse_inconsistent_levels() -> None:
    with pytest.raises(ValueError, match=re.escape("LevelRule.exit must be in (-1, enter=0.4]; got 0.5")):
        LevelRule(0.4, 0.5)
    with pytest.raises(ValueError, match=re.escape("LevelRule.tiers must rise strictly above enter=0.4")):
        LevelRule(0.4, 0.3, 1, (0.3,))
    with pytest.raises(
        ValueError, match=re.escape("LevelRule.min_weeks must be a whole number of weeks >= 1")
    ):
        LevelRule(0.4, 0.3, 0)


def test_minimum_duration_follows_the_horizon() -> None:
    assert [min_weeks_for(h) for h in (1, 2, 4, 12)] == [2, 2, 4, 4]
    assert DEFAULT_LEVELS.at(4).level == LevelRule(0.40, 0.30, 4, (0.65,))
    assert DEFAULT_LEVELS.at(12).level.enter == 0.40  # horizons without chosen levels get the defaults


def test_episodes_need_eight_covered_quiet_weeks() -> None:
    harm = [0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2]
    weeks = pd.date_range("2021-01-04", periods=len(harm), freq="7D")
    weekly = pd.DataFrame({"region_id": "R", "week": weeks, "harm": np.asarray(harm, float)})
    assert episodes(weekly)["week"].tolist() == [weeks[8], weeks[19]]
    gap = weekly.assign(harm=weekly["harm"].where(weekly.index != 15))  # one uncovered week in the run-up
    assert episodes(gap)["week"].tolist() == [weeks[8]]


def test_lead_time_and_warned_onsets() -> None:
    """An alert opened in week 2 covers an onset in week 5 at h = 4: lead 3 weeks."""
    st = run([0.1, 0.1, 0.6, 0.6, 0.6, 0.6], LevelRule(0.5, 0.4, 1)).assign(y=[0, 0, 1, 1, 1, 1])
    onsets = pd.DataFrame({"region_id": ["R"], "week": [st["week"].iloc[5]]})
    m = alert_metrics(st, onsets, horizon=4)
    assert m["onsets_warned"] == 1.0 and m["lead_median"] == 3.0
    assert m["alert_rate"] == 4 / 6 and m["precision"] == 1.0 and m["recall"] == 1.0
    early = pd.DataFrame({"region_id": ["R"], "week": [st["week"].iloc[1]]})  # before any alert
    assert alert_metrics(st, early, horizon=4)["onsets_warned"] == 0.0


def synthetic_backtest(seed: int = 3, n_regions: int = 24, n_weeks: int = 160) -> tuple[pd.DataFrame, ...]:
    """Calibrated forecasts (p drifts per region, y ~ Bernoulli(p)) of model "m" and a recent climatology."""
    rng = np.random.default_rng(seed)
    weeks = pd.date_range("2018-01-01", periods=n_weeks, freq="7D")
    rows, acts = [], []
    for r in range(n_regions):
        logit = np.cumsum(rng.normal(0, 0.25, n_weeks)) + rng.normal(-2.0, 1.0)
        p = 1 / (1 + np.exp(-logit))
        for h in (1, 4):
            ph = 1 - (1 - p) ** (1 if h == 1 else 2)
            y = (rng.random(n_weeks) < ph).astype(float)
            base = pd.Series(ph).shift(8).rolling(26, min_periods=1).mean().fillna(ph.mean()).to_numpy()
            for model, values in (("m", ph), ("recent_climatology", base)):
                rows.append(
                    pd.DataFrame(
                        {
                            "region_id": f"R{r:02d}",
                            "week": weeks,
                            "horizon": h,
                            "target": "civ_any",
                            "model": model,
                            "p": values,
                        }
                    )
                )
            acts.append(
                pd.DataFrame(
                    {"region_id": f"R{r:02d}", "week": weeks, "horizon": h, "target": "civ_any", "y": y}
                )
            )
    return pd.concat(rows, ignore_index=True), pd.concat(acts, ignore_index=True)


def test_levels_are_the_lowest_that_keep_the_target_precision_on_the_backtest() -> None:
    fc, act = synthetic_backtest(n_regions=16, n_weeks=110)
    levels = choose_alert_levels(fc, act, {1: "m", 4: "m"}, target_precision=0.70)
    for horizon in (1, 4):
        rule = levels.at(horizon).level
        assert rule.exit == pytest.approx(rule.enter - 0.10) and rule.tiers == (round(rule.enter + 0.25, 2),)
        assert rule.min_weeks == min_weeks_for(horizon)
        frame = rule_frame(fc, act, "m", horizon, "level")
        assert rule_metrics(frame, rule, None, horizon)["all"]["precision"] >= 0.70
        lower = LEVEL_GRID[LEVEL_GRID.index(rule.enter) - 1]
        below = LevelRule(lower, round(lower - 0.10, 2), rule.min_weeks, (round(min(lower + 0.25, 0.95), 2),))
        assert rule_metrics(frame, below, None, horizon)["all"]["precision"] < 0.70
        esc = levels.at(horizon).escalation
        assert esc is not None and esc.exit == pytest.approx(esc.enter - 0.05)
        esc_rate = rule_metrics(rule_frame(fc, act, "m", horizon, "escalation"), esc, None, horizon)
        assert esc_rate["all"]["alert_rate"] <= 0.10
    assert "precision" in levels.chosen_on
    stricter = choose_alert_levels(fc, act, {4: "m"}, target_precision=0.85)
    assert stricter.at(4).level.enter > levels.at(4).level.enter


def test_backtest_alert_table_is_tidy_per_rule_and_country() -> None:
    fc, act = synthetic_backtest(n_regions=8, n_weeks=80)
    regions = {f"R{r:02d}": ("MLI" if r < 4 else "BFA") for r in range(8)}
    table = backtest_alert_table(fc, act, DEFAULT_LEVELS, {4: "m"}, regions=regions)
    assert set(table["rule"]) == {"level", "escalation"} and set(table["subset"]) == {"all", "MLI", "BFA"}
    wide = table.pivot_table(index=["rule", "subset"], columns="metric", values="value")
    lvl = wide.loc[("level", "all")]
    assert (
        lvl["region_weeks"]
        == wide.loc[("level", "MLI"), "region_weeks"] + wide.loc[("level", "BFA"), "region_weeks"]
    )
    assert 0 < lvl["alert_rate"] < 1 and lvl["updates_per_alert_4w"] < 1
    with pytest.raises(ValueError, match=re.escape("the forecasts hold no 'x' rows of civ_any at h=4")):
        backtest_alert_table(fc, act, DEFAULT_LEVELS, {4: "x"})


def test_the_escalation_baseline_at_publish_time_is_the_backtested_recent_climatology() -> None:
    from forecasting.alert_stats import escalation_baseline
    from forecasting.catalog import make_model
    from tests.backtest_fixtures import make_inputs

    inputs = make_inputs(n_regions=4, start="2017-01-02", end="2018-12-31", uncovered=None)
    rows = inputs.features[inputs.features["week"] == inputs.features["week"].max()]
    base = escalation_baseline(rows, (4,), data_lag_weeks=1)
    model = make_model("recent_climatology", "civ_any", 4, data_lag_weeks=1)
    labels = inputs.targets[(inputs.targets["target"] == "civ_any") & (inputs.targets["horizon"] == 4)]
    train = inputs.features.merge(labels[["region_id", "week", "y"]].dropna(), on=["region_id", "week"])
    model.fit(train.drop(columns="y"), train["y"])
    np.testing.assert_allclose(base["base"].to_numpy(), model.predict_proba(rows))
    assert (
        base["region_id"].tolist() == rows["region_id"].astype(str).tolist()
        and base["base"].between(0, 1).all()
    )
