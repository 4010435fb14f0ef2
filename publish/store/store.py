"""The scores store: append-only history of weekly publications, their scores, alerts and verifications.

Embedded default: SQLite (WAL, foreign keys ON) at ``Settings.resolved_db_url()``; PostgreSQL (psycopg 3)
in production via ``CIVRISK_DB_URL`` (docs/DEPLOY.md). Opening a store checks it first
(:mod:`publish.store.migrate`: refused when empty beside published folders, foreign or damaged; migrated)
and compares its guard triggers with :mod:`publish.store.guards` (writes refused while they differ).
Revision rules (docs/PUBLISHING.md):

- A publication is (week, revision). :meth:`ScoreStore.record_publication` writes it and all its scores
  in ONE transaction: a failure midway leaves the store as it was.
- Recording the same week, model name/version, data fingerprint and exactly the same scores as the
  week's latest published revision returns that publication (``is_new`` False) instead of a duplicate.
- Anything else for a week that already has a publication becomes revision ``max + 1``; older
  revisions stay and can be read by number. "Latest" means the highest revision still ``published``.
- Scores, alerts and verifications are never updated or deleted (no code path does; triggers abort it
  on both backends). A publication is inserted ``open``, sealed ``published`` once its rows are in (the
  database checks their count) and may then only move to ``withdrawn``; a sealed publication takes no
  further score rows.

Times are UTC; the database holds them naive and this module returns them timezone-aware.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import Connection, Select, and_, func, select
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from civrisk.contracts import SCORES, validate
from civrisk.weeks import WeekLike, parse_week, utc_naive, utc_now, week_label
from publish.store import migrate
from publish.store import schema as t
from publish.store.alert_log import AlertLogMixin
from publish.store.errors import PublicationDamaged, PublicationNotFound, StoreError, StoreUnusable
from publish.store.faults import fault_point
from publish.store.guards import guard_problems
from publish.store.queries import (
    ROW_COLUMNS,
    FilterValue,
    ScoreFilter,
    check_publication,
    count_select,
    history_select,
    page_select,
)
from publish.store.score_rows import prepare_scores, scores_digest, to_records

if TYPE_CHECKING:
    from civrisk.settings import Settings

__all__ = [
    "SCORE_COLUMNS",
    "PublicationDamaged",
    "PublicationNotFound",
    "Publication",
    "ScoreStore",
    "StoreError",
    "StoreUnusable",
]


@dataclass(frozen=True)
class Publication:
    """One published revision of one week's scores."""

    id: int
    week: date  # Monday of the ISO week
    week_label: str  # "2020-W23"
    revision: int
    model_name: str
    model_version: str
    data_fingerprint: str
    scores_digest: str
    n_scores: int
    as_of: datetime  # UTC: the data cut-off the scores were computed from
    created_at: datetime  # UTC
    status: str  # "published" | "withdrawn"
    is_new: bool = field(default=False, compare=False)
    """True when the call that returned this publication inserted it (False: it already existed)."""


SCORE_COLUMNS = t.SCORE_COLUMNS
Filter = FilterValue


