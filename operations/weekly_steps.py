"""What each step of the weekly cycle does (the cycle, its lock and its report: operations.weekly).

Each step is a function of the settings that returns plain-text report lines and raises on failure
(``StepFailed`` when it did part of its work first, so that part stays in the report).
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from civrisk.settings import Settings
from civrisk.weeks import week_label

if TYPE_CHECKING:
    import pandas as pd

    from publish.publication.week import PublishResult
    from publish.store.store import Publication, ScoreStore

EVENT_SUFFIXES = (".csv", ".csv.gz", ".zip", ".parquet")
SETTLE_SECONDS = 60.0
"""A drop file modified more recently than this may still be being copied in: it waits for the next cycle."""
CANDIDATE_MONTHS_BACK = (1, 2, 3)
"""Candidate monthly releases tried, newest first: UCDP publishes month M's release during month M+1."""


class StepFailed(RuntimeError):
    """A step failed after doing part of its work; ``lines`` report that part."""

    def __init__(self, message: str, lines: list[str]) -> None:
        super().__init__(message)
        self.lines = lines


def fetch_step(settings: Settings, today: date) -> list[str]:
    """Fetch the newest published UCDP Candidate monthly release into the drop folder; return report lines."""
    from rich.console import Console

    from ingest.fetch import FetchError, candidate_release, fetch_release

    if settings.weekly_fetch != "ucdp-candidate":
        raise ValueError(
            f"CIVRISK_WEEKLY_FETCH={settings.weekly_fetch!r}: expected 'ucdp-candidate' or unset"
        )
    drop = settings.resolved_drop_dir()
    drop.mkdir(parents=True, exist_ok=True)
    lines, errors = [], []
    for back in CANDIDATE_MONTHS_BACK:
        year, month = divmod(today.year * 12 + today.month - 1 - back, 12)
        version = f"{year % 100:02d}.0.{month + 1}"
        try:
            got = fetch_release(
                candidate_release(version, settings.ucdp_base_url), drop, console=Console(stderr=True)
            )
        except FetchError as exc:
            errors.append(f"{version}: {exc}")
            lines.append(f"UCDP Candidate {version}: not available ({str(exc).split('. ')[0]})")
            continue
        how = "already cached" if got.from_cache else "downloaded"
        lines.append(
            f"UCDP Candidate {version}: {how} {got.path} ({got.size:,} bytes, sha256 {got.sha256[:12]})"
        )
        return lines
    raise FetchError("no UCDP Candidate release could be fetched:\n" + "\n".join(errors))


def drop_files(drop: Path, now: float | None = None) -> tuple[list[Path], list[Path]]:
    """Return (event files ready to ingest, files still settling) in the drop folder, oldest first.

    Hidden files, ``*.part``/``*.tmp`` and download records (``*.json``) are not event files. A file
    modified less than SETTLE_SECONDS ago may still be being copied in and waits for the next cycle.
    """
    now = time.time() if now is None else now
    ready: list[Path] = []
    settling: list[Path] = []
    for path in sorted(drop.iterdir(), key=lambda p: (p.stat().st_mtime, p.name)) if drop.is_dir() else []:
        name = path.name.lower()
        if not path.is_file() or name.startswith(".") or not name.endswith(EVENT_SUFFIXES):
            continue
        (settling if now - path.stat().st_mtime < SETTLE_SECONDS else ready).append(path)
    return ready, settling


def ingest_step(settings: Settings) -> list[str]:
    """Add the drop folder's new event files to the events store; return report lines."""
    from ingest.event_store import add_files

    drop = settings.resolved_drop_dir()
    drop.mkdir(parents=True, exist_ok=True)
    ready, settling = drop_files(drop)
    lines = [f"drop folder {drop}: {len(ready)} event files"]
    lines += [
        f"{p.name}: modified under {SETTLE_SECONDS:.0f} s ago, left for the next cycle" for p in settling
    ]
    delta = add_files(ready, settings)
    return lines + delta.lines()


def publish_step(settings: Settings, week: date) -> list[str]:
    """Publish ``week`` with the champion model from the events store; return report lines."""
    from experiments.registry import NoChampionError
    from ingest.event_store import events_dir
    from publish.publication import week as publication

    try:
        result = publication.publish_week(
            week_label(week), events_dir=events_dir(settings), settings=settings
        )
    except NoChampionError as exc:
        raise NoChampionError(
            f"no champion model is registered as {settings.registered_model_name!r}: run "
            "`civrisk train CONFIG --register` (or `civrisk demo`) first, then run the cycle again "
            f"({exc})"
        ) from exc
    return publish_lines(result)


