"""Webhooks: alert messages POSTed to subscribers, signed, retried with backoff, every attempt logged.

Delivery (``deliver_pending``, run by the weekly cycle after publishing and by ``civrisk webhooks
deliver``, e.g. from cron):

1. **Queue.** Each active subscription gets one delivery per new alert message (``alerts.id`` above its
   cursor) and per format it asked for (``json``, ``cap``). A new subscription starts at the newest
   message: it receives what is sent after it subscribed, not the history.
2. **Send.** Due deliveries are POSTed in message order, each with a fresh timestamp and signature::

       X-Civrisk-Delivery: 17
       X-Civrisk-Message-Id: civrisk-2020-W23-MLI-R01-civ_any-h4.2
       X-Civrisk-Timestamp: 1717222215
       X-Civrisk-Signature: v2=<hex HMAC-SHA256(secret, "v2\n<delivery>\n<message id>\n<timestamp>\n" + body)>

   The delivery id (what receivers drop duplicates by) and the message id are inside the signed
   content, so neither can be changed on a captured request. Before each delivery the URL's host is
   resolved again and every address checked (serve/webhook_targets.py), and the request goes to the
   checked address (DNS rebinding cannot redirect it); redirects are not followed.
   A 2xx answer delivers it. Anything else (refused connection, timeout, 5xx, 4xx, a refused target) is a
   failed attempt:
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
import re
import time
from collections.abc import Callable, Mapping
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
from serve.webhook_targets import ResolvedTarget, TargetPolicy, TargetRefused

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Civrisk-Signature"
TIMESTAMP_HEADER = "X-Civrisk-Timestamp"
DELIVERY_HEADER = "X-Civrisk-Delivery"
MESSAGE_ID_HEADER = "X-Civrisk-Message-Id"
SIGNATURE_VERSION = "v2"
TOLERANCE_S = 300
"""How old a delivery's timestamp may be when it is verified (replay window)."""
FUTURE_SKEW_S = 60
"""How far ahead of the receiver's clock a timestamp may be (clock skew); later ones are refused."""
_ID_FIELD = re.compile(r"^[\x21-\x7e]{1,320}$")  # printable, no spaces or line breaks: fields stay apart
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


def signed_content(delivery_id: str | int, message_id: str, timestamp: int, body: bytes) -> bytes:
    """Return the bytes a signature covers: ``v2``, delivery id, message id, timestamp, then the body.

    The fields are joined by line breaks, which none of them may contain, so no two deliveries share
    the same signed content.
    """
    return f"{SIGNATURE_VERSION}\n{delivery_id}\n{message_id}\n{int(timestamp)}\n".encode() + body


def sign(secret: str, delivery_id: str | int, message_id: str, timestamp: int, body: bytes) -> str:
    """Return the ``X-Civrisk-Signature`` value: ``v2=`` + hex HMAC-SHA256 of :func:`signed_content`."""
    content = signed_content(delivery_id, message_id, timestamp, body)
    return f"{SIGNATURE_VERSION}=" + hmac.new(secret.encode("utf-8"), content, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_s: float = TOLERANCE_S,
    future_skew_s: float = FUTURE_SKEW_S,
    now: float | None = None,
) -> bool:
    """Return whether a webhook request is authentic and fresh (for receivers).

    ``headers`` are the request's headers (any mapping; names are matched case-insensitively), ``body``
    the raw request body. Refused: a missing or malformed header, a timestamp more than ``tolerance_s``
    seconds old (a captured request cannot be replayed later) or more than ``future_skew_s`` seconds
    ahead of ``now``, and any change to the body, the delivery id, the message id or the timestamp. The
    comparison is constant-time. Drop a delivery id already processed: that stops a replay inside the
    window too.
    """
    delivery = _header(headers, DELIVERY_HEADER)
    message_id = _header(headers, MESSAGE_ID_HEADER)
    timestamp = _header(headers, TIMESTAMP_HEADER)
    signature = _header(headers, SIGNATURE_HEADER)
    if not (delivery and message_id and timestamp and signature):
        return False
    if not (delivery.isdigit() and timestamp.isdigit() and _ID_FIELD.match(message_id)):
        return False
    if len(delivery) > 20 or len(timestamp) > 12:
        return False
    ts = int(timestamp)
    clock = time.time() if now is None else now
    if ts < clock - tolerance_s or ts > clock + future_skew_s:
        return False
    expected = sign(secret, delivery, message_id, ts, body)
    return hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("utf-8", "replace"))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        wanted = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == wanted), None)
    return None if value is None else str(value)


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
    targets: TargetPolicy | None = None,
) -> DeliveryReport:
    """Queue new alert messages, send every due delivery once (plus quick retries); return what happened.

    ``now`` (naive UTC) decides which deliveries are due; it defaults to the clock. ``targets`` decides
    where deliveries may go (default: from ``settings.webhook_allow_hosts``). Never raises for a
    receiver's failure: those are logged as attempts and retried on a later call.
    """
    policy = policy or DeliveryPolicy()
    targets = targets or TargetPolicy.from_settings(settings)
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
    with _Clients(policy.timeout_s) as clients:
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
                ok = _attempt(engine, clients, targets, dl, body, attempts)
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


class _Clients:
    """HTTP clients of one run, one per (scheme, host name, address, port).

    Requests go to a checked address with the host name in ``Host`` and TLS SNI; a kept-alive connection
    is pooled by address, so one client per host name keeps a TLS connection verified for one name from
    carrying another name's deliveries.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._clients: dict[tuple[str, str, str, int | None], httpx.Client] = {}

    def get(self, target: ResolvedTarget) -> httpx.Client:
        parts = urlsplit(target.url)
        key = (parts.scheme, target.host, target.address, parts.port)
        if key not in self._clients:
            self._clients[key] = httpx.Client(timeout=self.timeout_s, follow_redirects=False)
        return self._clients[key]

    def __enter__(self) -> _Clients:
        return self

    def __exit__(self, *exc: object) -> None:
        for client in self._clients.values():
            client.close()


def _attempt(
    engine: Engine, clients: _Clients, targets: TargetPolicy, dl: Any, body: bytes, attempt: int
) -> bool:
    """Check the target, POST one delivery once, log the attempt; return whether the receiver answered 2xx."""
    ts = int(time.time())
    headers = {
        "Content-Type": CONTENT_TYPES[dl.format],
        "User-Agent": f"civrisk-webhooks/{__version__}",
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: sign(dl.secret, dl.id, dl.message_id, ts, body),
        DELIVERY_HEADER: str(dl.id),
        MESSAGE_ID_HEADER: dl.message_id,
    }
    status: int | None = None
    error: str | None = None
    t0 = time.perf_counter()
    try:
        # resolve and check now, then connect to the checked address: a DNS answer that changed since
        # registration (or changes between check and connect) cannot send the delivery elsewhere
        target = targets.resolve_target(dl.url)
        url, pinned, extensions = target.request()
        response = clients.get(target).post(
            url, content=body, headers={**headers, **pinned}, extensions=extensions
        )
        status = response.status_code
        if not 200 <= status < 300:
            error = f"HTTP {status}: {response.text[:200]}"
    except TargetRefused as exc:
        error = f"target refused: {exc}"[:500]
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
