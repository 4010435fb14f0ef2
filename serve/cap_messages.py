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

from shapely.geometry.base import BaseGeometry

from civrisk.settings import Settings
from publish.cap import CapConfig, CapMessage, build_cap, cap_area

log = logging.getLogger(__name__)

REGION_GEOCODE = "civrisk:region_id"
"""CAP geocode valueName carrying the region id (an OCHA p-code for the default admin-1 boundaries)."""


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


def alert_cap_xml(row: Mapping[str, Any], geometries: Mapping[str, BaseGeometry], config: CapConfig) -> bytes:
    """Return the CAP 1.2 XML of one row of ``ScoreStore.alerts()``."""
    region_id = str(row["region_id"])
    region_name = row.get("region_name")
    name = region_name if isinstance(region_name, str) else None
    area = cap_area(name, str(row["iso3"]), geometries.get(region_id), {REGION_GEOCODE: region_id})
    return build_cap(CapMessage.from_row(row), area, config)
