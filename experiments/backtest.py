"""A config's backtest: the one place an experiment config becomes a rolling-origin backtest run.

``civrisk backtest``, ``civrisk train``, the demo, the results generator and the backtest benchmark all
call :func:`run_config_backtest`, so none of them can drift from the config.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from experiments.config import ExperimentConfig
from experiments.inputs import Inputs
from forecasting.backtest import BacktestResult, run_backtest


def run_config_backtest(
    cfg: ExperimentConfig,
    inputs: Inputs,
    *,
    models: Sequence[str] | None = None,
    n_jobs: int | None = None,
) -> BacktestResult:
    """Return the rolling-origin backtest of ``cfg`` on ``inputs`` (a subset of its models if given).

    The one place a config's settings become ``run_backtest`` arguments: ``civrisk backtest``, the demo,
    the results generator and the backtest benchmark all call it, so none of them can drift.
    """
    b = cfg.backtest
    chosen = tuple(models) if models else cfg.models
    return run_backtest(
        inputs.features,
        inputs.targets,
        models=chosen,
        target_names=cfg.targets,
        horizons=cfg.horizons,
        test_start=b.test_start,
        test_end=b.test_end,
        retrain_every=b.retrain_every,
        data_lag_weeks=b.data_lag_weeks,
        metrics=b.metrics,
        min_train_rows=b.min_train_rows,
        seed=cfg.seed,
        model_params={k: v for k, v in cfg.model_params.items() if k in chosen},
        n_jobs=n_jobs or b.n_jobs,
    )


def summary_table(result: BacktestResult, cfg: ExperimentConfig) -> str:
    """Return the primary target x horizon's overall and onset scores and the time per model, as text."""
    p = cfg.primary
    shown = [
        "brier",
        "brier_skill_climatology",
        "brier_skill_persistence",
        "roc_auc",
        "average_precision",
        "ece",
        "precision_top10pct",
        "recall_top10pct",
    ]
    blocks = []
    for subset in ("all", "onset"):
        table = result.headline(p.target, p.horizon, subset)
        cols = [c for c in shown if c in table.columns]
        blocks.append(f"{p.target}, h={p.horizon}, {subset} rows:\n{table[cols].round(3).to_string()}")
    t = result.timings.groupby("model", sort=False)[["fit_seconds", "predict_seconds", "cpu_seconds"]].sum()
    blocks.append("time per model (all targets x horizons x folds):\n" + t.round(1).to_string())
    with pd.option_context("display.width", 160):
        return "\n\n".join(blocks)
