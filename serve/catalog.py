"""What has been published, held in memory: every publication by week, reloaded only when it changes.

Each lookup runs one tiny query (the count, largest id and number of withdrawn rows of ``publications``)
and reloads the publication list only when that changed (a new revision, a new week, a withdrawal). On
SQLite even that query is skipped while ``PRAGMA data_version`` says no other connection has committed.
So "latest revision of week W" costs no join over the publications per request, and the answer is never
stale: a revision published a moment ago by the weekly job, or withdrawn through another API worker, is
seen by every worker at its next request (on PostgreSQL too: the query reads what any process committed).
A publication handed out is first checked against its digest (once per process and publication).
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import case, func, select

from civrisk.weeks import week_label
from publish.store import schema as t
from publish.store.errors import StoreUnusable
from publish.store.queries import PublicationChecks
from publish.store.store import Publication, PublicationNotFound, ScoreStore


@dataclass(frozen=True)
class Snapshot:
    """Publications at one moment: all revisions by week and the latest published one of each week."""

    version: tuple[Any, ...]
    by_week: dict[date, tuple[Publication, ...]]
    latest: dict[date, Publication]
    by_id: dict[int, Publication]
    checks: PublicationChecks | None = field(default=None, compare=False)
    """Digest checks run on each publication this snapshot hands out (once per process and publication)."""

    def served(self, pub: Publication) -> Publication:
        """Return ``pub`` after checking its rows against its digest; PublicationDamaged if they differ."""
        if self.checks is not None:
            self.checks.verify(pub)
        return pub

    def publication(self, week: date, revision: int | None = None) -> Publication:
        """Return the latest published revision of ``week`` or revision ``revision``, its digest checked.

        Raises PublicationNotFound with a message that names the week and points to ``/v1/weeks``.
        """
        if revision is None:
            pub = self.latest.get(week)
            if pub is None:
                why = "has only withdrawn revisions" if week in self.by_week else "was never published"
                raise PublicationNotFound(
                    f"week {week_label(week)} {why}; GET /v1/weeks lists the published weeks and revisions"
                )
            return self.served(pub)
        for pub in self.by_week.get(week, ()):
            if pub.revision == revision:
                return self.served(pub)
        revs = [p.revision for p in self.by_week.get(week, ())]
        known = f"its revisions are {revs}" if revs else "it was never published"
        raise PublicationNotFound(
            f"week {week_label(week)} has no revision {revision} ({known}); GET /v1/weeks lists the "
            "published weeks and revisions"
        )

    def latest_week(self) -> Publication:
        """Return the latest publication of the most recent published week; PublicationNotFound if none."""
        pub = self.latest[max(self.latest)] if self.latest else None
        if pub is None:
            raise PublicationNotFound("nothing has been published yet; run `civrisk publish` first")
        return self.served(pub)


class Catalog:
    """Publication lookups for the API, backed by ``store`` and a change-checked snapshot."""

    def __init__(self, store: ScoreStore, checks: PublicationChecks | None = None) -> None:
        self.store = store
        self.checks = checks
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()
        p = t.publications.c
        self._version_stmt = select(
            func.count(), func.max(p.id), func.sum(case((p.status == "withdrawn", 1), else_=0))
        )
        self._watch = (
            _SqliteChangeWatch.open(store.engine.url.database)
            if store.engine.url.get_backend_name() == "sqlite"
            else None
        )
        self._seen_change: int | None = None

    def close(self) -> None:
        """Close the change watch's connection."""
        if self._watch is not None:
            self._watch.close()

    def snapshot(self) -> Snapshot:
        """Return the current snapshot, reloading it if the publications table changed."""
        try:
            change = self._watch.version() if self._watch is not None else None
        except sqlite3.DatabaseError as exc:
            raise StoreUnusable(
                f"the scores store {self.store.engine.url.database} cannot be read ({exc}): it is damaged; "
                "restore it from its backup (docs/DEPLOY.md, 'Restore')"
            ) from exc
        snap = self._snapshot
        if snap is not None and change is not None and change == self._seen_change:
            return snap  # nothing was committed to the database since the last check
        with self.store.engine.connect() as conn:
            version = tuple(conn.execute(self._version_stmt).one())
        self._seen_change = change
        if snap is not None and snap.version == version:
            return snap
        with self._lock:
            pubs = self.store.publications()
            by_week: dict[date, list[Publication]] = {}
            for pub in pubs:
                by_week.setdefault(pub.week, []).append(pub)
            latest = {}
            for week, revs in by_week.items():
                published = [p for p in revs if p.status == "published"]
                if published:
                    latest[week] = max(published, key=lambda p: p.revision)
            snap = Snapshot(
                version=version,
                by_week={w: tuple(v) for w, v in sorted(by_week.items())},
                latest=dict(sorted(latest.items())),
                by_id={p.id: p for p in pubs},
                checks=self.checks,
            )
            self._snapshot = snap
        return snap


class _SqliteChangeWatch:
    """``PRAGMA data_version`` on a private read-only connection: it changes whenever any other connection
    (in any process) commits to the database, so an unchanged value proves nothing was published since."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    @classmethod
    def open(cls, database: str | None) -> _SqliteChangeWatch | None:
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        uri = Path(database).resolve().as_uri() + "?mode=ro"
        return cls(sqlite3.connect(uri, uri=True, check_same_thread=False))

    def version(self) -> int:
        with self._lock:
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
