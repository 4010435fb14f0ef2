"""The weekly cycle's retrain policy: when to retrain the champion's config, and how (docs/OPERATIONS.md).

A retrain is due when (:func:`retrain_decision`):

- **age**: the champion's data end is ``settings.retrain_every_weeks`` weeks or more before the publication
  week (0 switches this off); or
- **drift**: ``settings.retrain_on_drift`` is set and the drift watch (``publish.publication.drift``) flags
  a country, unless some version was already trained on data ending within the last
  :data:`DRIFT_RETRAIN_GAP_WEEKS` weeks (a retrain the champion rule did not promote is not repeated every
  week on the same evidence).

A retrain (:func:`retrain`) trains the champion's own experiment config on the events store's data through
the publication's last data week with the library calls of ``civrisk train``
(``experiments.training.train_bundle``: the config's backtest, hence the same test window, then the best
model per target x horizon and alert levels chosen on that backtest) and registers it with
``experiments.registry.register_bundle``. Only its champion rule moves the ``champion`` alias: the new
version is published from the next cycle on if, and only if, that rule promotes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

import pandas as pd

from civrisk.settings import Settings
from civrisk.weeks import week_label

if TYPE_CHECKING:
    from experiments.config import ExperimentConfig
    from experiments.inputs import Inputs

DRIFT_RETRAIN_GAP_WEEKS = 4
"""Weeks of new data a drift retrain waits for after the newest registered version's data end."""


@dataclass(frozen=True)
class RetrainDecision:
    """Whether the weekly cycle retrains, and why (or why not), in words."""

    due: bool
    reasons: tuple[str, ...]


def retrain_decision(
    week: date,
    champion_data_end: date | None,
    newest_data_end: date | None,
    drifting: Sequence[str],
    settings: Settings,
) -> RetrainDecision:
    """Return the retrain decision for publication week ``week`` (module docstring).

    ``drifting``: the drift watch's flagged countries in words ("MLI h4: forecast 0.57 vs observed 0.45").
    """
    if champion_data_end is None:
        return RetrainDecision(False, ("no champion model yet: `civrisk train CONFIG --register` first",))
    reasons = []
    age = (week - champion_data_end).days // 7
    every = int(settings.retrain_every_weeks)
    if every > 0 and age >= every:
        reasons.append(
            f"the champion's data end {champion_data_end} is {age} weeks old (retrain every {every} weeks)"
        )
    if drifting and settings.retrain_on_drift:
        newest = newest_data_end or champion_data_end
        since = (week - newest).days // 7
        if since >= DRIFT_RETRAIN_GAP_WEEKS:
            reasons.append("published calibration drifts: " + "; ".join(drifting))
        elif not reasons:
            return RetrainDecision(
                False,
                (
                    f"calibration drifts ({'; '.join(drifting)}), but the newest version was trained on data "
                    f"through {newest}, {since} weeks ago; the next drift retrain waits for "
                    f"{DRIFT_RETRAIN_GAP_WEEKS} weeks of new data",
                ),
            )
    if reasons:
        return RetrainDecision(True, tuple(reasons))
    why = f"not due: the champion's data end {champion_data_end} is {age} weeks old"
    return RetrainDecision(False, (why + (f" (retrain every {every})" if every > 0 else "") + ", no drift",))


def retrain_step(settings: Settings, week: date) -> list[str]:
    """Decide whether to retrain for publication week ``week``, retrain if due; return report lines."""
    from publish.publication.drift import drift_health
    from publish.store.store import ScoreStore

    champion_end, newest_end = registered_data_ends(settings)
    with ScoreStore(settings.resolved_db_url()) as store:
        health = drift_health(store, settings)
    drifting = health["drifting"]
    decision = retrain_decision(week, champion_end, newest_end, drifting, settings)
    lines = [("retrain due: " if decision.due else "no retrain: ") + r for r in decision.reasons]
    if decision.due:
        lines += retrain(settings, week)
    return lines


def registered_data_ends(settings: Settings) -> tuple[date | None, date | None]:
    """Return (the champion's data end, the newest registered version's data end), None when absent."""
    from experiments.registry import CHAMPION, list_versions

    versions = list_versions(settings.resolved_tracking_uri(), settings.registered_model_name)
    ends = pd.to_datetime(versions["data_end"], errors="coerce")
    champion = [CHAMPION in str(a).split(",") for a in versions["aliases"]]
    champ = ends[champion].dropna()
    return (
        champ.iloc[0].date() if len(champ) else None,
        ends.max().date() if ends.notna().any() else None,
    )


def retrain(settings: Settings, week: date) -> list[str]:
    """Train the champion's config on the events store through ``week``'s last data week and register it
    (the champion rule decides whether it is published); return report lines."""
    from experiments.registry import register_bundle
    from experiments.training import level_lines, train_bundle

    cfg = champion_config(settings)
    inputs = store_inputs(cfg, settings)
    last = pd.Timestamp(week) - timedelta(weeks=cfg.backtest.data_lag_weeks)
    data_end = min(inputs.last_week, last)
    lines = [f"training {cfg.name} on the events store through the week of {data_end.date()}"]
    trained = train_bundle(cfg, inputs, settings.resolved_tracking_uri(), data_end, echo=lines.append)
    lines += level_lines(trained.bundle.alert_levels)
    example = inputs.features[inputs.features["week"] <= data_end]
    reg = register_bundle(
        trained.bundle,
        cfg,
        trained.primary_value,
        trained.run_id,
        inputs.fingerprint,
        example,
        uri=settings.resolved_tracking_uri(),
        name=settings.registered_model_name,
    )
    state = "is now champion (published from the next cycle)" if reg.champion_moved else "is not champion"
    lines.append(
        f"registered {reg.name} v{reg.version} ({week_label(week)} retrain); it {state}: {reg.reason}"
    )
    return lines


def champion_config(settings: Settings) -> ExperimentConfig:
    """Return the experiment config the champion was trained with."""
    from publish.publication.model_source import load_publish_model

    return load_publish_model(None, settings).config


def store_inputs(cfg: ExperimentConfig, settings: Settings) -> Inputs:
    """Return the model inputs of ``cfg`` built from the events store (the weekly cycle's data)."""
    from experiments.inputs import prepare_inputs
    from ingest.event_store import events_dir

    data = cfg.data.model_copy(update={"events": events_dir(settings), "raw_files": ()})
    return prepare_inputs(cfg.model_copy(update={"data": data}))
