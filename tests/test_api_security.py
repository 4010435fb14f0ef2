"""The API's own defences: body limit before parsing, key before body, security headers, offline docs."""

from __future__ import annotations

import re
import socket
import time
from urllib.parse import urlsplit

import lxml.html
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from serve.catalog import Catalog
from serve.deps import KeyFirstRoute
from serve.docs_ui import ASSETS_PATH, REDOC_CSP
from serve.http_guard import API_CSP, REPORT_CSP, SECURITY_HEADERS
from serve.redaction import query_credentials, redact_target, redact_text
from serve.routes.reports import publication_dir
from tests.api_fixtures import open_api, running_server

LIMIT = 2048


@pytest.fixture()
def api(tmp_path):
    yield from open_api(tmp_path, api_max_body_bytes=LIMIT)


class BodyMeter:
    """ASGI wrapper that counts the request-body bytes the app pulled from the server."""

    def __init__(self, app):
        self.app, self.read = app, 0

    async def __call__(self, scope, receive, send):
        async def counted():
            message = await receive()
            self.read += len(message.get("body", b""))
            return message

        await self.app(scope, counted, send)


def _api_routes(app) -> list[APIRoute]:
    """Return every APIRoute of the app, those of included routers too (path with the prefix)."""
    return [
        rc.original_route for rc in iter_route_contexts(app.routes) if isinstance(rc.original_route, APIRoute)
    ]


def _body_routes(app) -> list[APIRoute]:
    return [r for r in _api_routes(app) if r.body_field is not None]


# -- request bodies --------------------------------------------------------------------------------


def test_every_keyed_route_checks_the_key_before_fastapi_reads_anything(api):
    keyed = [r for r in _api_routes(api.client.app) if r.path.startswith("/v1/")]
    assert len(keyed) >= 12
    assert all(isinstance(r, KeyFirstRoute) for r in keyed), [r.path for r in keyed]
    assert {r.path for r in _body_routes(api.client.app)} == {"/v1/webhooks", "/v1/publish"}


@pytest.mark.parametrize("key", [None, "crk_0123456789ab_" + "A" * 43, "read"])
def test_a_refused_key_gets_its_answer_before_the_body_is_read_or_parsed(api, key):
    meter = BodyMeter(api.client.app)
    with TestClient(meter) as client:
        for route in _body_routes(api.client.app):
            for body in (b"{not json", b'{"url": 1, "secret": 2}', b"x" * (LIMIT - 1)):
                r = client.post(
                    route.path, content=body, headers={"Content-Type": "application/json", **api.auth(key)}
                )
                assert r.status_code == (403 if key == "read" else 401), (route.path, r.text)
                assert r.headers["connection"] == "close"  # the server need not receive the rest
    assert meter.read == 0  # not one byte of any body was pulled from the server


def test_a_body_over_the_limit_is_refused_with_413_before_it_is_read(api):
    meter = BodyMeter(api.client.app)
    with TestClient(meter) as client:
        big = b'{"week": "2020-W23", "pad": "' + b"x" * LIMIT + b'"}'
        for key in ("admin", None):
            r = client.post(
                "/v1/publish", content=big, headers={"Content-Type": "application/json", **api.auth(key)}
            )
            assert r.status_code == 413
            assert r.json()["detail"] == (
                f"request body too large: {len(big)} bytes announced, at most {LIMIT} accepted "
                "(CIVRISK_API_MAX_BODY_BYTES); the API's bodies are small JSON documents"
            )
            assert r.headers["connection"] == "close" and r.headers["x-content-type-options"] == "nosniff"
    assert meter.read == 0


def test_a_chunked_body_is_counted_as_it_is_read(api):
    def chunks(n):
        yield b'{"url": "https://hooks.example.org/", "secret": "'
        for _ in range(n):
            yield b"s" * 512
        yield b'"}'

    r = api.client.post(
        "/v1/webhooks", content=chunks(8), headers={"Content-Type": "application/json", **api.auth("admin")}
    )
    assert r.status_code == 413  # no Content-Length: FastAPI's limit stops the read past 2,048 bytes
    assert r.json()["detail"].startswith(
        f"request body too large: more than {LIMIT} bytes sent, at most {LIMIT}"
    )
    ok = api.client.post(
        "/v1/publish",
        content=iter([b'{"week": ', b'"2020-W60"}']),
        headers={"Content-Type": "application/json", **api.auth("admin")},
    )
    assert ok.status_code == 422  # a small chunked body is read and validated as usual


