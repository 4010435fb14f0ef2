"""What one ``ingest.event_store.add_files`` call changed, per file and in total, as report lines."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class FileDelta:
    """What adding one file did: ingested with its row counts, or skipped as already ingested."""

    name: str
    sha256: str
    status: str  # "ingested" | "already ingested"
    source: str = ""
    source_version: str = ""
    rows_read: int = 0
    kept: int = 0
    quarantined: int = 0
    added: int = 0  # events new to the store
    superseded: int = 0  # stored rows this file replaced with a newer release
    stale: int = 0  # rows of this file ignored: the store holds a newer release of the event
    first_ingested: str = ""  # already ingested: when, and under which name

    def line(self) -> str:
        """Return one line saying what happened to the file."""
        if self.status != "ingested":
            return f"{self.name}: already ingested ({self.first_ingested}), sha256 {self.sha256[:12]}"
        return (
            f"{self.name}: {self.source} {self.source_version}, {self.rows_read:,} rows read, "
            f"{self.kept:,} kept, {self.quarantined:,} quarantined; {self.added:,} new events, "
            f"{self.superseded:,} superseded a stored row, "
            f"{self.stale:,} ignored (stored row is a newer release)"
        )


@dataclass(frozen=True)
class IngestDelta:
    """What one ``add_files`` call changed in the store."""

    store: Path
    files: tuple[FileDelta, ...]
    events_before: int
    events_after: int
    quarantine_after: int = 0
    coverage_rows: int = 0
    written: bool = False
    adopted: dict[str, Any] | None = None
    """Set when the folder held tables but no manifest (civrisk ingest, civrisk demo): they are the start."""
    results: tuple[Any, ...] = ()
    """The ``ingest.pipeline.IngestResult`` of each new file (for ``civrisk ingest``'s summary)."""
    coverage: Any = None
    """The store's coverage table after the call (a DataFrame), when known."""
    region_changes: Any = None
    """Name-matched regions of the store that start or stop appearing (``ingest.admin1_names``)."""

    @property
    def ingested(self) -> tuple[FileDelta, ...]:
        """Return the files that were new to the store."""
        return tuple(f for f in self.files if f.status == "ingested")

    @property
    def skipped(self) -> tuple[FileDelta, ...]:
        """Return the files that were already ingested."""
        return tuple(f for f in self.files if f.status != "ingested")

    def total(self, what: str) -> int:
        """Return the sum of one count (``added``, ``superseded``, ``stale``, ``quarantined``) over files."""
        return int(sum(getattr(f, what) for f in self.files))

    def lines(self) -> list[str]:
        """Return the delta as plain-text lines: one per new file, one for the skipped ones, totals."""
        out = [
            f"events store {self.store}: {len(self.ingested)} new files, {len(self.skipped)} already ingested"
        ]
        if self.adopted is not None:
            names = self.adopted["source_files"]
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            out.append(
                f"  adopted the {self.adopted['events']:,} events already in the folder (written without a "
                f"manifest by civrisk ingest or civrisk demo; from {shown or 'no files'})"
                + ("" if self.written else ": recorded with the next new file")
            )
        out += [f"  {f.line()}" for f in self.ingested]
        if self.skipped:
            names = [f.name for f in self.skipped]
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            out.append(f"  skipped (same SHA-256 already ingested): {shown}")
        if self.written:
            out.append(
                f"  events {self.events_before:,} -> {self.events_after:,} (+{self.total('added'):,} new, "
                f"{self.total('superseded'):,} superseded, {self.total('stale'):,} ignored as older); "
                f"quarantine {self.quarantine_after:,} rows; coverage {self.coverage_rows:,} source-countries"
            )
        else:
            out.append(f"  nothing new: store unchanged ({self.events_after:,} events)")
        return out


__all__ = ["FileDelta", "IngestDelta"]
