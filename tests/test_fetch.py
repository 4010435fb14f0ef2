"""civrisk fetch: download from a real HTTP server on loopback, cache, atomicity, and error texts."""

from __future__ import annotations

import io
import re
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from civrisk.settings import get_settings
from cli.main import app
from ingest.fetch import (
    DOWNLOADS_PAGE,
    FetchError,
    candidate_release,
    fetch_release,
    ged_release,
)

HEADER = (
    "id,relid,year,active_year,code_status,type_of_violence,conflict_name,side_a,side_b,adm_1,"
    "latitude,longitude,country,country_id,date_start,date_end,deaths_civilians,best,high,low"
)


def _synthetic_csv(n: int = 50) -> bytes:
    """Return a small CSV of made-up events (no real rows) in GED column names."""
    lines = [HEADER]
    for i in range(1, n + 1):
        lines.append(
            f"{i},SYN-2020-1-{i},2020,1,Clear,{1 + i % 3},Synthland: Government,Government of Synthland,"
            f"Synth Front,North province,1.{i:02d},2.{i:02d},Synthland,999,2020-01-{1 + i % 28:02d},"
            f"2020-01-{1 + i % 28:02d},{i % 4},{i % 7},{i % 7 + 2},{max(i % 7 - 1, 0)}"
        )
    return ("\n".join(lines) + "\n").encode()


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


