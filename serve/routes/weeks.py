"""GET /v1/weeks: the published weeks and every revision of each."""

from __future__ import annotations

from fastapi import APIRouter

from serve.deps import AUTH_RESPONSES, CatalogDep, KeyFirstRoute, ReadScope
from serve.responses import model_response
from serve.schemas import PublicationOut, WeekOut, WeeksOut

router = APIRouter(
    prefix="/v1",
    tags=["weeks"],
    dependencies=[ReadScope],
    responses=AUTH_RESPONSES,
    route_class=KeyFirstRoute,
)


@router.get("/weeks", response_model=WeeksOut, summary="Published weeks and their revisions")
def list_weeks(catalog: CatalogDep):
    """Return every week with a publication, oldest first, with all its revisions (withdrawn ones too)."""
    snap = catalog.snapshot()
    items = []
    for week, revisions in snap.by_week.items():
        latest = snap.latest.get(week)
        items.append(
            WeekOut(
                week_label=revisions[0].week_label,
                week=week,
                latest_revision=latest.revision if latest else None,
                revisions=[PublicationOut.of(p, latest is not None and p.id == latest.id) for p in revisions],
            )
        )
    return model_response(WeeksOut(items=items))
