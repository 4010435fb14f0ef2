"""GET /v1/scores: a page of one publication's scores (latest revision unless ``revision`` is given)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from forecasting.targets import ALL_TARGETS
from publish.store.queries import ScoreFilter, ScoreQueries
from publish.store.store import PublicationNotFound
from serve.deps import AUTH_RESPONSES, CatalogDep, KeyFirstRoute, ReadScope
from serve.response_cache import ResponseCache
from serve.responses import not_found
from serve.schemas import ErrorOut, PublicationRef, ScoresPage, WeekLabel, parse_week_label

MAX_LIMIT = 1000
MAX_OFFSET = 1_000_000_000  # beyond any publication; keeps the value inside SQL integer range
TargetName = Literal[ALL_TARGETS]  # type: ignore[valid-type]
Iso3 = Annotated[str, Query(pattern=r"^[A-Z]{3}$")]

router = APIRouter(
    prefix="/v1",
    tags=["scores"],
    dependencies=[ReadScope],
    responses=AUTH_RESPONSES,
    route_class=KeyFirstRoute,
)


@router.get(
    "/scores",
    response_model=ScoresPage,
    summary="A page of published scores",
    responses={404: {"model": ErrorOut, "description": "the week or revision was never published"}},
)
async def list_scores(
    request: Request,
    catalog: CatalogDep,
    week: Annotated[
        WeekLabel | None,
        Query(description="ISO week, e.g. 2020-W23; default: the latest published week"),
    ] = None,
    revision: Annotated[int | None, Query(ge=1, le=1_000_000, description="default: latest revision")] = None,
    country: Annotated[
        list[Annotated[str, Query(pattern=r"^[A-Z]{3}$")]] | None, Query(description="ISO3")
    ] = None,
    region: Annotated[list[str] | None, Query(description="region ids")] = None,
    horizon: Annotated[list[Annotated[int, Query(ge=1, le=520)]] | None, Query(description="weeks")] = None,
    target: Annotated[list[TargetName] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
):
    """Return scores ordered by target, horizon, rank (riskiest first) and region, with the total count.

    Filters repeat to select several values (``?country=MLI&country=NER``). Page with ``offset``:
    ``next_offset`` is the offset of the next page, null on the last one. A page's body is built once
    and then served from memory (``CIVRISK_API_PAGE_CACHE_MB``): a publication never changes.
    """
    snap = catalog.snapshot()
    try:
        monday = parse_week_label(week) if week else snap.latest_week().week
        pub = snap.publication(monday, revision)
    except PublicationNotFound as exc:
        raise not_found(exc) from None
    latest = snap.latest.get(pub.week)
    is_latest = latest is not None and latest.id == pub.id
    queries: ScoreQueries = request.app.state.queries
    where = ScoreFilter.of(iso3=country, region_id=region, horizon=horizon, target=target)

    def build() -> bytes:
        total = queries.count(pub.id, where)
        items = queries.page(pub.id, where, limit, offset) if offset < total else []
        page = ScoresPage.model_validate(
            {
                "publication": PublicationRef(
                    id=pub.id, week_label=pub.week_label, revision=pub.revision, latest=is_latest
                ),
                "items": items,
                "total": total,
                "limit": limit,
                "offset": offset,
                "next_offset": offset + limit if offset + limit < total else None,
            }
        )
        return page.model_dump_json().encode("utf-8")

    cache: ResponseCache = request.app.state.page_cache
    body = cache.get((pub.id, is_latest, where, limit, offset), build)
    return Response(body, media_type="application/json")
