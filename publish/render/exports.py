"""Standard exports of one publication: HXL-tagged CSV, GeoJSON of regions, and JSON.

- CSV (:func:`write_hxl_csv`): one row per region, a column per target and horizon, and an HXL hashtag
  row under the header so HDX and libhxl read it (tags in :func:`hxl_tags`, docs/PUBLISHING.md).
- GeoJSON (:func:`write_geojson`): a FeatureCollection, one Feature per region with the same wide
  properties; geometry = the region's polygon, else a Point at its centroid, else ``null``
  (``properties.geometry_source`` says which). Publication metadata sits in the foreign member ``civrisk``.
- JSON (:func:`write_json`): ``{"publication": {...}, "scores": [...]}`` in the long SCORES layout.

Every file is written atomically (civrisk.atomic). Numbers are written exactly as stored.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from civrisk.atomic import write_text_atomic
from forecasting.targets import ALL_TARGETS, TARGET_KINDS
from publish.render.cap import country_name
from publish.store.store import Publication

UNIT_TAGS: Mapping[str, tuple[str, str]] = {
    "admin1": ("#adm1+code", "#adm1+name"),
    "admin2": ("#adm2+code", "#adm2+name"),
    "country": ("#loc+code+country", "#loc+name+country"),
    "grid": ("#loc+code+grid", "#loc+name+grid"),
}
"""HXL tags of the region's standard code and ``region_name`` by region unit. Without a standard code
column ``region_id`` takes the code tag; beside ``region_code`` it is tagged as civrisk's own id
(``+civrisk``) so ``#adm1+code`` always holds the ISO 3166-2 code or P-code when there is one."""
_STATUS_TAGS = {"status": "#status", "status_reason": "#description+status"}

_COUNT_STATS = ("expected", "q10", "q50", "q90")
_META_TAGS = {
    "iso3": "#country+code",
    "country": "#country+name",
    "week": "#date+start",
    "week_label": "#meta+week",
    "revision": "#meta+revision",
    "model_name": "#meta+model+name",
    "model_version": "#meta+model+version",
    "data_fingerprint": "#meta+data+fingerprint",
    "published_at": "#date+reported",
}


def publication_meta(publication: Publication) -> dict[str, Any]:
    """Return a publication's metadata as JSON-ready values (dates in ISO 8601)."""
    return {
        "id": publication.id,
        "week": publication.week.isoformat(),
        "week_label": publication.week_label,
        "revision": publication.revision,
        "status": publication.status,
        "model_name": publication.model_name,
        "model_version": publication.model_version,
        "data_fingerprint": publication.data_fingerprint,
        "as_of": publication.as_of.isoformat(),
        "published_at": publication.created_at.isoformat(),
        "n_scores": publication.n_scores,
    }


