"""The planner report in a real browser: headless Chromium opens the file offline and lays out map and table.

Skipped (with the reason) only when no Chromium is installed; CI installs the Debian ``chromium`` package.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import lxml.html
import pytest

from publish.render.report import build_report_context, write_report
from tests.report_synth import synthetic_inputs

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run does it)"
)

# No network, no profile, no background services: the report must render from the file alone.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium with a throwaway profile; fail with its stderr if it fails."""
    cmd = [str(CHROMIUM), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, f"{' '.join(cmd)} exited {done.returncode}: {done.stderr[-2000:]}"
    return done


@pytest.fixture(scope="module", params=["en", "fr"])
def report_file(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, object]:
    """Write a report of 30 synthetic regions in English and in French; return (path, context)."""
    ctx = build_report_context(**synthetic_inputs(n_regions=30, seed=3), lang=request.param)  # type: ignore[arg-type]
    path = write_report(ctx, tmp_path_factory.mktemp("report") / f"report.{request.param}.html")
    return path, ctx


def test_chromium_finds_the_map_and_the_ranked_table(report_file, tmp_path):
    path, ctx = report_file
    dom = lxml.html.fromstring(chromium(tmp_path, "--dump-dom", path.as_uri()).stdout)
    maps = dom.xpath('//*[local-name()="svg" and @id="risk-map"]')
    assert len(maps) == 1
    regions = maps[0].xpath('.//*[local-name()="path" and @data-region]')
    assert len(regions) == 30
    rows = dom.xpath('//table[@id="ranked-regions"]/tbody/tr')
    assert len(rows) == len(ctx.ranking) == 30
    first = rows[0]
    assert first.xpath("./th")[0].text_content().strip() == ctx.ranking[0].name
    assert first.xpath("./td")[0].text_content().strip() == "1"
    assert len(dom.xpath('//article[@class="card"]')) == len(ctx.details) == 10
    names = maps[0].xpath('.//*[local-name()="g" and @class="name"]')
    assert len(names) + ctx.map.n_unnamed == 30  # ranked regions are named on the map itself
    for section in ("summary", "regions", "reliability-section", "freshness", "caveats", "citations"):
        assert dom.xpath(f'//section[@id="{section}"]'), section


def test_chromium_screenshot_of_the_report(report_file, tmp_path):
    path, _ = report_file
    png = tmp_path / "report.png"
    chromium(tmp_path, f"--screenshot={png}", "--window-size=1280,2400", path.as_uri())
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000  # a laid-out page, not a blank one
