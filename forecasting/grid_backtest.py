"""A rolling-origin backtest on a partitioned grid dataset, trained on a case-control sample.

The protocol is the one of forecasting.backtest (folds from forecasting.splits.rolling_origins, a fresh
seeded model per refit block, training origins whose label window ended by the block's data cut-off), with
two differences made for a grid too large for memory: each fold trains on the sampled rows
(forecasting.grid_sampling) and its probabilities are prior-corrected; and test origins are scored on every
row, read from the dataset a block at a time. Climatology (the population rate of the training origins,
counted over every row by DuckDB, not from the sample) is the skill reference.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.partitioned import GridDataset
from forecasting.base import predict_p
from forecasting.grid_sampling import (
    SamplingDesign,
    corrected,
    features_of,
    label_name,
    scalar,
    scan_rows,
    scan_sample,
)
from forecasting.metrics import evaluate
from forecasting.splits import rolling_origins

GRID_METRICS = ("brier", "brier_skill_climatology", "average_precision", "roc_auc", "ece")


@dataclass(frozen=True)
class GridBacktestResult:
    """Scores of the sampled model against climatology, and what each fold cost."""

    metrics: pd.DataFrame
    folds: pd.DataFrame
    """Per fold: cutoff, sampled training rows, positives, test rows, seconds to scan, fit and predict."""
    sample_rows: int
    population_rows: int


def grid_backtest(
    dataset: GridDataset,
    design: SamplingDesign,
    model: str,
    test_start: str | pd.Timestamp,
    test_end: str | pd.Timestamp,
    retrain_every: int = 52,
    seed: int = 20240101,
    model_params: dict[str, object] | None = None,
    threads: int | None = None,
) -> GridBacktestResult:
    """Return the backtest scores of catalog model ``model`` on ``design``'s target x horizon."""
    from forecasting.catalog import make_model

    lag, h, target = dataset.data_lag_weeks, design.horizon, design.target
    t0 = time.perf_counter()
    sample = scan_sample(dataset, design, pd.Timestamp(test_end), threads=threads)
    scan_s = time.perf_counter() - t0
    weeks = _origins(dataset, threads)
    folds = list(rolling_origins(weeks, test_start, test_end, retrain_every, h, lag))
    if not folds:
        raise ValueError(f"no test origins between {test_start} and {test_end} in the dataset's weeks")
    forecasts: list[pd.DataFrame] = []
    actuals: list[pd.DataFrame] = []
    rows: list[dict[str, object]] = []
    for fold in folds:
        t1 = time.perf_counter()
        test = scan_rows(dataset, design, list(fold.origins), threads=threads)
        if test.empty:  # origins whose labels are not observed yet: nothing to score, nothing to fit
            continue
        t2 = time.perf_counter()
        train = sample[sample["week"] <= fold.cutoff]
        fitted = make_model(model, target, h, data_lag_weeks=lag, seed=seed, **(model_params or {}))
        fitted.fit(features_of(train), train["y"])
        t3 = time.perf_counter()
        p = corrected(predict_p(fitted, features_of(test)), test["sample_offset"].to_numpy())
        rate = _population_rate(dataset, design, fold.cutoff, threads)
        keys = test[["region_id", "week"]].assign(horizon=np.int64(h), target=target)
        forecasts += [keys.assign(model=model, p=p), keys.assign(model="climatology", p=rate)]
        actuals.append(keys.assign(y=test["y"].to_numpy()))
        rows.append(
            {
                "cutoff": fold.cutoff,
                "train_rows": len(train),
                "train_positives": int((train["y"] > 0).sum()),
                "population_rate": rate,
                "test_rows": len(test),
                "test_scan_seconds": t2 - t1,
                "fit_seconds": t3 - t2,
                "predict_seconds": time.perf_counter() - t3,
            }
        )
    if not forecasts:
        raise ValueError(f"no labelled rows at the test origins {test_start}..{test_end}; nothing to score")
    fc = pd.concat(forecasts, ignore_index=True)
    act = pd.concat(actuals, ignore_index=True)
    fc["region_id"] = fc["region_id"].astype("string")
    act["region_id"] = act["region_id"].astype("string")
    metrics = evaluate(fc, act, GRID_METRICS, by=("horizon",))
    folds_table = pd.DataFrame(rows).assign(sample_scan_seconds=scan_s)
    return GridBacktestResult(metrics, folds_table, len(sample), _count(dataset, design, threads))


def _origins(dataset: GridDataset, threads: int | None) -> pd.DatetimeIndex:
    """Return every origin week of the dataset."""
    from forecasting.grid_sampling import connect

    con = connect(threads, None)
    try:
        weeks = con.execute(
            f"SELECT DISTINCT week FROM {dataset.sql('features')} ORDER BY week"
        ).fetchnumpy()["week"]
    finally:
        con.close()
    return pd.DatetimeIndex(weeks)


def _population_rate(
    dataset: GridDataset, design: SamplingDesign, cutoff: pd.Timestamp, threads: int | None
) -> float:
    """Return the share of positive labels over every row with origin <= ``cutoff`` (climatology)."""
    y = f'"{label_name(design.target, design.horizon)}"'
    return float(
        scalar(
            f"SELECT avg(CAST({y} > 0 AS DOUBLE)) FROM {dataset.sql('features')} "
            f"WHERE {y} IS NOT NULL AND week <= TIMESTAMP '{pd.Timestamp(cutoff):%Y-%m-%d}'",
            threads,
        )
    )


def _count(dataset: GridDataset, design: SamplingDesign, threads: int | None) -> int:
    """Return the number of rows with an observed label (the population the sample stands for)."""
    y = f'"{label_name(design.target, design.horizon)}"'
    return int(scalar(f"SELECT count(*) FROM {dataset.sql('features')} WHERE {y} IS NOT NULL", threads))
