"""Where a backtest's units of work run: a local process pool (the default) or a Dask cluster.

A backtest is many independent fits. :func:`forecasting.backtest.run_backtest` hands this module one
*group* per target x horizon (its label column, its folds, its models); an executor runs them and returns,
per group, one run per model, exactly what the serial loop returns:

- ``local``: the groups run in this process (``n_jobs`` 1) or in ``n_jobs`` loky processes, one group per
  task (each task pickles its own copy of the feature frame, as before there were executors).
- ``dask``: every group is cut into units of target x horizon x refit block x model, a few hundred small
  CPU tasks for a typical config, so N workers stay busy until the last ones. The feature frame is sent
  to each worker once (``scatter``, broadcast) and every unit points at that copy; the label columns
  travel once each. Units are given priorities by refit block (later blocks train on more rows: start
  them first, so the tail of the run is short). The results are stitched back per model in fold order.

Every fold builds a fresh model from the same factory and seed (``_run_model``), so cutting a model's
folds into separate tasks changes nothing: forecasts and scores are the same on every executor
(tests/test_executors.py). Workers run each model single-threaded (threadpoolctl and the models' own
thread settings): two busy thread pools on one core thrash.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecasting.backtest import (
    ModelFactory,
    _Folds,
    _ModelRun,
    _run_model,
    _run_unit_one_thread,
    _single_threaded,
)
from forecasting.plan import BacktestConfig

log = logging.getLogger(__name__)

UnitProgress = Callable[[int, int, str], None]
"""``on_unit(done, total, label)``: called as each target x horizon group finishes (progress bars)."""

CONNECT_TIMEOUT_S = 15
"""Seconds to wait for a Dask scheduler named by ``backtest.cluster_address`` before giving up."""


@dataclass(frozen=True)
class UnitGroup:
    """One target x horizon of a backtest: its label per feature row, its folds and the models to run."""

    y: np.ndarray
    """Label of each feature row (NaN where unobserved), aligned with the feature frame's rows."""
    folds: _Folds
    """The protocol's folds (one per refit block) and the per-origin folds of the baselines refitted at
    every origin."""
    models: list[str]
    target: str
    horizon: int


@dataclass(frozen=True)
class WorkUnit:
    """The smallest piece of a backtest an engine schedules: one model on one refit block of one group
    (for a model refitted at every origin: the origins of that block)."""

    group: int
    model: str
    fold: int


def work_units(groups: Sequence[UnitGroup]) -> list[WorkUnit]:
    """Return every group x model x refit block, in the order the serial loop visits them."""
    return [
        WorkUnit(g, name, f)
        for g, group in enumerate(groups)
        for name in group.models
        for f in range(len(group.folds.models))
    ]


def block_folds(folds: _Folds, block: int) -> _Folds:
    """Return the folds of one refit block: the protocol's fold and the per-origin folds inside it."""
    fold = folds.models[block]
    origins = set(fold.origins)
    return _Folds(models=[fold], every_origin=[f for f in folds.every_origin if f.first_origin in origins])


def run_groups(
    features: pd.DataFrame,
    groups: Sequence[UnitGroup],
    make_model: ModelFactory,
    min_train_rows: int,
    protocol: BacktestConfig,
    n_jobs: int,
    on_unit: UnitProgress | None = None,
) -> list[list[_ModelRun]]:
    """Return, per group, one run per model (in the group's model order) on the protocol's executor."""
    if protocol.executor == "dask":
        with DaskExecutor(n_jobs, protocol.cluster_address) as engine:
            return engine.run(features, groups, make_model, min_train_rows, on_unit)
    return run_local(features, groups, make_model, min_train_rows, n_jobs, on_unit)


def run_local(
    features: pd.DataFrame,
    groups: Sequence[UnitGroup],
    make_model: ModelFactory,
    min_train_rows: int,
    n_jobs: int,
    on_unit: UnitProgress | None = None,
) -> list[list[_ModelRun]]:
    """Return the runs of every group, serially (``n_jobs`` 1) or one group per loky process."""
    from forecasting.backtest import _run_unit

    results: Iterable[list[_ModelRun]]
    if n_jobs > 1:
        from joblib import Parallel, delayed

        single = _single_threaded(make_model)
        results = Parallel(n_jobs=n_jobs, backend="loky", return_as="generator")(
            delayed(_run_unit_one_thread)(
                features.assign(y=g.y), g.folds, single, g.models, g.target, g.horizon, min_train_rows
            )
            for g in groups
        )
    else:
        results = (
            _run_unit(
                features.assign(y=g.y), g.folds, make_model, g.models, g.target, g.horizon, min_train_rows
            )
            for g in groups
        )
    runs = []
    for i, group_runs in enumerate(results):  # in group order, as each finishes
        runs.append(group_runs)
        if on_unit is not None:
            on_unit(i + 1, len(groups), _label(groups[i]))
    return runs


