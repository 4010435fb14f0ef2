"""GET /v1/alerts (messages since a time), /v1/alerts/{id} (one alert's messages), /v1/alerts/{id}.cap."""

from __future__ import annotations

import re
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from publish.render.cap import CapConfig
from publish.store.queries import count_alerts
from publish.store.store import ScoreStore
from serve.cap_messages import RegionGeometries, alert_cap_xml
from serve.deps import AUTH_RESPONSES, KeyFirstRoute, ReadScope, SettingsDep, StoreDep
from serve.responses import model_response, not_found
from serve.schemas import AlertMessageOut, AlertOut, AlertsPage, ErrorOut, IsoTime

CAP_MEDIA_TYPE = "application/cap+xml"
_MESSAGE_ID = re.compile(r"^(?P<alert_id>.+)\.(?P<seq>\d{1,9})$")
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "no alert or alert message with that id"}
}

router = APIRouter(
    prefix="/v1",
    tags=["alerts"],
    dependencies=[ReadScope],
    responses=AUTH_RESPONSES,
    route_class=KeyFirstRoute,
)


@router.get("/alerts", response_model=AlertsPage, summary="Alert messages sent after a time")
def list_alerts(
    store: StoreDep,
    since: Annotated[
        IsoTime | None, Query(description="ISO 8601 time; messages sent strictly after it (no offset = UTC)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
):
    """Return alert messages (Alert, Update, Cancel) oldest first; poll with the last ``sent`` you saw."""
    total = count_alerts(store.engine, since)
    # read no more than this page needs (the store orders by sent time, then id, and applies the limit)
    rows = store.alerts(since=since, limit=offset + limit).to_dict("records") if offset < total else []
    items = [AlertMessageOut.of(r) for r in rows[offset : offset + limit]]
    nxt = offset + limit if offset + limit < total else None
    page = AlertsPage(items=items, total=total, limit=limit, offset=offset, next_offset=nxt)
    return model_response(page)


@router.get(
    "/alerts/{alert_id}.cap",
    summary="An alert message as CAP 1.2 XML",
    response_class=Response,
    responses={
        200: {"content": {CAP_MEDIA_TYPE: {"schema": {"type": "string"}}}, "description": "CAP 1.2 XML"},
        **NOT_FOUND,
    },
)
def alert_cap(alert_id: str, request: Request, store: StoreDep, settings: SettingsDep) -> Response:
    """Return one message as CAP 1.2: ``<alert_id>.<seq>`` names a message, a bare alert id its latest."""
    row = _message_row(store, alert_id)
    geometries: RegionGeometries = request.app.state.geometries
    xml = alert_cap_xml(row, geometries.get(), CapConfig.from_settings(settings=settings), settings)
    return Response(xml, media_type=CAP_MEDIA_TYPE)


@router.get("/alerts/{alert_id}", response_model=AlertOut, responses=NOT_FOUND, summary="One alert")
def get_alert(alert_id: str, store: StoreDep):
    """Return one alert and all its messages; a message id (``<alert_id>.<seq>``) gives its alert."""
    messages = _history(store, alert_id)
    if messages is None:
        m = _MESSAGE_ID.match(alert_id)
        messages = _history(store, m.group("alert_id")) if m else None
    if messages is None:
        raise not_found(_unknown(alert_id))
    rows = messages.to_dict("records")
    first, last = rows[0], rows[-1]
    alert = AlertOut(
        alert_id=first["alert_id"],
        open=last["msg_type"] != "Cancel",
        region_id=first["region_id"],
        iso3=first["iso3"],
        region_name=first["region_name"] if isinstance(first["region_name"], str) else None,
        rule=first["rule"],
        target=first["target"],
        horizon=int(first["horizon"]),
        first_week=first["first_week"].date(),
        messages=[AlertMessageOut.of(r) for r in rows],
    )
    return model_response(alert)


def _history(store: ScoreStore, alert_id: str) -> pd.DataFrame | None:
    try:
        return store.alert_history(alert_id)
    except LookupError:
        return None


def _message_row(store: ScoreStore, ident: str) -> dict[str, Any]:
    """Return the stored row of message ``<alert_id>.<seq>``, or of alert ``ident``'s latest message."""
    m = _MESSAGE_ID.match(ident)
    if m:
        messages = _history(store, m.group("alert_id"))
        if messages is not None:
            hit = messages[messages["seq"] == int(m.group("seq"))]
            if not hit.empty:
                return hit.to_dict("records")[0]
    messages = _history(store, ident)
    if messages is None:
        raise not_found(_unknown(ident))
    return messages.to_dict("records")[-1]


def _unknown(ident: str) -> LookupError:
    return LookupError(
        f"no alert or alert message {ident!r}; GET /v1/alerts lists alert messages (GET /v1/weeks the "
        "published weeks)"
    )