class _Server:
    """A loopback HTTP server serving ``files`` (path -> body) and recording every request path."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.truncate: dict[str, int] = {}  # path -> announce this many extra bytes, then hang up
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append(self.path)
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                extra = outer.truncate.get(self.path, 0)
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body) + extra))
                self.end_headers()
                self.wfile.write(body)
                if extra:
                    self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/downloads"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture()
def server() -> Iterator[_Server]:
    with _Server() as srv:
        yield srv


def _console() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=120, force_terminal=False, color_system=None), buf


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_ged_download_then_cache_hit_makes_no_request(server: _Server, tmp_path: Path) -> None:
    csv = _synthetic_csv()
    server.files["/downloads/ged/ged251-csv.zip"] = _zip_bytes({"GEDEvent_v25_1.csv": csv})
    release = ged_release("25.1", server.base_url)
    console, out = _console()

    first = fetch_release(release, tmp_path, console=console)

    assert not first.from_cache
    assert first.path == tmp_path / "ged251-csv.zip"
    assert first.csv_name == "GEDEvent_v25_1.csv"
    with zipfile.ZipFile(first.path) as zf:
        assert zf.read("GEDEvent_v25_1.csv") == csv
    assert server.requests == ["/downloads/ged/ged251-csv.zip"]
    assert _leftovers(tmp_path) == ["ged251-csv.zip", "ged251-csv.zip.json"]
    # progress bar: the file name and the completed byte count are drawn
    text = out.getvalue()
    assert "ged251-csv.zip" in text
    assert re.search(r"\d+(\.\d+)?/\d+(\.\d+)? (bytes|kB)", text), text

    second = fetch_release(release, tmp_path, console=_console()[0])

    assert second.from_cache
    assert (second.size, second.sha256) == (first.size, first.sha256)
    assert server.requests == ["/downloads/ged/ged251-csv.zip"]  # no second request

    fetch_release(release, tmp_path, force=True, console=_console()[0])
    assert len(server.requests) == 2


def test_cached_file_changed_on_disk_is_downloaded_again(server: _Server, tmp_path: Path) -> None:
    server.files["/downloads/ged/ged241-csv.zip"] = _zip_bytes({"GEDEvent_v24_1.csv": _synthetic_csv()})
    release = ged_release("24.1", server.base_url)
    got = fetch_release(release, tmp_path, console=_console()[0])
    got.path.write_bytes(b"tampered")
    console, out = _console()

    again = fetch_release(release, tmp_path, console=console)

    assert not again.from_cache
    assert "does not match its record" in out.getvalue()
    assert len(server.requests) == 2


def test_candidate_csv_download(server: _Server, tmp_path: Path) -> None:
    server.files["/downloads/candidateged/GEDEvent_v23_0_10.csv"] = _synthetic_csv()
    release = candidate_release("23.0.10", server.base_url)

    got = fetch_release(release, tmp_path, console=_console()[0])

    assert got.path.read_bytes() == _synthetic_csv()
    assert got.csv_name == "GEDEvent_v23_0_10.csv"


def test_404_names_url_and_what_to_do(server: _Server, tmp_path: Path) -> None:
    release = ged_release("26.1", server.base_url)
    url = f"{server.base_url}/ged/ged261-csv.zip"
    msg = (
        f"UCDP has no GED release 26.1 at {url} (HTTP 404 Not Found). Check the version on "
        f"{DOWNLOADS_PAGE} (GED releases look like 25.1; candidate releases like 23.0.10 or "
        "26.01.26.06); if UCDP moved its files, set CIVRISK_UCDP_BASE_URL to the new folder."
    )
    with pytest.raises(FetchError, match=re.escape(msg)):
        fetch_release(release, tmp_path, console=_console()[0])
    assert _leftovers(tmp_path) == []


def test_corrupted_zip_is_rejected_and_not_cached(server: _Server, tmp_path: Path) -> None:
    body = b"<html><body>Service temporarily unavailable</body></html>"
    server.files["/downloads/ged/ged251-csv.zip"] = body
    url = f"{server.base_url}/ged/ged251-csv.zip"
    msg = (
        f"{url} is not a valid zip archive (File is not a zip file; {len(body)} bytes received, "
        f"starting {body[:40]!r}). The server may have sent an error page or the transfer was cut. "
        f"Nothing was cached; run the command again, or download the file by hand from {DOWNLOADS_PAGE}."
    )
    with pytest.raises(FetchError, match=re.escape(msg)):
        fetch_release(ged_release("25.1", server.base_url), tmp_path, console=_console()[0])
    assert _leftovers(tmp_path) == []


def test_zip_with_damaged_member_fails_crc_check(server: _Server, tmp_path: Path) -> None:
    good = _zip_bytes({"GEDEvent_v25_1.csv": _synthetic_csv(400)})
    # flip bytes inside the compressed data (after the 30-byte local header and the file name)
    start = 30 + len("GEDEvent_v25_1.csv") + 20
    damaged = good[:start] + bytes(b ^ 0xFF for b in good[start : start + 8]) + good[start + 8 :]
    server.files["/downloads/ged/ged251-csv.zip"] = damaged
    with pytest.raises(FetchError, match=r"arrived damaged|is not a valid zip archive"):
        fetch_release(ged_release("25.1", server.base_url), tmp_path, console=_console()[0])
    assert _leftovers(tmp_path) == []


def test_zip_without_csv_or_with_wrong_header(server: _Server, tmp_path: Path) -> None:
    server.files["/downloads/ged/ged251-csv.zip"] = _zip_bytes({"readme.txt": b"hello"})
    url = f"{server.base_url}/ged/ged251-csv.zip"
    msg = (
        f"{url} holds no CSV file (members: ['readme.txt']); expected one GEDEvent CSV. Nothing was "
        f"cached; check the version on {DOWNLOADS_PAGE}"
    )
    with pytest.raises(FetchError, match=re.escape(msg)):
        fetch_release(ged_release("25.1", server.base_url), tmp_path, console=_console()[0])

    server.files["/downloads/candidateged/GEDEvent_v23_0_10.csv"] = b"a,b,c\n1,2,3\n"
    with pytest.raises(FetchError, match=re.escape("its header lacks ['id', 'type_of_violence'")):
        fetch_release(candidate_release("23.0.10", server.base_url), tmp_path, console=_console()[0])
    assert _leftovers(tmp_path) == []


def test_cut_connection_leaves_nothing_behind(server: _Server, tmp_path: Path) -> None:
    server.files["/downloads/ged/ged251-csv.zip"] = _zip_bytes({"GEDEvent_v25_1.csv": _synthetic_csv()})
    server.truncate["/downloads/ged/ged251-csv.zip"] = 1000
    with pytest.raises(FetchError, match=re.escape(f"download of {server.base_url}/ged/ged251-csv.zip")):
        fetch_release(ged_release("25.1", server.base_url), tmp_path, console=_console()[0])
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("version", "filename"),
    [("25.1", "ged251-csv.zip"), ("v23_1", "ged231-csv.zip"), (" 20.1 ", "ged201-csv.zip")],
)
def test_ged_url_pattern(version: str, filename: str) -> None:
    release = ged_release(version, "https://ucdp.uu.se/downloads/")
    assert release.url == f"https://ucdp.uu.se/downloads/ged/{filename}"


@pytest.mark.parametrize(
    ("version", "norm", "filename"),
    [
        ("23.0.10", "23.0.10", "GEDEvent_v23_0_10.csv"),
        ("v26_0_7", "26.0.7", "GEDEvent_v26_0_7.csv"),
        ("24.0.01", "24.0.1", "GEDEvent_v24_0_1.csv"),
        ("26.01.26.06", "26.01.26.06", "GEDEvent_v26_01_26_06.csv"),
    ],
)
def test_candidate_url_pattern(version: str, norm: str, filename: str) -> None:
    release = candidate_release(version, "https://ucdp.uu.se/downloads")
    assert (release.version, release.url) == (norm, f"https://ucdp.uu.se/downloads/candidateged/{filename}")


def test_unknown_versions_are_explained() -> None:
    msg = (
        "unknown UCDP GED version '2025': expected a yearly release like '25.1' (published as "
        "https://ucdp.uu.se/downloads/ged/ged251-csv.zip)"
    )
    with pytest.raises(FetchError, match=re.escape(msg)):
        ged_release("2025", "https://ucdp.uu.se/downloads")
    with pytest.raises(FetchError, match=re.escape("unknown UCDP Candidate version '23.0.13'")):
        candidate_release("23.0.13", "https://ucdp.uu.se/downloads")


@pytest.fixture()
def cli_env(server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("CIVRISK_UCDP_BASE_URL", server.base_url)
    monkeypatch.setenv("CIVRISK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CIVRISK_DOWNLOADS_DIR", raising=False)
    get_settings.cache_clear()
    yield tmp_path / "home" / "downloads"
    get_settings.cache_clear()


def test_cli_fetch_ucdp_ged_into_cache(server: _Server, cli_env: Path) -> None:
    server.files["/downloads/ged/ged251-csv.zip"] = _zip_bytes({"GEDEvent_v25_1.csv": _synthetic_csv()})
    runner = CliRunner()

    first = runner.invoke(app, ["fetch", "ucdp-ged", "--version", "25.1"])
    second = runner.invoke(app, ["fetch", "ucdp-ged", "--version", "25.1"])

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert (cli_env / "ged251-csv.zip").is_file()
    assert str(cli_env / "ged251-csv.zip") in first.stdout
    assert "downloaded" in first.output and "cached" in second.output
    assert server.requests == ["/downloads/ged/ged251-csv.zip"]


def test_cli_fetch_reports_404_and_exits_1(server: _Server, cli_env: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["fetch", "ucdp-candidate", "--version", "24.0.3", "--dest", str(tmp_path / "x")]
    )
    assert result.exit_code == 1
    flat = " ".join(result.output.split())
    assert f"{server.base_url}/candidateged/GEDEvent_v24_0_3.csv" in flat
    assert "CIVRISK_UCDP_BASE_URL" in flat
