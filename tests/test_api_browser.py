"""The API's HTML in a real browser under its Content-Security-Policy: docs pages offline, the report intact.

Headless Chromium loads pages from a real uvicorn on 127.0.0.1 (no other network) and reports every CSP
violation on its console: Swagger UI and ReDoc must render from the app's own assets, and the planner
report (inline CSS and SVG) must lay out its map and table with nothing blocked.
Skipped (with the reason) only when no Chromium is installed; CI installs the Debian ``chromium`` package.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import lxml.html
import pytest

from publish.render.report import build_report_context, write_report
from serve.app import create_app
from serve.routes.reports import publication_dir
from tests.api_fixtures import open_api, running_server
from tests.test_report import synthetic_inputs
from tests.test_report_browser import FLAGS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"),
    pytest.mark.slow,
]


def load(tmp_path: Path, url: str) -> tuple[lxml.html.HtmlElement, list[str]]:
    """Return the page's DOM after its scripts ran, and the CSP violations Chromium logged."""
    cmd = [
        str(CHROMIUM),
        *FLAGS,
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=8000",
        "--dump-dom",
        url,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    violations = [line for line in done.stderr.splitlines() if "Content Security Policy" in line]
    return lxml.html.fromstring(done.stdout), violations


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api")
    for api in open_api(tmp):
        pub = api.pubs[-1]
        ctx = build_report_context(**synthetic_inputs(n_regions=20, seed=4))  # type: ignore[arg-type]
        write_report(ctx, publication_dir(api.settings, pub) / "report.html")
        with running_server(create_app(api.settings)) as base:
            yield base, api, pub


def test_swagger_ui_renders_offline_under_its_policy(server, tmp_path):
    base, _, _ = server
    dom, violations = load(tmp_path, f"{base}/docs")
    assert violations == []
    assert "civrisk API" in dom.xpath("string(//*[contains(@class, 'title')])")
    paths = {p.text_content() for p in dom.xpath("//*[contains(@class, 'opblock-summary-path')]")}
    assert {"/v1/scores", "/v1/webhooks", "/healthz"} <= {p.replace("\u200b", "") for p in paths}


def test_redoc_renders_offline_under_its_policy(server, tmp_path):
    base, _, _ = server
    dom, violations = load(tmp_path, f"{base}/redoc")
    # ReDoc's bundle links a "Redocly" logo from its CDN; the policy blocks it and nothing else
    assert all("cdn.redoc.ly" in v for v in violations), violations
    text = dom.text_content()
    assert "civrisk API" in text and "/v1/scores" in text and "Liveness and freshness" in text


def test_the_report_lays_out_under_its_policy(server, tmp_path):
    """Chromium cannot send the API key from its command line: the test fetches the report through the
    API and opens it as a file that carries the response's policy in a meta element (all of it but
    frame-ancestors, which a meta element cannot carry)."""
    base, api, pub = server
    from fastapi.testclient import TestClient

    with TestClient(create_app(api.settings)) as client:
        r = client.get(f"/v1/reports/{pub.week_label}", headers=api.auth("read"))
    assert r.status_code == 200
    page = tmp_path / "report.html"
    # the policy travels in a meta element for the file:// load: the same directives Chromium enforces
    policy = r.headers["content-security-policy"].replace("frame-ancestors 'none'; ", "")
    page.write_text(
        r.text.replace("<head>", f'<head><meta http-equiv="Content-Security-Policy" content="{policy}">', 1),
        encoding="utf-8",
    )
    dom, violations = load(tmp_path, page.as_uri())
    assert violations == []
    assert len(dom.xpath('//*[local-name()="svg" and @id="risk-map"]//*[@data-region]')) == 20
    assert dom.xpath('//table[@id="ranked-regions"]/tbody/tr')
