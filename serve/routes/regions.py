"""GET /v1/regions/{region_id} (latest scores) and /v1/regions/{region_id}/history (every week)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from forecasting.targets import ALL_TARGETS
from publish.store.queries import ScoreFilter, ScoreQueries
from publish.store.store import PublicationNotFound
from serve.deps import AUTH_RESPONSES, CatalogDep, KeyFirstRoute, ReadScope
from serve.responses import model_response, not_found
from serve.schemas import ErrorOut, HistoryPoint, PublicationOut, RegionHistoryOut, RegionOut

TargetName = Literal[ALL_TARGETS]  # type: ignore[valid-type]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "the region has no published scores"}
}

router = APIRouter(
    prefix="/v1",
    tags=["regions"],
    dependencies=[ReadScope],
    responses=AUTH_RESPONSES,
    route_class=KeyFirstRoute,
)


def _unknown(region_id: str) -> PublicationNotFound:
    return PublicationNotFound(
        f"region {region_id!r} has no scores in any published week; GET /v1/weeks lists the published "
        "weeks and GET /v1/scores?week=<week> the regions of a week"
    )


@router.get(
    "/regions/{region_id}", response_model=RegionOut, responses=NOT_FOUND, summary="A region's latest scores"
)
def get_region(region_id: str, request: Request, catalog: CatalogDep):
    """Return the region's scores in the latest published week that scored it (all targets and horizons)."""
    queries: ScoreQueries = request.app.state.queries
    snap = catalog.snapshot()
    if not snap.latest:
        raise not_found(_unknown(region_id))
    pub = snap.latest_week()
    rows = queries.region_rows(pub.id, region_id)
    if not rows:
        # not in the latest week: the most recent week that did score it, if any
        found = queries.publications_of_region(region_id, [p.id for p in snap.latest.values()])
        if not found:
            raise not_found(_unknown(region_id))
        pub = max((snap.by_id[i] for i in found), key=lambda p: p.week)
        rows = queries.region_rows(pub.id, region_id)
    region = RegionOut.model_validate(
        {
            "region_id": region_id,
            "iso3": rows[0]["iso3"],
            "region_name": rows[0]["region_name"],
            "publication": PublicationOut.of(pub, latest=True),
            "scores": rows,
        }
    )
    return model_response(region)


@router.get(
    "/regions/{region_id}/history",
    response_model=RegionHistoryOut,
    responses=NOT_FOUND,
    summary="A region's scores in every published week",
)
def region_history(
    region_id: str,
    request: Request,
    catalog: CatalogDep,
    target: Annotated[list[TargetName] | None, Query()] = None,
    horizon: Annotated[list[Annotated[int, Query(ge=1, le=520)]] | None, Query()] = None,
):
    """Return the region's scores in each week's latest published revision, oldest week first."""
    queries: ScoreQueries = request.app.state.queries
    snap = catalog.snapshot()
    rows = queries.history_rows(
        region_id, [p.id for p in snap.latest.values()], ScoreFilter.of(horizon=horizon, target=target)
    )
    points = []
    for r in rows:
        pub = snap.by_id[r.pop("publication_id")]
        points.append({**r, "week_label": pub.week_label, "week": pub.week, "revision": pub.revision})
    points.sort(key=lambda r: (r["week"], r["target"], r["horizon"]))
    if points:
        ident = points[-1]
    else:  # filters matched nothing: is the region known at all?
        found = queries.publications_of_region(region_id, [p.id for p in snap.latest.values()])
        if not found:
            raise not_found(_unknown(region_id))
        pub = max((snap.by_id[i] for i in found), key=lambda p: p.week)
        ident = queries.region_rows(pub.id, region_id)[0]
    history = RegionHistoryOut(
        region_id=region_id,
        iso3=ident["iso3"],
        region_name=ident["region_name"],
        items=[HistoryPoint.model_validate(p) for p in points],
    )
    return model_response(history)