def _raw_post(base: str, head: str, first_bytes: bytes) -> tuple[bytes, float]:
    """Send a request head and a first slice of its body over a raw socket; return the answer and its time."""
    host, port = urlsplit(base).hostname, urlsplit(base).port
    with socket.create_connection((host, port), timeout=5) as sock:
        t0 = time.monotonic()
        sock.sendall(head.encode("latin-1") + first_bytes)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer, time.monotonic() - t0


def test_an_unauthenticated_50_mb_post_is_answered_without_waiting_for_its_body(tmp_path):
    """A real uvicorn: the client announces 50 MB, sends 1 KB and waits; the answer comes at once."""
    for api in open_api(tmp_path):
        from serve.app import create_app

        with running_server(create_app(api.settings, key_cache_s=0)) as base:
            length = 50 * 2**20
            head = (
                "POST /v1/webhooks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {length}\r\n\r\n"
            )
            answer, _ = _raw_post(base, head, b"{" + b" " * 1023)
            assert answer.startswith(b"HTTP/1.1 413 ")  # 65,536 bytes by default
            assert b"connection: close" in answer.lower() and b"52428800 bytes announced" in answer
            chunked = (
                "POST /v1/webhooks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\n\r\n"
            )
            answer, _ = _raw_post(base, chunked, b"400\r\n" + b" " * 1024 + b"\r\n")  # then nothing more
            assert answer.startswith(b"HTTP/1.1 401 ") and b"missing API key" in answer
            assert b"connection: close" in answer.lower()


# -- keys in URLs and redaction ----------------------------------------------------------------------

KEY = "crk_0123456789ab_" + "Q" * 43


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("week=2020-W23&limit=5", []),
        (f"api_key={KEY}", ["api_key"]),
        ("API_KEY=whatever", ["API_KEY"]),
        ("token=abc&limit=1", ["token"]),
        (f"region={KEY}", ["region"]),
        (f"api%5Fkey={KEY.replace('_', '%5F')}", ["api_key"]),
        (f"{KEY}", [KEY]),
        ("access_token=x&password=y", ["access_token", "password"]),
    ],
)
def test_credentials_in_query_strings_are_found(query, names):
    assert query_credentials(query.encode()) == names


def test_redaction_of_request_targets_and_text():
    assert redact_target(f"/v1/weeks?api_key={KEY}&limit=2") == "/v1/weeks?api_key=[REDACTED]&limit=2"
    assert redact_target(f"/v1/regions/{KEY}") == "/v1/regions/crk_0123456789ab_[REDACTED]"
    assert redact_target(f"/x?{KEY}") == "/x?[REDACTED]"
    assert redact_target("/v1/scores?week=2020-W23") == "/v1/scores?week=2020-W23"
    text = f"url postgresql://civrisk:hunter2@db:5432/x key {KEY} secret=abc PEPPER: xyz"
    assert redact_text(text) == (
        "url postgresql://civrisk:[REDACTED]@db:5432/x key crk_0123456789ab_[REDACTED] secret=[REDACTED] "
        "PEPPER: [REDACTED]"
    )


def test_a_key_in_the_url_is_refused_even_with_a_valid_header_and_never_echoed(api):
    for url in (
        f"/v1/weeks?api_key={api.read_key}",
        f"/healthz?token={api.read_key}",
        f"/docs?key={api.read_key}",
    ):
        r = api.get(url)
        assert r.status_code == 400 and api.read_key.split("_", 2)[2] not in r.text
        assert r.json()["detail"].startswith(
            "API keys are accepted only in the header 'Authorization: Bearer <key>'"
        )
    r = api.get("/v1/weeks?contry=MLI")  # other unknown parameters are still a 422 naming them
    assert r.status_code == 422 and "unknown query parameter 'contry'" in r.text


