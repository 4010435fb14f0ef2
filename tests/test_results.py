"""experiments.results: RESULTS.md rendered from small synthetic metrics tables; the goal check both ways."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from civrisk.settings import get_settings
from experiments.config import load_config
from experiments.goal_check import Goal, check_goal
from experiments.results import RESULTS_CONFIGS, config_description
from experiments.results_tables import BacktestRecord, Header, forecast_summary, render_results
from forecasting.metrics import BINARY_METRICS, COUNT_METRICS

YEARS = (2017, 2018, 2019, 2020)
HORIZONS = (1, 4, 12)
GOOD = {"brier_skill_climatology": 0.35, "average_precision": 0.75, "ece": 0.02, "onset_skill_pers": 0.10}
BAD = {"brier_skill_climatology": 0.21, "average_precision": 0.52, "ece": 0.061, "onset_skill_pers": -0.25}


def _metrics(xgb: dict[str, float]) -> pd.DataFrame:
    """Return a tidy metrics table: baselines with middling scores, xgb with the given headline scores."""
    base = {
        "brier": 0.10,
        "brier_skill_best": 0.0,
        "base_rate": 0.3,
        "brier_skill_climatology": 0.0,
        "brier_skill_persistence": 0.2,
        "log_loss": 0.33,
        "roc_auc": 0.80,
        "average_precision": 0.40,
        "ece": 0.05,
        "precision_top10pct": 0.6,
        "recall_top10pct": 0.3,
    }
    rows = []
    for model in ("climatology", "persistence", "xgb"):
        for horizon in HORIZONS:
            for year in (None, *YEARS):
                for subset in ("all", "onset"):
                    n = (400 if year is None else 100) // (4 if subset == "onset" else 1)
                    for metric in BINARY_METRICS:
                        value = base[metric]
                        if model == "persistence" and metric == "brier_skill_persistence":
                            value = 0.0
                        if model == "persistence" and metric == "brier_skill_climatology":
                            value = -0.3
                        if model == "xgb":
                            if subset == "onset" and metric == "brier_skill_persistence":
                                value = xgb["onset_skill_pers"]
                            else:
                                value = xgb.get(metric, value)
                            if metric == "brier":
                                value = 0.10 * (1 - xgb["brier_skill_climatology"])
                        rows.append(("civ_any", model, horizon, year, subset, metric, value, n))
                    if subset == "all":
                        for metric in COUNT_METRICS:
                            value = {
                                "msle": 0.5,
                                "crps": 2.0 if model == "xgb" else 2.5,
                                "crps_samples": 2.0 if model == "xgb" else 2.5,
                                "brier_nonzero": 0.1,
                                "ignorance": 1.2,
                                "coverage80": 0.8,
                            }[metric]
                            rows.append(("civ_deaths", model, horizon, year, subset, metric, value, n))
    frame = pd.DataFrame(
        rows, columns=["target", "model", "horizon", "year", "subset", "metric", "value", "n"]
    )
    return frame.astype({"year": "Int64", "n": "int64", "value": "float64"})


def _summary(rates: dict[int, float]) -> pd.DataFrame:
    """Return a forecast summary: per year observed rate ``rates[year]``, xgb forecasting 0.30 throughout."""
    rows = []
    for model in ("climatology", "persistence", "xgb"):
        for horizon in HORIZONS:
            for year in (None, *YEARS):
                rate = float(np.mean(list(rates.values()))) if year is None else rates[year]
                n = 400 if year is None else 100
                rows.append((model, "civ_any", horizon, year, "all", n, round(rate * n), rate, 0.30))
                rows.append((model, "civ_any", horizon, year, "onset", n // 4, 5, 5 / (n // 4), 0.08))
    columns = ["model", "target", "horizon", "year", "subset", "n", "positives", "mean_y", "mean_p"]
    return pd.DataFrame(rows, columns=columns).astype({"year": "Int64"})


def _record(name: str, metrics: pd.DataFrame, summary: pd.DataFrame | None) -> BacktestRecord:
    return BacktestRecord(
        config=load_config(name, get_settings()),
        metrics=metrics,
        summary=summary,
        data_fingerprint="ab" * 32,
        input_files=("acled_africa_1997_2022.csv.gz",),
        run_id="0123456789abcdef",
        inputs_seconds=12.0,
        backtest_seconds=345.0,
        n_regions=31,
        n_notes=2,
        description="A test description.",
        commit="c0ffee",
        command="python -m experiments.results --configs x",
    )


HEADER = Header(
    commit="c0ffee", date="2026-01-05 10:00 UTC", command="python -m experiments.results", tracking_uri="x"
)


def test_goal_met_when_every_threshold_is_reached() -> None:
    report = check_goal(_metrics(GOOD), _summary(dict.fromkeys(YEARS, 0.3)), Goal(), "2017-2020", 13)
    assert report.model == "xgb"
    assert [c.passed for c in report.criteria] == [True, True, True, True]
    assert report.passed
    assert [round(c.value, 3) for c in report.criteria] == [0.35, 0.75, 0.02, 0.10]


def test_goal_short_explains_with_the_numbers() -> None:
    rates = {2017: 0.20, 2018: 0.25, 2019: 0.30, 2020: 0.45}
    report = check_goal(_metrics(BAD), _summary(rates), Goal(), "2017-2020", 13)
    assert not report.passed
    assert [c.passed for c in report.criteria] == [False, False, False, False]
    skill, ap, ece, onset = (c.explanation for c in report.criteria)
    assert "Brier 0.0790 against climatology's 0.1000: 21% of climatology's error removed, 30% asked" in skill
    assert "Each region's base rate alone ranks them well (climatology's ROC-AUC 0.80)" in skill
    assert "Per test year the skill was 0.21 in 2017, 0.21 in 2018, 0.21 in 2019, 0.21 in 2020" in skill
    # base rate 0.30 over all years (mean of the yearly rates); 5 onset positives of 120
    assert "A forecast without skill scores the base rate, 0.30; xgb scores 1.7 times that" in ap
    assert "5 of the 120 windows with civilians killed (4%) came in regions without civilian deaths" in ap
    assert "2017 20.0% vs 30.0%; 2018 25.0% vs 30.0%; 2019 30.0% vs 30.0%; 2020 45.0% vs 30.0%" in ece
    assert "The rate moved by 25 points between years; a model refitted every 13 weeks" in ece
    assert "On 100 onset rows" in onset and "killed in 5 windows (5.0%)" in onset
    assert "Its mean forecast there is 8.0%, above the observed 5.0%" in onset


def test_goal_calibration_explanation_follows_the_numbers() -> None:
    """Steady yearly rates give no drift sentence: the explanation is driven by the data, not fixed text."""
    report = check_goal(_metrics(BAD), _summary(dict.fromkeys(YEARS, 0.3)), Goal(), "2017-2020", 13)
    ece = report.criteria[2].explanation
    assert "The rate moved" not in ece
    assert "forecast 30.0% on average against 30.0% observed" in ece


def test_goal_without_summary_still_judges_from_metrics() -> None:
    report = check_goal(_metrics(GOOD), None, Goal(), "2017-2020", 13)
    assert report.passed
    assert "killed in n/a windows" in report.criteria[3].explanation


def test_goal_fails_on_other_test_years() -> None:
    report = check_goal(_metrics(GOOD), None, Goal(), "2018-2020", 13)
    assert not report.passed
    last = report.criteria[-1]
    assert (last.name, last.passed) == ("test years", False)
    assert last.explanation == (
        "the backtest tested 2018-2020, the goal is stated for 2017-2020; "
        "set backtest.test_years in results_sahel_admin1.toml"
    )


def test_goal_without_the_horizon_is_an_error() -> None:
    metrics = _metrics(GOOD)
    metrics = metrics[metrics["horizon"] != 4]
    msg = (
        "the backtest has no civ_any scores at horizon 4; the goal check needs them "
        "(add the target and horizon to config results_sahel_admin1)"
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        check_goal(metrics, None, Goal(), "2017-2020", 13)


@pytest.mark.parametrize(("scores", "mark"), [(GOOD, "✔"), (BAD, "✘")])
def test_render_results(scores: dict[str, float], mark: str) -> None:
    records = [
        _record("results_sahel_admin1", _metrics(scores), _summary(dict.fromkeys(YEARS, 0.3))),
        _record("results_ucdp_nga_admin1", _metrics(GOOD), None),
    ]
    text = render_results(records, HEADER)
    assert text.startswith("# Results on real data\n")
    assert "- Commit: `c0ffee`" in text and "- Command: `python -m experiments.results`" in text
    # overview: one row per backtest with fingerprint, runtime and run id
    assert text.count("`abababababab`") == 2 and text.count("12 s + 345 s") == 2
    goal = text[text.index("## Goal check") : text.index("## ACLED")]
    assert goal.count(mark) == 8 and ("✘" if mark == "✔" else "✔") not in goal
    assert "| Brier skill vs climatology | >= 0.30 |" in goal
    # per horizon: a table of every model, the best in bold, baselines in italics
    sahel = text[text.index("## ACLED") : text.index("## UCDP")]
    assert sahel.count("#### h = ") == 6
    assert (
        "| *climatology* | 400 | 0.1000 | 0.000 | 0.200 | 0.330 | 0.800 | 0.400 | 0.050 | 0.600 | 0.300 |"
        in sahel
    )
    assert "| **xgb** (best) | 400 |" in sahel
    assert (
        "Observed: civilians killed in 120 of 400 region-windows (30.0%); xgb forecast 30.0% on average."
        in sahel
    )
    assert "| 4 | 2019 | xgb | 100 | 0.300 | 0.300 |" in sahel  # per-year rows of the best model
    assert "| 12 | *persistence* | 100 | 5 | 0.050 | 0.080 |" in sahel  # onset rows vs the baselines
    assert "| model | n | MSLE | CRPS | 80% cover |" in sahel
    assert "A test description." in sahel
    # without a forecast summary the tables stay, the base-rate lines go
    nga = text[text.index("## UCDP") : text.index("## Data and citations")]
    assert "Observed:" not in nga and "| **xgb** (best) | 400 |" in nga
    cites = text[text.index("## Data and citations") :]
    assert "Sundberg, R. & Melander, E. (2013)" in cites and "Raleigh, C., Linke, A." in cites


def test_render_without_goal_config() -> None:
    text = render_results([_record("results_ucdp_caf_admin1", _metrics(GOOD), None)], HEADER)
    assert "Not checked: config `results_sahel_admin1` was not among the backtests rendered." in text
    assert "Raleigh" not in text  # no ACLED data, no ACLED citation


def test_forecast_summary() -> None:
    keys = {"region_id": ["a", "b", "a", "b"], "horizon": 4, "target": "civ_any"}
    weeks = pd.to_datetime(["2019-12-30", "2019-12-30", "2020-01-06", "2020-01-06"])
    actuals = pd.DataFrame(
        {**keys, "week": weeks, "y": [1.0, 0.0, np.nan, 1.0], "onset": [False, True, True, True]}
    )
    forecasts = pd.DataFrame({**keys, "week": weeks, "model": "xgb", "p": [0.8, 0.1, 0.5, 0.4]})
    s = forecast_summary(forecasts, actuals).set_index(["subset", "year"])
    overall = s[s.index.get_level_values("year").isna()]
    assert overall.loc["all", ["n", "positives"]].iloc[0].tolist() == [3, 2]
    assert math.isclose(overall.loc["all", "mean_p"].iloc[0], (0.8 + 0.1 + 0.4) / 3)
    assert overall.loc["onset", ["n", "positives"]].iloc[0].tolist() == [2, 1]
    assert s.loc[("all", 2020), "n"] == 1 and s.loc[("all", 2019), "mean_y"] == 0.5


def test_config_description() -> None:
    text = "# First line,\n# second line.\n#\nname = 'x'\n# not this\n"
    assert config_description(text) == "First line, second line."
    listed = "# Reduced:\n# - yearly refit\n#   (not quarterly);\n# - two targets.\n# After.\nname = 'x'\n"
    assert config_description(listed) == "Reduced:\n- yearly refit (not quarterly);\n- two targets. After."


def test_results_configs_load_and_the_goal_config_matches_the_goal() -> None:
    configs = {name: load_config(name, get_settings()) for name in RESULTS_CONFIGS}
    goal = Goal()
    sahel = configs[goal.config]
    assert sahel.backtest.test_years == goal.test_years and goal.horizon in sahel.horizons
    assert (sahel.data.sources, sahel.data.countries, sahel.data.unit) == (
        ("acled",),
        ("MLI", "BFA", "NER"),
        "admin1",
    )
    assert all({"civ_any", "civ_deaths"} <= set(c.targets) for c in configs.values())


def test_render_from_mlflow_names_the_backtest_runs() -> None:
    header = Header(
        commit="beef",
        date="2026-01-05 10:00 UTC",
        command="python -m experiments.results --from-mlflow",
        tracking_uri="sqlite:///x.db",
        rendered_from_mlflow=True,
    )
    text = render_results([_record("results_ucdp_caf_admin1", _metrics(GOOD), None)], header)
    assert "- Backtests run at commit: `c0ffee`\n" in text
    assert (
        "- Rendered from the MLflow runs with `python -m experiments.results --from-mlflow`; backtests "
        "run by `python -m experiments.results --configs x`" in text
    )


SMALL_CONFIG = """# A tiny results config for the MLflow round trip.
name = "results_roundtrip"
targets = ["civ_any", "civ_deaths"]
horizons = [4]
models = ["climatology", "persistence"]

