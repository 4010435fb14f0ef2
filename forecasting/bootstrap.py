"""Block-bootstrap intervals over forecast origins for headline backtest scores.

Rows of one origin week (every region, the same forecasts) are strongly dependent, and so are neighbouring
weeks (violence persists). A moving-block bootstrap over origin weeks keeps both: blocks of ``block_weeks``
consecutive origins are drawn with replacement until as many origins as the test period holds; every row
of a drawn week comes along. The interval is the (alpha/2, 1 - alpha/2) percentile of the metric over
``reps`` resamples (Kunsch 1989; Lahiri 2003). The metric is recomputed whole on each resample, so
``brier_skill_best`` also re-chooses its best baseline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.metrics import metric_spec


def block_interval(
    scored: pd.DataFrame,
    metric: str,
    *,
    block_weeks: int = 13,
    reps: int = 200,
    alpha: float = 0.1,
    seed: int = 0,
) -> tuple[float, float]:
    """Return the (lo, hi) percentile interval of ``metric`` on ``scored`` rows under the block bootstrap.

    ``scored`` holds one model's rows of one slice (columns as ``forecasting.metrics.scored_rows`` gives,
    with ``week``); NaN bounds when fewer than two origin weeks or every resample is undefined.
    """
    spec, match = metric_spec(metric)
    fn = spec.build(match)
    week_codes, weeks = pd.factorize(scored["week"], sort=True)
    n_weeks = len(weeks)
    if n_weeks < 2 or block_weeks < 1:
        return float("nan"), float("nan")
    order = np.argsort(week_codes, kind="stable")
    bounds = np.searchsorted(week_codes[order], np.arange(n_weeks + 1))
    per_week = [order[bounds[w] : bounds[w + 1]] for w in range(n_weeks)]
    block = min(block_weeks, n_weeks)
    n_blocks = -(-n_weeks // block)
    rng = np.random.default_rng(seed)
    columns = {c: scored[c].to_numpy() for c in scored.columns if c not in ("region_id", "target", "model")}
    values = np.empty(reps)
    for r in range(reps):
        starts = rng.integers(0, n_weeks - block + 1, n_blocks)
        drawn = (starts[:, None] + np.arange(block)[None, :]).reshape(-1)[:n_weeks]
        rows = np.concatenate([per_week[w] for w in drawn])
        values[r] = fn(pd.DataFrame({c: v[rows] for c, v in columns.items()}, copy=False))
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)
