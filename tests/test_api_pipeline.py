"""Integration: the API over a store and revision folders filled by the real weekly publication."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lxml import etree

from civrisk.settings import Settings
from publish.publication.week import PublishOptions, publish_model_week
from publish.store.store import ScoreStore
from serve.app import create_app
from serve.auth import create_api_key
from serve.pepper import api_key_pepper
from serve.tables import create_serve_schema
from tests.publish_fixtures import CAP_XSD, LATEST, WEEK, config, fit_model, world_events, write_events_dir


@pytest.mark.slow
def test_api_serves_what_publish_week_published(tmp_path: Path) -> None:
    from ingest.events_folder import read_events_dir

    folder = write_events_dir(world_events(), tmp_path / "events")
    events, coverage = read_events_dir(folder)
    model = fit_model(config(folder), LATEST - WEEK, "2")
    settings = Settings(home=tmp_path / "home", db_url=f"sqlite:///{tmp_path / 'scores.db'}")
    with ScoreStore(settings.resolved_db_url()) as store:
        result = publish_model_week(
            LATEST,
            model,
            events,
            coverage,
            None,
            store,
            settings,
            options=PublishOptions(cap_status="Exercise"),
        )
        create_serve_schema(store.engine)
        key = create_api_key(store.engine, "read", "pipeline test", pepper=api_key_pepper(settings))
        stored = store.scores(result.publication.week_label)
        alerts = store.alerts(publication_id=result.publication.id)
    auth = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(settings)) as client:
        weeks = client.get("/v1/weeks", headers=auth).json()["items"]
        assert [(w["week_label"], w["latest_revision"]) for w in weeks] == [("2020-W53", 1)]
        page = client.get("/v1/scores?limit=1000", headers=auth).json()
        assert page["total"] == len(stored) == result.publication.n_scores
        assert sorted(s["p"] for s in page["items"]) == sorted(stored["p"])
        assert {s["iso3"] for s in page["items"]} == {"MLI"}  # Burkina Faso withheld: stale data
        report = client.get("/v1/reports/2020-W53", headers=auth)
        assert report.status_code == 200 and report.text == (result.folder / "report.html").read_text()
        csv = client.get("/v1/exports/2020-W53.csv", headers=auth)
        assert csv.content == (result.folder / "scores.csv").read_bytes()
        geo = client.get("/v1/exports/2020-W53.geojson", headers=auth).json()
        scored = [f for f in geo["features"] if f["properties"]["status"] == "scored"]
        assert len(scored) == stored["region_id"].nunique() < len(geo["features"])  # + withheld BFA
        regions = client.get("/v1/exports/2020-W53/regions.json", headers=auth)
        assert regions.content == (result.folder / "regions.json").read_bytes()
        withheld = [r for r in regions.json()["regions"] if r["status"] == "withheld"]
        assert {r["iso3"] for r in withheld} == {"BFA"} and all("stale data" in r["reason"] for r in withheld)
        gone = client.get("/v1/exports/2019-W01/regions.json", headers=auth)
        assert gone.status_code == 404 and "never published" in gone.text
        assert len(alerts) > 0
        mid = alerts["message_id"].iloc[0]
        cap = client.get(f"/v1/alerts/{mid}.cap", headers=auth)
        assert cap.content == (result.folder / "alerts" / f"{mid}.cap.xml").read_bytes()
        doc = etree.fromstring(cap.content)
        assert doc.findtext("{*}status") == "Exercise"  # as published, not rebuilt as Actual
        if CAP_XSD.is_file():
            etree.XMLSchema(etree.parse(str(CAP_XSD))).assertValid(doc)
        assert client.get("/healthz").json()["latest_week"] == "2020-W53"
