"""CAP 1.2 (OASIS Common Alerting Protocol) messages for civrisk alerts.

One stored alert message (a row of :meth:`publish.store.store.ScoreStore.alerts`) becomes one CAP ``<alert>``:
identifier = the message id ``<alert_id>.<seq>``, ``incidents`` = the alert id (so a receiver can group
the Alert, its Updates and its Cancel), ``references`` = "sender,identifier,sent" of the previous
message for Update and Cancel. The mapping of horizon and probability to urgency, severity and
certainty is in :func:`urgency`, :func:`severity` and :func:`certainty` and in docs/PUBLISHING.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
from lxml import etree
from shapely import make_valid, set_precision
from shapely.geometry import GeometryCollection, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from civrisk.atomic import write_atomic
from civrisk.settings import Settings
from civrisk.weeks import week_label
from publish.render import cap_text
from publish.render.i18n import SOURCE_LANGUAGE, check_languages, words

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
MAX_POLYGON_POINTS = 100
"""Most coordinate pairs in one CAP polygon; larger rings are simplified (many receivers cap size)."""
MAX_POLYGONS = 10
"""Most polygons per area; a region of more parts is sent as its convex hull (covering every part)."""
_GRID = 1e-4  # degrees (~11 m): CAP polygons are written with 4 decimals


@dataclass(frozen=True)
class CapConfig:
    """Who sends the alerts and how they are marked; build it with :meth:`from_settings`."""

    sender: str
    status: str = "Actual"  # "Exercise" or "Test" for demos and tests
    web_base_url: str | None = None
    languages: tuple[str, ...] = (SOURCE_LANGUAGE,)
    """One ``<info>`` block per language, in this order (CAP 1.2 allows several, each with its language)."""

    def __post_init__(self) -> None:
        check_languages(self.languages)
        if self.status not in ("Actual", "Exercise", "System", "Test", "Draft"):
            raise ValueError(
                f"CAP status must be Actual, Exercise, System, Test or Draft; got {self.status!r}"
            )
        if not self.sender or any(ch in self.sender for ch in " ,<&"):
            raise ValueError(
                f"CAP sender {self.sender!r} must be non-empty without spaces, commas, '<' or '&'"
            )

    @classmethod
    def from_settings(cls, settings: Settings, status: str = "Actual") -> CapConfig:
        """Return the config of this deployment (``CIVRISK_CAP_SENDER``, ``CIVRISK_PUBLIC_BASE_URL``)."""
        return cls(
            sender=settings.cap_sender,
            status=status,
            web_base_url=settings.public_base_url,
            languages=tuple(settings.languages),
        )


@dataclass(frozen=True)
class CapArea:
    """A CAP ``<area>``: description, polygons ("lat,lon lat,lon ...") and geocodes (valueName, value).

    ``descs`` holds the description in other languages ((lang, text) pairs; the country name changes).
    """

    desc: str
    polygons: tuple[str, ...] = ()
    geocodes: tuple[tuple[str, str], ...] = ()
    descs: tuple[tuple[str, str], ...] = ()

    def desc_in(self, lang: str) -> str:
        """Return the description in ``lang`` (``desc`` when there is none in that language)."""
        return dict(self.descs).get(lang, self.desc)


@dataclass(frozen=True)
class CapMessage:
    """The fields of one stored alert message that a CAP alert needs."""

    identifier: str
    alert_id: str
    sent: datetime
    msg_type: str
    rule: str
    region_id: str
    iso3: str
    region_name: str | None
    target: str
    horizon: int
    week: date
    first_week: date
    p: float | None
    p_prev: float | None
    level: float
    reason: str
    drivers: tuple[tuple[str, float], ...]
    model_name: str
    model_version: str
    references: tuple[tuple[str, datetime], ...] = ()  # (identifier, sent) of earlier messages
    previous_week: date | None = None
    """Week of the publication ``p_prev`` comes from (the description names it); None: not known."""
    as_of: date | None = None
    """The publication's data cut-off: a message sent long after it is a replay (see :func:`expires`)."""

    @classmethod
    def from_row(
        cls, row: Mapping[str, Any], previous_week: date | None = None, as_of: date | None = None
    ) -> CapMessage:
        """Return the message of one row of ``ScoreStore.alerts()`` / ``record_alerts()``.

        ``previous_week`` and ``as_of`` (else the row's ``previous_week`` / ``as_of`` columns, if any) come
        from the publication the message belongs to.
        """

        def val(key: str) -> Any:
            v = row.get(key)
            return None if v is None or (not isinstance(v, str) and pd.isna(v)) else v

        ref_id, ref_sent = val("references_message_id"), val("references_sent")
        drivers = json.loads(val("drivers")) if val("drivers") else []
        return cls(
            identifier=str(row["message_id"]),
            alert_id=str(row["alert_id"]),
            sent=_aware(row["sent"]),
            msg_type=str(row["msg_type"]),
            rule=str(row["rule"]),
            region_id=str(row["region_id"]),
            iso3=str(row["iso3"]),
            region_name=val("region_name"),
            target=str(row["target"]),
            horizon=int(row["horizon"]),
            week=pd.Timestamp(row["week"]).date(),
            first_week=pd.Timestamp(row["first_week"]).date(),
            p=None if val("p") is None else float(row["p"]),
            p_prev=None if val("p_prev") is None else float(row["p_prev"]),
            level=float(row["level"]),
            reason=str(row["reason"]),
            drivers=tuple((str(g), float(p)) for g, p in drivers),
            model_name=str(row["model_name"]),
            model_version=str(row["model_version"]),
            references=() if ref_id is None else ((str(ref_id), _aware(ref_sent)),),
            previous_week=previous_week or cap_text.as_date(row.get("previous_week")),
            as_of=as_of or cap_text.as_date(row.get("as_of")),
        )