def _label(group: UnitGroup) -> str:
    return f"{group.target} h={group.horizon}"


class DaskExecutor:
    """A Dask client for the length of one backtest: a scheduler at ``address``, or a local cluster.

    Without an address it starts ``n_workers`` worker processes of one thread each on this machine and
    stops them on exit; with one it connects to that scheduler (``dask scheduler`` + ``dask worker``
    processes started elsewhere, docs/SCALING.md) and leaves the cluster running.
    """

    def __init__(self, n_workers: int, address: str | None = None) -> None:
        self.n_workers, self.address = n_workers, address
        self._cluster: Any = None
        self.client: Any = None

    def __enter__(self) -> DaskExecutor:
        from distributed import Client, LocalCluster

        if self.address is None:
            self._cluster = LocalCluster(
                n_workers=self.n_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.WARNING,
            )
            self.client = Client(self._cluster)
            return self
        try:
            self.client = Client(self.address, timeout=CONNECT_TIMEOUT_S)
        except OSError as exc:
            raise ValueError(
                f"backtest.cluster_address {self.address!r}: no Dask scheduler answered within "
                f"{CONNECT_TIMEOUT_S} s ({exc}); start one (`dask scheduler`, docs/SCALING.md) or leave "
                "cluster_address unset to run a local cluster"
            ) from exc
        return self

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()

    def run(
        self,
        features: pd.DataFrame,
        groups: Sequence[UnitGroup],
        make_model: ModelFactory,
        min_train_rows: int,
        on_unit: UnitProgress | None = None,
    ) -> list[list[_ModelRun]]:
        """Return the runs of every group, each model's refit blocks computed as separate tasks."""
        client = self.client
        units = work_units(groups)
        shared = client.scatter(features, broadcast=True, hash=False)
        labels = [client.scatter(g.y, hash=False) for g in groups]
        single = _single_threaded(make_model)
        futures = [
            client.submit(
                _run_block,
                shared,
                labels[u.group],
                block_folds(groups[u.group].folds, u.fold),
                single,
                u.model,
                groups[u.group].target,
                groups[u.group].horizon,
                min_train_rows,
                pure=False,
                priority=u.fold,  # later blocks train on more rows: start them first
            )
            for u in units
        ]
        log.info("backtest: %d units on %d Dask workers", len(units), len(client.scheduler_info()["workers"]))
        if on_unit is not None:
            from distributed import as_completed

            left = [sum(u.group == g for u in units) for g in range(len(groups))]
            group_of = {f.key: u.group for f, u in zip(futures, units, strict=True)}
            done = 0
            for future in as_completed(futures):
                g = group_of[future.key]
                left[g] -= 1
                if left[g] == 0:
                    done += 1
                    on_unit(done, len(groups), _label(groups[g]))
        return merge_blocks(groups, units, client.gather(futures))


def _run_block(
    features: pd.DataFrame,
    y: np.ndarray,
    folds: _Folds,
    make_model: ModelFactory,
    name: str,
    target: str,
    horizon: int,
    min_train_rows: int,
) -> _ModelRun:
    """Return one model's run on one refit block, single-threaded (the body of an engine task)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _run_model(features.assign(y=y), folds, make_model, name, target, horizon, min_train_rows)


def merge_blocks(
    groups: Sequence[UnitGroup], units: Sequence[WorkUnit], runs: Sequence[_ModelRun]
) -> list[list[_ModelRun]]:
    """Return per group one run per model, its refit blocks joined in fold order (as one serial run)."""
    by_model: dict[tuple[int, str], list[_ModelRun]] = {}
    for unit, run in zip(units, runs, strict=True):
        by_model.setdefault((unit.group, unit.model), []).append(run)
    return [[_join_runs(by_model[(g, name)]) for name in group.models] for g, group in enumerate(groups)]


def _join_runs(blocks: list[_ModelRun]) -> _ModelRun:
    """Return one run from a model's per-block runs (in fold order): forecasts stacked, timings summed."""
    frames = [b.forecasts for b in blocks if len(b.forecasts)]
    forecasts = pd.concat(frames, ignore_index=True) if frames else blocks[-1].forecasts
    timing = dict(blocks[0].timing)
    for key in ("folds", "fit_seconds", "predict_seconds", "cpu_seconds", "train_rows"):
        timing[key] = sum(b.timing[key] for b in blocks)  # type: ignore[misc]
    # the serial run reports the importance of the last model it fitted: the last block that fitted one
    fitted = [b.importance for b in blocks if b.importance is not None]
    notes = [note for b in blocks for note in b.notes]
    return _ModelRun(forecasts, timing, fitted[-1] if fitted else None, notes, blocks[0].baseline)
