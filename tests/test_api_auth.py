"""API keys: 401 without a valid key, 403 for a read key on admin routes, hashed storage, never logged."""

from __future__ import annotations

import hmac
import logging
import re
import socket
import sqlite3
import threading
import time

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from cli.main import app as cli
from serve import auth
from serve.app import create_app
from serve.auth import create_api_key, hash_secret, parse_key, revoke_api_key
from tests.api_fixtures import open_api


@pytest.fixture()
def api(tmp_path, backend):
    yield from open_api(tmp_path, backend=backend)


def _dump(db_path) -> str:
    con = sqlite3.connect(db_path)
    try:
        return "\n".join(con.iterdump())
    finally:
        con.close()


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        (None, "missing API key: send the header 'Authorization: Bearer <key>'"),
        ("Bearer ", "missing API key"),
        ("Bearer not-a-key", "invalid or revoked API key"),
        ("Basic dXNlcjpwYXNz", "missing API key"),
        ("Bearer crk_0123456789ab_" + "A" * 43, "invalid or revoked API key"),
    ],
)
def test_missing_or_invalid_key_gets_401(api, header, detail):
    r = api.client.get("/v1/weeks", headers={"Authorization": header} if header else {})
    assert r.status_code == 401
    assert detail in r.json()["detail"]
    assert r.headers["www-authenticate"] == "Bearer"


def test_right_key_id_with_a_wrong_secret_gets_401(api):
    key_id, secret = parse_key(api.read_key)
    forged = f"crk_{key_id}_{'B' * 43}"
    assert api.get("/v1/weeks", key=forged).status_code == 401
    assert api.get("/v1/weeks").status_code == 200


def test_read_key_on_admin_routes_gets_403_and_admin_key_reads(api):
    body = {"url": "http://127.0.0.1:9/hook", "secret": "x" * 20}
    r = api.client.post("/v1/webhooks", json=body, headers=api.auth("read"))
    assert r.status_code == 403
    assert r.json()["detail"] == "this route needs an API key with scope 'admin'; yours has 'read'"
    assert api.client.post("/v1/publish", json={}, headers=api.auth("read")).status_code == 403
    assert api.get("/v1/webhooks").status_code == 403
    assert api.get("/v1/weeks", key="admin").status_code == 200
    assert api.client.post("/v1/webhooks", json=body, headers=api.auth(None)).status_code == 401


def test_revoked_key_stops_working(api):
    assert api.get("/v1/weeks").status_code == 200
    revoke_api_key(api.store.engine, parse_key(api.read_key)[0])
    r = api.get("/v1/weeks")  # the app under test caches keys for 0 s
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    with pytest.raises(LookupError, match="no API key with id 'ffffffffffff'"):
        revoke_api_key(api.store.engine, "ffffffffffff")


def test_only_a_keyed_hash_is_stored(tmp_path):
    url = f"sqlite:///{tmp_path / 'k.db'}"
    from publish.store.store import ScoreStore
    from serve.tables import create_serve_schema

    store = ScoreStore(url)
    create_serve_schema(store.engine)
    key = create_api_key(store.engine, "read", "ops", pepper="pepper-1")
    key_id, secret = parse_key(key)
    store.close()
    dump = _dump(tmp_path / "k.db")
    assert secret not in dump and key not in dump
    assert hash_secret(secret, "pepper-1") in dump and key_id in dump
    assert hash_secret(secret, "pepper-1") != hash_secret(secret, "pepper-2") != hash_secret(secret, None)
    with pytest.raises(
        ValueError, match=re.escape("API key scope must be one of ['read', 'admin']; got 'root'")
    ):
        create_api_key(ScoreStore(url).engine, "root")


def test_a_different_pepper_invalidates_keys(tmp_path):
    for api in open_api(tmp_path):
        api.client.app.state.verifier.pepper = "another pepper"
        assert api.get("/v1/weeks").status_code == 401


def test_hashes_are_compared_in_constant_time_even_for_unknown_keys(api, monkeypatch):
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    assert api.get("/v1/weeks").status_code == 200
    assert api.get("/v1/weeks", key="crk_0123456789ab_" + "A" * 43).status_code == 401
    assert api.get("/v1/weeks", key="garbage").status_code == 401
    assert len(calls) == 3  # a compare for the good key, the unknown key id and the malformed key


def test_cli_creates_a_key_prints_it_once_and_stores_its_hash(tmp_path, monkeypatch):
    db = tmp_path / "cli.db"
    monkeypatch.setenv("CIVRISK_DB_URL", f"sqlite:///{db}")
    monkeypatch.setenv("CIVRISK_API_KEY_PEPPER", "cli-pepper")
    from civrisk.settings import get_settings

    get_settings.cache_clear()
    try:
        runner = CliRunner()
        out = runner.invoke(cli, ["apikey", "create", "--scope", "admin", "--name", "ops"])
        assert out.exit_code == 0, out.output
        key = out.stdout.strip()
        key_id, secret = parse_key(key)
        assert "shown only this once" in out.stderr
        dump = _dump(db)
        assert secret not in dump and hash_secret(secret, "cli-pepper") in dump
        listed = runner.invoke(cli, ["apikey", "list"])
        assert key_id in listed.stdout and "admin" in listed.stdout and secret not in listed.stdout
        bad = runner.invoke(cli, ["apikey", "create", "--scope", "root"])
        assert bad.exit_code != 0 and "expected one of ['read', 'admin']" in bad.output
        assert runner.invoke(cli, ["apikey", "revoke", key_id]).exit_code == 0
        assert "revoked" in runner.invoke(cli, ["apikey", "list"]).stdout
    finally:
        get_settings.cache_clear()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_keys_never_reach_the_logs_of_a_real_server(tmp_path, caplog):
    """Run uvicorn with access logs at DEBUG on loopback; no key (good, bad, admin) appears in any record."""
    caplog.set_level(logging.DEBUG)
    for api in open_api(tmp_path):
        port = _free_port()
        config = uvicorn.Config(
            create_app(api.settings, key_cache_s=0),
            host="127.0.0.1",
            port=port,
            log_config=None,
            log_level="debug",
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while not server.started:
                assert time.monotonic() < deadline, "uvicorn did not start"
                time.sleep(0.02)
            bad_key = "crk_0123456789ab_" + "C" * 43
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base) as client:
                for key in (api.read_key, api.admin_key, bad_key):
                    for path in ("/v1/weeks", "/v1/scores?limit=2", "/v1/webhooks", "/v1/nowhere"):
                        client.get(path, headers={"Authorization": f"Bearer {key}"})
                client.post(
                    "/v1/webhooks",
                    json={"url": "http://127.0.0.1:9/", "secret": "y" * 16},
                    headers={"Authorization": f"Bearer {api.read_key}"},
                )
        finally:
            server.should_exit = True
            thread.join(10)
        access = [r for r in caplog.records if r.name == "uvicorn.access"]
        assert len(access) >= 12  # the access log did run
        text = "\n".join(f"{r.name} {r.getMessage()} {r.args}" for r in caplog.records)
        for key in (api.read_key, api.admin_key, bad_key):
            assert key not in text and parse_key(key)[1] not in text