class ScoreStore(AlertLogMixin):
    """The publication history in a SQL database (see the module docstring for the rules)."""

    def __init__(
        self,
        url: str,
        *,
        publications_dir: Path | None = None,
        migrate_schema: bool | None = None,
        insert_batch_rows: int = 20_000,
    ) -> None:
        """Open the store at ``url``; StoreUnusable (nothing written) if it may not be used as it is.

        ``publications_dir``: the folder of published revisions, so that an empty store beside them is
        refused. ``migrate_schema``: migrate to the newest schema when behind; None = on SQLite only
        (PostgreSQL stores are migrated by ``civrisk store migrate`` as the owner role).
        """
        self.url = url
        self.insert_batch_rows = insert_batch_rows
        self.publications_dir = publications_dir
        self.engine = t.make_engine(self.url)
        self._local = threading.local()  # the connection of an open transaction(), per thread
        try:
            self._open(migrate_schema)
        except BaseException:
            self.engine.dispose()
            raise

    @classmethod
    def from_settings(cls, settings: Settings, **kw: Any) -> ScoreStore:
        """Open the store of ``settings`` (``CIVRISK_DB_URL`` or SQLite under the home) beside its folders."""
        return cls(settings.resolved_db_url(), publications_dir=settings.resolved_publications_dir(), **kw)

    def _open(self, migrate_schema: bool | None) -> None:
        try:
            self._check_and_migrate(migrate_schema)
        except (OperationalError, InterfaceError) as exc:  # SQLite's own failures are StoreUnusable already
            first = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else ""
            raise StoreUnusable(
                f"the scores store {migrate.describe(self.engine)} does not answer "
                f"({exc.orig.__class__.__name__}: {first}): check that the database server runs and that "
                "CIVRISK_DB_URL points at it"
            ) from exc

    def _check_and_migrate(self, migrate_schema: bool | None) -> None:
        # a missing or zero-byte SQLite file is not even opened before it is allowed: opening writes to it
        has_file = migrate.check_sqlite_file(self.engine)
        state = migrate.store_state(self.engine) if has_file else migrate.StoreState(None, False, 0)
        migrate.refuse_empty_beside_folders(self.engine, state, self.publications_dir, has_file)
        if state.version != migrate.head_revision():
            auto = self.engine.dialect.name == "sqlite" if migrate_schema is None else migrate_schema
            if not auto:
                found = "no civrisk schema" if state.version is None else f"schema revision {state.version}"
                raise StoreUnusable(
                    f"the scores store {migrate.describe(self.engine)} has {found}; this civrisk needs "
                    f"revision {migrate.head_revision()}: run `civrisk store migrate` as the role that owns "
                    "the tables (docs/DEPLOY.md, 'Migrations')"
                )
            migrate.upgrade(self.engine)
        with self.engine.connect() as conn:
            self.guard_problems = guard_problems(conn)

    def refuse_if_unguarded(self) -> None:
        """Raise StoreUnusable if the database's guard triggers differ from civrisk's (writes refused)."""
        if self.guard_problems:
            raise StoreUnusable(
                f"the scores store {migrate.describe(self.engine)} refuses writes: its append-only guards "
                f"were changed ({'; '.join(self.guard_problems[:4])}); published history may have been "
                "rewritten. Run `civrisk store check`, then restore the store from its backup or re-create "
                "the guards with `civrisk store migrate --repair-guards` (docs/DEPLOY.md)"
            )

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __enter__(self) -> ScoreStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run every read and write of this store inside the block in ONE transaction (BEGIN IMMEDIATE).

        The block commits at its end or, if it raises, rolls back: a publication and its alerts are
        recorded together or not at all. Transactions do not nest; the store's write lock is held for the
        whole block, so keep it short.
        """
        if getattr(self._local, "conn", None) is not None:
            raise StoreError("a transaction is already open on this store; transactions do not nest")
        self.refuse_if_unguarded()
        with self.engine.connect() as conn:
            conn.execution_options(civrisk_write=True)
            with conn.begin():
                self._local.conn = conn
                try:
                    yield
                finally:
                    self._local.conn = None

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """Yield a connection inside one write transaction (BEGIN IMMEDIATE on SQLite)."""
        self.refuse_if_unguarded()
        outer = getattr(self._local, "conn", None)
        if outer is not None:  # inside transaction(): its connection, committed at the block's end
            yield outer
            return
        with self.engine.connect() as conn:
            conn.execution_options(civrisk_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        outer = getattr(self._local, "conn", None)
        if outer is not None:  # inside transaction(): reads see its uncommitted rows
            yield outer
            return
        with self.engine.connect() as conn:
            yield conn

    # -- publications -------------------------------------------------------------------------------

    def record_publication(
        self,
        week: WeekLike,
        scores: pd.DataFrame,
        model_name: str,
        model_version: str,
        data_fingerprint: str,
        as_of: date | datetime,
    ) -> Publication:
        """Record one week's scores as a publication in one transaction and return it.

        Returns the week's latest published revision unchanged (``is_new`` False) when model name,
        model version, data fingerprint and every score are identical; otherwise inserts revision
        ``max + 1``. Raises ScoresInputError (a ValueError) before writing anything if the scores are
        not publishable (see :func:`publish.store.score_rows.prepare_scores`).
        """
        monday = parse_week(week)
        meta = {
            "model_name": model_name,
            "model_version": model_version,
            "data_fingerprint": data_fingerprint,
        }
        empty = [k for k, v in meta.items() if not isinstance(v, str) or not v.strip()]
        if empty:
            raise ValueError(f"record_publication: {empty} must be non-empty strings; got {meta}")
        prepared = prepare_scores(scores, monday)
        digest = scores_digest(prepared)
        as_of_utc = utc_naive(as_of, what="as_of")
        try:
            with self._write() as conn:
                latest = conn.execute(self._latest_select(monday)).one_or_none()
                if latest is not None and all(
                    (getattr(latest, k) == v) for k, v in {**meta, "scores_digest": digest}.items()
                ):
                    return _publication(latest)
                top = conn.execute(
                    select(func.max(t.publications.c.revision)).where(t.publications.c.week == monday)
                ).scalar()
                values = {
                    **meta,
                    "week": monday,
                    "week_label": week_label(monday),
                    "revision": (top or 0) + 1,
                    "scores_digest": digest,
                    "n_scores": len(prepared),
                    "as_of": as_of_utc,
                    "created_at": utc_now(),
                    "status": "open",  # the database takes score rows only while it is open
                }
                insert = t.publications.insert().values(**values).returning(t.publications.c.id)
                pub_id = int(conn.execute(insert).scalar_one())
                records = to_records(prepared, pub_id)
                for start in range(0, len(records), self.insert_batch_rows):
                    conn.execute(t.scores.insert(), records[start : start + self.insert_batch_rows])
                fault_point("scores-inserted")
                # seal it: the database checks it holds n_scores rows; from now on it takes none
                pubs = t.publications.c
                conn.execute(t.publications.update().where(pubs.id == pub_id).values(status="published"))
                row = conn.execute(select(t.publications).where(pubs.id == pub_id)).one()
        except IntegrityError as exc:
            raise StoreError(
                f"could not record week {week_label(monday)}: the database refused it ({exc.orig}); if "
                "another process published the same week at the same time, retry"
            ) from exc
        return _publication(row, is_new=True)

    def withdraw_publication(self, publication_id: int) -> Publication:
        """Mark a publication withdrawn (kept and readable by revision, but no longer "latest")."""
        publication_id = int(publication_id)
        with self._write() as conn:
            current = self._publication_by_id(conn, publication_id)
            if current.status == "withdrawn":
                return current
            conn.execute(
                t.publications.update()
                .where(t.publications.c.id == publication_id)
                .values(status="withdrawn")
            )
            return self._publication_by_id(conn, publication_id)

    def publication(self, week: WeekLike, revision: int | None = None) -> Publication:
        """Return the publication of ``week``: its latest published revision, or revision ``revision``."""
        monday = parse_week(week)
        if revision is None:
            stmt = self._latest_select(monday)
        else:
            stmt = select(t.publications).where(
                t.publications.c.week == monday, t.publications.c.revision == revision
            )
        with self._read() as conn:
            row = conn.execute(stmt).one_or_none()
        if row is None:
            which = "published revision" if revision is None else f"revision {revision}"
            raise PublicationNotFound(f"week {week_label(monday)} has no {which} in the store")
        return _publication(row)

    def publication_by_id(self, publication_id: int) -> Publication:
        """Return the publication with id ``publication_id``."""
        with self._read() as conn:
            return self._publication_by_id(conn, publication_id)

    def publications(self, week: WeekLike | None = None) -> list[Publication]:
        """Return every revision (of ``week``, or of all weeks), ordered by week then revision."""
        stmt = select(t.publications).order_by(t.publications.c.week, t.publications.c.revision)
        if week is not None:
            stmt = stmt.where(t.publications.c.week == parse_week(week))
        with self._read() as conn:
            return [_publication(r) for r in conn.execute(stmt)]

    def latest_publications(self) -> list[Publication]:
        """Return the latest published revision of every week, ordered by week."""
        stmt = (
            select(t.publications)
            .where(t.publications.c.id.in_(_latest_ids()))
            .order_by(t.publications.c.week)
        )
        with self._read() as conn:
            return [_publication(r) for r in conn.execute(stmt)]

    def previous_publication(self, week: WeekLike) -> Publication | None:
        """Return the latest published revision of the nearest earlier week (None if there is none)."""
        stmt = (
            select(t.publications)
            .where(t.publications.c.id.in_(_latest_ids()), t.publications.c.week < parse_week(week))
            .order_by(t.publications.c.week.desc())
            .limit(1)
        )
        with self._read() as conn:
            row = conn.execute(stmt).one_or_none()
        return None if row is None else _publication(row)

    # -- scores -------------------------------------------------------------------------------------

    def scores(
        self,
        week: WeekLike,
        revision: int | None = None,
        *,
        iso3: Filter = None,
        region_id: Filter = None,
        horizon: int | Sequence[int] | None = None,
        target: Filter = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> pd.DataFrame:
        """Return one publication's scores (:data:`SCORE_COLUMNS`), riskiest first within target/horizon.

        ``revision=None`` reads the week's latest published revision; filters take one value or a list;
        ``limit``/``offset`` page through rows ordered by target, horizon, rank, region_id.
        Raises PublicationNotFound when the week (or revision) was never published.
        """
        pub = self.publication(week, revision)
        where = ScoreFilter.of(iso3=iso3, region_id=region_id, horizon=horizon, target=target)
        stmt = page_select(pub.id, where, limit, offset, columns=ROW_COLUMNS)
        with self._read() as conn:
            return _scores_frame(conn.execute(stmt).all(), {pub.id: pub})

    def count_scores(
        self,
        week: WeekLike,
        revision: int | None = None,
        *,
        iso3: Filter = None,
        region_id: Filter = None,
        horizon: int | Sequence[int] | None = None,
        target: Filter = None,
    ) -> int:
        """Return how many rows :meth:`scores` would return without ``limit``/``offset``."""
        pub = self.publication(week, revision)
        where = ScoreFilter.of(iso3=iso3, region_id=region_id, horizon=horizon, target=target)
        with self._read() as conn:
            return int(conn.execute(count_select(pub.id, where)).scalar_one())

    def region_history(
        self, region_id: str, *, horizon: int | Sequence[int] | None = None, target: Filter = None
    ) -> pd.DataFrame:
        """Return a region's scores in every week's latest published revision, ordered by week."""
        stmt = history_select(region_id, _latest_ids(), ScoreFilter.of(horizon=horizon, target=target))
        with self._read() as conn:
            rows = conn.execute(stmt).all()
        pubs = {p.id: p for p in self.latest_publications()}
        df = _scores_frame(rows, pubs)
        return df.sort_values(["week", "target", "horizon"], kind="mergesort").reset_index(drop=True)

    # -- verifications -------------------------------------------------------------------------------

    def record_verification(
        self,
        publication_id: int,
        metric: str,
        value: float,
        n: int,
        *,
        target: str | None = None,
        horizon: int | None = None,
    ) -> int:
        """Record how a publication scored (e.g. Brier of civ_any h1 over ``n`` regions); return its id."""
        publication_id = int(publication_id)
        with self._write() as conn:
            self._publication_by_id(conn, publication_id)
            row = {
                "publication_id": publication_id,
                "metric": metric,
                "target": target,
                "horizon": horizon,
                "value": float(value),
                "n": int(n),
                "created_at": utc_now(),
            }
            insert = t.verifications.insert().values(**row).returning(t.verifications.c.id)
            return int(conn.execute(insert).scalar_one())

    def verifications(self, publication_id: int | None = None) -> pd.DataFrame:
        """Return recorded verifications (of one publication or all), oldest first."""
        v = t.verifications.c
        stmt = select(*t.verifications.c).order_by(v.id)
        if publication_id is not None:
            stmt = stmt.where(v.publication_id == int(publication_id))
        with self._read() as conn:
            rows = conn.execute(stmt).all()
        df = pd.DataFrame([r._asdict() for r in rows], columns=[c.name for c in t.verifications.columns])
        df["created_at"] = pd.to_datetime(df["created_at"]).dt.tz_localize(UTC)
        return df

    def verify_publication(self, publication: Publication) -> None:
        """Raise PublicationDamaged unless the publication's rows match its ``n_scores`` and digest."""
        with self._read() as conn:
            check_publication(conn, publication)

    # -- internals ----------------------------------------------------------------------------------

    @staticmethod
    def _latest_select(monday: date) -> Select[Any]:
        p = t.publications.c
        return (
            select(t.publications)
            .where(p.week == monday, p.status == "published")
            .order_by(p.revision.desc())
            .limit(1)
        )

    @staticmethod
    def _publication_by_id(conn: Connection, publication_id: int) -> Publication:
        pid = int(publication_id)  # numpy integers would reach the driver as blobs and match nothing
        row = conn.execute(select(t.publications).where(t.publications.c.id == pid)).one_or_none()
        if row is None:
            raise PublicationNotFound(f"no publication with id {publication_id} in the store")
        return _publication(row)


