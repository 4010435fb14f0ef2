"""Where a publication's files go and how a revision folder appears: whole, or not at all.

Layout: ``<home>/publications/<week label>/r<revision>/`` holding ``report.html`` and ``report.pdf`` (the
first of the settings' languages; ``report.<lang>.html`` / ``.pdf`` for each other one), ``scores.csv``
(HXL), ``scores.geojson``, ``scores.json``, ``regions.json`` (every region with its code and status: scored,
withheld and why, no score), ``alerts.json``, ``alerts/<message id>.cap.xml`` (one ``<info>``
per language) and ``manifest.json`` (every other file with its sha256, written last).

The files are written into a hidden staging folder beside the revision folder, flushed to disk once, and
the folder is renamed into place (one atomic ``rename``); a reader sees the complete revision or none.
:mod:`publish.publication.week` does this inside the store transaction that records the revision and commits
only after the rename, so that neither a recorded revision without files nor files of an unrecorded
revision survive a failure.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from shapely.geometry.base import BaseGeometry

from civrisk.atomic import write_text_atomic
from civrisk.settings import PUBLICATIONS_DIRNAME
from publish.publication.region_status import regions_json
from publish.render.cap import CapConfig, CapMessage, build_cap, cap_area
from publish.render.exports import publication_meta, write_geojson, write_hxl_csv, write_json
from publish.render.report import ReportContext, render_report
from publish.store.store import Publication

REPORT = "report.html"
"""The report in the primary language (the API serves it); other languages: :func:`report_name`."""
SCORES_CSV = "scores.csv"
SCORES_GEOJSON = "scores.geojson"
SCORES_JSON = "scores.json"
REGIONS_JSON = "regions.json"
ALERTS_JSON = "alerts.json"
CAP_DIR = "alerts"
MANIFEST = "manifest.json"
ORPHANED = ".orphaned"
"""Folder beside a week's revisions where folders of revisions the store does not have are kept aside."""
_STAGING = ".staging-"


def report_name(lang: str, primary: bool, suffix: str = ".html") -> str:
    """Return a report's file name: ``report.html`` in the primary language, ``report.fr.html`` otherwise."""
    return f"report{suffix}" if primary else f"report.{lang}{suffix}"


def publications_root(home: Path) -> Path:
    """Return the folder holding every published week."""
    return Path(home) / PUBLICATIONS_DIRNAME


def revision_dir(home: Path, week_label: str, revision: int) -> Path:
    """Return the folder of one revision of one week: ``<home>/publications/<week>/r<revision>``."""
    return publications_root(home) / week_label / f"r{int(revision)}"


@dataclass(frozen=True)
class PublicationFiles:
    """Everything one revision's files are made of (all read back from the store, except the geometry)."""

    publication: Publication
    scores: pd.DataFrame
    alerts: pd.DataFrame
    reports: Mapping[str, ReportContext]
    """The report in each language, the primary one first."""
    unit: str
    geometries: Mapping[str, BaseGeometry]
    centroids: Mapping[str, tuple[float, float]]
    cap_config: CapConfig
    id_property: str
    """Name of the boundary property that holds region ids (the CAP geocode of regions with a polygon)."""
    pdf: bool = True
    """Also print each report to PDF (settings.report_pdf)."""
    previous_week: date | None = None
    """Week of the publication the alerts' previous probabilities come from (named in the CAP texts)."""
    statuses: pd.DataFrame | None = None
    """Every region of the model's countries with its code and status (publish.publication.region_status):
    the CSV and GeoJSON then list withheld regions too, and ``regions.json`` is written."""


def write_publication_files(folder: Path, files: PublicationFiles) -> dict[str, Path]:
    """Write every output of a revision into ``folder`` (which must be empty); return name -> path."""
    pub = files.publication
    written = _write_reports(folder, files.reports, files.pdf)
    written |= {
        "csv": write_hxl_csv(
            files.scores, pub, folder / SCORES_CSV, unit=files.unit, statuses=files.statuses
        ),
        "geojson": write_geojson(
            files.scores,
            pub,
            folder / SCORES_GEOJSON,
            geometries=files.geometries,
            centroids=files.centroids,
            statuses=files.statuses,
        ),
        "json": write_json(files.scores, pub, folder / SCORES_JSON),
        "alerts": write_text_atomic(folder / ALERTS_JSON, alerts_json(files.alerts, pub)),
    }
    if files.statuses is not None:
        written["regions"] = write_text_atomic(folder / REGIONS_JSON, regions_json(files.statuses, pub))
    cap_dir = folder / CAP_DIR
    cap_dir.mkdir()
    for row in files.alerts.to_dict("records"):
        rid = str(row["region_id"])
        geometry = files.geometries.get(rid)
        geocodes = {files.id_property: rid} if geometry is not None else {"civrisk_region_id": rid}
        langs = files.cap_config.languages
        area = cap_area(row.get("region_name"), str(row["iso3"]), geometry, geocodes, languages=langs)
        message = CapMessage.from_row(row, previous_week=files.previous_week, as_of=_day(pub.as_of))
        xml = build_cap(message, area, files.cap_config)
        path = cap_dir / f"{row['message_id']}.cap.xml"
        path.write_bytes(xml)  # the folder appears by one rename, after one flush (promote): no fsync each
        written[f"cap:{row['message_id']}"] = path
    written["manifest"] = write_text_atomic(folder / MANIFEST, manifest(folder, pub))
    return written