def wide_scores(
    scores: pd.DataFrame, publication: Publication, statuses: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Return one row per region: identity and publication columns, then one column per target and horizon.

    Binary targets give ``p_<target>_h<h>``; count targets give ``expected_``, ``q10_``, ``q50_`` and
    ``q90_<target>_h<h>``. Targets follow forecasting.targets order, horizons ascend. With ``statuses``
    (publish.publication.region_status: region_id, region_code, iso3, region_name, status, reason) every
    region listed there gets a row, with ``region_code``, ``status`` and ``status_reason`` columns; the
    score cells of a region without scores stay empty.
    """
    _check(scores, publication)
    ident = scores.drop_duplicates("region_id")[["region_id", "iso3", "region_name"]].set_index("region_id")
    if statuses is not None:
        listed = statuses.assign(region_id=statuses["region_id"].astype(str)).set_index("region_id")
        ident = listed[["iso3", "region_name"]].combine_first(ident)
    pieces = []
    for target in [t for t in ALL_TARGETS if t in set(scores["target"])]:
        stats = ("p",) if TARGET_KINDS[target] == "binary" else _COUNT_STATS
        sub = scores[scores["target"] == target]
        for h in sorted(set(sub["horizon"])):
            rows = sub[sub["horizon"] == h].set_index("region_id")
            pieces.append(rows[list(stats)].rename(columns={s: f"{s}_{target}_h{h}" for s in stats}))
    wide = pd.concat([ident, *pieces], axis=1).sort_index()
    wide.index.name = "region_id"
    wide = wide.reset_index()
    meta = publication_meta(publication)
    wide.insert(2, "country", [country_name(str(i)) for i in wide["iso3"]])
    at = 4
    if statuses is not None:
        # the standard code first: HXL readers take the first column matching #adm1+code
        wide.insert(0, "region_code", wide["region_id"].map(listed["region_code"]).to_numpy())
        at = 5
        for col, src in (("status", "status"), ("status_reason", "reason")):
            wide.insert(at, col, wide["region_id"].map(listed[src]).to_numpy())
            at += 1
    for i, key in enumerate(("week", "week_label", "revision", "model_name", "model_version")):
        wide.insert(at + i, key, meta[key])
    wide["data_fingerprint"] = meta["data_fingerprint"]
    wide["published_at"] = meta["published_at"]
    return wide


def hxl_tags(columns: Sequence[str], unit: str = "admin1") -> list[str]:
    """Return the HXL hashtag of each column of :func:`wide_scores`."""
    if unit not in UNIT_TAGS:
        raise ValueError(f"unknown region unit {unit!r}; expected one of {sorted(UNIT_TAGS)}")
    code_tag, name_tag = UNIT_TAGS[unit]
    tags = []
    for col in columns:
        if col == "region_id":
            tags.append(f"{code_tag}+civrisk" if "region_code" in columns else code_tag)
        elif col == "region_code":
            tags.append(code_tag)
        elif col == "region_name":
            tags.append(name_tag)
        elif col in _META_TAGS:
            tags.append(_META_TAGS[col])
        elif col in _STATUS_TAGS:
            tags.append(_STATUS_TAGS[col])
        else:
            stat, rest = col.split("_", 1)
            target, h = rest.rsplit("_", 1)
            if stat == "p":
                tags.append(f"#indicator+num+prob+{target}+{h}")
            elif stat in _COUNT_STATS:
                tags.append(f"#affected+killed+{stat}+{target}+{h}")
            else:
                raise ValueError(f"no HXL tag for column {col!r}")
    return tags


def write_hxl_csv(
    scores: pd.DataFrame,
    publication: Publication,
    path: str | Path,
    unit: str = "admin1",
    statuses: pd.DataFrame | None = None,
) -> Path:
    """Write the wide scores as CSV with an HXL hashtag row under the header; return ``path``."""
    wide = wide_scores(scores, publication, statuses)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(wide.columns)
    writer.writerow(hxl_tags(list(wide.columns), unit))
    wide.to_csv(buf, header=False, index=False, lineterminator="\n")
    return write_text_atomic(path, buf.getvalue())


def scores_geojson(
    scores: pd.DataFrame,
    publication: Publication,
    geometries: Mapping[str, BaseGeometry] | None = None,
    centroids: Mapping[str, tuple[float, float]] | None = None,
    precision: int = 5,
    statuses: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Return a GeoJSON FeatureCollection of the publication's regions with their wide scores.

    ``geometries`` maps region_id -> shapely polygon (lon/lat); ``centroids`` maps region_id -> (lon, lat)
    for regions without a polygon. Coordinates are rounded to ``precision`` decimals (5 ~ 1 m).
    """
    wide = wide_scores(scores, publication, statuses)
    geometries, centroids = geometries or {}, centroids or {}
    features = []
    for rec in wide.to_dict("records"):
        rid = rec["region_id"]
        if rid in geometries and geometries[rid] is not None and not geometries[rid].is_empty:
            geometry, source = _rounded(mapping(geometries[rid]), precision), "polygon"
        elif rid in centroids:
            lon, lat = centroids[rid]
            geometry, source = (
                {"type": "Point", "coordinates": [round(lon, precision), round(lat, precision)]},
                "centroid",
            )
        else:
            geometry, source = None, "none"
        props = {k: _json_value(v) for k, v in rec.items()}
        props["geometry_source"] = source
        features.append({"type": "Feature", "id": rid, "geometry": geometry, "properties": props})
    return {"type": "FeatureCollection", "civrisk": publication_meta(publication), "features": features}


def write_geojson(
    scores: pd.DataFrame,
    publication: Publication,
    path: str | Path,
    geometries: Mapping[str, BaseGeometry] | None = None,
    centroids: Mapping[str, tuple[float, float]] | None = None,
    precision: int = 5,
    statuses: pd.DataFrame | None = None,
) -> Path:
    """Write :func:`scores_geojson` to ``path`` atomically; return ``path``."""
    doc = scores_geojson(scores, publication, geometries, centroids, precision, statuses)
    return write_text_atomic(path, json.dumps(doc, ensure_ascii=False, allow_nan=False))


def scores_json(scores: pd.DataFrame, publication: Publication) -> dict[str, Any]:
    """Return ``{"publication": {...}, "scores": [...]}`` with the long scores (missing values as null)."""
    _check(scores, publication)
    cols = ["region_id", "iso3", "region_name", "horizon", "target", "p", *_COUNT_STATS, "rank"]
    cols = [c for c in cols if c in scores.columns]
    ordered = scores.sort_values(["target", "horizon", "rank", "region_id"], kind="mergesort")[cols]
    records = [{k: _json_value(v) for k, v in rec.items()} for rec in ordered.to_dict("records")]
    return {"publication": publication_meta(publication), "scores": records}


def write_json(scores: pd.DataFrame, publication: Publication, path: str | Path) -> Path:
    """Write :func:`scores_json` to ``path`` atomically; return ``path``."""
    doc = scores_json(scores, publication)
    return write_text_atomic(path, json.dumps(doc, ensure_ascii=False, allow_nan=False, indent=1))


def _check(scores: pd.DataFrame, publication: Publication) -> None:
    missing = [
        c for c in ("region_id", "iso3", "region_name", "horizon", "target", "p") if c not in scores.columns
    ]
    if missing:
        raise ValueError(f"export: scores lack columns {missing}; pass a frame from ScoreStore.scores()")
    if scores.empty:
        raise ValueError(f"export: no scores to export for publication {publication.id}")
    if "publication_id" in scores.columns:
        other = sorted(set(scores["publication_id"].astype(int)) - {publication.id})
        if other:
            raise ValueError(
                f"export: scores belong to publications {other}, not to publication {publication.id} "
                f"({publication.week_label} revision {publication.revision}); export one at a time"
            )
    dup = scores.duplicated(["region_id", "horizon", "target"])
    if dup.any():
        raise ValueError(f"export: {int(dup.sum())} rows repeat a (region_id, horizon, target)")


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    return value.item() if hasattr(value, "item") else value


def _rounded(obj: Any, precision: int) -> Any:
    if isinstance(obj, float):
        return round(obj, precision)
    if isinstance(obj, list | tuple):
        return [_rounded(o, precision) for o in obj]
    if isinstance(obj, dict):
        return {k: _rounded(v, precision) for k, v in obj.items()}
    return obj
