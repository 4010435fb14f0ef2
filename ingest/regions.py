"""Region assignment: events -> admin-1 region and PRIO-GRID cell; region tables; neighbours; country checks.

Rules (docs/REGIONS.md has the reasoning):
- Each event gets a precision class from its source's location precision: ``point`` (coordinates locate the
  event: UCDP where_prec 1-3, ACLED geo_precision 1-2, or unknown precision with coordinates), ``admin1``
  (only the admin-1 unit is known: UCDP 4-5, ACLED 3 -- needs a published admin-1 name) or ``country``
  (UCDP 6-7: neither admin-1 nor grid).
- grid_id: PRIO-GRID cell of the coordinates, for point-class events only.
- admin1_id, countries with polygons: point-class events by point-in-polygon, then by admin-1 name, then
  the nearest polygon of the same country within COUNTRY_TOLERANCE_DEG; admin1-class events by name first,
  then the same spatial steps. Countries without polygons: ``f"{iso3}-{slug(admin1)}"``.
- Names are matched after the admin-1 alias table (ingest.admin1_names: "Northern Darfur" is "North
  Darfur"); regions and cells belong to the country that holds the place today (ingest.successions: a 2005
  event in Juba counts for Sudan but lies in a South Sudan region).
"""

from __future__ import annotations

import logging
from functools import lru_cache

import numpy as np
import pandas as pd
import shapely

from civrisk.contracts import REGIONS, UNITS, validate_regions
from ingest.admin1_names import Admin1Aliases, packaged_aliases
from ingest.boundaries import Boundaries, load_countries
from ingest.countries import iso3_name
from ingest.country_check import COUNTRY_TOLERANCE_DEG, points_in_country
from ingest.grid import gid_centroid, priogrid_gid, queen_neighbours
from ingest.locations import ADMIN1, COUNTRY, POINT, admin1_slugs, coordinates, precision_class
from ingest.successions import present_iso3, successor_of

log = logging.getLogger(__name__)

__all__ = ["assign_regions", "neighbours", "points_in_country", "region_table"]

NEIGHBOUR_BUFFER_DEG = 0.01
"""Polygons closer than this (about 1 km) are neighbours; admin files from different sources leave gaps."""


def _point_in_polygon(b: Boundaries, iso3: np.ndarray, lon: np.ndarray, lat: np.ndarray, rows: np.ndarray):
    """Return polygon position (or -1) per row in ``rows``: a polygon of the row's own country holding it."""
    found = np.full(len(rows), -1, dtype="int64")
    if len(rows) == 0:
        return found
    points = shapely.points(lon[rows], lat[rows])
    src, poly = b.tree.query(points, predicate="intersects")
    same = b.regions["iso3"].to_numpy(dtype=object)[poly] == iso3[rows][src]
    src, poly = src[same], poly[same]
    order = np.lexsort((poly, src))[::-1]  # lowest polygon position wins on shared borders
    found[src[order]] = poly[order]
    return found


@lru_cache(maxsize=64)
def _near_country(b: Boundaries, iso3: str) -> tuple[shapely.Geometry, shapely.STRtree, np.ndarray]:
    """Return (buffered outline, tree of its polygons, their positions) for one country of ``b``."""
    pos = b.positions_for([iso3])
    outline = shapely.union_all(b.geometries[pos]).simplify(0.01).buffer(COUNTRY_TOLERANCE_DEG)
    shapely.prepare(outline)
    return outline, shapely.STRtree(b.geometries[pos]), pos


