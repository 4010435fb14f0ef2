"""A config's backtest as text: the primary target x horizon's scores and the time per model.

The backtest itself takes the config whole (``forecasting.backtest.run_backtest(features, targets, cfg)``),
so ``civrisk backtest``, ``civrisk train``, the demo, the results generator and the benchmark cannot drift.
"""

from __future__ import annotations

import pandas as pd

from experiments.config import ExperimentConfig
from forecasting.backtest import BacktestResult


def summary_table(result: BacktestResult, cfg: ExperimentConfig) -> str:
    """Return the primary target x horizon's overall and onset scores and the time per model, as text."""
    p = cfg.primary
    shown = [
        "brier",
        "brier_skill_best",
        "roc_auc",
        "average_precision",
        "base_rate",
        "ece",
        "brier_skill_climatology",
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
