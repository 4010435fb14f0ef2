"""``civrisk serve --workers 2`` over PostgreSQL: every worker's caches (publication catalog, page cache)
see what another process commits (the weekly job publishing, a withdrawal) at their next request."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from publish.store.store import ScoreStore
from serve.auth import create_api_key
from tests.api_fixtures import publish_week
from tests.store_backends import pg_server

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _latest(base: str, key: str, n: int = 16) -> set[str]:
    """Return the latest week each of ``n`` requests saw, each on a new connection (any worker)."""
    seen = set()
    for _ in range(n):
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client:
            page = client.get("/v1/scores?limit=1").json()
            seen.add(f"{page['publication']['week_label']} r{page['publication']['revision']}")
    return seen


def test_two_workers_see_what_another_process_publishes_and_withdraws(tmp_path: Path) -> None:
    from tests.api_fixtures import _fill_url

    server = pg_server()
    url = server.clone(server.template("filled", _fill_url))
    store = ScoreStore(url)
    from civrisk.settings import Settings
    from serve.pepper import api_key_pepper

    pepper = api_key_pepper(Settings(home=tmp_path / "home", db_url=url))  # the file the workers will read
    key = create_api_key(store.engine, "read", "workers test", pepper=pepper)
    port = _free_port()
    env = {**os.environ, "CIVRISK_DB_URL": url, "CIVRISK_HOME": str(tmp_path / "home")}
    argv = [
        sys.executable,
        "-m",
        "cli.main",
        "serve",
        "--port",
        str(port),
        "--workers",
        "2",
        "--no-access-log",
    ]
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # noqa: S603
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.3)
        assert _latest(base, key) == {"2020-W25 r2"}  # both workers have loaded their catalogs
        new = publish_week(store, "2020-06-22", seed=7, fingerprint="fp-new")  # "the weekly job"
        assert _latest(base, key) == {"2020-W26 r1"}
        store.withdraw_publication(new.id)
        assert _latest(base, key) == {"2020-W25 r2"}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        log.close()
        store.close()
        server.drop(url)
