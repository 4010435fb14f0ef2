"""Where synthetic events happen: admin-1 regions and named locations inside real country polygons.

Mali, Burkina Faso and Niger use their real admin-1 polygons (shared Sahel GeoJSON), so an event's
coordinates fall inside the region its ``adm_1`` names. Elsewhere a country gets pycountry's admin-1
names, each given a random seed point inside the Natural Earth polygon; locations are drawn uniformly in
the country and belong to the nearest seed (Voronoi cells), so a region's events cluster in one part of
the country and every coordinate lies inside the country.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pycountry
import shapely

from benchmarks.synthetic_countries import SAHEL_ISO3, CountrySpec, countries

_SYLLABLE_TEXT = "ka la ba do ri mo su ta ne go bi ra sa ma ko lu di fa ye an ar ul ham zan bur kan tel mir"
_SYLLABLES = tuple(_SYLLABLE_TEXT.split())
_UNIT_TEXT = "province region state district governorate county department territory oblast zone prefecture"
_UNIT_WORDS = frozenset(_UNIT_TEXT.split())
_LETTERS = str.maketrans({"ı": "i", "ə": "a", "‘": "", "’": "", "ʻ": "", "ʼ": ""})
_PLACE_KINDS = ("village", "town", "village", "village", "town", "city", "area", "camp")


@dataclass(frozen=True)
class World:
    """Regions (one row per admin-1) and locations (points with names), as parallel numpy arrays."""

    countries: tuple[CountrySpec, ...]
    country_point: np.ndarray  # (n_countries, 2) lon/lat of a point inside each country
    region_country: np.ndarray  # (n_regions,) index into countries
    region_name: np.ndarray  # adm_1 as UCDP spells it: "Mopti region"
    region_point: np.ndarray  # (n_regions, 2) a point inside the region (for where_prec 4-5 events)
    region_weight: np.ndarray  # relative share of its country's events
    loc_start: np.ndarray  # (n_regions,) first location of each region
    loc_count: np.ndarray  # (n_regions,) number of locations of each region (>= 1)
    loc_point: np.ndarray  # (n_locations, 2)
    loc_name: np.ndarray  # "Kalaba village"
    loc_adm2: np.ndarray  # "Kalaba district" or ""

    @property
    def n_regions(self) -> int:
        """Return the number of admin-1 regions."""
        return len(self.region_name)


def build_world(
    shared_data: Path, n_regions: int = 1000, locations_per_region: int = 40, seed: int = 1989
) -> World:
    """Return a World of about ``n_regions`` admin-1 regions over the synthetic countries.

    Needs ``shared_data/boundaries`` (Natural Earth countries-50m.json and the Sahel admin-1 GeoJSON).
    """
    from ingest.boundaries import load_boundaries, load_countries

    rng = np.random.default_rng(seed)
    folder = Path(shared_data) / "boundaries"
    nat = load_countries(folder / "countries-50m.json")
    if nat is None:
        raise FileNotFoundError(f"Natural Earth country polygons not found under {folder}")
    sahel = load_boundaries(
        folder / "sahel_adm1_mli_bfa_ner.geojson",
        id_property="adm1_pcode",
        name_property="adm1_name",
        iso3_property="iso3",
    )
    country_geom = dict(zip(nat.regions["iso3"], nat.geometries, strict=True))
    specs = countries()
    missing = [c.iso3 for c in specs if c.iso3 not in country_geom]
    if missing:
        raise ValueError(f"no Natural Earth polygon for synthetic countries {missing}")
    subdivisions = {c.iso3: _subdivision_names(c.iso3) for c in specs if c.iso3 not in SAHEL_ISO3}
    n_sahel = int(sahel.regions["iso3"].isin(SAHEL_ISO3).sum())
    cap = _cap(sorted(len(v) for v in subdivisions.values()), max(n_regions - n_sahel, len(subdivisions)))

    region_country, names, points, loc_points, loc_region = [], [], [], [], []
    for ci, spec in enumerate(specs):
        if spec.iso3 in SAHEL_ISO3:
            rows = np.flatnonzero(sahel.regions["iso3"].to_numpy() == spec.iso3)
            for row in rows:
                geom = sahel.geometries[row]
                region_country.append(ci)
                names.append(f"{sahel.regions['name'].iloc[row]} {spec.suffix}")
                points.append(_point_on_surface(geom))
                loc_points.append(_uniform_in(geom, locations_per_region, rng))
                loc_region.append(np.full(locations_per_region, len(names) - 1))
            continue
        geom = country_geom[spec.iso3]
        subs = subdivisions[spec.iso3]
        chosen = sorted(rng.choice(len(subs), size=min(cap, len(subs)), replace=False)) if subs else []
        seeds = _uniform_in(geom, max(len(chosen), 1), rng)
        first = len(names)
        for k, idx in enumerate(chosen):
            region_country.append(ci)
            names.append(_adm1_name(subs[idx], spec.suffix))
            points.append(seeds[k])
        if not chosen:  # a country without ISO subdivisions: one region named after the country
            region_country.append(ci)
            names.append(f"{spec.name} {spec.suffix}")
            points.append(seeds[0])
        n_here = len(names) - first
        locs = _uniform_in(geom, locations_per_region * n_here, rng)
        owner = _nearest(locs, np.asarray(points[first:]))
        # each seed is also a location, so no region is left without one
        loc_points.append(np.vstack([np.asarray(points[first:]), locs]))
        loc_region.append(np.concatenate([np.arange(first, first + n_here), first + owner]))

    loc_point = np.vstack(loc_points)
    loc_reg = np.concatenate(loc_region)
    order = np.argsort(loc_reg, kind="stable")
    loc_point, loc_reg = loc_point[order], loc_reg[order]
    counts = np.bincount(loc_reg, minlength=len(names))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    place = _place_names(len(loc_point), rng)
    kinds = rng.choice(_PLACE_KINDS, size=len(loc_point))
    adm2 = np.where(rng.random(len(loc_point)) < 0.8, np.char.add(place, " district"), "")
    return World(
        countries=specs,
        country_point=np.asarray([_point_on_surface(country_geom[c.iso3]) for c in specs]),
        region_country=np.asarray(region_country),
        region_name=np.asarray(names, dtype=object),
        region_point=np.asarray(points),
        region_weight=rng.gamma(0.6, 1.0, size=len(names)) + 0.05,  # skewed, yet every region sees events
        loc_start=starts,
        loc_count=counts,
        loc_point=np.round(loc_point, 6),
        loc_name=np.char.add(np.char.add(place, " "), kinds).astype(object),
        loc_adm2=adm2.astype(object),
    )


def _subdivision_names(iso3: str) -> list[str]:
    """Return the top-level ISO 3166-2 subdivision names of ``iso3`` (pycountry), ASCII-folded, sorted.

    UCDP writes romanised names without transliteration marks (pycountry's "Al Qunaytirah" carries a
    cedilla under the t), so the marks are folded away.
    """
    country = pycountry.countries.get(alpha_3=iso3)
    if country is None:
        raise ValueError(f"synthetic_countries.csv: {iso3!r} is not an ISO 3166-1 alpha-3 code")
    subs = pycountry.subdivisions.get(country_code=country.alpha_2) or []
    return sorted({_ascii(s.name) for s in subs if s.parent_code is None})


def _adm1_name(name: str, suffix: str) -> str:
    """Return ``name`` as UCDP's adm_1 spells it: "Idlib governorate", "Northern province"."""
    head, _, last = name.rpartition(" ")
    unit = last.lower().rstrip("'")  # Russian "oblast'"
    if head and unit in _UNIT_WORDS:
        return f"{head} {unit}"
    return f"{name} {suffix}"


