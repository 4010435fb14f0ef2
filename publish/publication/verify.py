"""Verification of a past publication: what happened in its forecast windows, and how the scores did.

:func:`verify_week` (``civrisk verify --week W``) takes a publication whose windows (weeks ``t .. t+h-1``
for every horizon) the data now cover, computes the outcomes with the target definitions of
:mod:`forecasting.targets` on a panel of those weeks, scores the published numbers and records the scores
with :meth:`~publish.store.store.ScoreStore.record_verification` (one transaction):

- binary targets: ``brier``, and at the alert level (``civ_mass``: the mass rule's; others: the level
  rule's at that horizon) ``hits``, ``misses``, ``false_alarms``, ``correct_negatives``;
- count targets: ``mae`` of the expected count and ``coverage80`` (share inside q10..q90);
- calibration sums per country (``cal.<ISO3>.*``, the drift watch reads them) and alert statistics per
  rule and horizon (``alerts.<rule>.*``): see ``publish.publication.verify_stats``;

each with ``n``, the regions scored. Windows the data do not cover yet are an error that names the weeks.
Verifying again on the same data records nothing new.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from civrisk.weeks import week_label
from experiments.inputs import region_panel
from forecasting.targets import TARGET_KINDS, build_targets
from publish.alerting.rules import AlertRules
from publish.store.store import Publication, ScoreStore

if TYPE_CHECKING:
    from civrisk.settings import Settings
    from experiments.config import ExperimentConfig

WEEK = pd.Timedelta(weeks=1)
DEFAULT_THRESHOLD = 0.5
"""Alert threshold used when the rules switch the relevant rule off."""
VERIFY_COLUMNS = ("target", "horizon", "metric", "value", "n")


class NotYetVerifiable(ValueError):
    """The data do not yet cover every week of the publication's forecast windows."""


@dataclass(frozen=True)
class VerifyResult:
    """A publication's verification: one row per target, horizon and metric, and whether it was recorded."""

    publication: Publication
    table: pd.DataFrame
    recorded: bool


def verify_week(
    week: str,
    revision: int | None = None,
    events_dir: Path | None = None,
    *,
    settings: Settings,
    rules: AlertRules | None = None,
) -> VerifyResult:
    """Verify ``week``'s latest revision (or ``revision``) on its model config's data or ``events_dir``;
    ``rules``: the alert rules (default: the levels the publishing model carries)."""
    from publish.publication.model_source import load_publish_model
    from publish.publication.week import load_model_events

    with ScoreStore.from_settings(settings) as store:
        pub = store.publication(week, revision)
        model = load_publish_model(pub.model_version, settings, name=pub.model_name)
        events, coverage, boundaries = load_model_events(model, events_dir)
        rules = rules if rules is not None else AlertRules(levels=model.alert_levels)
        return verify_publication(store, pub, model.config, events, coverage, boundaries, rules)


def verify_publication(
    store: ScoreStore,
    pub: Publication,
    config: ExperimentConfig,
    events: pd.DataFrame,
    coverage: pd.DataFrame,
    boundaries: object,
    rules: AlertRules | None = None,
) -> VerifyResult:
    """Score publication ``pub`` against the outcomes in ``events``; record the scores (module docstring).

    ``rules``: the alert rules the publication ran (default: ``AlertRules()``).
    """
    from publish.publication.verify_stats import alert_rows, calibration_rows, episode_start

    rules = rules if rules is not None else AlertRules()
    scores = store.scores(pub.week, pub.revision)
    origin = pd.Timestamp(pub.week)
    horizons = sorted({int(h) for h in scores["horizon"]})
    last = origin + (max(horizons) - 1) * WEEK
    countries = sorted(set(scores["iso3"].astype(str)))
    _check_windows(pub, coverage, countries, origin, last)
    published = events[events["iso3"].astype(str).isin(countries)]
    unit = config.data.unit
    start = episode_start(origin)  # episode onsets need the quiet weeks before the window
    _, panel, _ = region_panel(published, coverage, boundaries, unit, start, last)  # type: ignore[arg-type]
    targets = sorted(set(scores["target"].astype(str)))
    y = build_targets(panel, horizons, targets, origins=pd.DatetimeIndex([origin]))
    y = y.assign(region_id=y["region_id"].astype(str), target=y["target"].astype(str))
    joined = scores.assign(region_id=scores["region_id"].astype(str), target=scores["target"].astype(str))
    joined = joined.merge(y[["region_id", "horizon", "target", "y"]], on=["region_id", "horizon", "target"])
    table = score_outcomes(joined, rules)
    extra = calibration_rows(joined) + alert_rows(joined, store.alerts(), panel, origin, rules)
    table = pd.concat([table, pd.DataFrame(extra, columns=list(VERIFY_COLUMNS))], ignore_index=True)
    recorded = _record(store, pub, table)
    return VerifyResult(pub, table, recorded)


