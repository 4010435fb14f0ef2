"""Time the rolling-origin backtest of an experiment config on the real data, per model.

Run: ``python benchmarks/bench_backtest.py [--config sahel_admin1] [--models xgb logistic ...] [--n-jobs 2]``.
Needs the shared data folder (``civrisk.settings.get_settings().shared_data``). Prints the input build time,
the wall time of the backtest, and per model the fit + predict seconds summed over targets x horizons x folds
(summed across worker processes, so with ``--n-jobs 2`` they add up to about twice the wall time), and the
CPU seconds, which stay meaningful when other jobs share the machine. Target:
the default Sahel admin1 config (3 horizons, 4 test years, refit every 13 weeks, all models) in <= 10 min
on 2 cores.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from civrisk.settings import get_settings
from experiments.config import load_config
from experiments.inputs import prepare_inputs
from forecasting.backtest import run_backtest


def main() -> None:
    """Build the config's inputs, run its backtest, print wall time and time per model."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="sahel_admin1")
    parser.add_argument("--models", nargs="*", default=None, help="Subset of the config's models.")
    parser.add_argument("--n-jobs", type=int, default=None, help="Processes (default: the config's).")
    args = parser.parse_args()

    cfg = load_config(args.config, get_settings())
    t0 = time.perf_counter()
    inputs = prepare_inputs(cfg)
    t_inputs = time.perf_counter() - t0
    b = cfg.backtest
    models = tuple(args.models) if args.models else cfg.models
    n_jobs = args.n_jobs or b.n_jobs
    t0 = time.perf_counter()
    result = run_backtest(inputs.features, inputs.targets, cfg, models=models, n_jobs=n_jobs)
    wall = time.perf_counter() - t0
    per_model = result.timings.groupby("model", sort=False).agg(
        fits=("folds", "sum"),
        fit_s=("fit_seconds", "sum"),
        predict_s=("predict_seconds", "sum"),
        cpu_s=("cpu_seconds", "sum"),
    )
    per_model["total_s"] = per_model["fit_s"] + per_model["predict_s"]
    per_model["s_per_fit"] = per_model["fit_s"] / per_model["fits"]
    with pd.option_context("display.width", 120):
        n_features = inputs.features.shape[1] - 3
        print(f"config {cfg.name}: {len(inputs.features):,} origin rows, {n_features} features")
        print(f"inputs (ingest, panel, features, targets): {t_inputs:.1f}s")
        print(f"backtest wall time with n_jobs={n_jobs}: {wall:.1f}s ({len(result.forecasts):,} forecasts)")
        print(per_model.sort_values("total_s", ascending=False).round(2).to_string())


if __name__ == "__main__":
    main()
