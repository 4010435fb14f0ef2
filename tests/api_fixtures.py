"""A scores store filled with seeded synthetic publications and alerts, and an API app over it."""

from __future__ import annotations

import atexit
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from civrisk.settings import Settings
from publish.alerting.rules import AlertRules, evaluate_alerts
from publish.store.store import Publication, ScoreStore
from serve.app import PublishArgv, civrisk_publish_argv, create_app
from serve.auth import create_api_key
from serve.pepper import api_key_pepper
from serve.tables import create_serve_schema
from tests.store_backends import pg_server
from tests.synth_scores import make_scores

AS_OF = datetime(2020, 5, 31, 23, 0, tzinfo=UTC)
WEEKS = ("2020-06-01", "2020-06-08", "2020-06-15")


def publish_week(
    store: ScoreStore, week: str, seed: int, fingerprint: str, n_regions: int = 12
) -> Publication:
    """Record one week's synthetic scores and the alerts they raise, as the weekly job does."""
    scores = make_scores(n_regions=n_regions, week=week, seed=seed)
    pub = store.record_publication(week, scores, "xgb-civ", "3", fingerprint, AS_OF)
    if pub.is_new:
        current = store.scores(pub.week, pub.revision)
        prev = store.previous_publication(pub.week)
        previous = store.scores(prev.week, prev.revision) if prev else None
        # synthetic scores have no features for the escalation rule's recent rate: level alerts only
        rules = AlertRules(escalation=False)
        messages = evaluate_alerts(current, previous, store.open_alerts(), rules)
        store.record_alerts(pub.id, messages)
    return pub


def fill_store(store: ScoreStore, n_regions: int = 12) -> list[Publication]:
    """Publish three weeks; the last gets a second revision (different numbers): four publications."""
    pubs = [
        publish_week(store, w, seed=i, fingerprint=f"fp-{i}", n_regions=n_regions)
        for i, w in enumerate(WEEKS)
    ]
    pubs.append(publish_week(store, WEEKS[-1], seed=99, fingerprint="fp-2b", n_regions=n_regions))
    return pubs


@dataclass
class Api:
    """A running app (TestClient) with its store, settings and one key per scope."""

    client: TestClient
    store: ScoreStore
    settings: Settings
    read_key: str
    admin_key: str
    pubs: list[Publication]

    def get(self, url: str, key: str | None = "read", **kw: object):  # type: ignore[no-untyped-def]
        """GET ``url`` with the read key (``key="admin"``, a literal key, or None for no header)."""
        return self.client.get(url, headers=self.auth(key), **kw)  # type: ignore[arg-type]

    def auth(self, key: str | None) -> dict[str, str]:
        token = {"read": self.read_key, "admin": self.admin_key}.get(key or "", key)
        return {"Authorization": f"Bearer {token}"} if token else {}


_TEMPLATES: dict[str, Path] = {}


def filled_db(folder: Path) -> Path:
    """Return a copy of a store filled by :func:`fill_store` (built once per test process)."""
    if "filled" not in _TEMPLATES:
        template = Path(tempfile.mkdtemp(prefix="civrisk-api-template-")) / "scores.db"
        store = ScoreStore(f"sqlite:///{template}")
        create_serve_schema(store.engine)
        fill_store(store)
        store.close()  # the last connection checkpoints the WAL into the file
        atexit.register(shutil.rmtree, template.parent, True)
        _TEMPLATES["filled"] = template
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(_TEMPLATES["filled"], folder / "scores.db"))


def _fill_url(url: str) -> None:
    store = ScoreStore(url)
    create_serve_schema(store.engine)
    fill_store(store)
    store.close()


def open_api(
    tmp_path: Path,
    publish_argv: PublishArgv = civrisk_publish_argv,
    fill: bool = True,
    webhook_allow_hosts: tuple[str, ...] = (),
    backend: str = "sqlite",
    **settings_kw: object,
) -> Iterator[Api]:
    """Yield an :class:`Api` over a store under ``tmp_path`` (filled as :func:`fill_store` does, or empty).

    ``webhook_allow_hosts`` is the webhook allow-list (tests with a receiver on loopback name it);
    ``backend="postgresql"``: the store is a database of the test server (tests/store_backends.py);
    ``settings_kw`` sets other settings.
    """
    if backend == "postgresql":
        server = pg_server()
        url = server.clone(server.template("filled" if fill else "empty", _fill_url if fill else None))
    else:
        url = f"sqlite:///{filled_db(tmp_path) if fill else tmp_path / 'scores.db'}"
    try:
        yield from _open_api(tmp_path, url, publish_argv, webhook_allow_hosts, settings_kw)
    finally:
        if backend == "postgresql":
            server.drop(url)


def _open_api(
    tmp_path: Path,
    url: str,
    publish_argv: PublishArgv,
    webhook_allow_hosts: tuple[str, ...],
    settings_kw: dict[str, object],
) -> Iterator[Api]:
    settings = Settings(
        home=tmp_path / "home",
        db_url=url,
        shared_data=tmp_path / "none",
        webhook_allow_hosts=webhook_allow_hosts,
        **settings_kw,  # type: ignore[arg-type]
    )
    store = ScoreStore(settings.resolved_db_url())
    create_serve_schema(store.engine)
    pubs = store.publications()
    pepper = api_key_pepper(settings)  # generated under the test's home, as `civrisk apikey create` does
    read_key = create_api_key(store.engine, "read", "tests", pepper=pepper)
    admin_key = create_api_key(store.engine, "admin", "tests", pepper=pepper)
    app = create_app(settings, publish_argv=publish_argv, key_cache_s=0)
    with TestClient(app) as client:
        yield Api(client, store, settings, read_key, admin_key, pubs)
    store.close()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(app: FastAPI, **config_kw: object) -> Iterator[str]:
    """Run ``app`` under a real uvicorn on 127.0.0.1 in a thread; yield its base URL; stop it after."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, **config_kw)  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            assert thread.is_alive(), "uvicorn stopped while starting"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
