"""Shared fixtures: the real-data folder (skip with a reason when absent) and seeded generators."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings as hypothesis_settings

# Property tests check behaviour, not speed: no per-example deadline (a busy 2-core CI box would make
# Hypothesis' default 200 ms fail at random; speed is measured by benchmarks/).
hypothesis_settings.register_profile("civrisk", deadline=None)
hypothesis_settings.load_profile("civrisk")

# Publications in tests write their reports as HTML only (a PDF takes seconds); tests/test_report_pdf.py
# prints PDFs itself, and CIVRISK_REPORT_PDF=1 runs the whole suite with them.
os.environ.setdefault("CIVRISK_REPORT_PDF", "0")

from civrisk.settings import get_settings  # noqa: E402
from tests.store_backends import BACKENDS, pg_server  # noqa: E402

SHARED_DATA = get_settings().shared_data


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Return ../shared/data, or skip the test when the folder is not beside the project."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it sits beside the repo in CI)")
    return SHARED_DATA


@pytest.fixture()
def rng() -> np.random.Generator:
    """Return a seeded random generator so every synthetic frame is reproducible."""
    return np.random.default_rng(20231201)


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory):  # -> tests.publish_fixtures.World
    """Return the synthetic world the publication tests publish from (models fitted once per session)."""
    from tests.publish_fixtures import make_world

    return make_world(tmp_path_factory.mktemp("events"))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Return "sqlite" or "postgresql": tests using it (or ``db_url``) run once per store backend."""
    return request.param


@pytest.fixture()
def db_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """Return the URL of a new, empty, migrated scores store on ``backend``."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'scores.db'}"
        return
    server = pg_server()
    url = server.clone(server.template("empty"))
    yield url
    server.drop(url)
