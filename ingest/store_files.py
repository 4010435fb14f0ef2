"""The events store's files: reading and checking the tables against the manifest, writing them atomically.

Layout and rules: ``ingest.event_store`` (which adds files) and docs/OPERATIONS.md.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from civrisk.atomic import atomic_path
from civrisk.contracts import COVERAGE, EVENTS, QUARANTINE, validate, validate_events
from ingest.pipeline import COVERAGE_FILE, EVENTS_FILE, QUARANTINE_FILE

MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = 1
DATA_FILES = (EVENTS_FILE, QUARANTINE_FILE, COVERAGE_FILE)


class EventStoreError(RuntimeError):
    """The events store is missing, inconsistent or busy; the message says what to do."""


@dataclass(frozen=True)
class StoreTables:
    """The store as read from disk (empty tables and an empty manifest when it does not exist yet)."""

    events: pd.DataFrame
    quarantine: pd.DataFrame
    coverage: pd.DataFrame
    manifest: dict[str, Any] = field(default_factory=dict)


def file_sha256(path: str | Path) -> str:
    """Return the SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """Return the store's manifest, or an empty one (no files) when the store does not exist yet."""
    path = Path(folder) / MANIFEST_FILE
    if not path.is_file():
        return {"format": MANIFEST_FORMAT, "files": {}, "outputs": {}, "boundaries": None}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise EventStoreError(f"{path} is not valid JSON ({exc}); see docs/OPERATIONS.md, 'Recover'") from exc
    if manifest.get("format") != MANIFEST_FORMAT:
        raise EventStoreError(
            f"{path}: manifest format {manifest.get('format')!r}, expected {MANIFEST_FORMAT}; this civrisk "
            "cannot read the store (rebuild it, docs/OPERATIONS.md 'Recover')"
        )
    return manifest


def load_store(folder: str | Path) -> StoreTables:
    """Return the store's tables after checking them against the manifest's digests.

    A folder that ``civrisk ingest --out`` or ``civrisk demo`` wrote (all three tables, no manifest) is
    adopted: its tables are the starting point, and the manifest written by the next ``add_files`` says so.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    present = [name for name in DATA_FILES if (folder / name).is_file()]
    if not manifest["outputs"]:
        if not present:
            quarantine = empty_table(QUARANTINE, {"file_sha256": "string"})
            return StoreTables(empty_table(EVENTS), quarantine, empty_table(COVERAGE), manifest)
        if len(present) < len(DATA_FILES):
            raise EventStoreError(
                f"{folder} holds {present} but not {[n for n in DATA_FILES if n not in present]} and no "
                f"{MANIFEST_FILE}: it is neither an events store nor a folder civrisk ingest wrote. Move it "
                "aside and put its source files in the drop folder (docs/OPERATIONS.md, 'Recover')."
            )
        tables = _read_tables(folder)
        files = sorted(tables.events["source_file"].dropna().astype(str).unique())
        manifest["adopted"] = {"events": len(tables.events), "source_files": files}
        return StoreTables(tables.events, tables.quarantine, tables.coverage, manifest)
    for name in DATA_FILES:
        want = manifest["outputs"].get(name, {})
        path = folder / name
        got: dict[str, Any] = fingerprint(path) if path.is_file() else {"sha256": "missing", "bytes": 0}
        if got["sha256"] != want.get("sha256"):
            raise EventStoreError(
                f"events store {folder} is inconsistent: {name} has sha256 {got['sha256'][:12]} "
                f"({got['bytes']:,} bytes), the manifest expects {str(want.get('sha256'))[:12]} "
                f"({want.get('bytes', 0):,} bytes). A write was interrupted between renames, or the file "
                "was rewritten by another tool (civrisk ingest --out, civrisk demo) or by hand. Rebuild the "
                "store (docs/OPERATIONS.md, 'Recover')."
            )
    tables = _read_tables(folder)
    return StoreTables(tables.events, tables.quarantine, tables.coverage, manifest)


def _read_tables(folder: Path) -> StoreTables:
    """Return the three tables of ``folder``, validated against their contracts."""
    events = validate_events(pd.read_parquet(folder / EVENTS_FILE), str(folder / EVENTS_FILE))
    text = {"source_file": "string", "reason": "string", "detail": "string", "file_sha256": "string"}
    quarantine = pd.read_csv(folder / QUARANTINE_FILE, dtype={**text, "source_row": "int64"})
    if "file_sha256" not in quarantine.columns:  # written by civrisk ingest: no digests
        quarantine["file_sha256"] = pd.Series(pd.NA, index=quarantine.index, dtype="string")
    coverage = pd.read_csv(
        folder / COVERAGE_FILE, dtype={"source": "string", "iso3": "string", "declared": "bool"}
    )
    for col in ("first_date", "last_date"):
        coverage[col] = pd.to_datetime(coverage[col], format="%Y-%m-%d").astype("datetime64[ns]")
    validate(quarantine, QUARANTINE, str(folder / QUARANTINE_FILE))
    validate(coverage, COVERAGE, str(folder / COVERAGE_FILE))
    return StoreTables(events, quarantine, coverage)


def write_store(
    folder: Path, events: pd.DataFrame, quarantine: pd.DataFrame, coverage: pd.DataFrame, manifest: dict
) -> None:
    """Write the three tables and the manifest: temporaries first, renames after, the manifest last."""
    with ExitStack() as stack:
        # ExitStack renames in reverse order of entry: the manifest, entered first, is renamed last
        tmp_manifest = stack.enter_context(atomic_path(folder / MANIFEST_FILE))
        tmp = {name: stack.enter_context(atomic_path(folder / name)) for name in DATA_FILES}
        events.to_parquet(tmp[EVENTS_FILE], index=False)
        quarantine.to_csv(tmp[QUARANTINE_FILE], index=False)
        coverage.to_csv(tmp[COVERAGE_FILE], index=False, date_format="%Y-%m-%d")
        manifest["outputs"] = {name: fingerprint(tmp[name]) for name in DATA_FILES}
        manifest["outputs"][EVENTS_FILE]["rows"] = len(events)
        manifest["outputs"][QUARANTINE_FILE]["rows"] = len(quarantine)
        tmp_manifest.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def fingerprint(path: Path) -> dict[str, Any]:
    return {"sha256": file_sha256(path), "bytes": path.stat().st_size}


def empty_table(contract: Any, extra: dict[str, str] | None = None) -> pd.DataFrame:
    kinds = {"string": "string", "int": "Int64", "float": "float64", "bool": "bool"}
    kinds["datetime"] = "datetime64[ns]"
    dtypes = {c: kinds[k] for c, k in contract.columns.items()} | (extra or {})
    if contract is QUARANTINE:
        dtypes["source_row"] = "int64"
    return pd.DataFrame({c: pd.Series(dtype=d) for c, d in dtypes.items()})


__all__ = [
    "DATA_FILES",
    "MANIFEST_FILE",
    "EventStoreError",
    "StoreTables",
    "empty_table",
    "file_sha256",
    "load_store",
    "read_manifest",
    "write_store",
]