# -- mapping ---------------------------------------------------------------------------------------


def urgency(horizon: int) -> str:
    """Return CAP urgency: the publication week (h=1) is Immediate, up to 4 weeks Expected, then Future."""
    return "Immediate" if horizon <= 1 else "Expected" if horizon <= 4 else "Future"


def certainty(p: float | None) -> str:
    """Return CAP certainty by CAP 1.2's own scale: Likely p > 0.5, Possible p > 0.05, else Unlikely."""
    if p is None:
        return "Unknown"
    return "Likely" if p > 0.5 else "Possible" if p > 0.05 else "Unlikely"


def severity(target: str, p: float | None) -> str:
    """Return CAP severity: mass killing Extreme (p >= 0.5) or Severe; civilians killed Severe or Moderate."""
    if p is None:
        return "Unknown"
    if target == "civ_mass":
        return "Extreme" if p >= 0.5 else "Severe"
    return "Severe" if p >= 0.5 else "Moderate"


def expires(message: CapMessage) -> datetime:
    """Return CAP ``expires``: the end of the forecast window, counted from the data it rests on.

    A message sent before its window ends expires with the window. One sent later (a replay of past data,
    or a late backfill) would arrive already expired, so it expires as long after it is sent as the window
    reached past the data cut-off (``as_of``; h weeks without one).
    """
    onset = datetime.combine(message.week, time(0), tzinfo=UTC)
    end = onset + timedelta(weeks=message.horizon)
    if message.sent < end:
        return end
    ahead = end - datetime.combine(message.as_of, time(0), tzinfo=UTC) if message.as_of else end - onset
    return message.sent.replace(microsecond=0) + max(ahead, timedelta(weeks=message.horizon))


# -- area ------------------------------------------------------------------------------------------


def cap_polygons(
    geometry: BaseGeometry | Sequence[Sequence[float]],
    max_points: int = MAX_POLYGON_POINTS,
    max_polygons: int = MAX_POLYGONS,
) -> tuple[str, ...]:
    """Return CAP polygon strings ("lat,lon lat,lon ...", first pair = last pair) covering ``geometry``.

    ``geometry`` is a shapely (Multi)Polygon in lon/lat (WGS84) or one ring of (lon, lat) pairs in GeoJSON
    order. Holes are dropped (CAP polygons have none); each ring is simplified to at most ``max_points``
    pairs; more than ``max_polygons`` parts are replaced by the convex hull of the whole region.
    """
    geom = geometry if isinstance(geometry, BaseGeometry) else Polygon([tuple(c) for c in geometry])
    if geom.is_empty:
        raise ValueError("cap_polygons: the geometry is empty; pass the region's polygon or omit it")
    if not geom.is_valid:
        geom = make_valid(geom)
    parts = sorted(_polygon_parts(geom), key=lambda g: -g.area)
    if not parts:
        raise ValueError(f"cap_polygons: expected a Polygon or MultiPolygon; got a {geom.geom_type}")
    if len(parts) > max_polygons:
        parts = [geom.convex_hull]
    if max_points < 5:
        raise ValueError(
            f"cap_polygons: max_points must be at least 5 (a closed quadrilateral); got {max_points}"
        )
    return tuple(_ring_text(Polygon(p.exterior), max_points) for p in parts)


