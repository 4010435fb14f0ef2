"""The weekly Africa grid out of core: ingest -> partitioned panel + features -> sampled grid backtest.

    python -m benchmarks.bench_grid                          # 1x events over every Africa land cell
    python -m benchmarks.bench_grid --events 1 2 4 10        # the events curve (all cells)
    python -m benchmarks.bench_grid --cells 1000 4000        # the units curve (1x events)
    python -m benchmarks.bench_grid --backtest --scan        # + grid backtest and DuckDB vs pandas scans

Synthetic UCDP GED files (official layout, ``benchmarks.synthetic_grid``) over the 0.5 degree land cells
of Africa, 1989-2025, are generated once and cached in ``benchmarks/out/``. Each stage is its own process,
timed with its peak RSS from ``os.wait4`` (as ``bench_pipeline``): ``civrisk ingest``, then ``build``
(region table, partitioned panel and features of every cell x week with the civ_any h=4 label, DuckDB-
readable), then ``backtest`` (rolling origins 2024-2025, logistic on a case-control sample with prior
correction). ``--scan`` times one training scan by DuckDB and by pandas (read each partition, then filter).
Targets (1x, all cells): ingest -> panel -> features <= 10 minutes and <= 6 GiB peak.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.synthetic_ucdp import FULL_SIZE

OUT = Path(__file__).resolve().parent / "out"
GIB = 1024**3
DESIGN = {"target": "civ_any", "horizon": 4, "quiet_rate": 0.005, "active_rate": 0.02, "seed": 1}
"""Every positive (523k at 1x), 2% of the active negatives (of 10.0M), 0.5% of the quiet ones (of 9.1M)."""
TARGET_S, TARGET_BYTES = 600.0, 6 * GIB


def synthetic_input(multiple: int, cells: int | None, seed: int = 2025) -> Path:
    """Return the cached synthetic grid GED file, generating it when absent."""
    label = f"{multiple}x_{cells or 'all'}cells"
    path = OUT / f"grid_synth_{label}_seed{seed}.csv.gz"
    if not path.is_file():
        args = [str(path), "--events", str(multiple * FULL_SIZE), "--seed", str(seed)]
        args += ["--cells", str(cells)] if cells else []
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "benchmarks.synthetic_grid", *args], check=True)
        print(f"  generated {path.name} in {time.perf_counter() - t0:.0f} s", flush=True)
    return path


def run(cmd: list[str], log: Path) -> dict[str, float]:
    """Run ``cmd``; return wall s, CPU s and peak RSS (bytes) of that process, raising on failure."""
    with open(log, "w", encoding="utf-8") as fh:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {proc.returncode}); see {log}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_gib": usage.ru_maxrss * 1024 / GIB,
    }


# ----------------------------------------------------------------------------------------------
# Stages (each runs in its own process: python -m benchmarks.bench_grid --stage NAME ...)
# ----------------------------------------------------------------------------------------------


def stage_build(events_dir: Path, out: Path) -> None:
    """Region table of the events' countries, then the partitioned panel and features with labels."""
    from features.partitioned import build_grid_dataset
    from forecasting.grid_sampling import label_columns
    from forecasting.plan import ModelPlan
    from ingest.events_folder import read_events_dir
    from ingest.regions import region_table

    t0 = time.perf_counter()
    events, coverage = read_events_dir(events_dir)
    cells = region_table(events, None, "grid")
    print(
        f"read {len(events):,} events, {len(cells):,} cells in {time.perf_counter() - t0:.1f} s", flush=True
    )
    spec = ModelPlan(targets=("civ_any",), horizons=(4,)).feature_spec()
    only = [events]  # the builder frees the events after splitting them if it holds the only reference
    del events
    dataset = build_grid_dataset(
        only.pop(), coverage, cells, out, spec=spec, data_lag_weeks=1, extra=label_columns(["civ_any"], [4])
    )
    stats = pd.DataFrame(dataset.stats)
    size = sum(f.stat().st_size for f in dataset.base.rglob("*.parquet"))
    print(
        f"dataset {dataset.rows:,} rows ({len(cells):,} cells x {dataset.weeks}), {len(stats)} partitions, "
        f"{size / 1e9:.2f} GB on disk; panel {stats['panel_seconds'].sum():.1f} s, features "
        f"{stats['features_seconds'].sum():.1f} s; largest partition {stats['cells'].max()} cells "
        f"(+{stats.loc[stats['cells'].idxmax(), 'halo_cells']} halo)"
    )


def stage_scan(root: Path, engine: str) -> None:
    """One training scan of the design (every origin): DuckDB's filtered read or pandas' read-then-filter."""
    from features.partitioned import open_dataset
    from forecasting.grid_sampling import SamplingDesign, label_name, scan_sample

    dataset = open_dataset(root)
    design = SamplingDesign(**DESIGN)  # type: ignore[arg-type]
    t0 = time.perf_counter()
    if engine == "duckdb":
        sample = scan_sample(dataset, design, threads=2)
    else:
        y, parts = label_name(design.target, design.horizon), []
        rng = np.random.default_rng(design.seed)
        for name in dataset.partitions:
            frame = pd.read_parquet(dataset.path("features", name))
            quiet = (frame["events_sum_52w_lag1"] == 0) & (frame["nb_events_sum_12w_lag1"] == 0)
            rate = np.where(quiet, design.quiet_rate, design.active_rate)
            keep = frame[y].notna() & ((frame[y] > 0) | (rng.random(len(frame)) < rate))
            parts.append(frame[keep.to_numpy()])
            del frame
        sample = pd.concat(parts, ignore_index=True)
    print(
        f"{engine} scan: {len(sample):,} rows x {sample.shape[1]} columns in {time.perf_counter() - t0:.1f} s"
    )