[data]
raw_files = ["{shared_data}/acled/acled_africa_1997_2022.csv.gz"]
sources = ["acled"]
countries = ["MLI"]
unit = "admin1"
boundaries = "{shared_data}/boundaries/sahel_adm1_mli_bfa_ner.geojson"
start = "2016-01-04"

[backtest]
test_years = [2019, 2019]
retrain_every = 52
n_jobs = 1
"""


@pytest.mark.slow
def test_run_then_render_from_mlflow_gives_the_same_tables(
    shared_data: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A run logs its forecast summary and timings; --from-mlflow reads them back: the same markdown."""
    from experiments.results import ResultsError, read_record, run_record
    from experiments.results_tables import dataset_section
    from tests.mlflow_store import fresh_store

    config = tmp_path / "results_roundtrip.toml"
    config.write_text(SMALL_CONFIG, encoding="utf-8")
    uri = fresh_store(tmp_path_factory, "results")
    with pytest.raises(
        ResultsError, match=re.escape("no finished backtest of config results_roundtrip (config ")
    ):
        read_record(str(config), uri, get_settings())
    ran = run_record(str(config), "python -m experiments.results --configs x", uri, get_settings())
    read = read_record(str(config), uri, get_settings())
    assert read.run_id == ran.run_id and read.data_fingerprint == ran.data_fingerprint
    assert read.backtest_seconds == pytest.approx(ran.backtest_seconds)
    assert (read.n_regions, read.command) == (10, "python -m experiments.results --configs x")
    pd.testing.assert_frame_equal(read.summary, ran.summary, check_dtype=False)
    assert dataset_section(read) == dataset_section(ran)
    assert "Observed: civilians killed in" in dataset_section(read)


def test_goal_context_says_when_a_baseline_clears_the_skill_bar() -> None:
    summary = _summary(dict.fromkeys(YEARS, 0.3))
    plain = check_goal(_metrics(GOOD), summary, Goal(), "2017-2020", 13).context
    assert plain == (
        "Reference: climatology (each region's base rate over all training weeks) forecast 30.0% on average "
        "against 30.0% observed, its ECE is 0.050. Other baselines against climatology: persistence -0.30."
    )
    metrics = _metrics(GOOD)
    strong = (metrics["model"] == "persistence") & (metrics["metric"] == "brier_skill_climatology")
    metrics.loc[strong, "value"] = 0.32
    context = check_goal(metrics, summary, Goal(), "2017-2020", 13).context
    assert context.endswith(
        "persistence 0.32; persistence, a baseline, already clears the 0.30 threshold, so that criterion "
        "says more about climatology than about the model."
    )
