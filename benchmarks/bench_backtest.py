"""Time the rolling-origin backtest of an experiment config on the real data, per model and per executor.

    python -m benchmarks.bench_backtest [--config sahel_admin1] [--models xgb logistic ...] [--n-jobs 2]
    python -m benchmarks.bench_backtest --config results_sahel_admin1 --dask-workers 1 2

Needs the shared data folder (``civrisk.settings.get_settings().shared_data``). Prints the input build time,
the wall time of the backtest, and per model the fit + predict seconds summed over targets x horizons x folds
(summed across worker processes, so with ``--n-jobs 2`` they add up to about twice the wall time), and the
CPU seconds, which stay meaningful when other jobs share the machine. Target:
the default Sahel admin1 config (3 horizons, 4 test years, refit every 13 weeks, all models) in <= 10 min
on 2 cores.

``--dask-workers 1 2`` runs the backtest on a local Dask cluster of 1, then 2 worker processes
(``backtest.executor = "dask"``), checks that the forecasts equal the first run's, and prints the wall
times, the measured per-unit costs (unit = target x horizon x refit block x model) and the wall time those
costs predict on N workers (greedy longest-first schedule + the measured fixed cost; docs/SCALING.md).
"""

from __future__ import annotations

import argparse
import heapq
import os
import time

import pandas as pd

from civrisk.settings import get_settings
from experiments.config import ExperimentConfig, load_config
from experiments.inputs import Inputs, prepare_inputs
from forecasting.backtest import BacktestResult, run_backtest


def unit_costs(result: BacktestResult, wall: bool = False) -> list[float]:
    """Return the CPU (or fit + predict wall) seconds of each unit (target x horizon x block x model)."""
    costs: list[float] = []
    for row in result.timings.itertuples():
        if row.folds:
            total = row.fit_seconds + row.predict_seconds if wall else row.cpu_seconds
            costs += [total / row.folds] * int(row.folds)
    return costs


def engine_overheads(features: pd.DataFrame, workers: int) -> tuple[float, float]:
    """Return (seconds to start a local Dask cluster, seconds to send the feature frame to every worker)."""
    from forecasting.executors import DaskExecutor

    t0 = time.perf_counter()
    with DaskExecutor(workers) as engine:
        t1 = time.perf_counter()
        engine.client.scatter(features, broadcast=True, hash=False)
        t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def schedule_seconds(costs: list[float], workers: int) -> float:
    """Return the makespan of a greedy longest-first schedule of ``costs`` on ``workers`` workers."""
    loads = [0.0] * workers
    for c in sorted(costs, reverse=True):
        heapq.heapreplace(loads, loads[0] + c)
    return max(loads)


def main() -> None:
    """Build the config's inputs, run its backtest, print wall time and time per model."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="sahel_admin1")
    parser.add_argument("--models", nargs="*", default=None, help="Subset of the config's models.")
    parser.add_argument("--n-jobs", type=int, default=None, help="Processes (default: the config's).")
    parser.add_argument("--dask-workers", type=int, nargs="*", default=None, help="Dask worker counts.")
    args = parser.parse_args()

    cfg = load_config(args.config, get_settings())
    print(f"load average at the start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    t0 = time.perf_counter()
    inputs = prepare_inputs(cfg)
    t_inputs = time.perf_counter() - t0
    b = cfg.backtest
    models = tuple(args.models) if args.models else cfg.models
    n_features = inputs.features.shape[1] - 3
    mb = inputs.features.memory_usage(deep=True).sum() / 1e6
    print(f"config {cfg.name}: {len(inputs.features):,} origin rows, {n_features} features ({mb:.0f} MB)")
    print(f"inputs (ingest, panel, features, targets): {t_inputs:.1f}s", flush=True)
    if args.dask_workers:
        engine_runs(cfg, inputs, models, args.dask_workers)
        return
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
        print(f"backtest wall time with n_jobs={n_jobs}: {wall:.1f}s ({len(result.forecasts):,} forecasts)")
        print(per_model.sort_values("total_s", ascending=False).round(2).to_string())


def engine_runs(
    cfg: ExperimentConfig, inputs: Inputs, models: tuple[str, ...], worker_counts: list[int]
) -> None:
    """Run the backtest on local Dask clusters of each size; print wall times and the N-worker forecast."""
    first: BacktestResult | None = None
    for workers in worker_counts:
        start_s, ship_s = engine_overheads(inputs.features, workers)
        print(
            f"dask workers={workers}: cluster start {start_s:.1f} s, features to each worker {ship_s:.2f} s"
        )
        plan = cfg.model_copy(update={"backtest": cfg.backtest.model_copy(update={"executor": "dask"})})
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        result = run_backtest(inputs.features, inputs.targets, plan, models=models, n_jobs=workers)
        wall = time.perf_counter() - t0
        costs, walls = unit_costs(result), unit_costs(result, wall=True)
        same = "first run" if first is None else str(first.forecasts.equals(result.forecasts))
        first = first or result
        busy = sum(costs)
        print(
            f"dask workers={workers}: wall {wall:.1f} s, {len(costs)} units, unit CPU {busy:.1f} s "
            f"(mean {busy / len(costs):.2f} s, max {max(costs):.1f} s), unit wall {sum(walls):.1f} s; "
            f"forecasts equal to the first run: {same}; load average {load0:.2f} -> {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        rest = wall - schedule_seconds(walls, workers)
        print(f"  wall outside the units' fit + predict (start, shipping, joins, scoring) ~ {rest:.1f} s")
    assert first is not None
    costs = unit_costs(first)
    print("expected wall time on N workers from these unit costs (greedy longest-first) + fixed cost:")
    for n in (1, 2, 4, 8, 16, 32, 64):
        print(f"  N={n:>2}: {schedule_seconds(costs, n):8.1f} s + fixed")
    per_model = first.timings.groupby("model").agg(units=("folds", "sum"), cpu_s=("cpu_seconds", "sum"))
    per_model["s_per_unit"] = per_model["cpu_s"] / per_model["units"]
    print(per_model.sort_values("cpu_s", ascending=False).round(2).to_string())


if __name__ == "__main__":
    main()
