"""The incremental events store: new event files merged, file by file, into one canonical events folder.

The folder (``settings.home / "events"``) holds what ``civrisk ingest`` writes, so ``civrisk panel --events``
reads it unchanged, plus a manifest:

- ``events.parquet``: canonical events, one row per ``event_id`` (the newest release of each event);
- ``quarantine.csv``: every row any ingested file had rejected, with its file name and the file's SHA-256;
- ``coverage.csv``: recomputed from the merged events each time; declared windows are kept;
- ``manifest.json``: the ingested files keyed by SHA-256 (name, path, size, release, row counts, time), the
  boundaries events were placed with, and the SHA-256 of each of the three tables above.

Rules (docs/OPERATIONS.md):

1. A file is known by its SHA-256: adding the same bytes again, under any name, changes nothing.
2. An event already in the store is **superseded** by the same ``event_id`` in a new file when the new row
   is not an older version by ``ingest.releases``' rule (the one ``civrisk ingest`` applies across its
   files too): ACLED's per-row ``timestamp``, then the export date or the UCDP release; versions that
   cannot be compared let the later file win. An older row is ignored. Both counts go into the delta and
   the manifest.
3. A call is all-or-nothing: every new version is written to a temporary file beside its target and the
   temporaries are renamed only after all four are complete, the manifest last. A failure before the
   renames leaves the previous store untouched; a crash between renames is caught when the store is next
   opened, because the tables no longer match the digests in the manifest.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from filelock import FileLock, Timeout

from civrisk.contracts import validate_events
from civrisk.settings import Settings, get_settings
from ingest.ingest_delta import FileDelta, IngestDelta
from ingest.plausibility import Limits
from ingest.releases import merge_release
from ingest.store_files import (
    DATA_FILES,
    MANIFEST_FILE,
    MANIFEST_FORMAT,
    EventStoreError,
    StoreTables,
    file_sha256,
    load_store,
    read_manifest,
    write_store,
)

if TYPE_CHECKING:
    from ingest.boundaries import Boundaries

LOCK_FILE = ".store.lock"
LOCK_TIMEOUT_S = 600.0
"""How long add_files waits for another writer of the same store before giving up."""

_COUNTED = ("source", "source_version", "rows_read", "kept", "quarantined", "added", "superseded", "stale")


def events_dir(settings: Settings | None = None) -> Path:
    """Return the store folder, ``settings.home / "events"``."""
    return (settings or get_settings()).home / "events"


@dataclass(frozen=True)
class IngestOptions:
    """How ``civrisk ingest`` reads files into a store: a forced layout, boundaries, --strict."""

    forced: str | None = None  # --format: a layout name instead of detection
    boundaries: Path | None = None  # admin-1 GeoJSON (default: settings.boundaries, else the shared file)
    strict: bool = False  # refuse the whole call (nothing written) when any row is quarantined


def add_files(
    paths: Sequence[str | Path],
    settings: Settings | None = None,
    *,
    folder: str | Path | None = None,
    options: IngestOptions | None = None,
    declared_coverage: pd.DataFrame | None = None,
    now: datetime | None = None,
) -> IngestDelta:
    """Ingest the files not yet in the store, in the order given, and write the merged store atomically.

    ``folder``: the store (default ``settings.home / "events"``); ``declared_coverage`` (source, iso3,
    first_date, last_date) adds or replaces declared windows. Raises the ingest errors (unreadable file,
    missing columns; ``StrictModeError`` under ``options.strict``) naming the file; then nothing is
    written, and a store folder this call created is removed again.
    """
    from ingest.pipeline import plan_files

    settings = settings or get_settings()
    options = options or IngestOptions()
    folder = Path(folder) if folder is not None else events_dir(settings)
    files = [Path(p) for p in paths]
    plan_files(files, options.forced)  # every header is checked before anything is written
    created = _make_folder(folder)
    now = (now or datetime.now(UTC)).astimezone(UTC)
    limits = Limits.from_settings(settings, now)
    stamp = now.isoformat(timespec="seconds")
    try:
        with FileLock(folder / LOCK_FILE, timeout=LOCK_TIMEOUT_S):
            return _add_locked(folder, files, settings, declared_coverage, stamp, limits, options)
    except Timeout as exc:
        raise EventStoreError(
            f"events store {folder} is busy: another process held {folder / LOCK_FILE} for "
            f"{LOCK_TIMEOUT_S:.0f} s. Check for a stuck `civrisk weekly` (docs/OPERATIONS.md)."
        ) from exc
    except BaseException:
        if created:  # leave no empty store behind a failed first call
            (folder / LOCK_FILE).unlink(missing_ok=True)
            if not any(folder.iterdir()):
                folder.rmdir()
        raise


def _make_folder(folder: Path) -> bool:
    """Create the store folder if needed; return True when this call created it. Raise EventStoreError
    naming the folder when it is a file or cannot be written."""
    if folder.exists() and not folder.is_dir():
        raise EventStoreError(
            f"events store {folder} is a file; expected a folder (it will hold events.parquet, "
            "quarantine.csv, coverage.csv and manifest.json): choose another --out"
        )
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EventStoreError(
            f"cannot create the events store folder {folder} ({exc.strerror or exc}); choose a folder you "
            "can write to (--out or CIVRISK_HOME)"
        ) from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise EventStoreError(
            f"events store {folder} is not writable (permission denied); choose a folder you can write to "
            "(--out or CIVRISK_HOME) or fix its permissions"
        )
    return created


def _add_locked(
    folder: Path,
    paths: list[Path],
    settings: Settings,
    declared: pd.DataFrame | None,
    stamp: str,
    limits: Limits,
    options: IngestOptions,
) -> IngestDelta:
    from ingest.admin1_names import load_aliases
    from ingest.pipeline import IngestResult, StrictModeError, ingest_files, region_changes, strict_message

    store = load_store(folder)
    manifest = store.manifest
    known: dict[str, dict[str, Any]] = dict(manifest["files"])
    events, before = store.events, len(store.events)
    quarantine_parts, deltas = [store.quarantine], []
    results: list[IngestResult] = []
    regions, boundaries_id = None, None
    aliases = load_aliases(settings.admin1_aliases) if settings.admin1_aliases else None
    for path in paths:
        sha = file_sha256(path)
        if sha in known:
            first = known[sha]
            deltas.append(FileDelta(path.name, sha, "already ingested", first_ingested=_when(first)))
            continue
        if boundaries_id is None:
            regions, boundaries_id = _boundaries(
                settings, manifest.get("boundaries"), folder, options.boundaries
            )
        result = ingest_files(
            [path], options.forced, regions, limits=limits, aliases=aliases, check_renames=False
        )
        results.append(result)
        report = result.files[0]
        events, added, superseded, stale = merge_release(events, result.events)
        quarantine_parts.append(result.quarantine.assign(file_sha256=sha).astype({"file_sha256": "string"}))
        delta = FileDelta(
            path.name,
            sha,
            "ingested",
            report.source,
            report.source_version,
            result.rows_read,
            len(result.events),
            len(result.quarantine),
            added,
            superseded,
            stale,
        )
        deltas.append(delta)
        known[sha] = {
            "name": path.name,
            "path": str(path.resolve()),
            "bytes": path.stat().st_size,
            "ingested_at": stamp,
            "seq": len(known) + 1,
            "layout": report.layout,
            **{
                k: getattr(delta, k) for k in ("source", "source_version", "rows_read", "kept", "quarantined")
            },
            **{k: getattr(delta, k) for k in ("added", "superseded", "stale")},
        }
    if options.strict and any(len(r.quarantine) for r in results):
        raise StrictModeError(strict_message(results))
    adopted = manifest.get("adopted") if not manifest["outputs"] else None
    counts = (len(store.quarantine), len(store.coverage))
    if not any(d.status == "ingested" for d in deltas) and declared is None:
        return IngestDelta(
            folder, tuple(deltas), before, before, *counts, adopted=adopted, coverage=store.coverage
        )

    from ingest.coverage import compute_coverage

    events = validate_events(events.reset_index(drop=True), "ingest.event_store (merged)")
    quarantine = pd.concat([q for q in quarantine_parts if len(q)] or [store.quarantine], ignore_index=True)
    coverage = compute_coverage(events, _declared_windows(store.coverage, declared))
    changes = region_changes(events, regions) if results else None
    manifest = {
        "format": MANIFEST_FORMAT,
        "updated_at": stamp,
        "boundaries": boundaries_id or manifest.get("boundaries"),
        "files": known,
        "outputs": {},
    }
    if adopted is not None:
        manifest["adopted"] = {**adopted, "at": stamp}
    elif "adopted" in store.manifest:
        manifest["adopted"] = store.manifest["adopted"]
    write_store(folder, events, quarantine, coverage, manifest)
    counts = (len(quarantine), len(coverage))
    return IngestDelta(
        folder,
        tuple(deltas),
        before,
        len(events),
        *counts,
        written=True,
        adopted=adopted,
        results=tuple(results),
        coverage=coverage,
        region_changes=changes,
    )


def _declared_windows(coverage: pd.DataFrame, extra: pd.DataFrame | None) -> pd.DataFrame | None:
    """Return the store's declared windows with ``extra`` added (a new window replaces an old one)."""
    cols = ["source", "iso3", "first_date", "last_date"]
    kept = coverage.loc[coverage["declared"].astype(bool), cols]
    if extra is not None:
        from ingest.coverage import validate_declared

        extra = validate_declared(extra)
        old = kept.set_index(["source", "iso3"]).index.isin(extra.set_index(["source", "iso3"]).index)
        kept = pd.concat([kept[~old], extra], ignore_index=True)
    return kept.reset_index(drop=True) if len(kept) else None


