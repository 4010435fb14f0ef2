"""A small synthetic grid (three made-up countries side by side) and its events, for out-of-core tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from civrisk.contracts import validate_events, validate_regions
from ingest.grid import gid_centroid, gid_from_row_col
from tests.synth import make_events

COUNTRIES = ("AAA", "BBB", "CCC")
ROW0, COL0 = 200, 360  # 10N..15N, 0E..6E


def make_cells(rows: int = 10, cols_per_country: int = 4) -> pd.DataFrame:
    """Return a REGIONS table of ``rows`` x (3 x ``cols_per_country``) cells, countries side by side."""
    r, c = np.meshgrid(np.arange(rows), np.arange(3 * cols_per_country), indexing="ij")
    gid = gid_from_row_col(ROW0 + r.ravel(), COL0 + c.ravel())
    iso3 = np.asarray(COUNTRIES, dtype=object)[c.ravel() // cols_per_country]
    lat, lon = gid_centroid(gid)
    order = np.argsort(gid)
    table = pd.DataFrame(
        {
            "region_id": pd.array(gid[order].astype(str), dtype="string"),
            "unit": pd.array(["grid"] * len(gid), dtype="string"),
            "iso3": pd.array(iso3[order], dtype="string"),
            "name": pd.array([f"cell {g}" for g in gid[order]], dtype="string"),
            "lat": lat[order],
            "lon": lon[order],
        }
    )
    return validate_regions(table, "tests.grid_fixtures")


def make_grid_events(cells: pd.DataFrame, n_events: int = 1500, seed: int = 5) -> pd.DataFrame:
    """Return events on ``cells`` (2014-2019): a few hot cells, most quiet; some coded in the next country.

    5% of events carry the neighbouring country's iso3 (border events: they count in the cell they fell
    in) and 3% have no cell (country-level precision: country totals only).
    """
    rng = np.random.default_rng(seed)
    base = make_events(n_events, start="2014-01-01", end="2019-12-31", seed=seed)
    weight = rng.gamma(0.1, 1.0, len(cells))  # most cells quiet, a few hot
    cell = rng.choice(len(cells), size=n_events, p=weight / weight.sum())
    owner = cells["iso3"].astype(str).to_numpy()[cell]
    iso3 = owner.copy()
    swap = rng.random(n_events) < 0.05
    iso3[swap] = np.asarray(COUNTRIES, dtype=object)[(np.searchsorted(COUNTRIES, owner[swap]) + 1) % 3]
    grid = pd.array(cells["region_id"].astype(str).to_numpy()[cell].astype("int64"), dtype="Int64")
    grid[rng.random(n_events) < 0.03] = pd.NA
    events = base.assign(
        iso3=pd.array(iso3, dtype="string"),
        country=pd.array(iso3, dtype="string"),
        latitude=cells["lat"].to_numpy()[cell],
        longitude=cells["lon"].to_numpy()[cell],
        grid_id=grid,
        admin1_id=pd.array([pd.NA] * n_events, dtype="string"),
    )
    return validate_events(events, "tests.grid_fixtures")
