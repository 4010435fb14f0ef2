"""Shared fixtures: the real-data folder (skip with a reason when absent) and seeded generators."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from civrisk.settings import get_settings

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
