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
from experiments.goal_check import GOALS, check_goal
from experiments.results import RESULTS_CONFIGS, config_description
from experiments.results_tables import BacktestRecord, Header, forecast_summary, render_results
from forecasting.metrics import BINARY_METRICS, COUNT_METRICS

YEARS = (2017, 2018, 2019, 2020)
HORIZONS = (1, 4, 12)
GOOD = {"brier_skill_best": 0.12, "average_precision": 0.75, "ece": 0.015, "roc_auc": 0.85, "cover": 0.81}
BAD = {"brier_skill_best": 0.02, "average_precision": 0.52, "ece": 0.061, "roc_auc": 0.70, "cover": 0.92}
MODELS = ("climatology", "recent_climatology", "persistence", "conflictology", "xgb")


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
    counts = {"msle": 0.5, "crps": 2.5, "crps_samples": 2.5, "brier_nonzero": 0.1, "ignorance": 1.2}
    rows = []
    for model in MODELS:
        for horizon in HORIZONS:
            for year in (None, *YEARS):
                for subset in ("all", "onset"):
                    n = (400 if year is None else 100) // (4 if subset == "onset" else 1)
                    for metric in BINARY_METRICS:
                        value = xgb.get(metric, base[metric]) if model == "xgb" else base[metric]
                        if model == "xgb" and metric == "brier":
                            value = 0.10 * (1 - xgb["brier_skill_best"])
                        ref = "recent_climatology" if metric == "brier_skill_best" else None
                        rows.append(("civ_any", model, horizon, year, subset, metric, value, n, ref))
                    if subset == "all":
                        for metric in COUNT_METRICS:
                            value = {**counts, "coverage80": 0.8, "pit_coverage80": 0.8}[metric]
                            if model == "xgb":
                                value = {
                                    **counts,
                                    "crps": 2.0,
                                    "coverage80": 0.95,
                                    "pit_coverage80": xgb["cover"],
                                }[metric]
                            rows.append(("civ_deaths", model, horizon, year, subset, metric, value, n, None))
    columns = ["target", "model", "horizon", "year", "subset", "metric", "value", "n", "reference"]
    frame = pd.DataFrame(rows, columns=columns).assign(lo=np.nan, hi=np.nan)
    best = (frame["model"] == "xgb") & (frame["metric"] == "brier_skill_best") & frame["year"].isna()
    frame.loc[best, ["lo", "hi"]] = (0.01, 0.2)
    return frame.astype({"year": "Int64", "n": "int64", "value": "float64", "reference": "string"})


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


SAHEL = GOALS[0]


def test_goal_met_when_every_threshold_is_reached() -> None:
    report = check_goal(_metrics(GOOD), _summary(dict.fromkeys(YEARS, 0.3)), SAHEL, "2017-2020")
    assert report.models == {1: "xgb", 4: "xgb"}
    assert [c.passed for c in report.criteria] == [True] * 6 and report.passed
    names = [c.name for c in report.criteria]
    assert names[:2] == ["ECE, civ_any h=1", "ECE, civ_any h=4"]
    assert "Onset ROC-AUC, civ_any h=4" in names and "CRPS below conflictology, civ_deaths h=4" in names
    onset = report.criteria[3]
    assert "0.120 (90% interval 0.010 to 0.200) (best baseline: recent_climatology)" in onset.explanation


def test_goal_short_explains_with_the_numbers() -> None:
    report = check_goal(_metrics(BAD), _summary(dict.fromkeys(YEARS, 0.3)), SAHEL, "2017-2020")
    assert not report.passed
    by_name = {c.name: c for c in report.criteria}
    ece = by_name["ECE, civ_any h=4"]
    assert not ece.passed and ece.explanation.startswith("xgb: ECE 0.061 on 400 region-windows")
    assert "sampling noise alone" in ece.explanation
    assert not by_name["Onset ROC-AUC, civ_any h=4"].passed
    cover = by_name["80% interval coverage (PIT), civ_deaths h=4"]
    assert not cover.passed and cover.value == pytest.approx(0.92)
    assert "0.950 of outcomes inside q10..q90" in cover.explanation
    assert by_name["CRPS below conflictology, civ_deaths h=4"].passed  # 2.0 < 2.5


