"""Rolling-origin backtest: features + targets -> forecasts per fold, target, horizon and model -> metrics.

The protocol is written down in docs/BACKTEST.md; the folds come from ``forecasting.splits.rolling_origins``
and the scores from :func:`forecasting.metrics.evaluate`. Baselines (climatology, persistence) are always
run, so every slice has its skill reference. Forecasts are made for test origins whose label is observed
(the rest could not be scored); counts carry quantiles ``q05 .. q95`` (``q10, q50, q90`` among them).

ONSET subset: rows where, as known at the origin, the region had no civilian deaths in the previous 26
weeks: feature ``civ_deaths_sum_26w_lag{k} == 0``. Rows where that window is not fully covered (NaN) are
not onset rows. Onset is where early warning matters most and where persistence is silent by design.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from civrisk.contracts import validate_features, validate_forecasts, validate_metrics, validate_targets
from forecasting.base import (
    CountForecaster,
    DegenerateTargetWarning,
    Forecaster,
    capable,
    predict_p,
    set_nested_params,
)
from forecasting.bootstrap import block_interval
from forecasting.count_recalibration import recalibrate_count_forecasts
from forecasting.metrics import BEST_PREFIX, evaluate, greater_is_better, scored_rows
from forecasting.plan import BASELINES, BacktestConfig, ModelPlan
from forecasting.recalibration import RecalSpec, recalibrate
from forecasting.splits import Fold, rolling_origins
from forecasting.targets import TARGET_KINDS

log = logging.getLogger(__name__)

QUANTILE_LEVELS: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(1, 20))
"""Quantiles stored for count forecasts (columns q05 .. q95); CRPS is computed from them."""

QUANTILE_COLUMNS: tuple[str, ...] = tuple(f"q{round(q * 100):02d}" for q in QUANTILE_LEVELS)

ONSET_WEEKS = 26

ModelFactory = Callable[[str, str, int], Forecaster]
"""(model name, target, horizon) -> an unfitted model for that target's kind (default: the catalog's)."""


def catalog_factory(
    data_lag_weeks: int, seed: int | None = None, model_params: Mapping[str, Mapping[str, Any]] | None = None
) -> ModelFactory:
    """Return a factory of catalog models with the experiment's lag, seed and per-model settings."""
    from forecasting import catalog

    params = dict(model_params or {})

    def make(name: str, target: str, horizon: int) -> Forecaster:
        extra = dict(params.get(name, {}))
        return catalog.make_model(name, target, horizon, data_lag_weeks=data_lag_weeks, seed=seed, **extra)

    return make


def onset_feature(data_lag_weeks: int) -> str:
    """Return the feature that defines the ONSET subset (civilian deaths over the last 26 known weeks)."""
    return f"civ_deaths_sum_{ONSET_WEEKS}w_lag{data_lag_weeks}"


@dataclass(frozen=True)
class BacktestResult:
    """What a backtest produced: forecasts, scores, and how it went."""

    forecasts: pd.DataFrame
    """FORECASTS contract + ``cutoff`` (last training origin) + ``p_raw``; count targets add ``q05 .. q95``
    and ``p_nonzero`` (recalibrated for learned models) and their raw values ``q05_raw ..``,
    ``p_nonzero_raw``."""
    actuals: pd.DataFrame
    """TARGETS rows of the test origins with an observed label, plus the boolean ``onset`` column."""
    metrics: pd.DataFrame
    """Tidy scores (model, target, horizon, year, subset, metric, value, n); year <NA> = all test years."""
    timings: pd.DataFrame
    """Per model, target and horizon: folds, fit and predict wall seconds, CPU seconds, training rows."""
    importances: pd.DataFrame
    """Feature importances of the last fold's models that expose them (model, target, horizon, feature)."""
    notes: tuple[str, ...]
    """Things worth knowing that did not stop the run (degenerate training labels, skipped folds)."""

    def headline(self, target: str, horizon: int, subset: str = "all") -> pd.DataFrame:
        """Return one target x horizon's overall scores as a model x metric table."""
        sel = overall_scores(self.metrics, target, horizon, subset)
        return sel.pivot_table(index="model", columns="metric", values="value", sort=False)


