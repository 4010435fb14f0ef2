"""Webhook subscriptions: who receives alert messages, in which formats, signed with which secret.

Delivery itself is serve/webhooks.py. A subscription starts after the newest alert message recorded when
it was created (its cursor), so it receives what is sent from then on, not the history. Its URL must pass
the target policy (serve/webhook_targets.py: http(s), no credentials, public addresses unless allowed),
and at most ``CIVRISK_WEBHOOK_MAX_SUBSCRIPTIONS`` subscriptions are active at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select

from civrisk.weeks import utc_now
from publish.store import schema as pt
from serve import tables as st
from serve.webhook_targets import TargetPolicy


class SubscriptionLimit(RuntimeError):
    """As many subscriptions are active as allowed; the message says how to make room."""


@dataclass(frozen=True)
class Webhook:
    """A subscription (without its secret)."""

    id: int
    url: str
    formats: tuple[str, ...]
    description: str | None
    active: bool
    created_at: datetime


def create_webhook(
    engine: Engine,
    url: str,
    secret: str,
    formats: Sequence[str],
    description: str | None = None,
    *,
    policy: TargetPolicy,
    max_active: int,
) -> Webhook:
    """Store a subscription that starts after the newest alert message; return it.

    TargetRefused (a ValueError) when ``policy`` refuses the URL (checked by resolving its host now; the
    deliverer checks again before each delivery); SubscriptionLimit when ``max_active`` are active.
    """
    policy.resolve_target(url)
    active = sum(h.active for h in list_webhooks(engine))
    if active >= max_active:
        raise SubscriptionLimit(
            f"{active} webhook subscriptions are active, the most allowed (CIVRISK_WEBHOOK_MAX_SUBSCRIPTIONS="
            f"{max_active}); DELETE /v1/webhooks/<id> one no longer used, or raise the limit"
        )
    bad = sorted(set(formats) - set(st.FORMATS))
    if bad or not formats:
        raise ValueError(
            f"webhook formats must be a non-empty subset of {list(st.FORMATS)}; got {list(formats)}"
        )
    if len(secret) < 16:
        raise ValueError(f"webhook secret must be at least 16 characters; got {len(secret)}")
    ordered = [f for f in st.FORMATS if f in formats]
    with st.writing(engine) as conn:
        cursor = conn.execute(select(func.max(pt.alerts.c.id))).scalar() or 0
        insert = (
            st.webhooks.insert()
            .values(
                url=url,
                secret=secret,
                formats=",".join(ordered),
                description=description,
                active=1,
                last_alert_row_id=int(cursor),
                created_at=utc_now(),
            )
            .returning(st.webhooks.c.id)
        )
        new_id = int(conn.execute(insert).scalar_one())
    return get_webhook(engine, new_id)


def get_webhook(engine: Engine, webhook_id: int) -> Webhook:
    """Return subscription ``webhook_id``; LookupError if unknown."""
    with engine.connect() as conn:
        row = conn.execute(select(st.webhooks).where(st.webhooks.c.id == int(webhook_id))).one_or_none()
    if row is None:
        raise LookupError(f"no webhook with id {webhook_id}; GET /v1/webhooks lists them")
    return _webhook(row)


def list_webhooks(engine: Engine) -> list[Webhook]:
    """Return every subscription, oldest first."""
    with engine.connect() as conn:
        return [_webhook(r) for r in conn.execute(select(st.webhooks).order_by(st.webhooks.c.id))]


def deactivate_webhook(engine: Engine, webhook_id: int) -> Webhook:
    """Stop a subscription (its pending deliveries are no longer sent; its log is kept)."""
    get_webhook(engine, webhook_id)
    with st.writing(engine) as conn:
        conn.execute(st.webhooks.update().where(st.webhooks.c.id == int(webhook_id)).values(active=0))
    return get_webhook(engine, webhook_id)


def _webhook(row: Any) -> Webhook:
    m = row._mapping
    return Webhook(
        m["id"],
        m["url"],
        tuple(m["formats"].split(",")),
        m["description"],
        bool(m["active"]),
        m["created_at"],
    )
