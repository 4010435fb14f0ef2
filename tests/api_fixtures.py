"""A scores store filled with seeded synthetic publications and alerts, and an API app over it."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from civrisk.settings import Settings
from publish.alerting.rules import AlertRules, evaluate_alerts
from publish.store.store import Publication, ScoreStore
from serve.app import PublishArgv, civrisk_publish_argv, create_app
from serve.auth import create_api_key
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
        messages = evaluate_alerts(current, previous, store.open_alerts(), AlertRules())
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
    backend: str = "sqlite",
) -> Iterator[Api]:
    """Yield an :class:`Api` over a store under ``tmp_path`` (filled as :func:`fill_store` does, or empty);
    ``backend="postgresql"``: over a database of the test server (tests/store_backends.py) instead."""
    if backend == "postgresql":
        server = pg_server()
        url = server.clone(server.template("filled" if fill else "empty", _fill_url if fill else None))
    else:
        url = f"sqlite:///{filled_db(tmp_path) if fill else tmp_path / 'scores.db'}"
    try:
        yield from _open_api(tmp_path, url, publish_argv)
    finally:
        if backend == "postgresql":
            server.drop(url)


def _open_api(tmp_path: Path, url: str, publish_argv: PublishArgv) -> Iterator[Api]:
    settings = Settings(home=tmp_path / "home", db_url=url, shared_data=tmp_path / "none")
    store = ScoreStore(settings.resolved_db_url())
    create_serve_schema(store.engine)
    pubs = store.publications()
    read_key = create_api_key(store.engine, "read", "tests")
    admin_key = create_api_key(store.engine, "admin", "tests")
    app = create_app(settings, publish_argv=publish_argv, key_cache_s=0)
    with TestClient(app) as client:
        yield Api(client, store, settings, read_key, admin_key, pubs)
    store.close()
