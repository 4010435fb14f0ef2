"""API keys: 401 without a valid key, 403 for a read key on admin routes, hashed storage, never logged."""

from __future__ import annotations

import hmac
import logging
import re
import sqlite3
import stat
import threading
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from civrisk.settings import Settings, get_settings
from cli.main import app as cli
from serve import auth
from serve.app import create_app
from serve.auth import create_api_key, hash_secret, parse_key, revoke_api_key
from serve.pepper import PepperError, api_key_pepper, load_pepper
from tests.api_fixtures import open_api, running_server


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
    assert hash_secret(secret, "pepper-1") != hash_secret(secret, "pepper-2")
    for no_pepper in (None, ""):  # never a constant in place of a pepper
        with pytest.raises(ValueError, match=re.escape("an API-key pepper is required")):
            hash_secret(secret, no_pepper)
    with pytest.raises(
        ValueError, match=re.escape("API key scope must be one of ['read', 'admin']; got 'root'")
    ):
        create_api_key(ScoreStore(url).engine, "root", pepper="pepper-1")


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


def test_keys_never_reach_the_logs_of_a_real_server(tmp_path, caplog):
    """Run uvicorn with access logs at DEBUG on loopback; no key (good, bad, admin) appears in any record,
    whether sent in the header or (refused with 400, never echoed) in the URL."""
    caplog.set_level(logging.DEBUG)
    for api in open_api(tmp_path):
        bad_key = "crk_0123456789ab_" + "C" * 43
        keys = (api.read_key, api.admin_key, bad_key)
        app = create_app(api.settings, key_cache_s=0)
        with running_server(app, log_level="debug") as base, httpx.Client(base_url=base) as client:
            for key in keys:
                for path in ("/v1/weeks", "/v1/scores?limit=2", "/v1/webhooks", "/v1/nowhere"):
                    client.get(path, headers={"Authorization": f"Bearer {key}"})
                in_url = [
                    f"/v1/weeks?api_key={key}",
                    f"/v1/scores?limit=2&token={key}",
                    f"/healthz?apikey={key}",
                    f"/v1/scores?region={key}",  # a key in any parameter
                    f"/v1/weeks?api_key={quote(key, safe='')}".replace("_", "%5F"),  # percent-encoded
                    f"/v1/regions/{key}",  # in the path
                ]
                for url in in_url:
                    r = client.get(url, headers={"Authorization": f"Bearer {api.read_key}"})
                    assert r.status_code == 400, url
                    assert "accepted only in the header 'Authorization: Bearer <key>'" in r.json()["detail"]
                    assert parse_key(key)[1] not in r.text  # never echoed
            client.post(
                "/v1/webhooks",
                json={"url": "http://127.0.0.1:9/", "secret": "y" * 16},
                headers={"Authorization": f"Bearer {api.read_key}"},
            )
        access = [r for r in caplog.records if r.name == "uvicorn.access"]
        assert len(access) >= 30  # the access log did run, for the refused requests too
        assert any("api_key=[REDACTED]" in r.getMessage() for r in access)
        # the server's records (uvicorn, the app); the test's own HTTP client logs its URLs, keys and all
        server = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
        text = "\n".join(f"{r.name} {r.getMessage()} {r.args}" for r in server)
        for key in keys:
            secret = parse_key(key)[1]
            assert key not in text and secret not in text and quote(secret, safe="") not in text


# -- the pepper ---------------------------------------------------------------------------------------


def test_a_pepper_is_generated_once_into_a_private_file_and_reused(tmp_path, caplog):
    settings = Settings(home=tmp_path / "home")
    with caplog.at_level(logging.WARNING, logger="serve.pepper"):
        first = load_pepper(settings)
    path = tmp_path / "home" / "api_key_pepper"
    assert first.created and first.source == str(path) and len(first.value) == 43  # 256 random bits
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert f"CIVRISK_API_KEY_PEPPER is not set: generated a random API-key pepper into {path}" in caplog.text
    again = load_pepper(settings)
    assert again.value == first.value and not again.created
    assert load_pepper(Settings(home=tmp_path / "other")).value != first.value  # random, not a constant
    assert load_pepper(Settings(home=tmp_path / "home", api_key_pepper="from-env")).value == "from-env"


def test_workers_starting_at_once_keep_one_pepper(tmp_path):
    settings = Settings(home=tmp_path / "home")
    barrier = threading.Barrier(8)
    got: list[str] = []

    def start() -> None:
        barrier.wait()
        got.append(api_key_pepper(settings))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(got) == 8 and len(set(got)) == 1
    assert [p.name for p in (tmp_path / "home").iterdir()] == ["api_key_pepper"]  # no temporary left


def test_a_pepper_file_open_to_others_or_empty_is_refused_with_the_fix(tmp_path, monkeypatch):
    settings = Settings(home=tmp_path)
    path = tmp_path / "api_key_pepper"
    path.write_text("some-pepper\n")
    path.chmod(0o644)
    with pytest.raises(
        PepperError, match=re.escape(f"is open to other users (mode 0644); run: chmod 600 {path}")
    ):
        api_key_pepper(settings)
    path.chmod(0o600)
    assert api_key_pepper(settings) == "some-pepper"
    path.write_text("\n")
    with pytest.raises(PepperError, match=re.escape(f"the API-key pepper file {path} is empty; restore it")):
        api_key_pepper(settings)
    # the CLI says it in one line
    monkeypatch.setenv("CIVRISK_HOME", str(tmp_path))
    monkeypatch.setenv("CIVRISK_DB_URL", f"sqlite:///{tmp_path / 'k.db'}")
    monkeypatch.delenv("CIVRISK_API_KEY_PEPPER", raising=False)
    get_settings.cache_clear()
    try:
        out = CliRunner().invoke(cli, ["apikey", "create", "--scope", "read"])
    finally:
        get_settings.cache_clear()
    assert out.exit_code == 1
    assert out.stderr.strip() == (
        f"civrisk apikey create: the API-key pepper file {path} is empty; restore it from a backup, or "
        "delete it to generate a new one (every API key must then be created again)"
    )


def test_cli_keys_work_with_the_generated_pepper_and_older_keys_are_flagged(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("CIVRISK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CIVRISK_DB_URL", f"sqlite:///{tmp_path / 'k.db'}")
    monkeypatch.delenv("CIVRISK_API_KEY_PEPPER", raising=False)
    get_settings.cache_clear()
    try:
        settings = get_settings()
        from publish.store.store import ScoreStore
        from serve.tables import create_serve_schema

        with ScoreStore(settings.resolved_db_url()) as store:  # a key made under a pepper now unknown
            create_serve_schema(store.engine)
            old = create_api_key(store.engine, "read", "old", pepper="civrisk-api-key-v1")
        with caplog.at_level(logging.WARNING):
            out = CliRunner().invoke(cli, ["apikey", "create", "--scope", "read"])
        assert out.exit_code == 0, out.output
        key = out.stdout.strip()
        with TestClient(create_app(settings)) as client:
            assert client.get("/v1/weeks", headers={"Authorization": f"Bearer {key}"}).status_code == 200
            assert client.get("/v1/weeks", headers={"Authorization": f"Bearer {old}"}).status_code == 401
        assert "generated a random API-key pepper" in caplog.text
    finally:
        get_settings.cache_clear()
    # an app that generates the pepper itself says that existing keys will be refused
    caplog.clear()
    home2 = Settings(home=tmp_path / "home2", db_url=f"sqlite:///{tmp_path / 'k.db'}")
    with caplog.at_level(logging.WARNING), TestClient(create_app(home2)):
        pass
    assert "2 API keys were created before the pepper" in caplog.text