def stage_backtest(root: Path) -> None:
    """Rolling origins 2024-2025 (refit yearly), logistic on the sample, corrected, against climatology."""
    from features.partitioned import open_dataset
    from forecasting.grid_backtest import grid_backtest
    from forecasting.grid_sampling import SamplingDesign

    dataset = open_dataset(root)
    t0 = time.perf_counter()
    result = grid_backtest(
        dataset,
        SamplingDesign(**DESIGN),
        "logistic",
        "2024-01-01",
        "2025-12-31",
        retrain_every=52,
        threads=2,  # type: ignore[arg-type]
    )
    print(f"grid backtest in {time.perf_counter() - t0:.1f} s: sample {result.sample_rows:,} of "
          f"{result.population_rows:,} labelled rows")  # fmt: skip
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(result.folds.round(3).to_string(index=False))
        m = result.metrics
        print(m[m["subset"] == "all"].pivot_table(index="model", columns="metric", values="value").round(4))


# ----------------------------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------------------------


def bench(
    multiple: int, cells: int | None, backtest: bool, scan: bool, reuse: bool = False
) -> list[dict[str, object]]:
    """Run the stages on one input; return a row per stage (``reuse``: keep a built dataset)."""
    source = synthetic_input(multiple, cells)
    work = OUT / f"grid_{multiple}x_{cells or 'all'}"
    reuse = reuse and (work / "ds" / "dataset.json").is_file()
    if work.exists() and not reuse:
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    py = [sys.executable, "-m"]
    steps = [] if reuse else [
        ("ingest", [*py, "cli.main", "ingest", str(source), "--out", str(work / "events")]),
        ("build", [*py, "benchmarks.bench_grid", "--stage", "build", str(work / "events"), str(work / "ds")]),
    ]  # fmt: skip
    if scan:
        for engine in ("duckdb", "pandas"):
            steps.append((f"scan-{engine}", [*py, "benchmarks.bench_grid", "--stage", f"scan-{engine}",
                                             str(work / "ds")]))  # fmt: skip
    if backtest:
        steps.append(("backtest", [*py, "benchmarks.bench_grid", "--stage", "backtest", str(work / "ds")]))
    rows = []
    for stage, cmd in steps:
        load = os.getloadavg()[0]
        got = run(cmd, work / f"{stage}.log")
        tail = (work / f"{stage}.log").read_text(encoding="utf-8").strip().splitlines()[-12:]
        rows.append({"events": multiple, "cells": cells or "all", "stage": stage, "load": load, **got})
        print(
            f"  {multiple}x {cells or 'all'} cells {stage:<12} {got['wall_s']:7.1f} s wall "
            f"{got['cpu_s']:7.1f} s CPU peak {got['peak_gib']:5.2f} GiB (load {load:.1f})",
            flush=True,
        )
        if stage != "ingest":
            print("    " + "\n    ".join(tail), flush=True)
    end_to_end = [r for r in rows if r["stage"] in ("ingest", "build")]
    if not end_to_end:
        return rows
    wall = sum(float(r["wall_s"]) for r in end_to_end)  # type: ignore[arg-type]
    peak = max(float(r["peak_gib"]) for r in end_to_end)  # type: ignore[arg-type]
    met = wall <= TARGET_S and peak * GIB <= TARGET_BYTES
    print(f"  ingest -> panel -> features: {wall:.1f} s, peak {peak:.2f} GiB "
          f"(target <= {TARGET_S:.0f} s, <= 6 GiB: {'met' if met else 'MISSED'})", flush=True)  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--events", type=int, nargs="+", help="multiples of full GED size (default 1, or none with --cells)"
    )
    parser.add_argument("--cells", type=int, nargs="*", default=[], help="cell subsets (1x events)")
    parser.add_argument("--backtest", action="store_true")
    parser.add_argument("--scan", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="keep a dataset built by an earlier run")
    parser.add_argument("--stage", choices=["build", "scan-duckdb", "scan-pandas", "backtest"])
    parser.add_argument("paths", nargs="*", type=Path)
    args = parser.parse_args(argv)
    if args.stage == "build":
        stage_build(*args.paths)
        return 0
    if args.stage in ("scan-duckdb", "scan-pandas"):
        stage_scan(args.paths[0], args.stage.split("-")[1])
        return 0
    if args.stage == "backtest":
        stage_backtest(args.paths[0])
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"load average at the start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    rows = []
    # --cells alone runs only the cell subsets (a quick check: no continent-sized build)
    events = args.events if args.events is not None else ([] if args.cells else [1])
    for multiple in events:
        rows += bench(
            multiple, None, args.backtest and multiple == 1, args.scan and multiple == 1, args.reuse
        )
    for cells in args.cells:
        rows += bench(1, cells, False, False)
    print(pd.DataFrame(rows).round(2).to_string(index=False))
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (OUT / f"grid_results_{stamp}.json").write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
