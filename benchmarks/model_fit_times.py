"""Fit and predict time of every catalog model on a synthetic 30k x 100 feature matrix.

Run: ``python benchmarks/model_fit_times.py [--rows 30000] [--features 100] [--models xgb hgb ...]
[--threads 1]``.
The default backtest refits each model ~16 times x 3 horizons x several targets on frames of this size, so
these numbers bound its run time.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd

from forecasting.base import Forecaster
from forecasting.catalog import make_model, model_names, supports


def make_wide(
    n_rows: int = 30_000, n_features: int = 100, seed: int = 0
) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Return a FEATURES frame of ``n_rows`` x ``n_features`` heavy-tailed counts and binary/count labels."""
    rng = np.random.default_rng(seed)
    n_weeks = 150
    n_regions = int(np.ceil(n_rows / n_weeks))
    weeks = pd.Timestamp("2015-01-05") + pd.to_timedelta(7 * np.arange(n_weeks), unit="D")
    X = pd.DataFrame(
        {
            "region_id": pd.array(
                np.repeat([f"R{r:04d}" for r in range(n_regions)], n_weeks)[:n_rows], dtype="string"
            ),
            "week": np.tile(weeks.to_numpy(), n_regions)[:n_rows],
            "iso3": pd.array(["MLI"] * n_rows, dtype="string"),
        }
    )
    counts = rng.poisson(rng.gamma(0.3, 2.0, (n_rows, n_features))).astype("float32")
    counts[rng.random(counts.shape) < 0.02] = np.nan
    names = [f"civ_deaths_sum_{n}w_lag1" for n in (1, 4, 12)]
    names += [f"feature_{i:03d}_sum_4w_lag1" for i in range(n_features - len(names))]
    X = pd.concat([X, pd.DataFrame(counts, columns=names)], axis=1)
    signal = np.nan_to_num(np.log1p(counts[:, :10])).sum(axis=1)
    mu = np.exp(-2.0 + 0.25 * signal)
    y_count = pd.Series(rng.negative_binomial(2, 2 / (2 + mu)).astype("float64"), index=X.index)
    return X, (y_count >= 1).astype("float64"), y_count


def set_threads(model: Forecaster, n: int) -> None:
    """Set ``n_jobs`` / ``n_threads`` on the model and on nested models (``base``, ``members``)."""
    params = model.get_params(deep=False)
    model.set_params(**{k: n for k in ("n_jobs", "n_threads") if k in params})
    for value in params.values():
        for inner in value if isinstance(value, list | tuple) else [value]:
            if isinstance(inner, Forecaster):
                set_threads(inner, n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=30_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--models", nargs="*", default=model_names())
    parser.add_argument("--threads", type=int, default=None, help="override n_jobs / n_threads (default: 2)")
    args = parser.parse_args()
    X, y_binary, y_count = make_wide(args.rows, args.features)
    print(f"{len(X)} rows x {args.features} features; P(y=1) = {y_binary.mean():.2f}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; CPU s = all threads")
    print(f"{'model':16s} {'target':11s} {'fit s':>7s} {'fit CPU s':>10s} {'predict s':>10s}")
    for name in args.models:
        for target, y in (("civ_any", y_binary), ("civ_deaths", y_count)):
            if not supports(name, target):
                continue
            model = make_model(name, target, horizon=4, data_lag_weeks=1, seed=0)
            if args.threads is not None:
                set_threads(model, args.threads)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                t0, c0 = time.perf_counter(), time.process_time()
                model.fit(X, y)
                t1, c1 = time.perf_counter(), time.process_time()
                if model.kind == "binary":
                    model.predict_proba(X)
                else:
                    model.predict(X)
                    model.predict_quantiles(X)
                t2 = time.perf_counter()
            note = f"  ({len(caught)} warnings: {caught[0].message})" if caught else ""
            print(f"{name:16s} {target:11s} {t1 - t0:7.2f} {c1 - c0:10.2f} {t2 - t1:10.2f}{note}")


if __name__ == "__main__":
    main()