def run_backtest(
    features: pd.DataFrame,
    targets: pd.DataFrame,
    plan: ModelPlan,
    *,
    models: Sequence[str] | None = None,
    make_model: ModelFactory | None = None,
    n_jobs: int | None = None,
    on_unit: Callable[[int, int, str], None] | None = None,
) -> BacktestResult:
    """Return forecasts and metrics of each model of ``plan`` for every target x horizon over rolling origins.

    ``features`` is a FEATURES table built with ``plan.feature_spec()`` and the plan's data lag (it holds
    ``civ_deaths_sum_26w_lag{k}`` for the onset subset); ``targets`` a TARGETS table holding every target x
    horizon of the plan. ``models`` runs a subset of the plan's models (the baselines always run). Each
    model runs on the targets whose kind it supports (``forecasting.catalog.supports``). ``n_jobs``
    (default ``plan.backtest.n_jobs``) > 1 runs target x horizon units in that many processes, or Dask
    workers with ``backtest.executor = "dask"`` (forecasting.executors), each model single-threaded
    (results depend on neither). ``on_unit(done, total, label)`` is called as each target x horizon unit
    finishes (progress bars).
    """
    from forecasting import catalog

    b = plan.backtest
    data_lag_weeks, n_jobs = b.data_lag_weeks, n_jobs or b.n_jobs
    chosen = tuple(models) if models else plan.models
    make_model = make_model or catalog_factory(data_lag_weeks, plan.seed, plan.params_for(chosen))
    models = tuple(dict.fromkeys([*BASELINES, *chosen]))
    target_names, horizons, min_train_rows = plan.targets, plan.horizons, b.min_train_rows
    validate_features(features, "run_backtest")
    validate_targets(targets, "run_backtest")
    onset_col = onset_feature(data_lag_weeks)
    if onset_col not in features.columns:
        raise ValueError(
            f"features lack {onset_col!r}, which defines the onset subset; build the features with "
            f"data_lag_weeks={data_lag_weeks} and a {ONSET_WEEKS}-week window"
        )
    features = features.assign(region_id=features["region_id"].astype("string")).reset_index(drop=True)
    labels = _labels(targets, target_names, horizons)
    weeks = pd.DatetimeIndex(features["week"].unique()).sort_values()

    from forecasting.executors import UnitGroup, run_groups

    units = []
    keys = features[["region_id", "week"]]
    cadence = b.retrain_every if b.protocol == "rolling" else FROZEN
    for horizon in horizons:
        folds = _Folds(
            models=list(rolling_origins(weeks, b.test_start, b.test_end, cadence, horizon, data_lag_weeks)),
            every_origin=list(rolling_origins(weeks, b.test_start, b.test_end, 1, horizon, data_lag_weeks)),
        )
        for target in target_names:
            names = [m for m in models if catalog.supports(m, target)]
            y = _join(keys, labels, target, horizon)["y"].to_numpy()
            units.append(UnitGroup(y, folds, names, target, horizon))
    runs = run_groups(features, units, make_model, min_train_rows, b, n_jobs, on_unit)
    done = [run for unit_runs in runs for run in unit_runs]
    importances = [r.importance for r in done if r.importance is not None]

    fc = pd.concat([r.forecasts for r in done], ignore_index=True)
    learned = {str(r.timing["model"]) for r in done if not r.baseline}
    fc = recalibrate_forecasts(fc, labels, learned, data_lag_weeks, plan.recalibration)
    fc = recalibrate_count_forecasts(
        fc, labels, learned, data_lag_weeks, plan.count_recalibration, QUANTILE_COLUMNS, QUANTILE_LEVELS
    )
    validate_forecasts(fc, "run_backtest")
    actuals = _actuals(labels, features, fc, onset_col)
    scores = score(fc, actuals, b)
    return BacktestResult(
        forecasts=fc,
        actuals=actuals,
        metrics=scores,
        timings=pd.DataFrame([r.timing for r in done]),
        importances=pd.concat(importances, ignore_index=True) if importances else _empty_importances(),
        notes=tuple(note for r in done for note in r.notes),
    )


