"""``civrisk demo --quick`` end to end on the real data in a temporary home, then once more (idempotent)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from civrisk.settings import get_settings
from tests.publish_fixtures import assert_caps_valid


@pytest.fixture()
def demo_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point civrisk (settings, scores store, MLflow) at a fresh home for the test, and back after it."""
    home = tmp_path / ".civrisk"
    monkeypatch.setenv("CIVRISK_HOME", str(home))
    for var in ("CIVRISK_DB_URL", "CIVRISK_MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(var, raising=False)
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.mark.slow
@pytest.mark.shared_data
def test_demo_publishes_verifies_and_reports(shared_data: Path, demo_home: Path) -> None:
    from cli.main import app
    from operations.demo import run_demo
    from operations.weekly_steps import due_for_verification
    from publish.store.store import ScoreStore

    out = io.StringIO()
    result = run_demo(get_settings(), quick=True, console=Console(file=out, width=140))
    latest, earlier = result.latest, result.earlier
    assert earlier is not None and result.verification is not None and result.verification.recorded
    assert latest.created and latest.publication.week_label == "2022-W26"  # BFA's data end 2022-06-30
    assert earlier.publication.week_label == "2022-W13"
    # the Mali export carries Mali to 2022-06; Niger's ACLED coverage ends in 2020
    assert latest.withheld == ("NER",)
    with ScoreStore(get_settings().resolved_db_url()) as store:
        assert [p.week_label for p in store.latest_publications()] == ["2022-W13", "2022-W26"]
        assert set(store.scores("2022-W26")["iso3"]) == {"BFA", "MLI"}
        assert not store.verifications(earlier.publication.id).empty
    # every region is in the machine outputs: Niger's withheld with the reason, standard codes throughout
    regions = json.loads((latest.folder / "regions.json").read_text(encoding="utf-8"))["regions"]
    by_country = {c: [r for r in regions if r["iso3"] == c] for c in ("BFA", "MLI", "NER")}
    assert {r["status"] for r in by_country["NER"]} == {"withheld"} and len(by_country["NER"]) == 8
    assert all(r["reason"].startswith("stale data") for r in by_country["NER"])
    assert all(r["region_code"].startswith("BF-") for r in by_country["BFA"])  # ISO 3166-2, not hashes
    assert {r["status"] for r in by_country["MLI"]} == {"scored"}
    report = result.report.read_text(encoding="utf-8")
    top = latest.top.iloc[0]
    assert result.report == demo_home / "publications" / "2022-W26" / "r1" / "report.html"
    assert str(top["region"]) in report and "2022-W13" in report  # the verified week is in the report
    assert assert_caps_valid(latest.folder) == len(latest.alerts) > 0
    assert assert_caps_valid(earlier.folder) == len(earlier.alerts)
    # the weekly cycle's verification rule finds the earlier week done and the latest one not due yet
    with ScoreStore(get_settings().resolved_db_url()) as store:
        assert (
            due_for_verification(store, latest.publication.week, get_settings().publication_lag_weeks) == []
        )

    again = CliRunner().invoke(app, ["demo", "--quick"])
    assert again.exit_code == 0, again.output
    assert "already published (same model and data)" in again.output and str(top["region"]) in again.output
    with ScoreStore(get_settings().resolved_db_url()) as store:
        assert len(store.publications()) == 2  # nothing new recorded


def test_without_the_shared_acled_file_the_demo_downloads_ucdp_ged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    import ingest.fetch
    from civrisk.settings import Settings
    from experiments.config import load_config
    from operations.demo import _source_files, demo_config_name

    settings = Settings(home=tmp_path / "home", shared_data=tmp_path / "no-shared-data")
    assert demo_config_name(settings, quick=True) == "demo_ucdp"
    asked = []

    def fake_fetch(release: object, dest: Path, **kw: object) -> SimpleNamespace:
        asked.append((release, dest))
        return SimpleNamespace(path=dest / "ged251-csv.zip")

    monkeypatch.setattr(ingest.fetch, "fetch_release", fake_fetch)
    files = _source_files(load_config("demo_ucdp", get_settings()), settings, Console(file=io.StringIO()))
    release, dest = asked[0]
    assert release.url == "https://ucdp.uu.se/downloads/ged/ged251-csv.zip"  # type: ignore[attr-defined]
    assert dest == tmp_path / "home" / "downloads" and files == [dest / "ged251-csv.zip"]
