"""GET /healthz: is the store reachable, and how old is the latest publication (no API key needed)."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime

from fastapi import APIRouter
from sqlalchemy.exc import SQLAlchemyError

from publish.store.errors import StoreError
from serve.deps import CatalogDep, SettingsDep
from serve.responses import model_response
from serve.schemas import HealthOut

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    response_model=HealthOut,
    summary="Liveness and freshness",
    responses={503: {"model": HealthOut, "description": "the store does not answer"}},
)
def healthz(catalog: CatalogDep, settings: SettingsDep):
    """Return ``ok`` with the latest publication's age in days, ``empty`` before the first one, or 503.

    ``drift`` and ``drifting`` carry the drift watch (``publish.publication.drift``): a drifting country
    does not make the service unhealthy, so ``status`` stays ``ok`` and monitors read ``drift``.
    """
    from publish.publication.drift import drift_health

    try:
        snap = catalog.snapshot()
        watch = drift_health(catalog.store, settings)
    except (SQLAlchemyError, StoreError, sqlite3.Error) as exc:
        log.error("health check: the scores store does not answer: %s", exc.__class__.__name__)
        out = HealthOut.unavailable(
            str(exc)
            if isinstance(exc, StoreError)
            else f"the scores store does not answer ({exc.__class__.__name__})"
        )
        return model_response(out, status_code=503)
    pub = max(snap.latest.values(), key=lambda p: p.week) if snap.latest else None
    if pub is None:
        out = HealthOut(
            status="empty",
            store_reachable=True,
            latest_week=None,
            latest_revision=None,
            latest_published_at=None,
            latest_publication_age_days=None,
            detail="nothing has been published yet",
            drift="unknown",
        )
        return model_response(out)
    age = (datetime.now(UTC) - pub.created_at).total_seconds() / 86400
    out = HealthOut(
        status="ok",
        store_reachable=True,
        latest_week=pub.week_label,
        latest_revision=pub.revision,
        latest_published_at=pub.created_at,
        latest_publication_age_days=round(age, 3),
        drift=watch["status"],
        drifting=watch["drifting"],
    )
    return model_response(out)


@router.head("/healthz", include_in_schema=False)
def healthz_head(catalog: CatalogDep, settings: SettingsDep):
    """Answer HEAD like GET (same status, no body): load balancers and uptime checks probe with it."""
    return healthz(catalog, settings)
