"""Region polygons: admin-1 GeoJSON files and Natural Earth admin-0 TopoJSON, held with a spatial index.

``load_boundaries`` reads any GeoJSON FeatureCollection of (Multi)Polygons whose features carry an id, a name
and a country property (configurable; defaults in civrisk.settings). ``load_countries`` decodes the Natural
Earth admin-0 TopoJSON shipped by world-atlas (feature ids are ISO 3166-1 numeric) with the small TopoJSON
decoder below, merged to one geometry per ISO3.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import shape
from shapely.strtree import STRtree

from civrisk.settings import get_settings
from ingest.countries import iso_numeric_to_iso3, to_iso3

log = logging.getLogger(__name__)

DEFAULT_ADMIN1_FILE = "sahel_adm1_mli_bfa_ner.geojson"


class BoundariesError(ValueError):
    """A boundaries file cannot be used: not GeoJSON, features without the id/name/country properties."""


DEFAULT_COUNTRIES_FILE = "countries-50m.json"


@dataclass(frozen=True, eq=False)
class Boundaries:
    """Polygons of one unit: ``regions`` (region_id, iso3, name, code) row i describes ``geometries[i]``;
    ``code`` is the region's standard code (ISO 3166-2 or P-code) when the file carries one, else missing."""

    regions: pd.DataFrame
    geometries: np.ndarray
    tree: STRtree
    source: str

    @classmethod
    def from_frame(cls, regions: pd.DataFrame, geometries: object, source: str) -> Boundaries:
        """Return checked Boundaries: unique non-null region ids, ISO3 codes, polygonal geometries."""
        geoms = np.asarray(geometries, dtype=object)
        frame = pd.DataFrame(
            {
                "region_id": regions["region_id"].astype("string").to_numpy(),
                "iso3": regions["iso3"].astype("string").to_numpy(),
                "name": regions["name"].astype("string").to_numpy(),
                "code": (
                    regions["code"] if "code" in regions.columns else pd.Series(pd.NA, index=regions.index)
                )
                .astype("string")
                .to_numpy(),
            }
        )
        if len(frame) != len(geoms):
            raise BoundariesError(f"{source}: {len(frame)} region rows but {len(geoms)} geometries")
        problems = []
        if frame["region_id"].isna().any():
            problems.append(f"{int(frame['region_id'].isna().sum())} regions without an id")
        dup = frame["region_id"].dropna().duplicated(keep=False)
        if dup.any():
            problems.append(f"duplicate region ids {sorted(set(frame['region_id'].dropna()[dup]))[:5]}")
        if frame["iso3"].isna().any():
            problems.append(f"{int(frame['iso3'].isna().sum())} regions without an ISO3 country")
        kinds = shapely.get_type_id(geoms)
        bad = ~np.isin(kinds, (3, 6))  # Polygon, MultiPolygon
        if bad.any():
            problems.append(
                f"{int(bad.sum())} geometries are not (Multi)Polygons, e.g. region "
                f"{frame.loc[bad, 'region_id'].iloc[0]!r}"
            )
        if problems:
            raise BoundariesError(f"boundaries from {source} are unusable: " + "; ".join(problems))
        shapely.prepare(geoms)
        return cls(regions=frame, geometries=geoms, tree=STRtree(geoms), source=source)

    def positions_for(self, iso3s: object) -> np.ndarray:
        """Return the row positions of the regions that belong to any of ``iso3s``."""
        return np.flatnonzero(self.regions["iso3"].isin(list(pd.Series(iso3s).dropna())).to_numpy())

    @property
    def iso3s(self) -> set[str]:
        """Return the set of countries these polygons cover."""
        return set(self.regions["iso3"].dropna())


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """Return ``geom`` made valid, keeping only its polygonal part (repairs self-touching rings)."""
    if shapely.is_valid(geom):
        return geom
    fixed = shapely.make_valid(geom)
    if shapely.get_type_id(fixed) == 7:  # GeometryCollection: keep the polygons
        parts = [g for g in shapely.get_parts(fixed) if shapely.get_type_id(g) in (3, 6)]
        fixed = shapely.union_all(parts)
    return fixed


