"""Training on a partitioned grid dataset: every positive, a known share of the negatives, corrected odds.

On a weekly 0.5 degree grid almost every cell-week is zero: in Africa ~98% of cell-weeks see no civilian
harm within four weeks, and most of those cells saw nothing for a year around them. Fitting on all 19
million rows spends the memory and the CPU on rows that say the same thing. A case-control scan reads the
dataset (features.partitioned) with DuckDB and keeps:

- every positive row (label > 0);
- negatives of the *quiet* stratum (no event in the cell over the last 52 weeks, none in its neighbours
  over the last 12: ``quiet_columns`` all zero) with probability ``quiet_rate``;
- negatives of the *active* stratum (the rest) with probability ``active_rate`` (default: all).

The stratum is a function of the features only, so within each stratum this is plain case-control
sampling on the outcome, and Bayes' rule gives the population probability from the one a model learns on
the sample (prior correction; King & Zeng 2001, "Logistic Regression in Rare Events Data"; Elkan 2001):

    odds_sample(x) = odds(x) / r(x)   =>   logit p(x) = logit p_sample(x) + log r(x)

where ``r(x)`` is the negative keep rate of x's stratum. ``sample_offset`` holds ``log r(x)`` on every row
read (sampled or not). Whether a negative is kept is a hash of (region_id, week, seed): the same seed keeps
the same rows on any machine with the pinned DuckDB, whatever the order the partitions are scanned in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from civrisk.weeks import WEEK_DTYPE
from features.partitioned import ExtraColumns, GridDataset
from forecasting.targets import build_targets

if TYPE_CHECKING:
    import duckdb

LABEL_PREFIX = "y__"
OFFSET = "sample_offset"
STRATUM = "quiet_stratum"
"""1.0 on rows of the quiet stratum: a model input, so that the model can carry the stratum's own shift of
log-odds that the sampling adds (a linear model cannot make a step at zero out of log1p counts: without the
flag it spread the shift over the counts, and the correction overshot the quiet rows' rate 5-fold)."""
_HASH_MOD = 1_000_000_007


def label_name(target: str, horizon: int) -> str:
    """Return the dataset column holding a target x horizon label: ``y__civ_any__h4``."""
    return f"{LABEL_PREFIX}{target}__h{horizon}"


def label_columns(targets: Sequence[str], horizons: Sequence[int]) -> ExtraColumns:
    """Return the callback that stores each partition's labels beside its features (one file to scan)."""

    def extra(panel: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
        origins = pd.DatetimeIndex(features["week"].unique())
        long = build_targets(panel, horizons, targets, origins=origins)
        keys = pd.DataFrame(
            {"region_id": features["region_id"].astype(str).to_numpy(), "week": features["week"].to_numpy()}
        )
        out = {}
        for (target, horizon), grp in long.groupby(["target", "horizon"], observed=True, sort=True):
            lab = pd.DataFrame(
                {"region_id": grp["region_id"].astype(str).to_numpy(), "week": grp["week"].to_numpy()}
            ).assign(y=grp["y"].to_numpy())
            y = keys.merge(lab, on=["region_id", "week"], how="left", validate="one_to_one")["y"]
            out[label_name(str(target), int(horizon))] = y.to_numpy(dtype=np.float32)
        return pd.DataFrame(out, index=features.index)

    return extra


@dataclass(frozen=True)
class SamplingDesign:
    """Which rows a training scan keeps: every positive; negatives at a known rate per stratum."""

    target: str
    horizon: int
    quiet_rate: float
    active_rate: float = 1.0
    quiet_columns: tuple[str, ...] = ()
    """Features that are all zero on a quiet row (default: the cell's 52-week and its neighbours' 12-week
    event counts at the dataset's lag)."""
    seed: int = 0

    def __post_init__(self) -> None:
        for name, rate in (("quiet_rate", self.quiet_rate), ("active_rate", self.active_rate)):
            if not 0 < rate <= 1:
                raise ValueError(f"sampling {name} must be in (0, 1]; got {rate}")

    def columns(self, data_lag_weeks: int) -> tuple[str, ...]:
        """Return the features defining the quiet stratum."""
        lag = f"lag{data_lag_weeks}"
        return self.quiet_columns or (f"events_sum_52w_{lag}", f"nb_events_sum_12w_{lag}")


def _strata_sql(design: SamplingDesign, lag: int) -> tuple[str, str, str]:
    """Return SQL for (label, quiet flag, offset) of a row."""
    y = f'"{label_name(design.target, design.horizon)}"'
    quiet = " AND ".join(f'coalesce("{c}" = 0, false)' for c in design.columns(lag))
    log_q, log_a = (float(np.log(r)) for r in (design.quiet_rate, design.active_rate))
    offset = f"CAST(CASE WHEN {quiet} THEN {log_q!r} ELSE {log_a!r} END AS DOUBLE)"
    return y, quiet, offset


def connect(threads: int | None, memory_limit: str | None) -> duckdb.DuckDBPyConnection:
    import duckdb

    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    return con


def scalar(sql: str, threads: int | None = None) -> Any:
    """Return the single value a DuckDB query answers."""
    con = connect(threads, None)
    try:
        row = con.execute(sql).fetchone()
    finally:
        con.close()
    if row is None:
        raise ValueError(f"query returned no row: {sql}")
    return row[0]


def scan_sample(
    dataset: GridDataset,
    design: SamplingDesign,
    last_week: pd.Timestamp | None = None,
    *,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> pd.DataFrame:
    """Return the sampled training rows (origin <= ``last_week``, label observed) with ``y`` and the offset.

    Feature columns keep their names; the label is ``y``, ``sample_offset`` is log r(x). Other labels of
    the dataset are left out.
    """
    lag = dataset.data_lag_weeks
    y, quiet, offset = _strata_sql(design, lag)
    u = f"(hash(region_id, week, {int(design.seed)}) % {_HASH_MOD}) / {float(_HASH_MOD)}"
    rate = f"CASE WHEN {quiet} THEN {design.quiet_rate!r} ELSE {design.active_rate!r} END"
    keep = f"({y} > 0 OR {u} < {rate})"
    where = f"{y} IS NOT NULL AND {keep}"
    if last_week is not None:
        where += f" AND week <= TIMESTAMP '{pd.Timestamp(last_week):%Y-%m-%d}'"
    return _query(dataset, y, quiet, offset, where, threads, memory_limit)


def scan_rows(
    dataset: GridDataset,
    design: SamplingDesign,
    weeks: Sequence[pd.Timestamp],
    *,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> pd.DataFrame:
    """Return every row of the origins ``weeks`` with an observed label (test rows), with y and offset."""
    lag = dataset.data_lag_weeks
    y, quiet, offset = _strata_sql(design, lag)
    listed = ", ".join(f"TIMESTAMP '{pd.Timestamp(w):%Y-%m-%d}'" for w in weeks)
    where = f"{y} IS NOT NULL AND week IN ({listed})"
    return _query(dataset, y, quiet, offset, where, threads, memory_limit)


def _query(
    dataset: GridDataset,
    y: str,
    quiet: str,
    offset: str,
    where: str,
    threads: int | None,
    memory_limit: str | None,
) -> pd.DataFrame:
    con = connect(threads, memory_limit)
    try:
        labels = [
            c
            for (c,) in con.execute(
                f"SELECT column_name FROM (DESCRIBE SELECT * FROM {dataset.sql('features')})"
            ).fetchall()
            if c.startswith(LABEL_PREFIX)
        ]
        drop = ", ".join(f'"{c}"' for c in labels)
        sql = (
            f"SELECT * EXCLUDE ({drop}), CAST({quiet} AS FLOAT) AS {STRATUM}, "
            f"CAST({y} AS DOUBLE) AS y, {offset} AS {OFFSET} "
            f"FROM {dataset.sql('features')} WHERE {where}"
        )
        # no ORDER BY: DuckDB keeps the files' order (partitions by name, rows as written) by default
        # (preserve_insertion_order), while sorting would hold a third copy of the sample (measured
        # 2.8 GiB peak for a 1.6M-row sample with it)
        frame = con.sql(sql).to_arrow_table().to_pandas()
    finally:
        con.close()
    text = {c: "string" for c in ("region_id", "iso3") if c in frame.columns}
    return frame.astype({**text, "week": WEEK_DTYPE})


def corrected(p_sample: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Return population probabilities from sampled-data ones: logit p = logit p_sample + log r(x)."""
    p = np.clip(np.asarray(p_sample, dtype="float64"), 1e-12, 1 - 1e-12)
    return 1.0 / (1.0 + np.exp(-(np.log(p / (1 - p)) + np.asarray(offset, dtype="float64"))))


def features_of(rows: pd.DataFrame) -> pd.DataFrame:
    """Return the model inputs of scanned rows (the FEATURES columns: without y and the offset)."""
    return rows.drop(columns=["y", OFFSET])