def score(forecasts: pd.DataFrame, actuals: pd.DataFrame, protocol: BacktestConfig) -> pd.DataFrame:
    """Return overall (per horizon) and per-test-year scores, for all rows and the onset subset; skill
    against the strongest baseline of each slice; block-bootstrap intervals (``lo``, ``hi``) for the
    protocol's interval metrics of its interval targets, overall rows."""
    metrics, bases = protocol.metrics, [b for b in BASELINES if b in set(forecasts["model"])]
    overall = evaluate(forecasts, actuals, metrics, by=("horizon",), subsets=("onset",), baselines=bases)
    overall.insert(3, "year", pd.array([pd.NA] * len(overall), dtype="Int64"))
    yearly = evaluate(
        forecasts, actuals, metrics, by=("horizon", "year"), subsets=("onset",), baselines=bases
    )
    yearly["year"] = yearly["year"].astype("Int64")
    table = pd.concat([overall, yearly], ignore_index=True).assign(lo=np.nan, hi=np.nan)
    wanted = [m for m in protocol.intervals if m in metrics]
    if wanted and protocol.bootstrap_reps > 0:
        _add_intervals(table, forecasts, actuals, protocol, wanted, bases)
    return validate_metrics(table, "backtest scores")


def _add_intervals(
    table: pd.DataFrame,
    forecasts: pd.DataFrame,
    actuals: pd.DataFrame,
    protocol: BacktestConfig,
    metrics: Sequence[str],
    baselines: Sequence[str],
) -> None:
    """Fill ``lo``/``hi`` of the overall rows (subset all) of the interval targets, in place."""
    fc = forecasts[forecasts["target"].isin(list(protocol.interval_targets))]
    scored = scored_rows(fc, actuals, metrics, (), baselines)
    best_cols = [c for c in scored.columns if c.startswith(BEST_PREFIX)]
    for (model, target, horizon), grp in scored.groupby(["model", "target", "horizon"], sort=True):
        for metric in metrics:
            rows = (
                (table["model"] == model)
                & (table["target"] == target)
                & (table["horizon"] == horizon)
                & (table["metric"] == metric)
                & (table["subset"] == "all")
                & table["year"].isna()
            )
            if not rows.any():
                continue
            d = grp.dropna(subset=best_cols) if metric == "brier_skill_best" else grp
            seed = protocol.bootstrap_seed
            lo, hi = block_interval(
                d, metric, block_weeks=protocol.block_weeks, reps=protocol.bootstrap_reps, seed=seed
            )
            table.loc[rows, ["lo", "hi"]] = (lo, hi)


def selection_metric(target: str, primary_metric: str) -> str:
    """Return the metric that picks a target's model: the primary metric for binary targets, else CRPS."""
    return primary_metric if TARGET_KINDS[target] == "binary" else "crps"


def select_models(
    metrics: pd.DataFrame, primary_metric: str, subset: str = "all"
) -> dict[tuple[str, int], str]:
    """Return per (target, horizon) the model with the best overall backtest score (ties: first by name).

    Binary targets are ranked by ``primary_metric`` (e.g. Brier skill), the count target by CRPS.
    """
    overall = metrics[metrics["year"].isna() & (metrics["subset"] == subset)]
    chosen: dict[tuple[str, int], str] = {}
    for (target, horizon), grp in overall.groupby(["target", "horizon"], sort=True):
        name = selection_metric(str(target), primary_metric)
        scores = grp[(grp["metric"] == name) & grp["value"].notna()].sort_values("model")
        if scores.empty:
            raise ValueError(f"no {name!r} scores for {target} at h={horizon}; cannot pick a model")
        best = scores["value"].idxmax() if greater_is_better(name) else scores["value"].idxmin()
        chosen[(str(target), int(horizon))] = str(scores.loc[best, "model"])
    return chosen


