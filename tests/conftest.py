"""Shared fixtures: the real-data folder (skip with a reason when absent) and seeded generators."""

from __future__ import annotations

import os
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