def publish_lines(result: PublishResult) -> list[str]:
    """Return report lines for a publication run: revision, model, scores, withheld countries, alerts."""
    pub = result.publication
    if result.created:
        state = "new revision"
    else:
        state = "already published with this model and data, nothing recorded"
        state += " (its missing files were written again)" if result.rebuilt else ""
    as_of = pub.as_of.date().isoformat()
    lines = [
        f"{pub.week_label} revision {pub.revision}: {state}",
        f"model {pub.model_name} v{pub.model_version}, {pub.n_scores:,} scores, data as of {as_of}",
        f"files in {result.folder}",
    ]
    if result.withheld:
        lines.append(f"withheld (data stale at the cut-off): {', '.join(result.withheld)}")
    if result.no_score:
        lines.append(f"{len(result.no_score)} regions of fresh countries got no score (see notes)")
    alerts = result.alerts
    kinds = alerts["msg_type"].value_counts() if len(alerts) and "msg_type" in alerts.columns else {}
    lines.append("alert messages: " + (", ".join(f"{n} {k}" for k, n in kinds.items()) or "none"))
    return lines + [f"note: {note}" for note in result.notes]


def verify_step(settings: Settings, week: date) -> list[str]:
    """Verify each published week whose longest horizon has passed and that has no verification yet.

    A week whose windows the data do not cover yet (``NotYetVerifiable``) waits for a later cycle; any
    other failure fails the step after the other weeks were tried.
    """
    from ingest.event_store import events_dir
    from publish.publication import verify
    from publish.store.store import ScoreStore

    with ScoreStore.from_settings(settings) as store:
        due = due_for_verification(store, week, settings.publication_lag_weeks)
    if not due:
        return [
            "nothing due: every published week whose windows have passed is verified",
            *watch_lines(settings),
        ]
    lines, failures = [], []
    for pub in due:
        name = f"{pub.week_label} r{pub.revision}"
        try:
            got = verify.verify_week(
                pub.week_label, pub.revision, events_dir=events_dir(settings), settings=settings
            )
        except verify.NotYetVerifiable as exc:
            lines.append(f"{name}: waiting for data ({exc})")
            continue
        # one week that cannot be verified must not keep the others unverified: collected, then raised
        except Exception as exc:  # noqa: BLE001
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        lines.append(f"{name}: {verify_summary(got.table, got.recorded)}")
    lines += watch_lines(settings)
    if failures:
        raise StepFailed(
            f"{len(failures)} of {len(due)} weeks failed to verify:\n" + "\n".join(failures), lines
        )
    return lines


def watch_lines(settings: Settings) -> list[str]:
    """Return the drift watch's report lines: calibration per country (DRIFT past the thresholds), alerts."""
    from publish.publication.drift import drift_watch
    from publish.store.store import ScoreStore

    with ScoreStore(settings.resolved_db_url()) as store:
        return drift_watch(store, settings).lines()


def due_for_verification(store: ScoreStore, week: date, lag_weeks: int) -> list[Publication]:
    """Return the latest publications without a verification whose longest window ended by ``week - lag``.

    A publication for origin t with horizons up to H covers weeks t .. t+H-1; the data hold week
    t+H-1 from publication week t+H-1+lag on (``lag_weeks`` >= 1), so that is when it becomes due.
    """
    verified = {int(i) for i in store.verifications()["publication_id"]}
    due = []
    for pub in store.latest_publications():
        if pub.id in verified or pub.week + timedelta(weeks=lag_weeks) > week:
            continue  # verified, or not even its first window can have ended
        longest = int(store.scores(pub.week, pub.revision)["horizon"].max())
        if pub.week + timedelta(weeks=longest - 1 + lag_weeks) <= week:
            due.append(pub)
    return sorted(due, key=lambda p: p.week)


def verify_summary(table: pd.DataFrame, recorded: bool) -> str:
    """Return one line for a verification: recorded or not, and its Brier scores."""
    if table.empty:
        return "nothing to record (no region had an observed outcome)"
    state = (
        f"recorded {len(table)} scores"
        if recorded
        else f"unchanged since last verified ({len(table)} scores)"
    )
    brier = table[table["metric"] == "brier"].head(4)
    shown = [
        f"{t} h{h} brier {v:.3f} (n {n})"
        for t, h, v, n in brier[["target", "horizon", "value", "n"]].itertuples(index=False)
    ]
    return state + (": " + ", ".join(shown) if shown else "")


def deliver_step(settings: Settings) -> list[str]:
    """Deliver queued alert messages to registered webhooks (retrying failed ones); return report lines."""
    from publish.store.store import ScoreStore
    from serve import webhooks

    with ScoreStore.from_settings(settings) as store:
        got = webhooks.deliver_pending(store, settings)
    line = (
        f"webhooks: {got.queued} queued, {got.delivered} delivered, {got.failed_attempts} failed attempts, "
        f"{got.gave_up} given up, {got.pending} pending"
    )
    return [line]
