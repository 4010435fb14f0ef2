"""The forward alert check: levels chosen on a rolling backtest before the forward window, never on it."""

from __future__ import annotations

import re
from datetime import date

import pandas as pd
import pytest

from experiments.alert_check import alert_check
from forecasting.plan import BacktestConfig
from tests.backtest_fixtures import Inputs, make_inputs
from tests.test_registry import CONFIG

FORWARD = (date(2019, 7, 1), date(2019, 12, 30))
CFG = CONFIG.model_copy(
    update={"backtest": BacktestConfig(test_window=FORWARD, protocol="frozen", retrain_every=26)}
)


@pytest.fixture(scope="module")
def inputs() -> Inputs:
    return make_inputs(horizons=(1, 4), targets=("civ_any",))


@pytest.mark.slow
def test_levels_come_from_before_the_forward_window_and_both_windows_are_scored(inputs: Inputs) -> None:
    check = alert_check(CFG, inputs, horizons=(4,), selection_years=1)
    assert check.selection_window == "2018-06-25..2019-06-24"  # the Monday on or before a year earlier
    assert check.forward_window == "2019-07-01..2019-12-30"
    table = check.table.set_index(["window", "rule"])
    assert set(table.index) == {(w, r) for w in ("selection", "forward") for r in ("level", "escalation")}
    assert table["alert_rate"].between(0, 1).all()
    ratio = check.ratios().set_index("rule")["rate_ratio"]
    want = table.loc[("forward", "level"), "alert_rate"] / table.loc[("selection", "level"), "alert_rate"]
    assert ratio["level"] == pytest.approx(want)
    assert any(
        line.startswith("  h4 level: forward alert rate / backtest alert rate = ") for line in check.lines()
    )

    # outcomes inside the forward window cannot move the levels: flip every one of them
    t = inputs.targets
    late = t["week"] >= pd.Timestamp(FORWARD[0])
    flipped = t.assign(y=t["y"].where(~late, 1 - t["y"]))
    again = alert_check(CFG, Inputs(inputs.panel, inputs.features, flipped), horizons=(4,), selection_years=1)
    assert again.levels == check.levels


def test_a_config_without_a_forward_window_is_refused(inputs: Inputs) -> None:
    with pytest.raises(ValueError, match=re.escape("config 'synthetic' has no backtest.test_window")):
        alert_check(CONFIG, inputs)


@pytest.mark.slow
def test_a_backtest_reports_its_alerts_per_rule_and_horizon(inputs: Inputs) -> None:
    from experiments.inputs import Inputs as ModelData
    from experiments.training import backtest_alert_lines
    from forecasting.backtest import run_backtest

    cfg = CONFIG.model_copy(update={"targets": ("civ_any",)})
    result = run_backtest(inputs.features, inputs.targets, cfg)
    data = ModelData(inputs.panel, inputs.features, inputs.targets, "fp", "")
    lines = backtest_alert_lines(result, data, cfg)
    assert lines[0] == "alerts with the levels civrisk train would choose on this backtest (in-sample):"
    rows = [
        line for line in lines[1:] if line.startswith(("  h1 level (logistic; ", "  h4 level (logistic; "))
    ]
    assert len(rows) == 2
    for row in rows:
        assert re.search(r"alerts per week \(rate 0\.\d\d\), precision \d\.\d\d, recall \d\.\d\d", row)
        assert row.endswith("Updates per alert per 4 weeks")
