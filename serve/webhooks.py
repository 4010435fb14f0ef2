"""Webhooks: alert messages POSTed to subscribers, signed, retried with backoff, every attempt logged.

Delivery (``deliver_pending``, run by the weekly cycle after publishing and by ``civrisk webhooks
deliver``, e.g. from cron):

1. **Queue.** Each active subscription gets one delivery per new alert message (``alerts.id`` above its
   cursor) and per format it asked for (``json``, ``cap``). A new subscription starts at the newest
   message: it receives what is sent after it subscribed, not the history.
2. **Send.** Due deliveries are POSTed in message order, each with a fresh timestamp and signature::

       X-Civrisk-Timestamp: 1717222215
       X-Civrisk-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>

   A 2xx answer delivers it. Anything else (refused connection, timeout, 5xx, 4xx) is a failed attempt:
   retried at once up to ``retries_in_run`` times (0.5 s, 1 s, ...), then left pending with
   ``next_attempt_at = now + backoff_base_s * 2^(attempts-1)`` (capped). The rest of that receiver's
   queue waits behind it (messages arrive in order), so a receiver that is down costs one short timeout
   per due run and never blocks publication. After ``max_attempts`` failed attempts a delivery is marked
   ``failed``.
3. **Log.** Every attempt is a row of ``webhook_attempts`` (status code or error, duration).

A delivery is claimed with a conditional UPDATE (a lease) before it is sent; a run that finds a receiver's
next delivery claimed leaves that receiver to the run that claimed it, so two deliverers running at once
neither send a message twice nor out of order. Receivers check signatures with :func:`verify_signature`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Engine, func, select

from civrisk import __version__
from civrisk.settings import Settings
from civrisk.weeks import utc_now
from publish.render.cap import CapConfig
from publish.store import schema as pt
from publish.store.store import ScoreStore
from serve import tables as st
from serve.cap_messages import RegionGeometries, alert_cap_xml
from serve.schemas import AlertMessageOut

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Civrisk-Signature"
TIMESTAMP_HEADER = "X-Civrisk-Timestamp"
CONTENT_TYPES = {"json": "application/json", "cap": "application/cap+xml"}


@dataclass(frozen=True)
class DeliveryPolicy:
    """How hard and how often delivery is tried; every default lives here."""

    timeout_s: float = 5.0
    """Connect and read timeout of one attempt."""
    retries_in_run: int = 2
    """Quick retries inside one run after a failed attempt (for a blip, not an outage)."""
    retry_delay_s: float = 0.5
    """Wait before the first quick retry; doubles for each further one."""
    backoff_base_s: float = 60.0
    """Wait before the next run may retry, after the first failed run; doubles after each failed attempt."""
    backoff_max_s: float = 86_400.0
    """Longest wait between runs' retries (a weekly cycle always finds a failed delivery due)."""
    max_attempts: int = 20
    """Failed attempts after which a delivery is marked ``failed`` and no longer retried."""


@dataclass(frozen=True)
class DeliveryReport:
    """What one :func:`deliver_pending` run did."""

    queued: int
    delivered: int
    failed_attempts: int
    gave_up: int
    pending: int


# -- signatures ------------------------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Return the ``X-Civrisk-Signature`` value: ``sha256=`` + hex HMAC-SHA256 of ``"<timestamp>.<body>"``."""
    mac = hmac.new(secret.encode("utf-8"), f"{int(timestamp)}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str,
    timestamp: str | int,
    body: bytes,
    header: str | None,
    tolerance_s: float = 300,
    now: float | None = None,
) -> bool:
    """Return whether a webhook request is authentic and fresh (for receivers).

    ``timestamp`` and ``header`` are the ``X-Civrisk-Timestamp`` and ``X-Civrisk-Signature`` headers,
    ``body`` the raw request body. A timestamp more than ``tolerance_s`` seconds from ``now`` is refused,
    so a captured request cannot be replayed later; the comparison is constant-time.
    """
    if not header or timestamp is None:
        return False
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, ts, body), header)


# -- delivery --------------------------------------------------------------------------------------