def default_boundaries_path() -> Path | None:
    """Return the configured admin-1 file, else the shared Sahel admin-1 file when present, else None."""
    settings = get_settings()
    if settings.boundaries is not None:
        return settings.boundaries
    shared = settings.shared_data / "boundaries" / DEFAULT_ADMIN1_FILE
    return shared if shared.is_file() else None


def load_boundaries(
    path: Path | None = None,
    id_property: str | None = None,
    name_property: str | None = None,
    iso3_property: str | None = None,
) -> Boundaries:
    """Return admin-1 Boundaries from a GeoJSON FeatureCollection (defaults: civrisk.settings).

    The country property may hold ISO3 codes or country names (mapped with ingest.countries.to_iso3).
    """
    settings = get_settings()
    id_property = id_property or settings.boundary_id_property
    name_property = name_property or settings.boundary_name_property
    iso3_property = iso3_property or settings.boundary_iso3_property
    path = Path(path) if path is not None else default_boundaries_path()
    if path is None:
        raise FileNotFoundError(
            "no admin-1 boundaries configured: set CIVRISK_BOUNDARIES to a GeoJSON file of admin-1 "
            f"polygons (the shared default {DEFAULT_ADMIN1_FILE} is absent)"
        )
    if not path.is_file():
        raise FileNotFoundError(f"admin-1 boundaries file {path} does not exist (CIVRISK_BOUNDARIES)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise BoundariesError(f"{path} is not a GeoJSON file ({err}); expected a FeatureCollection") from err
    if (
        not isinstance(data, dict)
        or data.get("type") != "FeatureCollection"
        or not isinstance(data.get("features"), list)
    ):
        raise BoundariesError(
            f"{path}: expected a GeoJSON FeatureCollection, got type "
            f"{data.get('type') if isinstance(data, dict) else type(data).__name__!r}"
            + (" (this looks like TopoJSON: use load_countries or convert it)" if "arcs" in data else "")
        )
    rows, geoms = [], []
    for i, feature in enumerate(data["features"]):
        props = feature.get("properties") or {}
        missing = [p for p in (id_property, name_property, iso3_property) if props.get(p) in (None, "")]
        if missing:
            raise BoundariesError(
                f"{path}: feature {i} lacks properties {missing}; it has {sorted(props)}. Pass "
                "id_property/name_property/iso3_property (or set CIVRISK_BOUNDARY_ID_PROPERTY, ...)"
            )
        if not feature.get("geometry"):
            raise BoundariesError(f"{path}: feature {i} ({props[id_property]!r}) has no geometry")
        code = standard_code(props, settings.boundary_code_properties)
        rows.append((str(props[id_property]), str(props[iso3_property]), str(props[name_property]), code))
        geoms.append(_polygonal(shape(feature["geometry"])))
    frame = pd.DataFrame(rows, columns=["region_id", "iso3", "name", "code"])
    raw = frame["iso3"]
    is_code = raw.str.fullmatch(r"[A-Z]{3}")
    frame["iso3"] = raw.where(is_code, to_iso3(raw))
    if frame["iso3"].isna().any():
        unknown = sorted(set(raw[frame["iso3"].isna()]))
        raise BoundariesError(f"{path}: property {iso3_property!r} holds unknown countries {unknown}")
    return Boundaries.from_frame(frame, geoms, source=str(path))


def standard_code(props: dict[str, Any], names: tuple[str, ...]) -> str | None:
    """Return the first non-empty of ``names`` in a feature's properties, then in its ``source_attributes``
    (where the shared file keeps the original attributes), else None."""
    nested = props.get("source_attributes")
    for where in (props, nested if isinstance(nested, dict) else {}):
        for name in names:
            value = where.get(name)
            if value not in (None, ""):
                return str(value)
    return None


# ----------------------------------------------------------------------------------------------
# TopoJSON (https://github.com/topojson/topojson-specification): arcs are quantized and delta-encoded.
# ----------------------------------------------------------------------------------------------


def decode_arcs(topology: dict[str, Any]) -> list[np.ndarray]:
    """Return every arc of ``topology`` as an (n, 2) array of lon/lat, undoing quantization and deltas."""
    transform = topology.get("transform")
    arcs = []
    for arc in topology["arcs"]:
        points = np.asarray(arc, dtype="float64")[:, :2]
        if transform is not None:
            points = np.cumsum(points, axis=0) * transform["scale"] + transform["translate"]
        arcs.append(points)
    return arcs


def _ring(indices: list[int], arcs: list[np.ndarray]) -> np.ndarray:
    """Stitch arcs into a ring; index ~i (negative) means arc i reversed; shared end points appear once."""
    parts = []
    for k, index in enumerate(indices):
        points = arcs[index] if index >= 0 else arcs[~index][::-1]
        parts.append(points if k == 0 else points[1:])
    return np.concatenate(parts)


def _polygon(rings: list[list[int]], arcs: list[np.ndarray]) -> shapely.Polygon:
    coords = [_ring(r, arcs) for r in rings]
    return shapely.Polygon(coords[0], coords[1:])


def decode_topojson(topology: dict[str, Any], object_name: str) -> Iterator[tuple[Any, dict, Any]]:
    """Yield ``(id, properties, geometry)`` for each (Multi)Polygon in ``topology['objects'][object_name]``.

    Geometries are shapely (Multi)Polygons in lon/lat; other geometry types are skipped, null ones yield None.
    """
    if topology.get("type") != "Topology" or object_name not in topology.get("objects", {}):
        raise ValueError(
            f"expected a TopoJSON Topology with object {object_name!r}; got type {topology.get('type')!r} "
            f"with objects {sorted(topology.get('objects', {}))}"
        )
    arcs = decode_arcs(topology)
    obj = topology["objects"][object_name]
    members = obj["geometries"] if obj.get("type") == "GeometryCollection" else [obj]
    for member in members:
        kind = member.get("type")
        if kind == "Polygon":
            geom = _polygon(member["arcs"], arcs)
        elif kind == "MultiPolygon":
            geom = shapely.MultiPolygon([_polygon(p, arcs) for p in member["arcs"]])
        elif kind is None:
            geom = None
        else:
            continue
        yield member.get("id"), member.get("properties") or {}, geom


def default_countries_path() -> Path | None:
    """Return the configured Natural Earth TopoJSON, else the shared countries-50m.json if present."""
    settings = get_settings()
    if settings.country_boundaries is not None:
        return settings.country_boundaries
    shared = settings.shared_data / "boundaries" / DEFAULT_COUNTRIES_FILE
    return shared if shared.is_file() else None


@lru_cache(maxsize=4)
def load_countries(path: Path | None = None) -> Boundaries | None:
    """Return Natural Earth admin-0 polygons merged per ISO3 (region_id = iso3); None if no file is found.

    Features without an ISO numeric id are placed by name through the alias table (Somaliland -> SOM,
    N. Cyprus -> CYP, Kosovo -> XKX, ...), so that a country's polygon covers what UCDP/ACLED code as it.
    """
    path = Path(path) if path is not None else default_countries_path()
    if path is None:
        log.warning("no Natural Earth country polygons (set CIVRISK_COUNTRY_BOUNDARIES); checks are skipped")
        return None
    topology = json.loads(path.read_text(encoding="utf-8"))
    ids, names, geoms = [], [], []
    for fid, props, geom in decode_topojson(topology, "countries"):
        if geom is None:
            continue
        ids.append(fid)
        names.append(props.get("name"))
        geoms.append(_polygonal(geom))
    by_id = iso_numeric_to_iso3(pd.Series(ids, dtype=object))
    by_name = to_iso3(pd.Series(names, dtype="string"))
    iso3 = by_id.fillna(by_name)
    if iso3.isna().any():
        unplaced = [n for n, c in zip(names, iso3, strict=True) if pd.isna(c)]
        raise ValueError(f"{path}: Natural Earth features {unplaced} map to no ISO3; add them to the aliases")
    frame = pd.DataFrame({"iso3": iso3.to_numpy(), "name": names, "geometry": geoms})
    # The feature carrying the ISO id names the country (not "Somaliland" merged into Somalia).
    frame["has_id"] = by_id.notna().to_numpy()
    merged = frame.sort_values("has_id", ascending=False).groupby("iso3", sort=True)
    regions = merged.agg(name=("name", "first")).reset_index()
    union = merged["geometry"].agg(lambda g: shapely.union_all(list(g)))
    regions["region_id"] = regions["iso3"]
    return Boundaries.from_frame(regions, union.loc[regions["iso3"]].to_numpy(), source=str(path))
