"""Training a forecast bundle: the library calls of ``civrisk train``, shared with the weekly retrain.

:func:`train_bundle` reuses the config's backtest from MLflow when one exists for the same config and data
(else runs and logs it), picks the best model per target x horizon, fits them on every origin whose label
is known by the cutoff, and chooses the alert levels on the backtest forecasts of the chosen models
(``forecasting.alert_choice``; only rows whose outcome was known by the cutoff). Registering goes through
``experiments.registry.register_bundle``, whose champion rule decides what is published.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from forecasting.alert_levels import AlertLevels
from forecasting.splits import WEEK
from forecasting.targets import HEADLINE_TARGET

if TYPE_CHECKING:
    from experiments.config import ExperimentConfig
    from experiments.inputs import Inputs
    from forecasting.backtest import BacktestResult
    from forecasting.bundle import ForecastBundle

Echo = Callable[[str], None]
OnUnit = Callable[[int, int, str], None]
Progress = Callable[[str], AbstractContextManager[OnUnit | None]]
"""Opens a progress display for a description and yields its ``(done, total, label)`` callback."""


def _no_progress(description: str) -> AbstractContextManager[OnUnit | None]:
    return nullcontext(None)


@dataclass(frozen=True)
class Trained:
    """A fitted bundle, the backtest run it was chosen on, and its primary backtest score."""

    bundle: ForecastBundle
    run_id: str
    primary_value: float
    data_end: pd.Timestamp


def train_bundle(
    cfg: ExperimentConfig,
    inputs: Inputs,
    uri: str,
    data_end: pd.Timestamp | None = None,
    echo: Echo = lambda line: None,
    progress: Progress = _no_progress,
) -> Trained:
    """Return the bundle of ``cfg`` fitted on ``inputs`` through ``data_end`` (default: the last week)."""
    from experiments.tracking import find_backtest_run, load_run_metrics, log_backtest
    from forecasting.backtest import primary_score, run_backtest, select_models
    from forecasting.bundle import fit_bundle

    run_id = find_backtest_run(cfg, inputs.fingerprint, uri=uri)
    if run_id is None:
        echo("no backtest of this config on this data in MLflow yet: running it")
        with progress("backtest (target x horizon units)") as on_unit:
            result = run_backtest(inputs.features, inputs.targets, cfg, on_unit=on_unit)
        run_id = log_backtest(result, cfg, inputs.fingerprint, uri=uri)
        metrics, forecasts = result.metrics, result.forecasts
    else:
        echo(f"using backtest run {run_id}")
        metrics, forecasts = load_run_metrics(run_id, uri=uri), run_forecasts(run_id, uri)
    p = cfg.primary
    chosen = select_models(metrics, p.metric, p.subset)
    value = primary_score(metrics, chosen[(p.target, p.horizon)], p.target, p.horizon, p.metric, p.subset)
    end = inputs.last_week if data_end is None else pd.Timestamp(data_end)
    with progress("training (one model per target x horizon)") as on_fit:
        bundle = fit_bundle(inputs.features, inputs.targets, chosen, end, cfg, on_fit=on_fit)
    bundle.alert_levels = backtest_levels(forecasts, inputs, chosen, end)
    return Trained(bundle, run_id, value, end)


def backtest_levels(
    forecasts: pd.DataFrame,
    inputs: Inputs,
    chosen: dict[tuple[str, int], str],
    data_end: pd.Timestamp,
) -> AlertLevels | None:
    """Return the alert levels chosen on the backtest forecasts of the models published for civ_any, from
    rows whose outcome window ended by ``data_end`` (None when the backtest has no civ_any forecasts)."""
    from forecasting.alert_choice import choose_alert_levels
    from forecasting.alert_stats import weekly_harm_from_panel

    models = {h: m for (t, h), m in chosen.items() if t == HEADLINE_TARGET}
    fc = forecasts[forecasts["target"].astype(str) == HEADLINE_TARGET]
    known = fc["week"] + (fc["horizon"] - 1) * WEEK <= data_end
    fc = fc[known]
    if fc.empty or not models:
        return None
    labels = inputs.targets[inputs.targets["target"].astype(str) == HEADLINE_TARGET]
    keys = fc[["region_id", "week", "horizon", "target"]].drop_duplicates()
    actuals = labels.assign(region_id=labels["region_id"].astype("string")).merge(
        keys.assign(region_id=keys["region_id"].astype("string")),
        on=["region_id", "week", "horizon", "target"],
    )
    panel = inputs.panel[inputs.panel["week"] <= data_end]
    return choose_alert_levels(fc, actuals, models, weekly=weekly_harm_from_panel(panel))


def backtest_alert_lines(result: BacktestResult, inputs: Inputs, cfg: ExperimentConfig) -> list[str]:
    """Return report lines of the alerts a backtest's published models would have sent, per rule and horizon:
    alerts per week, precision, recall, onsets warned, lead, Updates per alert per 4 weeks.

    The levels are those ``civrisk train`` would choose on this backtest, so they are judged on the rows
    they were chosen on (in-sample); ``python -m experiments.alert_check`` judges them on a forward window.
    """
    from forecasting.alert_stats import backtest_alert_table, weekly_harm_from_panel
    from forecasting.backtest import select_models

    p = cfg.primary
    chosen = select_models(result.metrics, p.metric, p.subset)
    models = {h: m for (t, h), m in chosen.items() if t == HEADLINE_TARGET}
    fc = result.forecasts
    levels = backtest_levels(fc, inputs, chosen, inputs.last_week)
    if levels is None or not models:
        return ["alerts: the backtest has no civ_any forecasts"]
    weekly = weekly_harm_from_panel(inputs.panel)
    table = backtest_alert_table(fc, result.actuals, levels, models, weekly=weekly)
    wide = table[table["subset"] == "all"].pivot_table(
        index=["horizon", "rule", "model", "levels"], columns="metric", values="value"
    )
    out = ["alerts with the levels civrisk train would choose on this backtest (in-sample):"]
    for (h, rule, model, words), r in wide.iterrows():
        out.append(
            f"  h{h} {rule} ({model}; {words}): {r['alerts_per_week']:.1f} alerts per week "
            f"(rate {r['alert_rate']:.2f}), precision {r['precision']:.2f}, recall {r['recall']:.2f}, "
            f"onsets warned {r['onsets_warned']:.0%}, median lead {r['lead_median']:.1f} weeks, "
            f"{r['updates_per_alert_4w']:.2f} Updates per alert per 4 weeks"
        )
    return out


def run_forecasts(run_id: str, uri: str) -> pd.DataFrame:
    """Return a backtest run's civ_any forecasts (its ``forecasts.parquet`` artifact)."""
    import mlflow

    from experiments.tracking import use_tracking

    use_tracking(uri)
    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="forecasts.parquet")
    cols = ["region_id", "week", "horizon", "target", "model", "p"]
    fc = pd.read_parquet(path, columns=cols, filters=[("target", "==", HEADLINE_TARGET)])
    return fc.assign(week=pd.to_datetime(fc["week"]))


def level_lines(levels: AlertLevels | None) -> list[str]:
    """Return the chosen alert levels as report lines (or why there are none)."""
    if levels is None:
        return ["alert levels: the documented defaults (the backtest has no civ_any forecasts)"]
    return ["alert levels chosen on the backtest:", *(f"  {line}" for line in levels.describe())]