def _nearest_polygon(b: Boundaries, iso3: np.ndarray, lon: np.ndarray, lat: np.ndarray, rows: np.ndarray):
    """Return the nearest same-country polygon within COUNTRY_TOLERANCE_DEG (or -1) per row in ``rows``."""
    found = np.full(len(rows), -1, dtype="int64")
    codes = iso3[rows]
    for code in pd.unique(codes):
        outline, tree, pos = _near_country(b, code)
        sel = np.flatnonzero(codes == code)
        sel = sel[shapely.contains_xy(outline, lon[rows][sel], lat[rows][sel])]  # cheap pre-filter
        src, near = tree.query_nearest(
            shapely.points(lon[rows][sel], lat[rows][sel]),
            max_distance=COUNTRY_TOLERANCE_DEG,
            all_matches=False,
        )
        found[sel[src]] = pos[near]
    return found


_SEP = "\x1f"  # unit separator: in no ISO3 code or admin-1 slug


def _joined(left: np.ndarray, right: np.ndarray, sep: str) -> np.ndarray:
    """Return ``left[i] + sep + right[i]`` as an object array, formatted once per distinct pair."""
    lc, lu = pd.factorize(left)
    rc, ru = pd.factorize(right)
    pair = np.where((lc < 0) | (rc < 0), -1, lc.astype(np.int64) * max(len(ru), 1) + rc)
    codes, uniques = pd.factorize(pair)
    text = [None if p < 0 else f"{lu[p // len(ru)]}{sep}{ru[p % len(ru)]}" for p in uniques]
    return np.array([*text, None], dtype=object)[codes]


def assign_regions(
    events: pd.DataFrame, boundaries: Boundaries | None, aliases: Admin1Aliases | None = None
) -> pd.DataFrame:
    """Return a copy of ``events`` with ``admin1_id`` (<NA> = country level) and ``grid_id`` (Int64) set.

    ``aliases``: admin-1 renames (default: the packaged table, ``ingest/admin1_aliases.csv``).
    """
    need = ["source", "iso3", "admin1", "latitude", "longitude", "geo_precision"]
    missing = [c for c in need if c not in events.columns]
    if missing:
        raise ValueError(
            f"assign_regions: events lack columns {missing} (expected the canonical events table)"
        )
    out = events.copy()
    cls = precision_class(out)
    lat, lon, has_xy = coordinates(out)
    grid = priogrid_gid(lat, lon)
    grid[~(has_xy & (cls == POINT))] = pd.NA
    out["grid_id"] = grid

    aliases = aliases if aliases is not None else packaged_aliases()
    # regions belong to the country holding the place today, whatever the event's country at its date
    iso3 = present_iso3(out["iso3"], lat, lon).fillna("").to_numpy(dtype=object)
    slug = aliases.canonical(iso3, admin1_slugs(out["admin1"].astype("string")))
    has_name = slug.notna().to_numpy()
    ids = np.full(len(out), None, dtype=object)
    method = np.full(len(out), "none", dtype=object)
    poly_iso = boundaries.iso3s if boundaries is not None else set()
    in_poly = np.isin(iso3, list(poly_iso))

    # Coordinates may place an event in an admin-1 unit when they locate it (POINT), or when the source
    # names the unit but it matched no polygon (ADMIN1 with a name: the coordinates are that unit's centre).
    locatable = (cls == POINT) | ((cls == ADMIN1) & has_name)

    # Countries without polygons: ids from names.
    by_slug = (cls != COUNTRY) & ~in_poly & has_name & (iso3 != "")
    ids[by_slug] = _joined(iso3[by_slug], slug[by_slug].to_numpy(dtype=object), "-")
    method[by_slug] = "name_slug"

    if boundaries is not None and in_poly.any():
        region_ids = boundaries.regions["region_id"].to_numpy(dtype=object)
        poly_slugs = aliases.canonical(boundaries.regions["iso3"], admin1_slugs(boundaries.regions["name"]))
        keys = zip(boundaries.regions["iso3"], poly_slugs, strict=True)
        name_index = dict(zip(keys, region_ids, strict=True))
        # look up each distinct (iso3, slug) pair once, not each of 400k events (~1,000 pairs)
        codes, pairs = pd.factorize(_joined(iso3, slug.fillna("").to_numpy(dtype=object), _SEP))
        found = [name_index.get(tuple(pair.split(_SEP, 1))) for pair in pairs]
        by_name = np.array(found + [None], dtype=object)[codes]
        rows = np.flatnonzero(in_poly & has_xy & locatable)
        pip = np.full(len(out), None, dtype=object)
        hit = _point_in_polygon(boundaries, iso3, lon, lat, rows)
        pip[rows[hit >= 0]] = region_ids[hit[hit >= 0]]
        steps = [  # ADMIN1 class: the published name first; POINT class: coordinates first
            (in_poly & (cls == ADMIN1), by_name, "name"),
            (in_poly & locatable, pip, "point_in_polygon"),
            (in_poly & (cls == POINT), by_name, "name"),
        ]
        for mask, values, label in steps:
            take = mask & pd.isna(ids) & pd.notna(values)
            ids[take] = values[take]
            method[take] = label
        left = np.flatnonzero(in_poly & has_xy & locatable & pd.isna(ids))
        near = _nearest_polygon(boundaries, iso3, lon, lat, left)
        ids[left[near >= 0]] = region_ids[near[near >= 0]]
        method[left[near >= 0]] = "nearest_polygon"
    out["admin1_id"] = pd.array(ids, dtype="string")
    counts = pd.Series(method).value_counts().to_dict()
    unmatched = in_poly & locatable & (has_xy | has_name) & pd.isna(ids)
    log.info("admin-1 assignment of %d events by method: %s", len(out), counts)
    if unmatched.any():
        log.warning(
            "%d events in countries with polygons stay at country level: their admin-1 names (%s) match no "
            "polygon and their coordinates are missing or farther than %.2f deg from the country's polygons",
            int(unmatched.sum()),
            sorted(set(out.loc[unmatched, "admin1"].dropna()))[:10],
            COUNTRY_TOLERANCE_DEG,
        )
    return out