def _write_reports(folder: Path, reports: Mapping[str, ReportContext], pdf: bool) -> dict[str, Path]:
    """Write each language's report (and its PDF); keys "report" / "report_pdf" for the primary language,
    "report:<lang>" / "report_pdf:<lang>" for the others."""
    written: dict[str, Path] = {}
    for i, (lang, ctx) in enumerate(reports.items()):
        key = "report" if i == 0 else f"report:{lang}"
        html = render_report(ctx)
        written[key] = write_text_atomic(folder / report_name(lang, i == 0), html)
        if pdf:
            from publish.render.report_pdf import write_pdf

            pdf_key = "report_pdf" if i == 0 else f"report_pdf:{lang}"
            written[pdf_key] = write_pdf(html, folder / report_name(lang, i == 0, ".pdf"))
    return written


def _day(value: Any) -> date | None:
    return None if value is None else pd.Timestamp(value).date()


def alerts_json(alerts: pd.DataFrame, publication: Publication) -> str:
    """Return ``{"publication": {...}, "alerts": [...]}``: this revision's alert messages as JSON."""
    records = [{k: _plain(v) for k, v in rec.items()} for rec in alerts.to_dict("records")]
    doc = {"publication": publication_meta(publication), "alerts": records}
    return json.dumps(doc, ensure_ascii=False, allow_nan=False, indent=1)


def _plain(value: Any) -> Any:
    """Return a JSON value: None for missing, ISO 8601 for dates and times, Python numbers."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, date):  # datetime and pd.Timestamp are dates too
        return value.isoformat()
    if isinstance(value, np.generic):
        return _plain(value.item())
    return value


def manifest(folder: Path, publication: Publication) -> str:
    """Return the manifest: the publication's metadata and the sha256 of every file under ``folder``."""
    digests = {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }
    doc: dict[str, Any] = {"publication": publication_meta(publication), "files": digests}
    return json.dumps(doc, indent=1)


def staging_dir(final: Path) -> Path:
    """Return a new, empty hidden folder beside ``final`` to write a revision into."""
    final.parent.mkdir(parents=True, exist_ok=True)
    path = final.parent / f"{_STAGING}{final.name}-{uuid.uuid4().hex[:12]}"
    path.mkdir()  # unlike tempfile.mkdtemp (0700), this honours the umask: readers may serve the folder
    return path


def promote(staging: Path, final: Path) -> Path:
    """Rename the complete ``staging`` folder to ``final`` (atomic; ``final`` must not exist)."""
    if final.exists():
        raise FileExistsError(f"{final} already exists; a revision folder is never overwritten")
    # one flush of everything written so far instead of an fsync per file (1,200 CAP files took 4.5 s)
    os.sync()
    os.rename(staging, final)
    _fsync_dir(final.parent)
    return final


def remove_tree(path: Path) -> None:
    """Delete ``path`` and everything under it, if it exists (staging folders only: never published)."""
    if path.exists():
        shutil.rmtree(path)


def set_aside(folder: Path) -> Path:
    """Move a revision folder the store does not record to ``<week>/.orphaned/<name>-<UTC time>``; return
    its new path. Published bytes are never deleted: whoever fetched them can still be shown them."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    target = folder.parent / ORPHANED / f"{folder.name}-{stamp}"
    target.parent.mkdir(parents=True, exist_ok=True)
    os.rename(folder, target)
    _fsync_dir(folder.parent)
    return target


def clear_leftovers(week_dir: Path, revision: int) -> list[tuple[Path, Path]]:
    """Remove staging folders of ``week_dir`` and set a stray ``r<revision>`` folder aside
    (:func:`set_aside`); return (old path, new path) of what was set aside.

    Call it only while holding the store's write lock for a revision the store does not have yet: then
    those folders belong to a publisher that died before committing (files claiming an unrecorded
    revision), never to one still at work.
    """
    moved: list[tuple[Path, Path]] = []
    if not week_dir.is_dir():
        return moved
    for path in sorted(week_dir.iterdir()):
        if path.is_dir() and path.name.startswith(_STAGING):
            shutil.rmtree(path)  # never renamed into place: nobody saw these files
        elif path.is_dir() and path.name == f"r{int(revision)}":
            moved.append((path, set_aside(path)))
    return moved


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