def cap_area(
    region_name: str | None,
    iso3: str,
    geometry: BaseGeometry | Sequence[Sequence[float]] | None = None,
    geocodes: Mapping[str, str] | None = None,
    max_points: int = MAX_POLYGON_POINTS,
    languages: Sequence[str] = (SOURCE_LANGUAGE,),
) -> CapArea:
    """Return the CAP area of a region: "Region, Country" (in each of ``languages``, first = ``desc``), its
    polygons (if given) and geocodes.

    Geocodes are ``{valueName: value}``, e.g. ``{"ISO3166-2": "BF-03"}`` or ``{"pcode": "ML05"}``.
    """

    def desc(lang: str) -> str:
        country = country_name(iso3, lang)
        return f"{region_name}, {country}" if region_name and region_name != country else country

    descs = tuple((lang, desc(lang)) for lang in languages)
    polygons = () if geometry is None else cap_polygons(geometry, max_points)
    return CapArea(descs[0][1], polygons, tuple((str(k), str(v)) for k, v in (geocodes or {}).items()), descs)


def country_name(iso3: str, lang: str = SOURCE_LANGUAGE) -> str:
    """Return the short name of ISO 3166-1 alpha-3 ``iso3`` in ``lang`` (the code itself if unknown)."""
    return words(lang).country(iso3)


def _polygon_parts(geom: BaseGeometry) -> list[Polygon]:
    if isinstance(geom, Polygon):
        return [geom]
    if isinstance(geom, MultiPolygon | GeometryCollection):
        return [p for g in geom.geoms for p in _polygon_parts(g)]
    return []


def _bounded_ring(poly: Polygon, max_points: int) -> Polygon:
    """Return ``poly`` simplified until its exterior ring has at most ``max_points`` coordinate pairs."""
    minx, miny, maxx, maxy = poly.bounds
    tol = max(maxx - minx, maxy - miny) / 2000 or 1e-6
    candidate = poly
    for _ in range(40):
        if len(candidate.exterior.coords) <= max_points:
            return candidate
        simplified = poly.simplify(tol, preserve_topology=True)
        if isinstance(simplified, Polygon) and not simplified.is_empty:
            candidate = simplified
        tol *= 1.6
    # Rings that refuse to shrink (or collapse): the oriented bounding rectangle still covers the region.
    return poly.minimum_rotated_rectangle


def _ring_text(poly: Polygon, max_points: int) -> str:
    """Return one CAP polygon for ``poly``: at most ``max_points`` pairs on a 1e-4 degree grid, valid.

    Rounding a ring can make it cross itself, so the ring is snapped with shapely's precision model
    (which keeps it valid); if that splits or bloats it, the convex hull and then the oriented
    bounding rectangle are tried, both of which still cover the region.
    """
    for candidate in (poly, poly.convex_hull, poly.minimum_rotated_rectangle):
        if not isinstance(candidate, Polygon) or candidate.is_empty:
            continue
        snapped = set_precision(_bounded_ring(Polygon(candidate.exterior), max_points), _GRID)
        if (
            isinstance(snapped, Polygon)
            and not snapped.is_empty
            and len(snapped.exterior.coords) <= max_points
        ):
            return " ".join(f"{lat:.4f},{lon:.4f}" for lon, lat in snapped.exterior.coords)
    # a region smaller than the grid: one grid cell around it
    minx, miny, maxx, maxy = poly.bounds
    x0, y0 = math.floor(minx / _GRID) * _GRID, math.floor(miny / _GRID) * _GRID
    x1, y1 = (
        max(math.ceil(maxx / _GRID) * _GRID, x0 + _GRID),
        max(math.ceil(maxy / _GRID) * _GRID, y0 + _GRID),
    )
    ring = [(y0, x0), (y0, x1), (y1, x1), (y1, x0), (y0, x0)]
    return " ".join(f"{lat:.4f},{lon:.4f}" for lat, lon in ring)


# -- message ---------------------------------------------------------------------------------------