# ----------------------------------------------------------------------------------------------
# Region tables and neighbours
# ----------------------------------------------------------------------------------------------

REGION_COLUMNS = tuple(REGIONS.columns)


def _check_unit(unit: str) -> None:
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}; expected one of {list(UNITS)}")


def _finish(table: pd.DataFrame, unit: str) -> pd.DataFrame:
    table = table.assign(unit=unit)
    for col in ("region_id", "unit", "iso3", "name"):
        table[col] = table[col].astype("string")
    for col in ("lat", "lon"):
        table[col] = pd.to_numeric(table[col]).astype("float64")
    return validate_regions(table.loc[:, list(REGION_COLUMNS)].reset_index(drop=True), f"{unit} regions")


def _centroids(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cent = shapely.centroid(geoms)
    return shapely.get_y(cent), shapely.get_x(cent)


def _with_regions(events: pd.DataFrame, boundaries: Boundaries | None) -> pd.DataFrame:
    if {"admin1_id", "grid_id"} <= set(events.columns):
        return events
    return assign_regions(events, boundaries)


def _country_table(iso3s: list[str], events: pd.DataFrame) -> pd.DataFrame:
    table = pd.DataFrame({"region_id": iso3s, "iso3": iso3s})
    table["name"] = iso3_name(table["iso3"]).fillna(table["iso3"]).to_numpy()
    lat = np.full(len(iso3s), np.nan)
    lon = np.full(len(iso3s), np.nan)
    countries = load_countries()
    if countries is not None:
        pos = countries.regions.reset_index().set_index("iso3")["index"].reindex(iso3s)
        has = pos.notna().to_numpy()
        lat[has], lon[has] = _centroids(countries.geometries[pos[has].astype("int64")])
    ev_lat, ev_lon, ok = coordinates(events)
    mean = pd.DataFrame({"iso3": events["iso3"].to_numpy(), "lat": ev_lat, "lon": ev_lon})[ok]
    mean = mean.groupby("iso3")[["lat", "lon"]].mean().reindex(iso3s)
    table["lat"] = np.where(np.isnan(lat), mean["lat"], lat)
    table["lon"] = np.where(np.isnan(lon), mean["lon"], lon)
    return table


def _admin1_table(iso3s: list[str], events: pd.DataFrame, boundaries: Boundaries | None) -> pd.DataFrame:
    parts = []
    if boundaries is not None:
        pos = boundaries.positions_for(iso3s)
        poly = boundaries.regions.iloc[pos].copy()
        poly["lat"], poly["lon"] = _centroids(boundaries.geometries[pos])
        parts.append(poly)
    known = set(parts[0]["region_id"]) if parts else set()
    ev_lat, ev_lon, ok = coordinates(events)
    named = pd.DataFrame(
        {
            "region_id": events["admin1_id"].astype("string").to_numpy(),
            "iso3": events["iso3"].astype("string").to_numpy(),
            "name": events["admin1"].astype("string").to_numpy(),
            "lat": np.where(ok, ev_lat, np.nan),
            "lon": np.where(ok, ev_lon, np.nan),
        }
    )
    named = named[named["region_id"].notna() & ~named["region_id"].isin(known)]
    # a name-derived id starts with the country holding the place today (SSD-... for a 2005 Juba event
    # counted for Sudan): only the run's countries' regions are listed
    prefix = named["region_id"].str.extract(r"^([A-Z]{3})-", expand=False)
    named = named.assign(iso3=prefix.fillna(named["iso3"]))
    named = named[named["iso3"].isin(iso3s)]
    if len(named):
        grouped = named.groupby("region_id", sort=True)
        parts.append(
            pd.DataFrame(
                {
                    "iso3": grouped["iso3"].agg(lambda s: s.mode().iloc[0]),
                    "name": grouped["name"].agg(lambda s: s.mode().iloc[0] if s.notna().any() else pd.NA),
                    "lat": grouped["lat"].mean(),
                    "lon": grouped["lon"].mean(),
                }
            ).reset_index()
        )
    if not parts:
        return pd.DataFrame(columns=["region_id", "iso3", "name", "lat", "lon"])
    return pd.concat(parts, ignore_index=True).sort_values(["iso3", "region_id"])


def _grid_table(iso3s: list[str], events: pd.DataFrame) -> pd.DataFrame:
    gids, owners = [], []
    countries = load_countries()
    if countries is not None:
        for pos in countries.positions_for(iso3s):
            geom = countries.geometries[pos]
            minx, miny, maxx, maxy = shapely.bounds(geom)
            rows = np.arange(np.floor((miny + 90) * 2), np.ceil((maxy + 90) * 2), dtype="int64")
            cols = np.arange(np.floor((minx + 180) * 2), np.ceil((maxx + 180) * 2), dtype="int64")
            rr, cc = np.meshgrid(rows, cols, indexing="ij")
            clat, clon = -90 + (rr.ravel() + 0.5) / 2, -180 + (cc.ravel() + 0.5) / 2
            inside = shapely.contains_xy(geom, clon, clat)
            if not inside.any():  # a country smaller than a cell: take the cells it touches
                boxes = shapely.box(clon - 0.25, clat - 0.25, clon + 0.25, clat + 0.25)
                inside = shapely.intersects(geom, boxes)
            gids.append(rr.ravel()[inside] * 720 + cc.ravel()[inside] + 1)
            owners.append(np.full(int(inside.sum()), countries.regions["iso3"].iloc[pos], dtype=object))
    cells = pd.DataFrame(
        {"gid": np.concatenate(gids) if gids else [], "iso3": np.concatenate(owners) if owners else []}
    )
    ev = pd.DataFrame({"gid": events["grid_id"], "iso3": events["iso3"].astype("string")}).dropna()
    extra = ev[~ev["gid"].isin(cells["gid"])]
    if len(extra):
        modal = extra.groupby("gid")["iso3"].agg(lambda s: s.mode().iloc[0]).reset_index()
        # a cell of Sudan's events from before 2011 that lies in today's South Sudan is South Sudan's:
        # such cells are not the run's country's after the split (ingest.successions)
        lat, lon = gid_centroid(modal["gid"])
        owner = present_iso3(modal["iso3"], lat, lon).to_numpy(dtype=object)
        moved = np.array([successor_of(a, b) for a, b in zip(modal["iso3"], owner, strict=True)], dtype=bool)
        modal = modal.assign(iso3=owner)[~moved | np.isin(owner, iso3s)]
        cells = pd.concat([cells, modal], ignore_index=True)
    cells = cells.drop_duplicates("gid").astype({"gid": "int64"}).sort_values("gid")
    lat, lon = gid_centroid(cells["gid"])
    return pd.DataFrame(
        {
            "region_id": cells["gid"].astype(str).to_numpy(),
            "iso3": cells["iso3"].to_numpy(),
            "name": [f"cell {g} ({a:.2f}, {o:.2f})" for g, a, o in zip(cells["gid"], lat, lon, strict=True)],
            "lat": lat,
            "lon": lon,
        }
    )


def region_table(events: pd.DataFrame, boundaries: Boundaries | None, unit: str) -> pd.DataFrame:
    """Return every region of ``unit`` for the countries in ``events``: region_id, unit, iso3, name, lat, lon.

    admin1: all polygons of those countries (with or without events) plus name-derived ids; grid: every cell
    whose centre lies in those countries (Natural Earth 50m) or that holds an event; country: one per ISO3.
    """
    _check_unit(unit)
    iso3s = sorted(set(events["iso3"].dropna().astype(str)))
    if unit == "country":
        return _finish(_country_table(iso3s, events), unit)
    events = _with_regions(events, boundaries)
    if unit == "admin1":
        return _finish(_admin1_table(iso3s, events, boundaries), unit)
    return _finish(_grid_table(iso3s, events), unit)


def _touching(geoms: np.ndarray, ids: np.ndarray) -> pd.DataFrame:
    tree = shapely.STRtree(geoms)
    a, b = tree.query(shapely.buffer(geoms, NEIGHBOUR_BUFFER_DEG), predicate="intersects")
    keep = a != b
    return pd.DataFrame({"region_id": ids[a[keep]], "neighbour_id": ids[b[keep]]})


def neighbours(regions: pd.DataFrame, boundaries: Boundaries | None, unit: str) -> pd.DataFrame:
    """Return symmetric region_id, neighbour_id pairs among ``regions`` (a region_table of ``unit``).

    admin1: polygons that touch or lie within NEIGHBOUR_BUFFER_DEG (name-derived regions have none);
    grid: queen (8-cell) neighbours; country: Natural Earth polygons that touch.
    """
    _check_unit(unit)
    ids = regions["region_id"].dropna().astype(str).unique()
    pairs = pd.DataFrame({"region_id": [], "neighbour_id": []}, dtype="string")
    if unit == "grid" and len(ids):
        q = queen_neighbours(ids.astype("int64"))
        pairs = pd.DataFrame(
            {"region_id": q["gid"].astype(str), "neighbour_id": q["neighbour_gid"].astype(str)}
        )
    elif unit in ("admin1", "country"):
        source = boundaries if unit == "admin1" else load_countries()
        if source is not None:
            pos = np.flatnonzero(source.regions["region_id"].isin(ids).to_numpy())
            if len(pos):
                pairs = _touching(
                    source.geometries[pos], source.regions["region_id"].to_numpy(dtype=object)[pos]
                )
    both = pd.concat(
        [pairs, pairs.rename(columns={"region_id": "neighbour_id", "neighbour_id": "region_id"})]
    )
    both = both.drop_duplicates().sort_values(["region_id", "neighbour_id"], ignore_index=True)
    return both.astype({"region_id": "string", "neighbour_id": "string"})[["region_id", "neighbour_id"]]
