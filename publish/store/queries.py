"""Read queries the API runs per request, as plain rows (no DataFrames): pages of scores and their counts.

``ScoreStore.scores`` returns a validated DataFrame, which is the right shape for the weekly job but
costs ~4 ms per call; a page of 100 rows for an HTTP response needs neither pandas nor the contract
check. These queries use the same order and the same index (``ix_scores_rank``) as the store, so a page
is read straight off the index. A publication never changes once recorded (the store is append-only),
so row counts per publication and filter are cached for the life of the process.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select

from publish.store import schema as t
from publish.store.store import SCORE_COLUMNS

# the store's score columns less the publication keys (publication_id, week, revision): one list, not two
SCORE_FIELDS = tuple(c for c in SCORE_COLUMNS if c not in ("publication_id", "week", "revision"))


@dataclass(frozen=True)
class ScoreFilter:
    """Filters of a scores query; each is None (no filter) or a tuple of accepted values."""

    iso3: tuple[str, ...] | None = None
    region_id: tuple[str, ...] | None = None
    horizon: tuple[int, ...] | None = None
    target: tuple[str, ...] | None = None

    @classmethod
    def of(
        cls,
        iso3: Sequence[str] | None = None,
        region_id: Sequence[str] | None = None,
        horizon: Sequence[int] | None = None,
        target: Sequence[str] | None = None,
    ) -> ScoreFilter:
        """Return a filter; empty sequences mean no filter."""

        def norm(values: Sequence[Any] | None) -> tuple[Any, ...] | None:
            return tuple(sorted(set(values))) if values else None

        return cls(norm(iso3), norm(region_id), norm([int(h) for h in horizon or ()]), norm(target))

    def clauses(self) -> list[Any]:
        """Return the WHERE clauses of this filter."""
        out = []
        for name in ("iso3", "region_id", "horizon", "target"):
            values = getattr(self, name)
            if values is None:
                continue
            col = t.scores.c[name]
            out.append(col == values[0] if len(values) == 1 else col.in_(values))
        return out


class ScoreQueries:
    """Pages and counts of one publication's scores, straight from SQL."""

    def __init__(self, engine: Engine, count_cache_size: int = 4096) -> None:
        self.engine = engine
        self._counts: OrderedDict[tuple[int, ScoreFilter], int] = OrderedDict()
        self._size = count_cache_size
        self._lock = threading.Lock()
        s = t.scores.c
        self._columns = [s[c] for c in SCORE_FIELDS]
        self._order = (s.target, s.horizon, s.rank, s.region_id)

    def page(self, publication_id: int, where: ScoreFilter, limit: int, offset: int) -> list[dict[str, Any]]:
        """Return up to ``limit`` rows from ``offset``, ordered by target, horizon, rank, region_id."""
        stmt = (
            select(*self._columns)
            .where(t.scores.c.publication_id == int(publication_id), *where.clauses())
            .order_by(*self._order)
            .limit(int(limit))
            .offset(int(offset))
        )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [dict(zip(SCORE_FIELDS, r, strict=True)) for r in rows]

    def count(self, publication_id: int, where: ScoreFilter) -> int:
        """Return how many rows match (cached: a publication's rows never change)."""
        key = (int(publication_id), where)
        with self._lock:
            if key in self._counts:
                self._counts.move_to_end(key)
                return self._counts[key]
        stmt = select(func.count()).where(t.scores.c.publication_id == key[0], *where.clauses())
        with self.engine.connect() as conn:
            n = int(conn.execute(stmt).scalar_one())
        with self._lock:
            self._counts[key] = n
            while len(self._counts) > self._size:
                self._counts.popitem(last=False)
        return n

    def region_rows(self, publication_id: int, region_id: str) -> list[dict[str, Any]]:
        """Return one region's rows in one publication (primary-key lookup), by target and horizon."""
        s = t.scores.c
        stmt = (
            select(*self._columns)
            .where(s.publication_id == int(publication_id), s.region_id == region_id)
            .order_by(s.target, s.horizon)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [dict(zip(SCORE_FIELDS, r, strict=True)) for r in rows]

    def publications_of_region(self, region_id: str, publication_ids: Sequence[int]) -> set[int]:
        """Return which of ``publication_ids`` scored ``region_id``."""
        s = t.scores.c
        stmt = (
            select(s.publication_id)
            .where(s.region_id == region_id, s.publication_id.in_([int(i) for i in publication_ids]))
            .distinct()
        )
        with self.engine.connect() as conn:
            return {int(r[0]) for r in conn.execute(stmt)}

    def history_rows(
        self, region_id: str, publication_ids: Sequence[int], where: ScoreFilter
    ) -> list[dict[str, Any]]:
        """Return a region's rows in ``publication_ids`` (each week's latest revision), unordered."""
        s = t.scores.c
        stmt = select(s.publication_id, *self._columns).where(
            s.region_id == region_id,
            s.publication_id.in_([int(i) for i in publication_ids]),
            *where.clauses(),
        )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [dict(zip(("publication_id", *SCORE_FIELDS), r, strict=True)) for r in rows]


def count_alerts(engine: Engine, since: datetime | None) -> int:
    """Return how many alert messages were sent strictly after ``since`` (naive UTC), or in all."""
    stmt = select(func.count()).select_from(t.alerts)
    if since is not None:
        stmt = stmt.where(t.alerts.c.created_at > since)
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())