def _ascii(text: str) -> str:
    """Return ``text`` in plain ASCII: marks dropped, ayn/hamza quotes and "[city]" notes removed."""
    text = re.sub(r"\s*\[[^]]*\]", "", text).translate(_LETTERS)
    folded = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in folded if not unicodedata.combining(ch) and ch.isascii())


def _cap(sizes: list[int], target: int) -> int:
    """Return the largest per-country cap c with sum(min(size, c)) <= target (at least 1)."""
    cap = 1
    while cap < max(sizes, default=1) and sum(min(s, cap + 1) for s in sizes) <= target:
        cap += 1
    return cap


def _uniform_in(geom: shapely.Geometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """Return ``n`` points drawn uniformly inside ``geom`` (rejection sampling in its bounding box)."""
    shapely.prepare(geom)
    xmin, ymin, xmax, ymax = shapely.bounds(geom)
    out: list[np.ndarray] = []
    have = 0
    for _ in range(1000):
        batch = max(4 * (n - have), 64)
        x = rng.uniform(xmin, xmax, batch)
        y = rng.uniform(ymin, ymax, batch)
        inside = shapely.contains_xy(geom, x, y)
        out.append(np.column_stack([x[inside], y[inside]]))
        have += int(inside.sum())
        if have >= n:
            return np.vstack(out)[:n]
    raise ValueError(f"could not draw {n} points inside a polygon with bounds {(xmin, ymin, xmax, ymax)}")


def _point_on_surface(geom: shapely.Geometry) -> np.ndarray:
    point = shapely.point_on_surface(geom)
    return np.asarray([shapely.get_x(point), shapely.get_y(point)])


def _nearest(points: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Return, for each point, the index of the nearest seed (longitude scaled by cos(latitude))."""
    scale = np.cos(np.deg2rad(points[:, 1]))[:, None]
    dx = (points[:, None, 0] - seeds[None, :, 0]) * scale
    dy = points[:, None, 1] - seeds[None, :, 1]
    return np.argmin(dx * dx + dy * dy, axis=1)


def _place_names(n: int, rng: np.random.Generator) -> np.ndarray:
    """Return ``n`` made-up place names of two or three syllables ("Kalaba", "Dorimo")."""
    syl = np.asarray(_SYLLABLES)
    parts = [syl[rng.integers(0, len(syl), n)] for _ in range(3)]
    three = rng.random(n) < 0.5
    name = np.char.add(np.char.add(parts[0], parts[1]), np.where(three, parts[2], ""))
    return np.char.capitalize(name)