def overall_scores(
    metrics: pd.DataFrame,
    target: str,
    horizon: int,
    subset: str = "all",
    *,
    model: str | None = None,
    metric: str | None = None,
) -> pd.DataFrame:
    """Return the rows of a metrics table scored over the whole test period (not one year) for a target,
    horizon and subset, narrowed to ``model`` and ``metric`` when given."""
    m = metrics
    keep = (m["target"] == target) & (m["horizon"] == horizon) & (m["subset"] == subset) & m["year"].isna()
    if model is not None:
        keep &= m["model"] == model
    if metric is not None:
        keep &= m["metric"] == metric
    return m[keep]


def primary_score(
    metrics: pd.DataFrame, model: str, target: str, horizon: int, metric: str, subset: str
) -> float:
    """Return one overall backtest score (NaN when absent)."""
    row = overall_scores(metrics, target, horizon, subset, model=model, metric=metric)
    return float(row["value"].iloc[0]) if len(row) else float("nan")


# ----------------------------------------------------------------------------------------------
# Pieces
# ----------------------------------------------------------------------------------------------


def _labels(targets: pd.DataFrame, target_names: Sequence[str], horizons: Sequence[int]) -> pd.DataFrame:
    t = targets.assign(
        region_id=targets["region_id"].astype("string"), target=targets["target"].astype("string")
    )
    t = t[t["target"].isin(list(target_names)) & t["horizon"].isin(list(horizons))]
    have = set(zip(t["target"], t["horizon"], strict=True))
    missing = [(tg, h) for tg in target_names for h in horizons if (tg, h) not in have]
    if missing:
        raise ValueError(
            f"the targets table lacks (target, horizon) pairs {missing}; build it with "
            "forecasting.targets.build_targets for every target and horizon of the experiment"
        )
    unknown = [tg for tg in target_names if tg not in TARGET_KINDS]
    if unknown:
        raise ValueError(f"unknown targets {unknown}; expected some of {list(TARGET_KINDS)}")
    return t[["region_id", "week", "horizon", "target", "y"]].reset_index(drop=True)


def _join(features: pd.DataFrame, labels: pd.DataFrame, target: str, horizon: int) -> pd.DataFrame:
    """Return the feature rows with their label ``y`` (NaN when unobserved or absent) for one target x h."""
    lab = labels.loc[
        (labels["target"] == target) & (labels["horizon"] == horizon), ["region_id", "week", "y"]
    ]
    return features.merge(lab, on=["region_id", "week"], how="left", validate="one_to_one")


@dataclass(frozen=True)
class _ModelRun:
    forecasts: pd.DataFrame
    timing: dict[str, object]
    importance: pd.DataFrame | None
    notes: list[str]
    baseline: bool


def recalibrate_forecasts(
    forecasts: pd.DataFrame,
    labels: pd.DataFrame,
    models: set[str],
    data_lag_weeks: int,
    spec: RecalSpec,
) -> pd.DataFrame:
    """Return ``forecasts`` with the binary forecasts of ``models`` recalibrated origin by origin from the
    same model's earlier test forecasts whose outcomes are resolved (forecasting.recalibration); the
    model's own probability is kept in ``p_raw``."""
    out = forecasts.assign(p_raw=forecasts["p"])
    binary = out["target"].astype(str).map(TARGET_KINDS).eq("binary") & out["model"].isin(sorted(models))
    if spec.method == "none" or not binary.any():
        return out
    y = labels[["region_id", "week", "horizon", "target", "y"]]
    for (_, _, horizon), grp in out[binary].groupby(["model", "target", "horizon"], sort=False):
        rows = grp.merge(y, on=["region_id", "week", "horizon", "target"], how="left").set_index(grp.index)
        weeks = pd.DatetimeIndex(grp["week"].unique())
        out.loc[grp.index, "p"] = recalibrate(rows, int(horizon), data_lag_weeks, spec, weeks)
    return out