def score_outcomes(scored: pd.DataFrame, rules: AlertRules = AlertRules()) -> pd.DataFrame:
    """Return target, horizon, metric, value, n for rows of published scores with outcomes ``y``.

    Rows with a NaN outcome (window not covered for that region) are not scored.
    """
    rows = []
    for (target, horizon), grp in scored.dropna(subset=["y"]).groupby(["target", "horizon"], sort=True):
        y = grp["y"].to_numpy(dtype=float)
        n = len(grp)
        if TARGET_KINDS[str(target)] == "binary":
            p = grp["p"].to_numpy(dtype=float)
            alert = p >= _threshold(str(target), int(horizon), rules)
            event = y >= 0.5
            metrics = {
                "brier": float(np.mean((p - y) ** 2)),
                "hits": float(np.sum(alert & event)),
                "misses": float(np.sum(~alert & event)),
                "false_alarms": float(np.sum(alert & ~event)),
                "correct_negatives": float(np.sum(~alert & ~event)),
            }
        else:
            expected = grp["expected"].fillna(grp["p"]).to_numpy(dtype=float)
            metrics = {"mae": float(np.mean(np.abs(expected - y)))}
            if grp[["q10", "q90"]].notna().all().all():
                inside = (y >= grp["q10"].to_numpy(dtype=float)) & (y <= grp["q90"].to_numpy(dtype=float))
                metrics["coverage80"] = float(np.mean(inside))
        rows += [(str(target), int(horizon), m, v, n) for m, v in metrics.items()]
    return pd.DataFrame(rows, columns=list(VERIFY_COLUMNS))


def _threshold(target: str, horizon: int, rules: AlertRules) -> float:
    if target == rules.mass_target and rules.mass is not None:
        return float(rules.mass.enter)
    level = rules.alert_level(horizon)
    return float(level) if level is not None else DEFAULT_THRESHOLD


def _check_windows(
    pub: Publication,
    coverage: pd.DataFrame,
    countries: Sequence[str],
    first: pd.Timestamp,
    last: pd.Timestamp,
) -> None:
    """Raise NotYetVerifiable naming the weeks of ``first .. last`` that no source covers per country."""
    from ingest.coverage import weekly_mask

    weeks = pd.date_range(first, last, freq="7D")
    mask = weekly_mask(coverage, list(countries), weeks)
    gaps = mask[~mask["covered"].astype(bool)]
    if gaps.empty:
        return
    ends = coverage.groupby(coverage["iso3"].astype(str))["last_date"].max()
    parts = []
    for iso3, grp in gaps.groupby(gaps["iso3"].astype(str), sort=True):
        end = ends.get(iso3)
        until = f"data until {pd.Timestamp(end).date()}" if end is not None and pd.notna(end) else "no data"
        parts.append(f"{iso3}: {_ranges(pd.DatetimeIndex(grp['week']))} ({until})")
    raise NotYetVerifiable(
        f"week {pub.week_label} (revision {pub.revision}) cannot be verified yet: its forecast windows run "
        f"{week_label(first.date())}..{week_label(last.date())} and the data do not cover "
        + "; ".join(parts)
        + ". Verify it once the data cover those weeks (ingest newer data, or pass --events)"
    )


def _ranges(weeks: pd.DatetimeIndex) -> str:
    """Return sorted Mondays as ISO week ranges: "2022-W20..2022-W24, 2022-W26"."""
    days = sorted(pd.Timestamp(w) for w in weeks)
    runs: list[list[pd.Timestamp]] = []
    for d in days:
        if runs and d - runs[-1][-1] == WEEK:
            runs[-1].append(d)
        else:
            runs.append([d])
    text = [
        week_label(r[0].date()) if len(r) == 1 else f"{week_label(r[0].date())}..{week_label(r[-1].date())}"
        for r in runs
    ]
    return ", ".join(text)


def _record(store: ScoreStore, pub: Publication, table: pd.DataFrame) -> bool:
    """Record the table in one transaction unless the latest stored values are the same; return recorded."""
    if table.empty:
        return False
    with store.transaction():
        stored = store.verifications(pub.id)
        if len(stored):
            last = stored.drop_duplicates(["metric", "target", "horizon"], keep="last")
            old = {
                (str(m), str(t), int(h)): (float(v), int(n))
                for m, t, h, v, n in zip(
                    last["metric"], last["target"], last["horizon"], last["value"], last["n"], strict=True
                )
                if pd.notna(h)
            }
            new = {
                (m, t, int(h)): (float(v), int(n))
                for t, h, m, v, n in table[list(VERIFY_COLUMNS)].itertuples(index=False)
            }
            if old == new:
                return False
        for t, h, m, v, n in table[list(VERIFY_COLUMNS)].itertuples(index=False):
            store.record_verification(pub.id, m, v, n, target=t, horizon=int(h))
    return True
