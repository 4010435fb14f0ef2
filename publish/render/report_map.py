"""The report's risk map: regions shaded by probability, drawn as inline SVG (no tiles, scripts or fonts).

:func:`build_map` projects lon/lat (equirectangular, x scaled by cos of the mid latitude), simplifies each
polygon to about half a pixel, clips Natural Earth country outlines to the view for context, and returns
:class:`MapData`, plain strings and numbers. :func:`render_map_svg` turns that into an ``<svg>`` string; every
text that comes from data (region and country names) is escaped there.

Regions without a polygon but with a centroid are drawn as dots; regions with neither are counted in
``MapData.n_unlocated`` (the caption says so) rather than left out silently.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

import numpy as np
import pandas as pd
import shapely

RISK_BREAKS: tuple[float, ...] = (0.0, 0.05, 0.10, 0.20, 0.35, 0.50, 0.70, 1.0)
"""Class edges of the colour scale: [0, 5%), [5, 10%), ... [70, 100%]."""

RISK_COLOURS: tuple[str, ...] = ("#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#b10026")
"""ColorBrewer YlOrRd, 7 classes: sequential, colour-blind safe, prints in greyscale in the right order."""

NO_SCORE_COLOUR = "#d4d4d4"
WITHHELD_FILL = "url(#withheld)"
MIN_PX = 3.0
"""Regions smaller than this many pixels in both directions are drawn as dots so their colour shows."""
_DARK_FROM = 5  # classes from here on take white text


def risk_class(p: float) -> int:
    """Return the index of the colour class that probability ``p`` falls in."""
    return min(max(bisect_right(RISK_BREAKS, p) - 1, 0), len(RISK_COLOURS) - 1)


def risk_colour(p: float) -> str:
    """Return the fill colour of probability ``p``."""
    return RISK_COLOURS[risk_class(p)]


def risk_text_colour(p: float) -> str:
    """Return the text colour that reads on :func:`risk_colour` (white on the two darkest classes)."""
    return "#ffffff" if risk_class(p) >= _DARK_FROM else "#1a1a1a"


def legend_items() -> list[tuple[str, str]]:
    """Return (colour, label) per class, e.g. ("#fed976", "5–10%")."""
    edges = [round(b * 100) for b in RISK_BREAKS]
    return [(c, f"{lo}–{hi}%") for c, lo, hi in zip(RISK_COLOURS, edges[:-1], edges[1:], strict=True)]


@dataclass(frozen=True)
class MapShape:
    """One region as an SVG path ``d`` (or a dot when ``r`` > 0) with its fill and tooltip."""

    region_id: str
    d: str
    fill: str
    title: str
    cx: float = 0.0
    cy: float = 0.0
    r: float = 0.0


@dataclass(frozen=True)
class MapLabel:
    """A text on the map: a rank marker (``rank`` > 0), a ranked region's name (``kind`` "name") or a
    context country name (``kind`` "country")."""

    x: float
    y: float
    text: str
    title: str = ""
    rank: int = 0
    kind: str = "country"


@dataclass(frozen=True)
class MapLegend:
    """The map legend's words (translated by the caller)."""

    title: str = "Chance civilians are killed"
    no_score: str = "no score (no data)"
    withheld: str = "withheld (stale data)"
    rank: str = "rank in the table"


@dataclass(frozen=True)
class MapData:
    """Everything the map SVG needs, already projected and simplified."""

    width: int
    height: int
    shapes: tuple[MapShape, ...]
    land: tuple[str, ...]
    borders: tuple[str, ...]
    labels: tuple[MapLabel, ...]
    title: str
    n_unlocated: int
    legend: MapLegend = MapLegend()
    n_unnamed: int = 0
    """Ranked regions whose name did not fit on the map without overlapping another label."""


def boundary_geometries(boundaries: object) -> dict[str, shapely.Geometry]:
    """Return region_id -> geometry of an ``ingest.boundaries.Boundaries`` (regions row i = geometry i)."""
    regions = boundaries.regions  # type: ignore[attr-defined]
    geometries = boundaries.geometries  # type: ignore[attr-defined]
    return dict(zip(regions["region_id"].astype(str), geometries, strict=True))


