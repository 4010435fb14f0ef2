"""The HTTP API over a store filled with seeded synthetic publications: every route, its errors and files."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from lxml import etree

from civrisk.settings import Settings
from serve.routes.reports import publication_dir
from tests.api_fixtures import WEEKS, open_api, publish_week

CAP_XSD = Settings().shared_data.parent / "schemas" / "CAP-v1.2.xsd"


@pytest.fixture()
def api(tmp_path, backend):
    yield from open_api(tmp_path, backend=backend)


def test_weeks_lists_every_revision_and_the_latest(api):
    r = api.get("/v1/weeks")
    assert r.status_code == 200
    items = r.json()["items"]
    assert [w["week_label"] for w in items] == ["2020-W23", "2020-W24", "2020-W25"]
    last = items[-1]
    assert last["latest_revision"] == 2
    assert [(p["revision"], p["latest"]) for p in last["revisions"]] == [(1, False), (2, True)]
    assert last["revisions"][1]["data_fingerprint"] == "fp-2b"


def test_scores_pages_cover_the_latest_revision_exactly(api):
    expected = api.store.scores("2020-W25")  # latest revision (2)
    got, offset, seen_offsets = [], 0, []
    while offset is not None:
        page = api.get(f"/v1/scores?week=2020-W25&limit=50&offset={offset}").json()
        assert page["publication"] == {
            "id": api.pubs[-1].id,
            "week_label": "2020-W25",
            "revision": 2,
            "latest": True,
        }
        assert page["total"] == len(expected) == 144
        seen_offsets.append(offset)
        got.extend(page["items"])
        offset = page["next_offset"]
    assert seen_offsets == [0, 50, 100]
    assert [(s["region_id"], s["target"], s["horizon"]) for s in got] == list(
        zip(expected["region_id"], expected["target"], expected["horizon"], strict=True)
    )
    np.testing.assert_array_equal([s["p"] for s in got], expected["p"].to_numpy())
    counts = expected.dropna(subset=["q90"])
    assert [s["q90"] for s in got if s["q90"] is not None] == counts["q90"].tolist()
    # default week = the latest published week; past the end = an empty page
    assert api.get("/v1/scores?limit=5").json()["items"] == got[:5]
    beyond = api.get("/v1/scores?offset=1000").json()
    assert beyond["items"] == [] and beyond["next_offset"] is None and beyond["total"] == 144


def test_scores_of_an_older_revision_and_filters(api):
    rev1 = api.get("/v1/scores?week=2020-W25&revision=1&limit=1000").json()
    assert rev1["publication"]["revision"] == 1 and rev1["publication"]["latest"] is False
    np.testing.assert_array_equal(
        [s["p"] for s in rev1["items"]], api.store.scores("2020-W25", 1)["p"].to_numpy()
    )
    url = "/v1/scores?week=2020-W23&country=MLI&country=NER&target=civ_any&horizon=1&limit=1000"
    page = api.get(url).json()
    want = api.store.scores("2020-W23", iso3=["MLI", "NER"], target="civ_any", horizon=1)
    assert page["total"] == len(want) == 8
    assert [s["region_id"] for s in page["items"]] == want["region_id"].tolist()
    assert [s["rank"] for s in page["items"]] == sorted(s["rank"] for s in page["items"])
    one = api.get("/v1/scores?region=BFA-R001&target=civ_deaths").json()
    assert {(s["region_id"], s["target"]) for s in one["items"]} == {("BFA-R001", "civ_deaths")}
    assert all(s["expected"] == s["p"] and s["q10"] <= s["q50"] <= s["q90"] for s in one["items"])


@pytest.mark.parametrize(
    ("url", "param", "why"),
    [
        ("/v1/scores?week=2020-23", "week", "expected an ISO week label like '2020-W23'"),
        ("/v1/scores?week=2020-W60", "week", "(year 1000-9999, '-W', week 01-53); got '2020-W60'"),
        ("/v1/scores?week=2021-W53", "week", "week '2021-W53': ISO year 2021 has no week 53"),
        ("/v1/scores?contry=MLI", "contry", "unknown query parameter 'contry' for /v1/scores; it takes ["),
        ("/v1/scores?limit=1001", "limit", "less than or equal to 1000"),
        ("/v1/scores?offset=-1", "offset", "greater than or equal to 0"),
        ("/v1/scores?target=civ_anything", "target", "'civ_any'"),
        ("/v1/scores?country=mli", "country", "String should match pattern"),
        ("/v1/exports/2021-W53.csv", "week", "ISO year 2021 has no week 53"),
        ("/v1/alerts?since=yesterday", "since", "expected an ISO 8601 time like '2020-06-01T06:30:00Z'"),
        (
            "/v1/alerts?since=0001-01-01T00:00:00%2B05:00",
            "since",
            "time '0001-01-01T00:00:00+05:00' is out of range",
        ),
    ],
)
def test_bad_parameters_get_422_naming_the_parameter_and_why(api, url, param, why):
    r = api.get(url)
    assert r.status_code == 422
    [err] = r.json()["detail"]
    assert err["loc"][-1] == param or err["loc"][-2] == param
    assert why in err["msg"]


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        ("/v1/scores?week=2021-W23", "week 2021-W23 was never published; GET /v1/weeks lists"),
        (
            "/v1/scores?week=2020-W25&revision=3",
            "week 2020-W25 has no revision 3 (its revisions are [1, 2]); GET /v1/weeks",
        ),
        ("/v1/regions/XYZ-R999", "region 'XYZ-R999' has no scores in any published week; GET /v1/weeks"),
        ("/v1/regions/XYZ-R999/history", "region 'XYZ-R999' has no scores in any published week"),
        ("/v1/alerts/civrisk-nope", "no alert or alert message 'civrisk-nope'; GET /v1/alerts lists"),
        ("/v1/alerts/civrisk-nope.3.cap", "no alert or alert message 'civrisk-nope.3'"),
        ("/v1/reports/2019-W01", "week 2019-W01 was never published; GET /v1/weeks"),
        ("/v1/exports/2019-W01.geojson", "week 2019-W01 was never published"),
    ],
)
def test_unknown_things_get_404_with_a_detail_naming_them(api, url, detail):
    r = api.get(url)
    assert r.status_code == 404
    assert detail in r.json()["detail"]
    assert "/v1/weeks" in r.json()["detail"]


def test_region_latest_scores_and_history_match_the_store(api):
    r = api.get("/v1/regions/MLI-R000").json()
    assert r["publication"]["week_label"] == "2020-W25" and r["publication"]["revision"] == 2
    assert (r["iso3"], r["region_name"]) == ("MLI", "Région 0")
    want = api.store.scores("2020-W25", region_id="MLI-R000")
    assert len(r["scores"]) == len(want) == 12
    assert sorted(s["p"] for s in r["scores"]) == sorted(want["p"])
    h = api.get("/v1/regions/MLI-R000/history?target=civ_any&horizon=1").json()
    hist = api.store.region_history("MLI-R000", target="civ_any", horizon=1)
    assert [p["week_label"] for p in h["items"]] == ["2020-W23", "2020-W24", "2020-W25"]
    assert [p["revision"] for p in h["items"]] == [1, 1, 2]
    np.testing.assert_array_equal([p["p"] for p in h["items"]], hist["p"].to_numpy())
    everything = api.get("/v1/regions/MLI-R000/history").json()["items"]
    assert len(everything) == 3 * 12


def test_a_new_week_and_a_withdrawal_show_up_at_the_next_request(api):
    # a later week scores only 6 of the 12 regions: a dropped region is served from the week that scored it
    pub = publish_week(api.store, "2020-06-22", seed=7, fingerprint="fp-3", n_regions=6)
    assert api.get("/v1/scores").json()["publication"]["week_label"] == "2020-W26"
    dropped = api.get("/v1/regions/NER-R011").json()
    assert dropped["publication"]["week_label"] == "2020-W25"
    assert api.get("/v1/regions/MLI-R000").json()["publication"]["week_label"] == "2020-W26"
    api.store.withdraw_publication(api.pubs[-1].id)  # 2020-W25 revision 2
    weeks = {w["week_label"]: w for w in api.get("/v1/weeks").json()["items"]}
    assert weeks["2020-W25"]["latest_revision"] == 1
    assert weeks["2020-W25"]["revisions"][1]["status"] == "withdrawn"
    assert api.get("/v1/scores?week=2020-W25").json()["publication"]["revision"] == 1
    assert api.get("/v1/scores?week=2020-W25&revision=2").json()["publication"]["revision"] == 2
    assert api.get("/healthz").json()["latest_week"] == pub.week_label


def test_alerts_since_and_paging(api):
    all_rows = api.store.alerts()
    page = api.get("/v1/alerts?limit=1000").json()
    assert page["total"] == len(all_rows) > 0
    assert [a["message_id"] for a in page["items"]] == all_rows["message_id"].tolist()
    first = api.get("/v1/alerts?limit=3").json()
    assert first["next_offset"] == 3 and len(first["items"]) == 3
    walked, offset = [], 0
    while offset is not None:
        page_k = api.get(f"/v1/alerts?limit=7&offset={offset}").json()
        walked += [a["message_id"] for a in page_k["items"]]
        offset = page_k["next_offset"]
    assert walked == all_rows["message_id"].tolist()
    later = (all_rows["sent"].max() + timedelta(seconds=1)).isoformat()
    assert api.get("/v1/alerts", params={"since": later}).json()["items"] == []
    earlier = (all_rows["sent"].min() - timedelta(seconds=1)).isoformat()
    assert api.get("/v1/alerts", params={"since": earlier}).json()["total"] == len(all_rows)
    msg = page["items"][0]
    assert msg["cap_url"] == f"/v1/alerts/{msg['message_id']}.cap"
    assert all(d["p"] >= 0 for d in msg["drivers"])


def test_one_alert_and_its_messages(api):
    rows = api.store.alerts()
    updated = rows[rows["seq"] > 1]["alert_id"].iloc[0]
    a = api.get(f"/v1/alerts/{updated}").json()
    history = api.store.alert_history(updated)
    assert [m["seq"] for m in a["messages"]] == history["seq"].tolist()
    assert a["open"] == (history["msg_type"].iloc[-1] != "Cancel")
    assert a["messages"][1]["references_message_id"] == a["messages"][0]["message_id"]
    # a message id gives its alert too
    assert api.get(f"/v1/alerts/{updated}.2").json()["alert_id"] == updated


@pytest.mark.skipif(not CAP_XSD.is_file(), reason=f"CAP schema {CAP_XSD} is absent")
def test_cap_of_a_message_and_of_an_alert_validates_against_the_cap_schema(api):
    schema = etree.XMLSchema(etree.parse(str(CAP_XSD)))
    rows = api.store.alerts()
    updated = rows[rows["seq"] > 1]["alert_id"].iloc[0]
    ns = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
    for ident, want in (
        (f"{updated}.1", f"{updated}.1"),
        (updated, api.store.alert_history(updated)["message_id"].iloc[-1]),
    ):
        r = api.get(f"/v1/alerts/{ident}.cap")
        assert r.status_code == 200 and r.headers["content-type"] == "application/cap+xml"
        doc = etree.fromstring(r.content)
        schema.assertValid(doc)
        assert doc.findtext("cap:identifier", namespaces=ns) == want
        geocode = doc.find("cap:info/cap:area/cap:geocode", ns)
        assert (
            geocode.findtext("cap:value", namespaces=ns)
            == rows.set_index("alert_id").loc[updated, "region_id"].iloc[0]
        )


def test_csv_export_is_hxl_tagged_and_served_from_the_publication_folder_when_written(api):
    r = api.get("/v1/exports/2020-W25.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(r.text)))
    header, tags, data = lines[0], lines[1], lines[2:]
    assert header[:2] == ["region_id", "iso3"] and tags[0] == "#adm1+code"
    assert "#indicator+num+prob+civ_any+h1" in tags
    assert len(data) == 12 and {row[header.index("revision")] for row in data} == {"2"}
    p_col = header.index("p_civ_any_h1")
    want = api.store.scores("2020-W25", target="civ_any", horizon=1).set_index("region_id")["p"]
    assert {row[0]: float(row[p_col]) for row in data} == want.to_dict()
    # the weekly job's file wins when it exists
    folder = publication_dir(api.settings, api.pubs[-1])
    folder.mkdir(parents=True)
    (folder / "scores.csv").write_text("region_id\n#adm1+code\nX\n", encoding="utf-8")
    assert api.get("/v1/exports/2020-W25.csv").text == "region_id\n#adm1+code\nX\n"
    assert api.get("/v1/exports/2020-W25.csv?revision=1").text != "region_id\n#adm1+code\nX\n"


def test_report_is_served_from_the_publication_folder(api):
    assert api.get("/v1/reports/2020-W25").status_code == 404
    folder = publication_dir(api.settings, api.pubs[0])
    folder.mkdir(parents=True)
    (folder / "report.html").write_text("<!doctype html><title>2020-W23</title>", encoding="utf-8")
    r = api.get("/v1/reports/2020-W23")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "<title>2020-W23</title>" in r.text
    assert api.get("/v1/reports/2020-W23?revision=2").status_code == 404


def test_geojson_export_uses_configured_boundaries(tmp_path):
    square = [[[-4.0, 14.0], [-3.0, 14.0], [-3.0, 15.0], [-4.0, 15.0], [-4.0, 14.0]]]
    features = [
        {
            "type": "Feature",
            "properties": {"adm1_pcode": "MLI-R000", "adm1_name": "Région 0", "iso3": "MLI"},
            "geometry": {"type": "Polygon", "coordinates": square},
        }
    ]
    path = tmp_path / "adm1.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    for api in open_api(tmp_path / "api"):
        api.client.app.state.settings = api.settings.model_copy(update={"boundaries": path})
        api.client.app.state.geometries.settings = api.client.app.state.settings
        doc = api.get("/v1/exports/2020-W24.geojson").json()
        assert doc["type"] == "FeatureCollection" and doc["civrisk"]["week_label"] == "2020-W24"
        by_id = {f["id"]: f for f in doc["features"]}
        assert len(by_id) == 12
        assert by_id["MLI-R000"]["geometry"]["type"] == "Polygon"
        assert by_id["MLI-R000"]["properties"]["geometry_source"] == "polygon"
        assert by_id["BFA-R001"]["geometry"] is None
        rows = api.store.alerts()
        mli = rows[rows["region_id"] == "MLI-R000"]
        if not mli.empty:  # the CAP area carries the polygon too
            xml = api.get(f"/v1/alerts/{mli['message_id'].iloc[0]}.cap").text
            polygon = etree.fromstring(xml.encode()).findtext(".//{*}polygon")
            assert "14.0000,-4.0000" in polygon and "15.0000,-3.0000" in polygon


def test_health_needs_no_key_and_reports_age(tmp_path):
    for api in open_api(tmp_path, fill=False):
        r = api.get("/healthz", key=None)
        assert r.status_code == 200 and r.json()["status"] == "empty"
        publish_week(api.store, WEEKS[0], seed=0, fingerprint="fp")
        h = api.get("/healthz", key=None).json()
        assert h["status"] == "ok" and h["store_reachable"] is True and h["latest_week"] == "2020-W23"
        assert 0 <= h["latest_publication_age_days"] < 0.01
        assert h["drift"] == "unknown" and h["drifting"] == []  # no verified week yet
        assert api.get("/v1/scores", key=None).status_code == 401


def test_openapi_schema_is_served(api):
    spec = api.get("/openapi.json", key=None).json()
    assert spec["openapi"].startswith("3.")
    assert {"/v1/scores", "/v1/alerts/{alert_id}.cap", "/v1/exports/{week}.csv", "/healthz"} <= set(
        spec["paths"]
    )
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


def test_webhook_subscriptions(api):
    # a public host name, resolved by a stand-in resolver (no DNS in tests)
    api.client.app.state.webhook_policy.resolve = lambda host, port: ["93.184.215.14"]
    body = {"url": "https://hooks.example.org/civrisk", "secret": "s" * 32, "formats": ["cap", "json"]}
    r = api.client.post("/v1/webhooks", json=body, headers=api.auth("admin"))
    assert r.status_code == 201
    hook = r.json()
    assert hook["formats"] == ["json", "cap"] and hook["active"] is True and "secret" not in hook
    assert "s" * 32 not in r.text
    listed = api.get("/v1/webhooks", key="admin").json()["items"]
    assert [h["id"] for h in listed] == [hook["id"]]
    assert api.client.delete(f"/v1/webhooks/{hook['id']}", headers=api.auth("admin")).status_code == 204
    assert api.get("/v1/webhooks", key="admin").json()["items"][0]["active"] is False
    assert api.client.delete("/v1/webhooks/999", headers=api.auth("admin")).status_code == 404
    bad = api.client.post("/v1/webhooks", json={**body, "url": "ftp://x"}, headers=api.auth("admin"))
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "url"]
    short = api.client.post("/v1/webhooks", json={**body, "secret": "short"}, headers=api.auth("admin"))
    assert short.status_code == 422 and short.json()["detail"][0]["loc"] == ["body", "secret"]


def _wait_for(api, job_id, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = api.get(f"/v1/publish/{job_id}", key="admin").json()
        if job["status"] != "running":
            return job
        time.sleep(0.05)
    raise AssertionError(f"publish job {job_id} still running after {timeout} s")


def test_publish_starts_a_background_job_and_returns_202(tmp_path):
    marker, gate = tmp_path / "ran.txt", tmp_path / "go"
    # the job waits (bounded) for the test to open the gate, so "returned before the job finished" is
    # proven by order, not by a clock
    script = (
        "import os, sys, time\n"
        "deadline = time.monotonic() + 30\n"
        "while not os.path.exists(sys.argv[3]) and time.monotonic() < deadline: time.sleep(0.02)\n"
        "open(sys.argv[1], 'w').write(sys.argv[2]); print('published', sys.argv[2])"
    )

    def argv(week):
        return [sys.executable, "-c", script, str(marker), week or "default", str(gate)]

    for api in open_api(tmp_path / "api", publish_argv=argv):
        r = api.client.post("/v1/publish", json={"week": "2020-W26"}, headers=api.auth("admin"))
        assert r.status_code == 202 and not marker.exists()  # returned while the job waits at the gate
        job = r.json()
        assert job["status"] == "running" and job["week_label"] == "2020-W26"
        again = api.client.post("/v1/publish", json={}, headers=api.auth("admin"))
        assert again.status_code == 409 and job["job_id"] in again.json()["detail"]
        gate.touch()
        done = _wait_for(api, job["job_id"])
        assert done["status"] == "succeeded" and done["returncode"] == 0 and done["finished_at"]
        assert marker.read_text() == "2020-W26"
        log_file = api.settings.home / "jobs" / f"publish-{job['job_id']}.log"
        assert "published 2020-W26" in log_file.read_text()
        bad = api.client.post("/v1/publish", json={"week": "2020-W60"}, headers=api.auth("admin"))
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "week"]
        assert api.get("/v1/publish/nope", key="admin").status_code == 404


def test_a_failing_publish_job_is_reported_failed_with_its_reason(tmp_path):
    script = (
        "import sys; print('reading events'); "
        "print('store postgresql://civrisk:hunter2@db/civrisk, key crk_0123456789ab_' + 'S' * 43, "
        "file=sys.stderr); "
        "print('civrisk publish: no champion model: train one first (civrisk train)', file=sys.stderr); "
        "raise SystemExit(3)"
    )
    for api in open_api(tmp_path, publish_argv=lambda week: [sys.executable, "-c", script]):
        job = api.client.post("/v1/publish", headers=api.auth("admin")).json()
        assert job["reason"] is None  # running
        done = _wait_for(api, job["job_id"])
        assert done["status"] == "failed" and done["returncode"] == 3
        reason = done["reason"]
        assert (
            reason.splitlines()[-1] == "civrisk publish: no champion model: train one first (civrisk train)"
        )
        assert "reading events" in reason  # the last lines, stdout and stderr as they came
        assert "hunter2" not in reason and "S" * 43 not in reason  # secrets redacted
        assert "postgresql://civrisk:[REDACTED]@db" in reason and "crk_0123456789ab_[REDACTED]" in reason


def test_a_succeeded_job_has_no_reason_and_a_long_output_is_bounded(tmp_path):
    from serve.jobs import REASON_CHARS, REASON_LINES, Job, failure_reason

    log = tmp_path / "job.log"
    log.write_text("".join(f"line {i} " + "x" * 900 + "\n" for i in range(40)))
    job = Job("j", "failed", None, [], None, 1, str(log), datetime(2020, 1, 1), datetime(2020, 1, 1))
    reason = failure_reason(job)
    assert len(reason) <= REASON_CHARS and reason.endswith("x") and "line 39 " in reason
    assert len(reason.splitlines()) <= REASON_LINES
    assert failure_reason(Job("j", "succeeded", None, [], None, 0, str(log), job.started_at, None)) is None
    empty = tmp_path / "empty.log"
    empty.write_text("\n\n")
    assert failure_reason(Job("j", "failed", None, [], None, 2, str(empty), job.started_at, None)) == (
        "exit code 2; the command printed nothing"
    )


def test_cap_is_served_from_the_published_file_when_the_weekly_job_wrote_it(api):
    row = api.store.alerts().iloc[0]
    pub = api.store.publication_by_id(int(row["publication_id"]))
    folder = publication_dir(api.settings, pub) / "alerts"
    folder.mkdir(parents=True)
    published = b"<?xml version='1.0' encoding='UTF-8'?>\n<alert><status>Exercise</status></alert>\n"
    (folder / f"{row['message_id']}.cap.xml").write_bytes(published)
    assert api.get(f"/v1/alerts/{row['message_id']}.cap").content == published


def test_a_message_cap_reads_the_store_once_and_still_prefers_the_published_file(api, monkeypatch):
    import serve.routes.alerts as routes

    calls = []
    real = routes._message_row
    monkeypatch.setattr(
        routes, "_message_row", lambda store, ident: calls.append(ident) or real(store, ident)
    )
    row = api.store.alerts().iloc[0]
    url = f"/v1/alerts/{row['message_id']}.cap"
    built = api.get(url).content
    assert api.get(url).content == built and calls == [row["message_id"]]  # the second from the cache
    # the weekly job's file, written later (an exercise), is what is served from then on
    folder = publication_dir(api.settings, api.store.publication_by_id(int(row["publication_id"]))) / "alerts"
    folder.mkdir(parents=True)
    published = b"<?xml version='1.0' encoding='UTF-8'?>\n<alert><status>Exercise</status></alert>\n"
    (folder / f"{row['message_id']}.cap.xml").write_bytes(published)
    assert api.get(url).content == published
    # a bare alert id always reads its latest message afresh
    api.get(f"/v1/alerts/{row['alert_id']}.cap")
    api.get(f"/v1/alerts/{row['alert_id']}.cap")
    assert calls.count(row["alert_id"]) == 2


def test_response_cache_is_bounded_in_bytes_and_keeps_the_recent():
    from serve.response_cache import ResponseCache

    cache = ResponseCache(max_bytes=10)
    built = []

    def body(text):
        def build():
            built.append(text)
            return text.encode()

        return build

    assert cache.get("a", body("aaaa")) == b"aaaa"
    assert cache.get("a", body("never")) == b"aaaa"  # a hit does not build
    cache.get("b", body("bbbb"))
    cache.get("a", body("never"))  # a is now the most recent
    cache.get("c", body("cccc"))  # 12 bytes > 10: b (least recent) goes
    assert cache.get("b", body("BBBB")) == b"BBBB" and built == ["aaaa", "bbbb", "cccc", "BBBB"]
    assert cache.get("big", body("x" * 11)) == b"x" * 11 and "big" not in cache._items
    assert ResponseCache(0).get("k", body("zz")) == b"zz"


def test_a_job_whose_process_vanished_is_marked_failed_and_does_not_block(tmp_path):
    from serve import jobs
    from serve import tables as st

    for api in open_api(tmp_path, publish_argv=lambda week: [sys.executable, "-c", "pass"]):
        log_path = tmp_path / "lost.log"
        log_path.write_text("")
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()  # reaped: its pid names no process now
        with st.writing(api.store.engine) as conn:
            conn.execute(
                st.publish_jobs.insert().values(
                    id="lost",
                    command="[]",
                    status="running",
                    pid=dead.pid,
                    log_path=str(log_path),
                    started_at=datetime(2020, 1, 1),
                )
            )
        r = api.client.post("/v1/publish", json={}, headers=api.auth("admin"))
        assert r.status_code == 202
        assert jobs.get_job(api.store.engine, "lost").status == "failed"
        assert "exit status unknown" in log_path.read_text()


def test_health_is_503_when_the_store_does_not_answer(api, monkeypatch):
    from sqlalchemy.exc import OperationalError

    def down():
        raise OperationalError("SELECT 1", {}, Exception("unable to open database file"))

    monkeypatch.setattr(api.client.app.state.catalog, "snapshot", down)
    r = api.get("/healthz", key=None)
    assert r.status_code == 503
    assert r.json()["status"] == "unavailable" and r.json()["store_reachable"] is False
    assert "OperationalError" in r.json()["detail"]


def test_head_healthz_answers_like_get(api):
    r = api.client.head("/healthz")
    assert r.status_code == 200 and r.content == b""


def _app_over(tmp_path, db: Path, folders: bool):
    from civrisk.settings import Settings
    from serve.app import create_app

    home = tmp_path / "home"
    if folders:
        (home / "publications" / "2020-W23" / "r1").mkdir(parents=True)
        (home / "publications" / "2020-W23" / "r1" / "manifest.json").write_text("{}")
    settings = Settings(home=home, db_url=f"sqlite:///{db}", shared_data=tmp_path / "none")
    return TestClient(create_app(settings, key_cache_s=0))


def test_an_empty_store_beside_published_folders_gives_503_with_the_reason(tmp_path):
    db = tmp_path / "scores.db"
    db.touch()  # the zero-byte scores.db
    with _app_over(tmp_path, db, folders=True) as client:
        for url in ("/healthz", "/v1/scores", "/v1/weeks"):
            r = client.get(url, headers={"Authorization": "Bearer crk_x"})
            assert r.status_code == 503, url
            assert (
                "is missing or empty (0 bytes), but 1 published revision folders exist" in r.json()["detail"]
            )
        assert client.head("/healthz").status_code == 503
        assert client.get("/openapi.json").status_code == 200  # what needs no store still works
    assert db.stat().st_size == 0


def test_a_store_damaged_while_serving_gives_503_with_a_detail(api):
    if api.store.engine.dialect.name != "sqlite":
        pytest.skip("damaging the file is the SQLite case; PostgreSQL's unreachable case is the next test")
    db = Path(api.settings.resolved_db_url().removeprefix("sqlite:///"))
    api.store.close()
    api.client.app.state.store.engine.dispose()
    for side in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        if side.exists():
            side.write_bytes(b"\x00garbage" * 512)
    for url, key in (("/healthz", None), ("/v1/weeks", "read"), ("/v1/scores", "read")):
        r = api.get(url, key=key)
        assert r.status_code == 503, (url, r.text)
        assert r.json()["detail"], url


def test_a_publication_whose_rows_were_changed_is_not_served(api):
    if api.store.engine.dialect.name != "sqlite":
        trigger, on = "scores_append_only", " ON scores"
    else:
        trigger, on = "scores_append_only_update", ""
    pub = api.pubs[-1]
    with api.store.engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TRIGGER {trigger}{on}")
        conn.exec_driver_sql(f"UPDATE scores SET p = 0.001 WHERE publication_id = {pub.id}")
    r = api.get(f"/v1/scores?week={pub.week_label}&revision={pub.revision}")
    assert r.status_code == 503
    assert (
        f"publication {pub.week_label} r{pub.revision} (id {pub.id}): its scores no longer match"
        in r.json()["detail"]
    )
    assert api.get(f"/v1/scores?week={api.pubs[0].week_label}").status_code == 200  # others still are


def test_an_unreachable_postgresql_gives_503(tmp_path):
    from civrisk.settings import Settings
    from serve.app import create_app

    settings = Settings(
        home=tmp_path / "home",
        db_url="postgresql+psycopg://civrisk:civrisk@127.0.0.1:9/none?connect_timeout=2",
        shared_data=tmp_path / "none",
    )
    with TestClient(create_app(settings, key_cache_s=0)) as client:
        r = client.get("/healthz")
        assert r.status_code == 503 and r.json()["status"] == "unavailable"
        detail = r.json()["detail"]
        assert "the scores store postgresql+psycopg://civrisk:***@127.0.0.1:9/none" in detail
        assert "does not answer (OperationalError: " in detail and "CIVRISK_DB_URL" in detail
        assert client.get("/v1/weeks").status_code == 503