def enqueue(engine: Engine) -> int:
    """Queue a delivery per format for every alert message newer than each active subscription's cursor."""
    queued = 0
    now = utc_now()
    with st.writing(engine) as conn:
        hooks = conn.execute(select(st.webhooks).where(st.webhooks.c.active == 1)).all()
        for hook in hooks:
            new = conn.execute(
                select(pt.alerts.c.id, pt.alerts.c.message_id)
                .where(pt.alerts.c.id > hook.last_alert_row_id)
                .order_by(pt.alerts.c.id)
            ).all()
            if not new:
                continue
            rows = [
                {
                    "webhook_id": hook.id,
                    "alert_row_id": a.id,
                    "message_id": a.message_id,
                    "format": fmt,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for a in new
                for fmt in hook.formats.split(",")
            ]
            conn.execute(st.webhook_deliveries.insert(), rows)
            conn.execute(
                st.webhooks.update().where(st.webhooks.c.id == hook.id).values(last_alert_row_id=new[-1].id)
            )
            queued += len(rows)
    return queued


def deliver_pending(
    store: ScoreStore,
    settings: Settings,
    policy: DeliveryPolicy | None = None,
    *,
    now: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
    geometries: RegionGeometries | None = None,
) -> DeliveryReport:
    """Queue new alert messages, send every due delivery once (plus quick retries); return what happened.

    ``now`` (naive UTC) decides which deliveries are due; it defaults to the clock. Never raises for a
    receiver's failure: those are logged as attempts and retried on a later call.
    """
    policy = policy or DeliveryPolicy()
    geometries = geometries or RegionGeometries(settings)
    engine = store.engine
    st.create_serve_schema(engine)  # a store that never ran `civrisk serve` has no webhook tables yet
    queued = enqueue(engine)
    now = now or utc_now()
    d, w = st.webhook_deliveries.c, st.webhooks.c
    with engine.connect() as conn:
        queue = conn.execute(
            select(st.webhook_deliveries, w.url, w.secret)
            .join(st.webhooks, w.id == d.webhook_id)
            .where(d.status == "pending", w.active == 1)
            .order_by(d.webhook_id, d.alert_row_id, d.format)
        ).all()
    rows_by_pub: dict[int, dict[int, dict[str, Any]]] = {}
    cap_config = CapConfig.from_settings(settings=settings)
    delivered = failed = gave_up = 0
    blocked: set[int] = set()
    with httpx.Client(timeout=policy.timeout_s, follow_redirects=False) as client:
        for dl in queue:
            if dl.webhook_id in blocked:
                continue
            if dl.next_attempt_at > now:  # backing off (or claimed by another run): its queue waits
                blocked.add(dl.webhook_id)
                continue
            if not _claim(engine, dl.id, now, policy):
                blocked.add(dl.webhook_id)  # another run is delivering this receiver's queue
                continue
            row = _alert_row(store, rows_by_pub, dl.alert_row_id)
            body = _body(dl.format, dl.id, row, geometries, cap_config, settings)
            ok, attempts = False, int(dl.attempts)
            for k in range(policy.retries_in_run + 1):
                if k:
                    sleep(policy.retry_delay_s * 2 ** (k - 1))
                attempts += 1
                ok = _attempt(engine, client, dl, body, attempts)
                failed += not ok
                if ok:
                    break
            final = _settle(engine, dl.id, ok, attempts, policy)
            delivered += ok
            gave_up += final == "failed"
            if not ok:
                blocked.add(dl.webhook_id)  # the receiver is likely down: its queue waits for the next run
    with engine.connect() as conn:
        pending = int(conn.execute(select(func.count()).where(d.status == "pending")).scalar_one())
    report = DeliveryReport(queued, delivered, failed, gave_up, pending)
    log.info(
        "webhooks: %d queued, %d delivered, %d failed attempts, %d given up, %d pending",
        queued,
        delivered,
        failed,
        gave_up,
        pending,
    )
    return report


def _claim(engine: Engine, delivery_id: int, now: datetime, policy: DeliveryPolicy) -> bool:
    """Lease a due delivery for this run (a conditional UPDATE), so no other run sends it meanwhile."""
    d = st.webhook_deliveries.c
    lease = timedelta(
        seconds=(policy.timeout_s + policy.retry_delay_s) * 2 ** (policy.retries_in_run + 1) + 60
    )
    with st.writing(engine) as conn:
        res = conn.execute(
            st.webhook_deliveries.update()
            .where(d.id == delivery_id, d.status == "pending", d.next_attempt_at <= now)
            .values(next_attempt_at=utc_now() + lease)
        )
    return res.rowcount == 1


def _alert_row(
    store: ScoreStore, cache: dict[int, dict[int, dict[str, Any]]], alert_row_id: int
) -> dict[str, Any]:
    with store.engine.connect() as conn:
        pub_id = int(
            conn.execute(
                select(pt.alerts.c.publication_id).where(pt.alerts.c.id == alert_row_id)
            ).scalar_one()
        )
    if pub_id not in cache:
        cache[pub_id] = {int(r["id"]): r for r in store.alerts(publication_id=pub_id).to_dict("records")}
    return cache[pub_id][alert_row_id]


def _body(
    fmt: str,
    delivery_id: int,
    row: dict[str, Any],
    geometries: RegionGeometries,
    config: CapConfig,
    settings: Settings,
) -> bytes:
    if fmt == "cap":
        return alert_cap_xml(row, geometries.get(), config, settings)
    message = AlertMessageOut.of(row).model_dump(mode="json")
    doc = {"type": "civrisk.alert_message", "delivery_id": delivery_id, "message": message}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _attempt(engine: Engine, client: httpx.Client, dl: Any, body: bytes, attempt: int) -> bool:
    """POST one delivery once, log the attempt, and return whether the receiver answered 2xx."""
    ts = int(time.time())
    headers = {
        "Content-Type": CONTENT_TYPES[dl.format],
        "User-Agent": f"civrisk-webhooks/{__version__}",
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: sign(dl.secret, ts, body),
        "X-Civrisk-Delivery": str(dl.id),
        "X-Civrisk-Message-Id": dl.message_id,
    }
    status: int | None = None
    error: str | None = None
    t0 = time.perf_counter()
    try:
        response = client.post(dl.url, content=body, headers=headers)
        status = response.status_code
        if not 200 <= status < 300:
            error = f"HTTP {status}: {response.text[:200]}"
    except httpx.HTTPError as exc:
        error = f"{exc.__class__.__name__}: {exc}"[:500]
    ms = (time.perf_counter() - t0) * 1000
    ok = error is None
    with st.writing(engine) as conn:
        conn.execute(
            st.webhook_attempts.insert().values(
                delivery_id=dl.id,
                attempt=attempt,
                at=utc_now(),
                status_code=status,
                error=error,
                duration_ms=ms,
                ok=int(ok),
            )
        )
    host = urlsplit(dl.url).hostname
    if ok:
        log.info("webhook %d delivery %d (%s) to %s: HTTP %d", dl.webhook_id, dl.id, dl.format, host, status)
    else:
        log.warning(
            "webhook %d delivery %d (%s) to %s attempt %d failed: %s",
            dl.webhook_id,
            dl.id,
            dl.format,
            host,
            attempt,
            error,
        )
    return ok


def _settle(engine: Engine, delivery_id: int, ok: bool, attempts: int, policy: DeliveryPolicy) -> str:
    """Record a delivery's state after a run's attempts; return it (delivered, pending or failed)."""
    now = utc_now()
    if ok:
        values: dict[str, Any] = {"status": "delivered", "delivered_at": now, "next_attempt_at": now}
    elif attempts >= policy.max_attempts:
        values = {"status": "failed", "next_attempt_at": now}
    else:
        wait = min(policy.backoff_base_s * 2 ** (attempts - 1), policy.backoff_max_s)
        values = {"status": "pending", "next_attempt_at": now + timedelta(seconds=wait)}
    with st.writing(engine) as conn:
        last = conn.execute(
            select(st.webhook_attempts.c.status_code, st.webhook_attempts.c.error)
            .where(st.webhook_attempts.c.delivery_id == delivery_id)
            .order_by(st.webhook_attempts.c.id.desc())
            .limit(1)
        ).one()
        conn.execute(
            st.webhook_deliveries.update()
            .where(st.webhook_deliveries.c.id == delivery_id)
            .values(attempts=attempts, last_status_code=last.status_code, last_error=last.error, **values)
        )
    return str(values["status"])


def deliveries(engine: Engine, webhook_id: int | None = None) -> list[dict[str, Any]]:
    """Return delivery rows (optionally of one subscription) with their attempts, oldest first."""
    d = st.webhook_deliveries.c
    stmt = select(st.webhook_deliveries).order_by(d.id)
    if webhook_id is not None:
        stmt = stmt.where(d.webhook_id == int(webhook_id))
    with engine.connect() as conn:
        out = [dict(r._mapping) for r in conn.execute(stmt)]
        attempts = conn.execute(select(st.webhook_attempts).order_by(st.webhook_attempts.c.id)).all()
    by_delivery: dict[int, list[dict[str, Any]]] = {}
    for a in attempts:
        by_delivery.setdefault(a.delivery_id, []).append(dict(a._mapping))
    for row in out:
        row["attempt_log"] = by_delivery.get(row["id"], [])
    return out
