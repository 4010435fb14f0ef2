"""The one query path to published scores: filters, ordered selects, counts, and the digest check.

:class:`publish.store.store.ScoreStore` (DataFrames for the weekly job) and the API (:class:`ScoreQueries`:
plain rows per request, no pandas on the hot path) build their SQL here, with one filter type
(:class:`ScoreFilter`) and the order of ``ix_scores_rank`` (target, horizon, rank, region), so a page is
read straight off the index. A publication never changes once recorded (the store is append-only), so
row counts per publication and filter, and each publication's digest check, are cached for the life of
the process.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, Select, func, select

from publish.store import schema as t
from publish.store.errors import PublicationDamaged
from publish.store.score_rows import digest_columns

SCORE_FIELDS = t.STORED_COLUMNS
"""Fields of one score row as the API returns it (the publication's keys are not repeated per row)."""
ROW_COLUMNS = ("publication_id", *t.STORED_COLUMNS)
_ORDER = ("target", "horizon", "rank", "region_id")

FilterValue = str | int | np.integer | Sequence[str] | Sequence[int] | None


def _values(value: FilterValue) -> tuple[Any, ...] | None:
    if value is None:
        return None
    values = [value] if isinstance(value, str | int | np.integer) else list(value)
    if not values:
        return None
    # numpy integers would reach the driver as blobs and silently match nothing
    return tuple(sorted({int(v) if isinstance(v, np.integer) else v for v in values}))


@dataclass(frozen=True)
class ScoreFilter:
    """Filters of a scores query; each is None (no filter) or a sorted tuple of accepted values."""

    iso3: tuple[str, ...] | None = None
    region_id: tuple[str, ...] | None = None
    horizon: tuple[int, ...] | None = None
    target: tuple[str, ...] | None = None

    @classmethod
    def of(
        cls,
        iso3: FilterValue = None,
        region_id: FilterValue = None,
        horizon: FilterValue = None,
        target: FilterValue = None,
    ) -> ScoreFilter:
        """Return a filter from single values or sequences; None or an empty sequence means no filter."""
        hs = _values(horizon)
        return cls(
            _values(iso3),
            _values(region_id),
            None if hs is None else tuple(int(h) for h in hs),
            _values(target),
        )

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


NO_FILTER = ScoreFilter()


def page_select(
    publication_id: int,
    where: ScoreFilter = NO_FILTER,
    limit: int | None = None,
    offset: int = 0,
    columns: Sequence[str] = SCORE_FIELDS,
) -> Select[Any]:
    """Return the select of one publication's rows in published order (target, horizon, rank, region)."""
    s = t.scores.c
    stmt = (
        select(*(s[c] for c in columns))
        .where(s.publication_id == int(publication_id), *where.clauses())
        .order_by(*(s[c] for c in _ORDER))
    )
    if limit is not None:
        stmt = stmt.limit(int(limit))
    if offset:
        stmt = stmt.offset(int(offset))
    return stmt


def count_select(publication_id: int, where: ScoreFilter = NO_FILTER) -> Select[Any]:
    """Return the select counting one publication's rows that match ``where``."""
    return select(func.count()).where(t.scores.c.publication_id == int(publication_id), *where.clauses())


def check_publication(conn: Connection, pub: Any) -> None:
    """Raise PublicationDamaged unless the stored rows of ``pub`` match its ``n_scores`` and digest."""
    rows = list(conn.execute(page_select(pub.id, columns=t.STORED_COLUMNS)).all())
    label = f"{pub.week_label} r{pub.revision} (id {pub.id})"
    hint = "run `civrisk store check` and restore the store from its backup (docs/DEPLOY.md, 'Restore')"
    if len(rows) != pub.n_scores:
        raise PublicationDamaged(
            f"publication {label} holds {len(rows)} score rows but was recorded with {pub.n_scores}: "
            f"the store was changed behind civrisk's back; {hint}"
        )
    key = [t.STORED_COLUMNS.index(c) for c in t.SCORE_KEY]
    rows.sort(key=lambda r: tuple(r[i] for i in key))
    digest = digest_columns({c: [r[i] for r in rows] for i, c in enumerate(t.STORED_COLUMNS)})
    if digest != pub.scores_digest:
        raise PublicationDamaged(
            f"publication {label}: its scores no longer match the digest recorded with them "
            f"({digest[:12]} != {pub.scores_digest[:12]}): the store was changed behind civrisk's back; "
            f"{hint}"
        )


class PublicationChecks:
    """Each publication's digest check, run once per process (a recorded publication never changes)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._checked: dict[int, PublicationDamaged | None] = {}

    def verify(self, pub: Any) -> None:
        """Check ``pub`` (a Publication) against its digest once per process; raise PublicationDamaged."""
        if pub.id not in self._checked:
            try:
                with self.engine.connect() as conn:
                    check_publication(conn, pub)
                result = None
            except PublicationDamaged as exc:
                result = exc
            with self._lock:
                self._checked[pub.id] = result
        failure = self._checked[pub.id]
        if failure is not None:
            raise PublicationDamaged(str(failure))


class ScoreQueries:
    """Pages and counts of one publication's scores, straight from SQL."""

    def __init__(self, engine: Engine, count_cache_size: int = 4096) -> None:
        self.engine = engine
        self._counts: OrderedDict[tuple[int, ScoreFilter], int] = OrderedDict()
        self._size = count_cache_size
        self._lock = threading.Lock()

    def page(self, publication_id: int, where: ScoreFilter, limit: int, offset: int) -> list[dict[str, Any]]:
        """Return up to ``limit`` rows from ``offset``, ordered by target, horizon, rank, region_id."""
        with self.engine.connect() as conn:
            rows = conn.execute(page_select(publication_id, where, limit, offset)).all()
        return [dict(zip(SCORE_FIELDS, r, strict=True)) for r in rows]

    def count(self, publication_id: int, where: ScoreFilter) -> int:
        """Return how many rows match (cached: a publication's rows never change)."""
        key = (int(publication_id), where)
        with self._lock:
            if key in self._counts:
                self._counts.move_to_end(key)
                return self._counts[key]
        with self.engine.connect() as conn:
            n = int(conn.execute(count_select(*key)).scalar_one())
        with self._lock:
            self._counts[key] = n
            while len(self._counts) > self._size:
                self._counts.popitem(last=False)
        return n

    def region_rows(self, publication_id: int, region_id: str) -> list[dict[str, Any]]:
        """Return one region's rows in one publication (primary-key lookup), by target and horizon."""
        with self.engine.connect() as conn:
            rows = conn.execute(page_select(publication_id, ScoreFilter.of(region_id=region_id))).all()
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
        with self.engine.connect() as conn:
            rows = conn.execute(history_select(region_id, publication_ids, where)).all()
        return [dict(zip(ROW_COLUMNS, r, strict=True)) for r in rows]


def history_select(
    region_id: str, publication_ids: Sequence[int] | Select[Any], where: ScoreFilter
) -> Select[Any]:
    """Return the select of one region's rows (:data:`ROW_COLUMNS`) in the given publications."""
    s = t.scores.c
    ids = publication_ids if isinstance(publication_ids, Select) else [int(i) for i in publication_ids]
    return select(*(s[c] for c in ROW_COLUMNS)).where(
        s.region_id == region_id, s.publication_id.in_(ids), *where.clauses()
    )


def count_alerts(engine: Engine, since: datetime | None) -> int:
    """Return how many alert messages were sent strictly after ``since`` (naive UTC), or in all."""
    stmt = select(func.count()).select_from(t.alerts)
    if since is not None:
        stmt = stmt.where(t.alerts.c.created_at > since)
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())