def _boundaries(
    settings: Settings, stored: dict[str, str] | None, folder: Path, given: Path | None = None
) -> tuple[Any, dict]:
    """Return (admin-1 boundaries or None, their identity); refuse boundaries other than the store's.

    ``given`` (``civrisk ingest --boundaries``) comes before the setting and the shared default.
    """
    from ingest.boundaries import DEFAULT_ADMIN1_FILE, load_boundaries

    explicit = given or settings.boundaries
    path = explicit or settings.shared_data / "boundaries" / DEFAULT_ADMIN1_FILE
    regions: Boundaries | None = None
    ident = {"path": "", "sha256": "none"}
    if explicit is not None or path.is_file():
        regions = load_boundaries(
            path,
            settings.boundary_id_property,
            settings.boundary_name_property,
            settings.boundary_iso3_property,
        )
        ident = {"path": str(path), "sha256": file_sha256(path)}
    if stored and stored.get("sha256") != ident["sha256"]:
        raise EventStoreError(
            f"events store {folder} placed its events with admin-1 boundaries {stored.get('path') or 'none'} "
            f"(sha256 {str(stored.get('sha256'))[:12]}), but this run has {ident['path'] or 'none'} "
            f"(sha256 {ident['sha256'][:12]}); mixing them would give regions two meanings. Set "
            "CIVRISK_BOUNDARIES back, or rebuild the store with the new file (docs/OPERATIONS.md, 'Recover')."
        )
    return regions, ident


def _when(entry: dict[str, Any]) -> str:
    return f"{entry.get('ingested_at', '?')} as {entry.get('name', '?')}"


__all__ = [
    "DATA_FILES",
    "MANIFEST_FILE",
    "LOCK_FILE",
    "EventStoreError",
    "FileDelta",
    "IngestDelta",
    "IngestOptions",
    "StoreTables",
    "add_files",
    "events_dir",
    "file_sha256",
    "load_store",
    "read_manifest",
]
