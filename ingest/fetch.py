"""Download official UCDP releases into a local cache: streamed, atomic, and checked before caching.

UCDP publishes its files under https://ucdp.uu.se/downloads/ with these names:

- GED yearly release ``YY.R`` (e.g. ``25.1``): ``ged/gedYYR-csv.zip`` (``ged/ged251-csv.zip``), a zip
  holding one CSV (``GEDEvent_v25_1.csv``).
- Candidate monthly release ``YY.0.M`` (e.g. ``23.0.10``, October 2023):
  ``candidateged/GEDEvent_vYY_0_M.csv`` (``GEDEvent_v23_0_10.csv``), a plain CSV.
- Candidate cumulative release ``YY.01.YY.MM`` (e.g. ``26.01.26.06``, January-June 2026):
  ``candidateged/GEDEvent_vYY_01_YY_MM.csv``, a plain CSV.

A download goes to a temporary file beside its target and is renamed into place only after it arrived
whole (byte count equals Content-Length) and passed :func:`check_download` (the zip opens, its CRCs
hold, it holds a CSV whose header has the GED columns). A record ``<file>.json`` beside it keeps the
URL, size and SHA-256, so a later call serves the file from the cache without a request and notices a
cached file that changed on disk.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from civrisk.atomic import atomic_path, write_text_atomic

DOWNLOADS_PAGE = "https://ucdp.uu.se/downloads/"
REQUIRED_COLUMNS = ("id", "type_of_violence", "country", "date_start", "date_end", "best")
"""Columns every official GED or Candidate CSV has; a file without them is not what we asked for."""

_TIMEOUT = httpx.Timeout(60.0, connect=20.0)
_CHUNK = 1 << 20

_GED_VERSION = re.compile(r"^v?(\d{2})[._](\d)$")
_CANDIDATE_MONTHLY = re.compile(r"^v?(\d{2})[._]0[._](\d{1,2})$")
_CANDIDATE_CUMULATIVE = re.compile(r"^v?(\d{2})[._]01[._](\d{2})[._](\d{2})$")


class FetchError(RuntimeError):
    """A download failed or arrived damaged; the message names the URL and what to do."""


@dataclass(frozen=True)
class Release:
    """One published UCDP file: which dataset and version, its file name and full URL."""

    dataset: str  # "ucdp-ged" | "ucdp-candidate"
    version: str  # normalised, e.g. "25.1", "23.0.10", "26.01.26.06"
    filename: str
    url: str

    @property
    def is_zip(self) -> bool:
        """Return True when the published file is a zip archive (GED yearly releases)."""
        return self.filename.endswith(".zip")


@dataclass(frozen=True)
class Fetched:
    """A release on local disk: where it is, its size and SHA-256, the CSV inside, and whether cached."""

    release: Release
    path: Path
    size: int
    sha256: str
    csv_name: str
    from_cache: bool


def ged_release(version: str, base_url: str) -> Release:
    """Return the UCDP GED yearly release ``version`` (``"25.1"``) under ``base_url``."""
    match = _GED_VERSION.match(version.strip())
    if not match:
        raise FetchError(
            f"unknown UCDP GED version {version!r}: expected a yearly release like '25.1' "
            f"(published as {_join(base_url, 'ged/ged251-csv.zip')}); see {DOWNLOADS_PAGE} for the "
            "releases UCDP offers. For monthly candidate data use `civrisk fetch ucdp-candidate`."
        )
    yy, release = match.groups()
    filename = f"ged{yy}{release}-csv.zip"
    return Release("ucdp-ged", f"{yy}.{release}", filename, _join(base_url, f"ged/{filename}"))


def candidate_release(version: str, base_url: str) -> Release:
    """Return the UCDP Candidate release ``version`` (``"23.0.10"`` or ``"26.01.26.06"``)."""
    text = version.strip()
    monthly = _CANDIDATE_MONTHLY.match(text)
    cumulative = _CANDIDATE_CUMULATIVE.match(text)
    if monthly and 1 <= int(monthly.group(2)) <= 12:
        yy, month = monthly.group(1), str(int(monthly.group(2)))
        norm, stem = f"{yy}.0.{month}", f"GEDEvent_v{yy}_0_{month}"
    elif cumulative and 1 <= int(cumulative.group(3)) <= 12:
        yy, yy2, mm = cumulative.groups()
        norm, stem = f"{yy}.01.{yy2}.{mm}", f"GEDEvent_v{yy}_01_{yy2}_{mm}"
    else:
        raise FetchError(
            f"unknown UCDP Candidate version {version!r}: expected a monthly release like '23.0.10' "
            f"(published as {_join(base_url, 'candidateged/GEDEvent_v23_0_10.csv')}) or a cumulative "
            f"one like '26.01.26.06' (January-June 2026); see {DOWNLOADS_PAGE} for what UCDP offers."
        )
    filename = f"{stem}.csv"
    return Release("ucdp-candidate", norm, filename, _join(base_url, f"candidateged/{filename}"))


def fetch_release(
    release: Release,
    dest: Path,
    *,
    force: bool = False,
    client: httpx.Client | None = None,
    console: Console | None = None,
) -> Fetched:
    """Return ``release`` as a checked file in ``dest``, from the cache or downloaded with a progress bar.

    ``force`` downloads again even when a good copy is cached. Raises FetchError on an HTTP error, a
    dropped connection or a damaged file; nothing is written to ``dest`` in those cases.
    """
    console = console or Console(stderr=True)
    target = Path(dest) / release.filename
    record_path = _record_path(target)
    if not force:
        cached = _cached(release, target, record_path, console)
        if cached is not None:
            return cached
    own_client = client is None
    http = client or httpx.Client(
        timeout=_TIMEOUT, follow_redirects=True, headers={"User-Agent": _user_agent()}
    )
    try:
        with atomic_path(target) as tmp:
            size, sha256 = _download(release, tmp, http, console)
            csv_name = check_download(tmp, release)
    finally:
        if own_client:
            http.close()
    record = {
        "dataset": release.dataset,
        "version": release.version,
        "url": release.url,
        "file": release.filename,
        "size": size,
        "sha256": sha256,
        "csv_name": csv_name,
        "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    write_text_atomic(record_path, json.dumps(record, indent=2) + "\n")
    return Fetched(release, target, size, sha256, csv_name, from_cache=False)


def check_download(path: Path, release: Release) -> str:
    """Return the name of the CSV in ``path`` after checking it is an intact file of UCDP events.

    A zip must open, pass its CRC checks and hold a ``.csv``; the CSV's header must name the
    REQUIRED_COLUMNS. Raises FetchError saying what arrived instead.
    """
    size = path.stat().st_size
    if not release.is_zip:
        with open(path, "rb") as fh:
            _check_header(fh.read(64 * 1024), release, release.filename, size)
        return release.filename
    try:
        with zipfile.ZipFile(path) as zf:
            try:
                bad = zf.testzip()
            except zlib.error as exc:  # a damaged deflate stream fails before its CRC is reached
                bad = f"{zf.namelist()[0]} ({exc})"
            if bad is not None:
                raise FetchError(
                    f"{release.url} arrived damaged: member {bad!r} of the zip fails its CRC check "
                    f"({size:,} bytes received). Nothing was cached; run the command again."
                )
            csvs = [n for n in zf.namelist() if n.lower().endswith(".csv")]
            if not csvs:
                raise FetchError(
                    f"{release.url} holds no CSV file (members: {zf.namelist()[:10]}); expected one "
                    "GEDEvent CSV. Nothing was cached; check the version on " + DOWNLOADS_PAGE
                )
            with zf.open(csvs[0]) as member:
                _check_header(member.read(64 * 1024), release, csvs[0], size)
            return csvs[0]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        with open(path, "rb") as fh:
            head = fh.read(40)
        raise FetchError(
            f"{release.url} is not a valid zip archive ({exc}; {size:,} bytes received, starting "
            f"{head!r}). The server may have sent an error page or the transfer was cut. Nothing was "
            f"cached; run the command again, or download the file by hand from {DOWNLOADS_PAGE}."
        ) from exc


def _download(release: Release, tmp: Path, http: httpx.Client, console: Console) -> tuple[int, str]:
    """Stream ``release`` into ``tmp`` with a progress bar; return (bytes written, SHA-256 hex)."""
    digest = hashlib.sha256()
    written = 0
    try:
        with http.stream("GET", release.url) as response:
            if response.status_code != 200:
                raise FetchError(_http_error(release, response))
            expected = _content_length(response)
            with (
                open(tmp, "wb") as out,
                Progress(
                    TextColumn("[bold]{task.description}"),
                    BarColumn(),
                    DownloadColumn(),
                    TransferSpeedColumn(),
                    TimeRemainingColumn(),
                    console=console,
                ) as progress,
            ):
                task = progress.add_task(release.filename, total=expected)
                for chunk in response.iter_bytes(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    written += len(chunk)
                    progress.update(task, completed=response.num_bytes_downloaded)
                progress.update(task, completed=response.num_bytes_downloaded)
            if expected is not None and response.num_bytes_downloaded != expected:
                raise FetchError(
                    f"download of {release.url} stopped after {response.num_bytes_downloaded:,} of "
                    f"{expected:,} bytes. Nothing was cached; run the command again."
                )
    except httpx.HTTPError as exc:
        raise FetchError(
            f"download of {release.url} failed: {type(exc).__name__}: {exc}. Nothing was cached; check "
            "the network (or the proxy settings) and run the command again, or set "
            "CIVRISK_UCDP_BASE_URL to a reachable mirror."
        ) from exc
    return written, digest.hexdigest()


def _cached(release: Release, target: Path, record_path: Path, console: Console) -> Fetched | None:
    """Return the cached copy of ``release`` if its file matches its record; None to download."""
    if not (target.is_file() and record_path.is_file()):
        return None
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        size, sha256, csv_name = int(record["size"]), str(record["sha256"]), str(record["csv_name"])
    except (ValueError, KeyError, TypeError) as exc:
        console.print(f"cache record {record_path} is unreadable ({exc}); downloading again")
        return None
    actual_size = target.stat().st_size
    actual_sha = _sha256(target) if actual_size == size else ""
    if actual_size != size or actual_sha != sha256:
        console.print(
            f"cached {target} does not match its record (size {actual_size:,}, expected {size:,}; "
            f"sha256 {actual_sha[:12] or '-'}, expected {sha256[:12]}); downloading again"
        )
        return None
    return Fetched(release, target, size, sha256, csv_name, from_cache=True)


def _check_header(head: bytes, release: Release, name: str, size: int) -> None:
    first = head.decode("utf-8-sig", errors="replace").splitlines()[:1]
    columns = [c.strip().strip('"') for c in first[0].split(",")] if first else []
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        shown = first[0][:120] if first else ""
        raise FetchError(
            f"{name} from {release.url} is not a UCDP events CSV: its header lacks {missing} "
            f"(got {len(columns)} columns, starting {shown!r}; {size:,} bytes received). "
            f"Nothing was cached; check the version on {DOWNLOADS_PAGE}."
        )


def _http_error(release: Release, response: httpx.Response) -> str:
    status = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    if response.status_code == 404:
        kind = "GED" if release.dataset == "ucdp-ged" else "Candidate"
        return (
            f"UCDP has no {kind} release {release.version} at {release.url} ({status}). Check the "
            f"version on {DOWNLOADS_PAGE} (GED releases look like 25.1; candidate releases like "
            "23.0.10 or 26.01.26.06); if UCDP moved its files, set CIVRISK_UCDP_BASE_URL to the new "
            "folder."
        )
    return (
        f"download of {release.url} failed: {status}. Nothing was cached; try again later, or "
        f"download the file by hand from {DOWNLOADS_PAGE}."
    )


def _content_length(response: httpx.Response) -> int | None:
    """Return the announced body size, or None when unknown or the body is content-encoded."""
    value = response.headers.get("Content-Length")
    if value is None or response.headers.get("Content-Encoding", "identity") != "identity":
        return None
    return int(value) if value.isdigit() else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _record_path(target: Path) -> Path:
    return target.with_name(target.name + ".json")


def _join(base_url: str, rel: str) -> str:
    return base_url.rstrip("/") + "/" + rel


def _user_agent() -> str:
    from civrisk import __version__

    return f"civrisk/{__version__} (python-httpx/{httpx.__version__})"


__all__ = [
    "DOWNLOADS_PAGE",
    "FetchError",
    "Fetched",
    "Release",
    "candidate_release",
    "check_download",
    "fetch_release",
    "ged_release",
]