def test_validation_errors_do_not_echo_body_values(api):
    secret = "s3cr3t-" * 40  # too long
    r = api.client.post(
        "/v1/webhooks",
        json={"url": "https://user:hunter2@hooks.example.org/x", "secret": secret},
        headers=api.auth("admin"),
    )
    assert r.status_code == 422
    locs = {tuple(e["loc"]) for e in r.json()["detail"]}
    assert locs == {("body", "url"), ("body", "secret")}
    assert "hunter2" not in r.text and "s3cr3t" not in r.text
    assert all("input" not in e for e in r.json()["detail"])
    q = api.get("/v1/scores?week=2020-23").json()["detail"][0]  # query values are still shown
    assert q["input"] == "2020-23"


# -- security headers -------------------------------------------------------------------------------


def _write_report(api) -> None:
    folder = publication_dir(api.settings, api.pubs[-1])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.html").write_text("<!doctype html><title>r</title><style>b{}</style>", encoding="utf-8")


def test_every_kind_of_response_carries_the_security_headers(api, monkeypatch):
    _write_report(api)
    message_id = api.store.alerts().iloc[0]["message_id"]
    week = api.pubs[-1].week_label
    cases = {
        "/v1/weeks": (200, API_CSP, True),
        "/v1/scores?limit=1": (200, API_CSP, True),
        f"/v1/alerts/{message_id}.cap": (200, API_CSP, True),
        f"/v1/exports/{week}.csv": (200, API_CSP, True),
        f"/v1/exports/{week}.geojson": (200, API_CSP, True),
        f"/v1/reports/{week}": (200, REPORT_CSP, True),
        "/v1/regions/NOPE": (404, API_CSP, True),
        "/v1/scores?week=bad": (422, API_CSP, True),
        "/healthz": (200, API_CSP, True),
        "/openapi.json": (200, API_CSP, False),
        "/redoc": (200, REDOC_CSP, False),
        f"{ASSETS_PATH}/swagger-ui.css": (200, API_CSP, False),
        "/nowhere": (404, API_CSP, False),
    }
    for url, (status, csp, no_store) in cases.items():
        r = api.get(url)
        assert r.status_code == status, url
        for name, value in SECURITY_HEADERS.items():
            assert r.headers[name] == value, (url, name)
        assert r.headers["content-security-policy"] == csp, url
        assert (r.headers.get("cache-control") == "no-store") is no_store, url
    unauthenticated = api.get("/v1/weeks", key=None)
    assert unauthenticated.status_code == 401 and unauthenticated.headers["cache-control"] == "no-store"
    assert (
        api.client.post("/v1/weeks", headers=api.auth("read")).headers["x-content-type-options"] == "nosniff"
    )

    def broken(*args, **kw):
        raise RuntimeError("a bug")

    monkeypatch.setattr(Catalog, "snapshot", broken)  # a bug: the app answers 500
    with TestClient(api.client.app, raise_server_exceptions=False) as client:
        r = client.get("/v1/weeks", headers=api.auth("read"))
    assert r.status_code == 500 and r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-security-policy"] == API_CSP and r.headers["cache-control"] == "no-store"


def test_the_report_policy_allows_inline_css_and_svg_and_nothing_else():
    directives = dict(d.strip().split(" ", 1) for d in REPORT_CSP.split(";"))
    assert directives["default-src"] == "'none'"  # so no script-src, connect-src, font-src, frame-src
    assert directives["style-src"] == "'unsafe-inline'" and directives["img-src"] == "data:"
    assert "script-src" not in directives and directives["frame-ancestors"] == "'none'"


# -- offline docs -------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_reference_no_external_url_and_their_assets_are_served(api, page):
    r = api.get(page, key=None)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert not re.search(r"(https?:)?//[A-Za-z0-9]", r.text), re.findall(r"\S*//\S+", r.text)
    dom = lxml.html.fromstring(r.text)
    assets = dom.xpath("//script/@src | //link/@href")
    assert assets and all(a.startswith(f"{ASSETS_PATH}/") for a in assets)
    for asset in assets:
        got = api.get(asset, key=None)
        assert got.status_code == 200 and len(got.content) > 1000, asset
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "http" not in csp
    if page == "/docs":  # Swagger UI's inline start-up script is allowed by its hash, nothing else inline
        inline = [s.text for s in dom.xpath("//script[not(@src)]")]
        assert len(inline) == 1 and "url: '/openapi.json'" in inline[0] and "validatorUrl" in inline[0]
        assert (
            len(re.findall(r"'sha256-[A-Za-z0-9+/=]{44}'", csp)) == 1
            and "'unsafe-inline'" not in csp.split("style-src")[0]
        )
