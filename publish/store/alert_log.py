"""The alert log half of the scores store: recording alert messages and reading alert histories.

Mixed into :class:`publish.store.store.ScoreStore` (which provides ``engine``, ``_write`` and ``_read``), so
callers use one object. Each alert message is one row; the messages of one alert share ``alert_id``,
are numbered ``seq`` 1, 2, ... and link to the message before them (``previous_id``). The CAP message
identifier is ``message_id = f"{alert_id}.{seq}"``; its ``sent`` time is the row's ``created_at``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Select, func, select

from civrisk.contracts import ALERTS
from civrisk.weeks import utc_naive, utc_now
from publish.store import schema as t

ALERT_ROW_COLUMNS = (
    "id",
    "alert_id",
    "seq",
    "message_id",
    "msg_type",
    "publication_id",
    "revision",
    "model_name",
    "model_version",
    "week",
    "first_week",
    "rule",
    "region_id",
    "iso3",
    "region_name",
    "target",
    "horizon",
    "p",
    "p_prev",
    "level",
    "reason",
    "drivers",
    "sent",
    "references_message_id",
    "references_sent",
)
"""Columns of every alerts frame the store returns; ``references_*`` name the previous message."""


class StoreAlertError(RuntimeError):
    """Alert messages that do not continue the recorded alert histories (e.g. an Update of a closed alert)."""


class AlertLogMixin(ABC):
    """Alert methods of the scores store; the store supplies its transactions."""

    @abstractmethod
    def _write(self) -> AbstractContextManager[Connection]:
        """Return a context manager yielding a connection inside one write transaction."""

    @abstractmethod
    def _read(self) -> AbstractContextManager[Connection]:
        """Return a context manager yielding a connection for reading."""

    def record_alerts(self, publication_id: int, messages: pd.DataFrame) -> pd.DataFrame:
        """Record a publication's alert messages (``publish.alerting.rules.evaluate_alerts``) in one
        transaction.

        An ``Alert`` must start a new ``alert_id``; an ``Update`` or ``Cancel`` must continue an open one.
        Returns the stored rows (:data:`ALERT_ROW_COLUMNS`), ready for :mod:`publish.render.cap`.
        """
        publication_id = int(publication_id)
        missing = [c for c in ALERTS.columns if c not in messages.columns]
        if missing:
            raise ValueError(f"alert messages lack columns {missing}; expected {list(ALERTS.columns)}")
        dup = messages["alert_id"].duplicated(keep=False)
        if dup.any():
            raise StoreAlertError(
                f"alert messages repeat alert_ids {sorted(set(messages.loc[dup, 'alert_id']))[:3]}; "
                "one message per alert per publication"
            )
        with self._write() as conn:
            pub = conn.execute(
                select(t.publications).where(t.publications.c.id == publication_id)
            ).one_or_none()
            if pub is None:
                raise StoreAlertError(
                    f"no publication with id {publication_id}; record the publication first"
                )
            weeks = {d.date() for d in pd.to_datetime(messages["week"])}
            if weeks - {pub.week}:
                raise StoreAlertError(
                    f"alert messages are for weeks {sorted(map(str, weeks))}, but publication "
                    f"{publication_id} is week {pub.week_label} ({pub.week})"
                )
            last = _last_messages(conn, messages["alert_id"].astype(str).tolist())
            now = utc_now()
            rows = []
            for m in messages.to_dict("records"):
                aid, kind = str(m["alert_id"]), str(m["msg_type"])
                prev = last.get(aid)
                if kind == "Alert" and prev is not None:
                    raise StoreAlertError(
                        f"alert {aid} already exists (last message: #{prev['seq']}, {prev['msg_type']}); "
                        "a new alert needs a new alert_id"
                    )
                if kind != "Alert" and (prev is None or prev["msg_type"] == "Cancel"):
                    state = "does not exist" if prev is None else "was cancelled"
                    raise StoreAlertError(f"cannot {kind.lower()} alert {aid}: it {state}")
                seq = 1 if prev is None else prev["seq"] + 1
                rows.append(
                    {
                        "alert_id": aid,
                        "seq": seq,
                        "message_id": f"{aid}.{seq}",
                        "publication_id": publication_id,
                        "previous_id": None if prev is None else prev["id"],
                        "msg_type": kind,
                        "created_at": now,
                        **{c: _plain(m[c]) for c in _COPIED},
                        "week": pd.Timestamp(m["week"]).date(),
                        "first_week": pd.Timestamp(m["first_week"]).date(),
                        "horizon": int(m["horizon"]),
                    }
                )
            if rows:
                conn.execute(t.alerts.insert(), rows)
        return self.alerts(publication_id=publication_id)

    def alerts(
        self,
        *,
        publication_id: int | None = None,
        alert_id: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """Return alert messages (:data:`ALERT_ROW_COLUMNS`) oldest first, optionally filtered.

        ``since`` keeps messages sent strictly after that time (naive = UTC).
        """
        a = t.alerts.c
        stmt = _alert_select().order_by(a.created_at, a.id)
        if publication_id is not None:
            stmt = stmt.where(a.publication_id == int(publication_id))
        if alert_id is not None:
            stmt = stmt.where(a.alert_id == alert_id)
        if since is not None:
            stmt = stmt.where(a.created_at > utc_naive(since, what="since"))
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._read() as conn:
            return _alert_frame(conn.execute(stmt).all())

    def alerts_since(self, since: datetime, limit: int | None = None) -> pd.DataFrame:
        """Return alert messages sent strictly after ``since``, oldest first."""
        return self.alerts(since=since, limit=limit)

    def alert_history(self, alert_id: str) -> pd.DataFrame:
        """Return every message of one alert, first to last; raise LookupError if the alert is unknown."""
        df = self.alerts(alert_id=alert_id)
        if df.empty:
            raise LookupError(f"no alert with id {alert_id!r} in the store")
        return df.sort_values("seq", kind="mergesort").reset_index(drop=True)

    def open_alerts(self) -> pd.DataFrame:
        """Return the latest message of every alert that has not been cancelled."""
        a = t.alerts.c
        last = select(a.alert_id, func.max(a.seq).label("seq")).group_by(a.alert_id).subquery()
        stmt = (
            _alert_select()
            .join(last, (last.c.alert_id == a.alert_id) & (last.c.seq == a.seq))
            .where(a.msg_type != "Cancel")
            .order_by(a.alert_id)
        )
        with self._read() as conn:
            return _alert_frame(conn.execute(stmt).all())


_STRINGS = (
    "alert_id",
    "message_id",
    "msg_type",
    "model_name",
    "model_version",
    "rule",
    "region_id",
    "iso3",
    "region_name",
    "target",
    "reason",
    "drivers",
    "references_message_id",
)
_COPIED = ("rule", "region_id", "iso3", "region_name", "target", "p", "p_prev", "level", "reason", "drivers")


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value


def _last_messages(conn: Connection, alert_ids: list[str]) -> dict[str, dict[str, Any]]:
    a = t.alerts.c
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(alert_ids), 500):
        chunk = alert_ids[start : start + 500]
        stmt = select(a.id, a.alert_id, a.seq, a.msg_type).where(a.alert_id.in_(chunk)).order_by(a.seq)
        for r in conn.execute(stmt):
            out[r.alert_id] = {"id": r.id, "seq": r.seq, "msg_type": r.msg_type}
    return out


def _alert_select() -> Select[Any]:
    a, p = t.alerts.c, t.publications.c
    prev = t.alerts.alias("prev")
    cols = {
        **{c: a[c] for c in ALERT_ROW_COLUMNS if c in a},
        "revision": p.revision,
        "model_name": p.model_name,
        "model_version": p.model_version,
        "sent": a.created_at,
        "references_message_id": prev.c.message_id,
        "references_sent": prev.c.created_at,
    }
    return select(*(cols[c].label(c) for c in ALERT_ROW_COLUMNS)).select_from(
        t.alerts.join(t.publications).outerjoin(prev, prev.c.id == a.previous_id)
    )


def _alert_frame(rows: Sequence[Any]) -> pd.DataFrame:
    df = pd.DataFrame([tuple(r) for r in rows], columns=list(ALERT_ROW_COLUMNS))
    for c in ("id", "seq", "publication_id", "revision", "horizon"):
        df[c] = df[c].astype("int64")
    for c in ("p", "p_prev", "level"):
        df[c] = df[c].astype("float64")
    for c in ("week", "first_week"):
        df[c] = pd.to_datetime(df[c]).astype("datetime64[ns]")
    for c in ("sent", "references_sent"):
        df[c] = pd.to_datetime(df[c]).astype("datetime64[ns]").dt.tz_localize(UTC)
    for c in _STRINGS:
        df[c] = df[c].astype("string")
    return df