def _latest_ids() -> Select[Any]:
    """Ids of each week's latest published revision."""
    p = t.publications
    inner = p.alias("later")
    newer = select(inner.c.id).where(
        and_(inner.c.week == p.c.week, inner.c.status == "published", inner.c.revision > p.c.revision)
    )
    return select(p.c.id).where(p.c.status == "published", ~newer.exists())


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)


def _publication(row: Any, is_new: bool = False) -> Publication:
    m = row._mapping
    return Publication(
        id=int(m["id"]),
        week=m["week"],
        week_label=m["week_label"],
        revision=int(m["revision"]),
        model_name=m["model_name"],
        model_version=m["model_version"],
        data_fingerprint=m["data_fingerprint"],
        scores_digest=m["scores_digest"],
        n_scores=int(m["n_scores"]),
        as_of=_aware(m["as_of"]),
        created_at=_aware(m["created_at"]),
        status=m["status"],
        is_new=is_new,
    )


def _scores_frame(rows: Sequence[Any], pubs: Mapping[int, Publication]) -> pd.DataFrame:
    """Return store rows as a SCORES-contract frame with stable dtypes (also when empty)."""
    # week and revision come from the (few) publications, not per row: parsing a date on each of
    # 18,000 rows would double the time of a one-week read
    cols = list(zip(*rows, strict=True)) if rows else [()] * len(ROW_COLUMNS)
    data = dict(zip(ROW_COLUMNS, cols, strict=True))
    pub_ids = pd.array(data["publication_id"], dtype="int64")
    weeks = pd.Series({i: pd.Timestamp(p.week) for i, p in pubs.items()}, dtype="datetime64[ns]")
    revisions = pd.Series({i: p.revision for i, p in pubs.items()}, dtype="int64")
    df = pd.DataFrame(
        {
            "publication_id": pub_ids,
            "week": weeks.reindex(pub_ids).to_numpy(dtype="datetime64[ns]"),
            "revision": revisions.reindex(pub_ids).to_numpy(dtype="int64"),
            **{c: pd.array(data[c], dtype="string") for c in ("region_id", "iso3", "region_name")},
            "horizon": pd.array(data["horizon"], dtype="int64"),
            "target": pd.array(data["target"], dtype="string"),
            **{
                c: pd.array([float("nan") if v is None else v for v in data[c]], dtype="float64")
                for c in ("p", "expected", "q10", "q50", "q90")
            },
            "rank": pd.array(data["rank"], dtype="int64"),
        }
    )
    return validate(df, SCORES, where="the scores store")