def build_cap(message: CapMessage, area: CapArea, config: CapConfig) -> bytes:
    """Return the CAP 1.2 XML (UTF-8, with declaration) of one alert message."""
    root = etree.Element(f"{{{CAP_NS}}}alert", nsmap={None: CAP_NS})
    _sub(root, "identifier", message.identifier)
    _sub(root, "sender", config.sender)
    _sub(root, "sent", _cap_time(message.sent))
    _sub(root, "status", config.status)
    _sub(root, "msgType", message.msg_type)
    _sub(root, "source", f"civrisk model {message.model_name} {message.model_version}")
    _sub(root, "scope", "Public")
    if config.status != "Actual":
        _sub(root, "note", cap_text.note(config.status, words(config.languages[0])))
    if message.msg_type != "Alert":
        if not message.references:
            raise ValueError(
                f"CAP {message.msg_type} {message.identifier} must reference the message it follows"
            )
        _sub(
            root, "references", " ".join(f"{config.sender},{i},{_cap_time(s)}" for i, s in message.references)
        )
    _sub(root, "incidents", message.alert_id)

    for lang in config.languages:
        _info(root, message, area, config, lang)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _info(root: etree._Element, message: CapMessage, area: CapArea, config: CapConfig, lang: str) -> None:
    """Append the ``<info>`` block of ``message`` in ``lang``."""
    w = words(lang)
    desc = area.desc_in(lang)
    info = _sub(root, "info")
    _sub(info, "language", lang)
    _sub(info, "category", "Security")
    _sub(info, "event", cap_text.event(w))
    _sub(info, "responseType", "None" if message.msg_type == "Cancel" else "Monitor")
    _sub(info, "urgency", urgency(message.horizon))
    _sub(info, "severity", severity(message.target, message.p))
    _sub(info, "certainty", certainty(message.p))
    onset = datetime.combine(message.week, time(0), tzinfo=UTC)
    _sub(info, "effective", _cap_time(message.sent))
    _sub(info, "onset", _cap_time(onset))
    _sub(info, "expires", _cap_time(expires(message)))
    _sub(info, "senderName", "civrisk")
    _sub(info, "headline", cap_text.headline(message, desc, w))
    _sub(info, "description", cap_text.description(message, desc, w))
    _sub(info, "instruction", cap_text.instruction(message, desc, w))
    if config.web_base_url:
        _sub(info, "web", f"{config.web_base_url.rstrip('/')}/alerts/{quote(message.alert_id, safe='')}")
    for name, value in _parameters(message):
        param = _sub(info, "parameter")
        _sub(param, "valueName", name)
        _sub(param, "value", value)
    area_el = _sub(info, "area")
    _sub(area_el, "areaDesc", desc)
    for polygon in area.polygons:
        _sub(area_el, "polygon", polygon)
    for name, value in area.geocodes:
        geocode = _sub(area_el, "geocode")
        _sub(geocode, "valueName", name)
        _sub(geocode, "value", value)


def write_cap(xml: bytes, path: str | Path) -> Path:
    """Write one CAP message to ``path`` atomically; return ``path``."""
    return write_atomic(path, lambda p: p.write_bytes(xml))


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        el.text = text
    return el


def _aware(value: Any) -> datetime:
    ts = pd.Timestamp(value)
    return (ts.tz_localize(UTC) if ts.tzinfo is None else ts.tz_convert(UTC)).to_pydatetime()


def _cap_time(value: datetime) -> str:
    """Return ``value`` as CAP wants it: ISO 8601, numeric offset, no fraction (2020-06-01T00:00:00+00:00)."""
    return value.astimezone(UTC).replace(microsecond=0).isoformat(timespec="seconds")


def _parameters(m: CapMessage) -> list[tuple[str, str]]:
    params = [
        ("probability", "" if m.p is None else f"{m.p:.4f}"),
        ("horizonWeeks", str(m.horizon)),
        ("target", m.target),
        ("rule", m.rule),
        ("alertLevel", f"{m.level:.4f}"),
        ("week", week_label(m.week)),
        ("modelName", m.model_name),
        ("modelVersion", m.model_version),
        ("regionId", m.region_id),
    ]
    if m.p_prev is not None:
        params.insert(1, ("previousProbability", f"{m.p_prev:.4f}"))
    return [(k, v) for k, v in params if v != ""]