def test_the_forward_goal_reads_the_quarters() -> None:
    forward = GOALS[1]
    rates = {2017: 0.30, 2018: 0.30, 2019: 0.30, 2020: 0.30}
    summary = _summary(rates)
    quarters = summary[summary["year"].isna() & (summary["subset"] == "all")].copy()
    quarters["quarter"] = "2021Q3"
    quarters["mean_y"] = 0.38  # xgb forecast 0.30: off by 0.08
    summary = pd.concat([summary.assign(quarter=pd.NA), quarters], ignore_index=True)
    report = check_goal(_metrics(GOOD), summary, forward, forward.test_label)
    q = next(c for c in report.criteria if c.name == "Quarterly bias, civ_any h=4")
    assert not q.passed and q.value == pytest.approx(0.08)
    assert "2021Q3 0.30 vs 0.38" in q.explanation


def test_goal_fails_on_another_test_period() -> None:
    report = check_goal(_metrics(GOOD), None, SAHEL, "2018-2020")
    last = report.criteria[-1]
    assert (last.name, last.passed) == ("test period", False)
    assert last.explanation == (
        "the backtest tested 2018-2020, the goal is stated for 2017-2020; set the test period in "
        "results_sahel_admin1.toml"
    )


def test_goal_without_the_horizon_says_what_to_add() -> None:
    metrics = _metrics(GOOD)
    report = check_goal(metrics[metrics["horizon"] != 4], None, SAHEL, "2017-2020")
    missing = [c for c in report.criteria if c.wanted == "scores"]
    assert (
        missing
        and "the backtest has no civ_any scores at horizon 4; add them to results_sahel_admin1"
        in (missing[0].explanation)
    )


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
    sahel_goal = goal[: goal.index("## Goal check: Mali forward test")]
    assert mark in sahel_goal and "| ECE, civ_any h=1 | <= 0.02 |" in sahel_goal
    assert "Not checked: config `results_mali_forward` was not among the backtests rendered." in goal
    # per horizon: a table of every model, the best in bold, baselines in italics
    sahel = text[text.index("## ACLED") : text.index("## UCDP")]
    assert sahel.count("#### h = ") == 6
    assert (
        "| *climatology* | 400 | 0.1000 | 0.000 | 0.800 | 0.400 | 0.300 | 0.050 | 0.000 | 0.600 | 0.300 |"
        in sahel
    )
    assert "| **xgb** (best) | 400 |" in sahel
    assert "BSS best: Brier skill against recent_climatology, the strongest baseline here." in sahel
    assert " [0.010, 0.200] |" in sahel  # the bootstrap interval beside the best model's skill
    assert (
        "Observed: civilians killed in 120 of 400 region-windows (30.0%); xgb forecast 30.0% on average."
        in sahel
    )
    assert "| 4 | 2019 | xgb | 100 | 0.300 | 0.300 |" in sahel  # per-year rows of the best model
    assert "| 12 | *persistence* | 100 | 5 | 0.050 | 0.080 |" in sahel  # onset rows vs the baselines
    assert "| model | n | CRPS | CRPS ens. | Brier y>0 | Ignorance | MSLE | 80% cover |" in sahel
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


def test_results_configs_load_and_the_goal_configs_match_the_goals() -> None:
    configs = {name: load_config(name, get_settings()) for name in RESULTS_CONFIGS}
    for goal in GOALS:
        cfg = configs[goal.config]
        assert cfg.backtest.test_label == goal.test_label
        assert {1, 4} <= set(cfg.horizons) and cfg.primary.metric == "brier_skill_best"
    sahel = configs[SAHEL.config]
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


def test_when_a_baseline_is_the_best_count_model_the_best_learned_one_is_judged() -> None:
    metrics = _metrics(GOOD)
    crps = (metrics["target"] == "civ_deaths") & (metrics["metric"] == "crps")
    metrics.loc[crps & (metrics["model"] == "conflictology"), "value"] = 1.5  # beats xgb's 2.0
    report = check_goal(metrics, _summary(dict.fromkeys(YEARS, 0.3)), SAHEL, "2017-2020")
    crit = {c.name: c for c in report.criteria}["CRPS below conflictology, civ_deaths h=4"]
    assert not crit.passed and crit.value == pytest.approx(2.0)
    assert crit.explanation.startswith("xgb: CRPS 2.000 against conflictology's 1.500")
    assert "the baseline conflictology; the best learned one is judged" in crit.explanation
