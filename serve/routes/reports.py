"""GET /v1/reports/{week} (the planner report, HTML), /v1/exports/{week}.csv|.geojson (HXL CSV, GeoJSON) and
/v1/exports/{week}/regions.json (every region with its standard code and status: scored, withheld and why).

The weekly job writes each publication's files under ``<home>/publications/<week>/r<revision>/``. The
report is served from there (it needs the model run's context, so the API does not render one). An export
is served from there too when present; otherwise it is built from the store's scores of that
publication (an immutable input) and kept in a small in-process cache.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, Response

from civrisk.settings import Settings
from publish.publication.outputs import REGIONS_JSON, REPORT, SCORES_CSV, SCORES_GEOJSON, revision_dir
from publish.render.exports import hxl_tags, scores_geojson, wide_scores
from publish.store.store import Publication, PublicationNotFound
from serve.cap_messages import RegionGeometries
from serve.deps import AUTH_RESPONSES, CatalogDep, KeyFirstRoute, ReadScope, SettingsDep, StoreDep
from serve.http_guard import REPORT_CSP
from serve.responses import not_found
from serve.schemas import ErrorOut, WeekLabel, parse_week_label

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
GEOJSON_MEDIA_TYPE = "application/geo+json"

WeekPath = Annotated[WeekLabel, PathParam(description="ISO week label, e.g. 2020-W23")]
Revision = Annotated[int | None, Query(ge=1, le=1_000_000, description="default: the latest revision")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "the week, revision or file does not exist"}
}


def publication_dir(settings: Settings, pub: Publication) -> Path:
    """Return the folder the weekly job wrote a publication's files to (outputs.revision_dir)."""
    return revision_dir(settings.home, pub.week_label, pub.revision)


class ExportCache:
    """Exports built from the store, by (publication id, kind); a few whole weeks at most."""

    def __init__(self, size: int = 8) -> None:
        self._items: OrderedDict[tuple[int, str], bytes] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: tuple[int, str], build: Callable[[], bytes]) -> bytes:
        """Return the cached bytes of ``key``, building them once."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        data = build()
        with self._lock:
            self._items[key] = data
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return data


router = APIRouter(
    prefix="/v1",
    tags=["reports"],
    dependencies=[ReadScope],
    responses=AUTH_RESPONSES,
    route_class=KeyFirstRoute,
)


def _publication(catalog: CatalogDep, week: str, revision: int | None) -> Publication:
    try:
        return catalog.snapshot().publication(parse_week_label(week), revision)
    except PublicationNotFound as exc:
        raise not_found(exc) from None


@router.get(
    "/reports/{week}",
    summary="The weekly planner report (HTML)",
    response_class=Response,
    responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}}, **NOT_FOUND},
)
def get_report(
    week: WeekPath, catalog: CatalogDep, settings: SettingsDep, revision: Revision = None
) -> Response:
    """Return the report the weekly job rendered for the week's latest (or given) revision."""
    pub = _publication(catalog, week, revision)
    path = publication_dir(settings, pub) / REPORT
    if not path.is_file():
        raise HTTPException(
            404,
            f"no report was rendered for {pub.week_label} revision {pub.revision} (the weekly job writes "
            f"{REPORT} beside the scores); GET /v1/exports/{pub.week_label}.csv has its scores",
        )
    # the report is self-contained (inline CSS and SVG, no scripts): its policy allows nothing else
    return FileResponse(
        path, media_type="text/html; charset=utf-8", headers={"Content-Security-Policy": REPORT_CSP}
    )


@router.get(
    "/exports/{week}.csv",
    summary="Scores of one publication as HXL-tagged CSV",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}, **NOT_FOUND},
)
def export_csv(
    week: WeekPath,
    request: Request,
    catalog: CatalogDep,
    store: StoreDep,
    settings: SettingsDep,
    revision: Revision = None,
):
    """Return one row per region with a column per target and horizon, and an HXL hashtag row."""
    pub = _publication(catalog, week, revision)
    path = publication_dir(settings, pub) / SCORES_CSV
    if path.is_file():
        return FileResponse(
            path, media_type=CSV_MEDIA_TYPE, filename=f"civrisk-{pub.week_label}-r{pub.revision}.csv"
        )

    def build() -> bytes:
        wide = wide_scores(store.scores(pub.week, pub.revision), pub)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(wide.columns)
        writer.writerow(hxl_tags(list(wide.columns)))
        wide.to_csv(buf, header=False, index=False, lineterminator="\n")
        return buf.getvalue().encode("utf-8")

    data = request.app.state.exports.get((pub.id, "csv"), build)
    disposition = f'attachment; filename="civrisk-{pub.week_label}-r{pub.revision}.csv"'
    return Response(data, media_type=CSV_MEDIA_TYPE, headers={"Content-Disposition": disposition})


@router.get(
    "/exports/{week}.geojson",
    summary="Scores of one publication as a GeoJSON FeatureCollection",
    response_class=Response,
    responses={200: {"content": {GEOJSON_MEDIA_TYPE: {"schema": {"type": "object"}}}}, **NOT_FOUND},
)
def export_geojson(
    week: WeekPath,
    request: Request,
    catalog: CatalogDep,
    store: StoreDep,
    settings: SettingsDep,
    revision: Revision = None,
):
    """Return one Feature per region (polygon when boundaries are configured) with the wide scores."""
    pub = _publication(catalog, week, revision)
    path = publication_dir(settings, pub) / SCORES_GEOJSON
    if path.is_file():
        return FileResponse(path, media_type=GEOJSON_MEDIA_TYPE)
    geometries: RegionGeometries = request.app.state.geometries

    def build() -> bytes:
        doc = scores_geojson(store.scores(pub.week, pub.revision), pub, geometries.get())
        return json.dumps(doc, ensure_ascii=False, allow_nan=False).encode("utf-8")

    data = request.app.state.exports.get((pub.id, "geojson"), build)
    return Response(data, media_type=GEOJSON_MEDIA_TYPE)


@router.get(
    "/exports/{week}/regions.json",
    summary="Every region of one publication with its code and status",
    response_class=Response,
    responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}, **NOT_FOUND},
)
def export_regions(week: WeekPath, catalog: CatalogDep, settings: SettingsDep, revision: Revision = None):
    """Return ``{"publication", "counts", "regions"}``: each region of the model's countries with its
    standard code (ISO 3166-2 / P-code), civrisk's region id and status (scored, withheld with the reason,
    no_score), so a region missing from the scores is never read as a region of low risk."""
    pub = _publication(catalog, week, revision)
    path = publication_dir(settings, pub) / REGIONS_JSON
    if not path.is_file():
        raise HTTPException(
            404,
            f"{pub.week_label} revision {pub.revision} has no {REGIONS_JSON} (publications before region "
            f"statuses were recorded); GET /v1/exports/{pub.week_label}.csv has its scored regions",
        )
    return FileResponse(path, media_type="application/json")