class _Projection:
    """Equirectangular lon/lat -> pixel projection fitted to a bounding box."""

    def __init__(self, bounds: tuple[float, float, float, float], width: int, max_height: int, pad: int):
        lon0, lat0, lon1, lat1 = bounds
        self.kx = math.cos(math.radians(max(min((lat0 + lat1) / 2, 80.0), -80.0)))
        span_x = max((lon1 - lon0) * self.kx, 1e-6)
        span_y = max(lat1 - lat0, 1e-6)
        self.scale = min((width - 2 * pad) / span_x, (max_height - 2 * pad) / span_y)
        self.lon0, self.lat1, self.pad = lon0, lat1, pad
        self.width = round(span_x * self.scale + 2 * pad)
        self.height = round(span_y * self.scale + 2 * pad)

    def xy(self, coords: np.ndarray) -> np.ndarray:
        x = (coords[:, 0] - self.lon0) * self.kx * self.scale + self.pad
        y = (self.lat1 - coords[:, 1]) * self.scale + self.pad
        return np.column_stack([x, y])


def _paths(geoms: Sequence[shapely.Geometry], proj: _Projection) -> list[str]:
    """Return one SVG path ``d`` per geometry (projected, 0.1 px precision; "" when nothing is left)."""
    arr = np.asarray(geoms, dtype=object)
    if not len(arr):
        return []
    projected = shapely.transform(arr, proj.xy)
    simple = shapely.simplify(projected, 0.5, preserve_topology=True)
    parts, part_of = shapely.get_parts(simple, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    coords, coord_of = shapely.get_coordinates(rings, return_index=True)
    text = np.char.mod("%.1f", np.round(coords, 1).ravel()).reshape(-1, 2)
    starts = np.searchsorted(coord_of, np.arange(len(rings) + 1))
    out: list[list[str]] = [[] for _ in range(len(arr))]
    geom_of_ring = part_of[ring_of]
    for i in range(len(rings)):
        a, b = starts[i], starts[i + 1] - 1  # drop the closing point: Z closes the ring
        if b - a < 3:
            continue
        pts = text[a:b]
        out[geom_of_ring[i]].append("M" + " ".join(f"{x},{y}" for x, y in pts) + "Z")
    return ["".join(p) for p in out]


def build_map(
    regions: pd.DataFrame,
    geometries: Mapping[str, shapely.Geometry] | None = None,
    countries: Mapping[str, shapely.Geometry] | None = None,
    country_names: Mapping[str, str] | None = None,
    *,
    title: str = "",
    legend: MapLegend = MapLegend(),
    width: int = 760,
    max_height: int = 620,
    n_markers: int = 10,
    n_names: int = 40,
) -> MapData:
    """Return the projected map of ``regions`` (region_id, iso3, name, lat, lon, fill, title, rank).

    ``rank`` (nullable int) puts numbered markers on the ``n_markers`` best-ranked regions and prints the
    names of the ``n_names`` best-ranked ones (so a printed map needs no hovering); a name that would
    overlap another label is left out and counted in ``n_unnamed``. ``countries`` (iso3 -> geometry) are
    drawn behind as land with their names, and the borders of the regions' own countries on top.
    """
    geometries = geometries or {}
    ids = regions["region_id"].astype(str).tolist()
    has_geom = [rid in geometries and geometries[rid] is not None for rid in ids]
    lat = pd.to_numeric(regions["lat"], errors="coerce").to_numpy(dtype="float64")
    lon = pd.to_numeric(regions["lon"], errors="coerce").to_numpy(dtype="float64")
    has_point = ~np.isnan(lat) & ~np.isnan(lon)
    drawn_geoms = [geometries[r] for r, g in zip(ids, has_geom, strict=True) if g]
    boxes = [shapely.total_bounds(np.asarray(drawn_geoms, dtype=object))] if drawn_geoms else []
    dots = has_point & ~np.asarray(has_geom, dtype=bool)
    if dots.any():
        boxes.append(np.array([lon[dots].min(), lat[dots].min(), lon[dots].max(), lat[dots].max()]))
    if not boxes:
        return MapData(width, 120, (), (), (), (), title, len(ids), legend)
    b = np.vstack(boxes)
    x0, y0, x1, y1 = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
    margin = max(x1 - x0, y1 - y0, 0.5) * 0.04
    bounds = (x0 - margin, y0 - margin, x1 + margin, y1 + margin)
    proj = _Projection(bounds, width, max_height, pad=6)

    region_d = iter(_paths(drawn_geoms, proj))
    # a polygon under MIN_PX across would be an invisible speck: it is drawn as a dot instead
    geo = np.asarray(drawn_geoms, dtype=object)
    extent = shapely.bounds(geo) if len(geo) else np.empty((0, 4))
    tiny = iter(
        ((extent[:, 2] - extent[:, 0]) * proj.kx * proj.scale < MIN_PX)
        & ((extent[:, 3] - extent[:, 1]) * proj.scale < MIN_PX)
    )
    shapes = []
    anchors: dict[str, tuple[float, float]] = {}
    cols = zip(ids, regions["fill"], regions["title"], has_geom, has_point, lon, lat, strict=True)
    for rid, fill, tip, geom_ok, point_ok, x, y in cols:
        if geom_ok:
            d = next(region_d)
            if next(tiny) or not d:
                pt = shapely.point_on_surface(geometries[rid])
                ((cx, cy),) = proj.xy(np.array([[pt.x, pt.y]]))
                shapes.append(MapShape(rid, "", str(fill), str(tip), round(cx, 1), round(cy, 1), 3.5))
            else:
                shapes.append(MapShape(rid, d, str(fill), str(tip)))
        elif point_ok:
            ((cx, cy),) = proj.xy(np.array([[x, y]]))
            shapes.append(MapShape(rid, "", str(fill), str(tip), round(cx, 1), round(cy, 1), 3.5))
            anchors[rid] = (cx, cy)

    land, borders, labels = _context(countries, country_names, set(regions["iso3"].astype(str)), bounds, proj)
    ranked = regions[regions["rank"].notna()].sort_values("rank").head(max(n_markers, n_names))
    points = []
    for rid, rank, tip, name in zip(
        ranked["region_id"].astype(str), ranked["rank"], ranked["title"], ranked["name"], strict=True
    ):
        if rid in geometries and geometries[rid] is not None:
            pt = shapely.point_on_surface(geometries[rid])
            ((x, y),) = proj.xy(np.array([[pt.x, pt.y]]))
        elif rid in anchors:
            x, y = anchors[rid]
        else:
            continue
        points.append((round(x, 1), round(y, 1), int(rank), str(tip), str(name)))
    markers = [
        MapLabel(x, y, str(rank), tip, rank, "rank") for x, y, rank, tip, _ in points if rank <= n_markers
    ]
    names, n_unnamed = _place_names(
        [(x, y, rank, name) for x, y, rank, _, name in points if rank <= n_names], markers, proj
    )
    # a country's name gives way to a region's: it is context, the region's name is the content
    name_boxes = [_box(n) for n in names]
    labels = [lab for lab in labels if not any(_overlap(_box(lab), b) for b in name_boxes)]
    n_unlocated = int(sum(1 for g, p in zip(has_geom, has_point, strict=True) if not g and not p))
    return MapData(
        proj.width,
        proj.height,
        tuple(shapes),
        land,
        borders,
        tuple(labels + names + markers),
        title,
        n_unlocated,
        legend,
        n_unnamed,
    )


NAME_SIZE = 11.0
"""Font size of region names (px of the map's own width; a printed A4 map is about 0.75 of it)."""
MARKER_R = 9.0


def _place_names(
    points: list[tuple[float, float, int, str]], markers: list[MapLabel], proj: _Projection
) -> tuple[list[MapLabel], int]:
    """Return name labels placed beside their region's point without overlaps, best rank first, and how
    many did not fit. Each name tries below, above, right and left of its point (or of its marker)."""
    taken = [(m.x - MARKER_R, m.y - MARKER_R, m.x + MARKER_R, m.y + MARKER_R) for m in markers]
    marked = {m.rank for m in markers}
    placed, missed = [], 0
    for x, y, rank, name in sorted(points, key=lambda p: p[2]):
        w, h = 0.7 * NAME_SIZE * len(name) + 2, NAME_SIZE * 1.15  # bold sans: ~0.7 em a character
        gap = MARKER_R + 2 if rank in marked else 0.0
        options = [
            (x, y + gap + h * 0.85) if gap else (x, y + h * 0.35),
            (x, y - gap - h * 0.3),
            (x + gap + w / 2 + 2, y + h * 0.35),
            (x - gap - w / 2 - 2, y + h * 0.35),
        ]
        for cx, base in options:
            box = (cx - w / 2, base - h * 0.85, cx + w / 2, base + h * 0.15)
            inside = box[0] >= 0 and box[1] >= 0 and box[2] <= proj.width and box[3] <= proj.height
            if inside and not any(_overlap(box, t) for t in taken):
                taken.append(box)
                placed.append(MapLabel(round(cx, 1), round(base, 1), name, "", rank, "name"))
                break
        else:
            missed += 1
    return placed, missed


def _box(label: MapLabel) -> tuple[float, float, float, float]:
    """Return the approximate box of a name drawn centred at its point (baseline ``y``)."""
    size = NAME_SIZE if label.kind == "name" else 12.0
    half = (0.7 if label.kind == "name" else 0.55) * size * len(label.text) / 2 + 1
    return (label.x - half, label.y - size * 0.85, label.x + half, label.y + size * 0.2)


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _context(
    countries: Mapping[str, shapely.Geometry] | None,
    names: Mapping[str, str] | None,
    own: set[str],
    bounds: tuple[float, float, float, float],
    proj: _Projection,
) -> tuple[tuple[str, ...], tuple[str, ...], list[MapLabel]]:
    """Return land paths and names of the countries in view, and the borders of the regions' countries."""
    if not countries:
        return (), (), []
    x0, y0, x1, y1 = bounds
    codes = [c for c, g in countries.items() if g is not None]
    geoms = np.asarray([countries[c] for c in codes], dtype=object)
    view = shapely.box(x0, y0, x1, y1)
    near = shapely.intersects(geoms, view)
    codes = [c for c, k in zip(codes, near, strict=True) if k]
    clipped = shapely.clip_by_rect(geoms[near], x0, y0, x1, y1)
    paths = _paths(list(clipped), proj)
    land = tuple(d for d in paths if d)
    borders = tuple(d for c, d in zip(codes, paths, strict=True) if d and c in own)
    labels = []
    min_area = (60 / proj.scale) ** 2  # room for a name: roughly 60 x 60 px
    for code, geom in zip(codes, clipped, strict=True):
        if code in own or shapely.area(geom) < min_area:
            continue
        pt = shapely.point_on_surface(geom)
        ((x, y),) = proj.xy(np.array([[pt.x, pt.y]]))
        labels.append(MapLabel(round(x, 1), round(y, 1), (names or {}).get(code, code), kind="country"))
    return land, borders, labels


def render_map_svg(m: MapData, element_id: str = "risk-map") -> str:
    """Return the map as an ``<svg>`` string with a legend below it; data texts are escaped."""
    legend_h = legend_height(m.width, m.legend)
    h = m.height + legend_h
    out = [
        f'<svg id="{escape(element_id)}" class="risk-map" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {m.width} {h}" width="{m.width}" height="{h}" role="img" '
        f'aria-labelledby="{escape(element_id)}-title">',
        f'<title id="{escape(element_id)}-title">{escape(m.title)}</title>',
        '<defs><pattern id="withheld" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#eeeeee"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#888" stroke-width="2"/></pattern></defs>',
        f'<rect class="sea" x="0" y="0" width="{m.width}" height="{m.height}" fill="#eef3f7"/>',
        '<g class="land" fill="#f7f6f2" stroke="#b9b9b9" stroke-width="0.6">',
        *(f'<path d="{d}"/>' for d in m.land),
        "</g>",
        '<g class="regions" stroke="#ffffff" stroke-width="0.7" fill-rule="evenodd">',
    ]
    for s in m.shapes:
        tip = f"<title>{escape(s.title)}</title>"
        rid = escape(s.region_id)
        if s.r > 0:
            out.append(
                f'<circle data-region="{rid}" cx="{s.cx}" cy="{s.cy}" r="{s.r}" fill="{s.fill}" '
                f'stroke="#555">{tip}</circle>'
            )
        elif s.d:
            out.append(f'<path data-region="{rid}" d="{s.d}" fill="{s.fill}">{tip}</path>')
    out.append("</g>")
    out.append('<g class="borders" fill="none" stroke="#444" stroke-width="1.1">')
    out.extend(f'<path d="{d}"/>' for d in m.borders)
    out.append("</g>")
    out.append('<g class="labels" font-family="sans-serif">')
    for lab in m.labels:
        text = escape(lab.text)
        if lab.kind == "rank":
            out.append(
                f'<g class="marker"><title>{escape(lab.title)}</title>'
                f'<circle cx="{lab.x}" cy="{lab.y}" r="{MARKER_R:g}" fill="#ffffff" stroke="#222" '
                f'stroke-width="1"/><text x="{lab.x}" y="{lab.y}" dy="4" text-anchor="middle" '
                f'font-size="11" font-weight="bold" fill="#222">{text}</text></g>'
            )
        elif lab.kind == "name":  # a white halo drawn first keeps the name legible on any fill
            attrs = (
                f'x="{lab.x}" y="{lab.y}" text-anchor="middle" font-size="{NAME_SIZE:g}" font-weight="bold"'
            )
            out.append(
                f'<g class="name" data-rank="{lab.rank}"><text {attrs} fill="none" stroke="#ffffff" '
                f'stroke-width="3" stroke-linejoin="round">{text}</text>'
                f'<text {attrs} fill="#1a1a1a">{text}</text></g>'
            )
        else:
            out.append(
                f'<text x="{lab.x}" y="{lab.y}" text-anchor="middle" font-size="12" font-style="italic" '
                f'fill="#8a8a8a">{text}</text>'
            )
    out.append("</g>")
    out.append(_legend(m.height + 8, m.width, m.legend))
    out.append("</svg>")
    return "".join(out)


LEGEND_ROW = 34
"""Height of a legend row; the legend's keys wrap onto a second row on a narrow map."""


def _legend_keys(legend: MapLegend) -> list[tuple[str, str, float]]:
    """Return (kind, label, width) of the legend's keys after the colour scale."""
    keys = [("no_score", legend.no_score), ("withheld", legend.withheld), ("rank", legend.rank)]
    return [(k, label, 22 + 6.2 * len(label) + 12) for k, label in keys]


def legend_height(width: int, legend: MapLegend) -> int:
    """Return the legend's height: one row, or two when its keys do not fit beside the colour scale."""
    scale = 6 + len(RISK_COLOURS) * 48 + 14
    return 58 if scale + sum(w for _, _, w in _legend_keys(legend)) <= width else 58 + LEGEND_ROW


def _legend(top: float, width: int, legend: MapLegend) -> str:
    sw, gap, x = 46, 2, 6.0
    parts = [
        '<g class="legend" font-family="sans-serif" font-size="10" fill="#333" '
        f'transform="translate(0,{top})">'
    ]
    parts.append(f'<text x="6" y="9" font-weight="bold">{escape(legend.title)}</text>')
    for colour, label in legend_items():
        parts.append(
            f'<rect x="{x}" y="15" width="{sw}" height="12" fill="{colour}" stroke="#999" '
            'stroke-width="0.5"/>'
            f'<text x="{x + sw / 2}" y="40" text-anchor="middle">{label}</text>'
        )
        x = round(x + sw + gap, 1)
    x += 14
    y = 0.0
    if legend_height(width, legend) > 58:  # a second row under the colour scale
        x, y = 6.0, float(LEGEND_ROW)
    for kind, label, key_w in _legend_keys(legend):
        if kind == "rank":
            parts.append(
                f'<circle cx="{x + 7}" cy="{21 + y}" r="7" fill="#fff" stroke="#222"/>'
                f'<text x="{x + 7}" y="{24.5 + y}" text-anchor="middle" font-weight="bold">1</text>'
                f'<text x="{x + 22}" y="{25 + y}">{escape(label)}</text>'
            )
        else:
            fill = NO_SCORE_COLOUR if kind == "no_score" else WITHHELD_FILL
            parts.append(
                f'<rect x="{x}" y="{15 + y}" width="18" height="12" fill="{fill}" stroke="#999" '
                f'stroke-width="0.5"/><text x="{x + 22}" y="{25 + y}">{escape(label)}</text>'
            )
        x = round(x + key_w, 1)
    parts.append("</g>")
    return "".join(parts)
