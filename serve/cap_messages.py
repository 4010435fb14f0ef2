"""Region polygons for CAP areas and GeoJSON exports, and the CAP XML of one stored alert message.

Shared by the API (``/v1/alerts/{id}.cap``, ``/v1/exports/{week}.geojson``) and webhook delivery.
Polygons come from the configured admin-1 boundaries (``CIVRISK_BOUNDARIES``, else the shared Sahel
file when present); without any, CAP areas carry a description and a geocode only and GeoJSON
features have ``geometry: null`` (both allowed by their standards).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from shapely.geometry.base import BaseGeometry

from civrisk.settings import Settings
from civrisk.weeks import week_label
from publish.publication.outputs import CAP_DIR, revision_dir
from publish.render.cap import CapConfig, CapMessage, build_cap, cap_area

log = logging.getLogger(__name__)

REGION_GEOCODE = "civrisk_region_id"
"""CAP geocode valueName of the region id when the region has no polygon (as
publish.publication.outputs writes it)."""


def boundaries_path(settings: Settings) -> Path | None:
    """Return the admin-1 boundaries file of ``settings`` (the shared Sahel file by default), or None."""
    from ingest.boundaries import DEFAULT_ADMIN1_FILE

    if settings.boundaries is not None:
        return settings.boundaries
    shared = settings.shared_data / "boundaries" / DEFAULT_ADMIN1_FILE
    return shared if shared.is_file() else None


class RegionGeometries:
    """region_id -> polygon, loaded on first use (0.5-1 s for the Sahel file) and then kept."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._geoms: dict[str, BaseGeometry] | None = None
        self._lock = threading.Lock()

    def get(self) -> Mapping[str, BaseGeometry]:
        """Return the polygons by region id (empty when no boundaries are configured or shared)."""
        if self._geoms is None:
            with self._lock:
                if self._geoms is None:
                    self._geoms = self._load()
        return self._geoms

    def _load(self) -> dict[str, BaseGeometry]:
        path = boundaries_path(self.settings)
        if path is None:
            log.info("no admin-1 boundaries configured: CAP areas and GeoJSON features carry no polygons")
            return {}
        from ingest.boundaries import load_boundaries

        b = load_boundaries(
            path,
            self.settings.boundary_id_property,
            self.settings.boundary_name_property,
            self.settings.boundary_iso3_property,
        )
        return dict(zip(b.regions["region_id"].astype(str), b.geometries, strict=True))


def alert_cap_xml(
    row: Mapping[str, Any], geometries: Mapping[str, BaseGeometry], config: CapConfig, settings: Settings
) -> bytes:
    """Return the CAP 1.2 XML of one row of ``ScoreStore.alerts()``.

    The file the weekly job published (``<revision folder>/alerts/<message id>.cap.xml``) when it exists:
    it is what was sent, including its status (an ``--exercise`` publication's alerts say Exercise).
    Otherwise the message is built from the stored row with ``config``, its area as the weekly job
    builds it (the boundary id property as geocode for a region with a polygon).
    """
    week = pd.Timestamp(row["week"]).date()
    published = revision_dir(settings.home, week_label(week), int(row["revision"])) / CAP_DIR
    path = published / f"{row['message_id']}.cap.xml"
    if path.is_file():
        return path.read_bytes()
    region_id = str(row["region_id"])
    region_name = row.get("region_name")
    name = region_name if isinstance(region_name, str) else None
    geometry = geometries.get(region_id)
    geocodes = (
        {settings.boundary_id_property: region_id} if geometry is not None else {REGION_GEOCODE: region_id}
    )
    area = cap_area(name, str(row["iso3"]), geometry, geocodes)
    return build_cap(CapMessage.from_row(row), area, config)