FROZEN = 10**6
"""A refit cadence longer than any test period: the ``frozen`` protocol fits once, at the first origin."""


@dataclass(frozen=True)
class _Folds:
    """The folds of one horizon: the protocol's, and one per origin for the baselines that learn from
    labels (climatology, conflictology: they need no fit, so each origin gets exactly what was known
    then). Persistence and the recent climatology read only the origin's features: every origin already
    gets its own forecast under the protocol's folds."""

    models: list[Fold]
    every_origin: list[Fold]


def _run_unit(
    xy: pd.DataFrame,
    folds: _Folds,
    make_model: ModelFactory,
    names: Sequence[str],
    target: str,
    horizon: int,
    min_train_rows: int,
) -> list[_ModelRun]:
    """Return the runs of every model on one target x horizon (one unit of parallel work)."""
    return [_run_model(xy, folds, make_model, name, target, horizon, min_train_rows) for name in names]


def _run_unit_one_thread(*args: Any) -> list[_ModelRun]:
    """``_run_unit`` with OpenMP and BLAS limited to one thread: two busy pools on 2 cores thrash badly."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _run_unit(*args)


def _single_threaded(make_model: ModelFactory) -> ModelFactory:
    """Return a factory whose models (and nested models) use one thread, for process-parallel runs."""

    def make(name: str, target: str, horizon: int) -> Forecaster:
        return set_nested_params(make_model(name, target, horizon), **dict.fromkeys(THREAD_PARAMS, 1))

    return make


THREAD_PARAMS = ("n_jobs", "n_threads")
"""Model settings that choose a thread count (xgboost's n_jobs, the HistGradientBoosting n_threads)."""


def _run_model(
    xy: pd.DataFrame,
    unit_folds: _Folds,
    make_model: ModelFactory,
    name: str,
    target: str,
    horizon: int,
    min_train_rows: int,
) -> _ModelRun:
    kind = TARGET_KINDS[target]
    notes: list[str] = []
    probe = make_model(name, target, horizon)
    folds = unit_folds.every_origin if probe.get_tag("refit_every_origin") else unit_folds.models
    # slice only the columns the model reads: baselines refit at every origin would otherwise copy the
    # whole feature matrix hundreds of times
    keys = [c for c in ("region_id", "week", "iso3", "unit") if c in xy.columns]
    xy = xy[[*keys, *probe.used_features(xy.drop(columns="y")), "y"]]
    # labelled rows in week order: a fold's training rows are a prefix, its test origins a contiguous run
    xy = xy[xy["y"].notna()].sort_values(["week", "region_id"], kind="stable").reset_index(drop=True)
    weeks = xy["week"].to_numpy()
    frames: list[pd.DataFrame] = []
    fit_s = predict_s = cpu_s = 0.0
    n_train = n_folds = 0
    model: Forecaster | None = None
    for fold in folds:
        train = xy.iloc[: np.searchsorted(weeks, fold.cutoff.to_datetime64(), side="right")]
        first = np.searchsorted(weeks, fold.origins[0].to_datetime64(), side="left")
        test = xy.iloc[first : np.searchsorted(weeks, fold.origins[-1].to_datetime64(), side="right")]
        if test.empty:
            continue
        if len(train) < min_train_rows:
            notes.append(
                f"{name} {target} h{horizon}: fold from {fold.first_origin.date()} skipped, "
                f"{len(train)} labelled training rows < min_train_rows {min_train_rows}"
            )
            continue
        model = make_model(name, target, horizon)
        if model.kind != kind:
            raise ValueError(
                f"model {name!r} for target {target!r} has kind {model.kind!r}; expected {kind!r}"
            )
        X_train = train.drop(columns="y")
        t0, c0 = time.perf_counter(), time.process_time()
        fit_noting(
            model, X_train, train["y"], notes, f"{name} {target} h{horizon} fold {fold.first_origin.date()}"
        )
        t1 = time.perf_counter()
        X_test = test.drop(columns="y")
        out = test[["region_id", "week"]].assign(
            horizon=np.int64(horizon),
            target=target,
            model=name,
            p=predict_p(model, X_test),
            cutoff=fold.cutoff,
        )
        if isinstance(model, CountForecaster):
            q = model.predict_quantiles(X_test, QUANTILE_LEVELS)
            out = out.assign(**{c: q[:, j] for j, c in enumerate(QUANTILE_COLUMNS)})
            out["p_nonzero"] = model.predict_proba_exceed(X_test, 0)
        predict_s += time.perf_counter() - t1
        cpu_s += time.process_time() - c0
        fit_s += t1 - t0
        n_train += len(train)
        n_folds += 1
        frames.append(out)
    timing = {
        "model": name,
        "target": target,
        "horizon": horizon,
        "folds": n_folds,
        "fit_seconds": fit_s,
        "predict_seconds": predict_s,
        "cpu_seconds": cpu_s,
        "train_rows": n_train,
    }
    importance = _importance(model, name, target, horizon) if model is not None else None
    fc = pd.concat(frames, ignore_index=True) if frames else _empty_forecasts()
    return _ModelRun(fc, timing, importance, notes, bool(probe.get_tag("baseline")))


def fit_noting(model: Forecaster, X: pd.DataFrame, y: pd.Series, notes: list[str], where: str) -> Forecaster:
    """Fit ``model``; a degenerate-label warning becomes a note, any other warning is re-issued unchanged."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DegenerateTargetWarning)
        model.fit(X, y)
    for w in caught:
        if issubclass(w.category, DegenerateTargetWarning):
            notes.append(f"{where}: {w.message}")
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return model


def _importance(model: Forecaster, name: str, target: str, horizon: int) -> pd.DataFrame | None:
    """Return the share of total gain per feature for models with the importance capability, else None."""
    ranked = capable(model, "importance")
    if ranked is None:
        return None
    values = ranked.feature_importances()
    return pd.DataFrame(
        {
            "model": name,
            "target": target,
            "horizon": horizon,
            "feature": values.index.astype(str),
            "importance": values.to_numpy(),
        }
    )


def _actuals(
    labels: pd.DataFrame, features: pd.DataFrame, forecasts: pd.DataFrame, onset_col: str
) -> pd.DataFrame:
    """Return the labels of forecast rows with the onset flag from the features at each origin."""
    keys = forecasts[["region_id", "week", "horizon", "target"]].drop_duplicates()
    act = labels.merge(keys, on=["region_id", "week", "horizon", "target"], how="inner")
    onset = features[["region_id", "week", onset_col]]
    act = act.merge(onset, on=["region_id", "week"], how="left", validate="many_to_one")
    act["onset"] = (act[onset_col] == 0).fillna(False).astype(bool)
    return act.drop(columns=onset_col)


def _empty_forecasts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "region_id": pd.array([], dtype="string"),
            "week": pd.Series([], dtype="datetime64[ns]"),
            "horizon": pd.Series([], dtype="int64"),
            "target": pd.array([], dtype="string"),
            "model": pd.array([], dtype="string"),
            "p": pd.Series([], dtype="float64"),
            "cutoff": pd.Series([], dtype="datetime64[ns]"),
        }
    )


def _empty_importances() -> pd.DataFrame:
    return pd.DataFrame(columns=["model", "target", "horizon", "feature", "importance"])
