"""PRIO-GRID 0.5 degree cells: cell ids (gid) from coordinates, cell centres, and queen neighbours.

PRIO-GRID (Tollefsen, Strand & Buhaug 2012, J. Peace Research 49(2)) numbers the 360 x 720 cells of a
global 0.5 degree grid row by row from the south-west corner: cell 1 spans 90S..89.5S, 180W..179.5W;
numbering runs east along a row, then north. In 0-based row/column terms

    row = floor((lat + 90) / 0.5),  col = floor((lon + 180) / 0.5),  gid = row * 720 + col + 1

(PRIO's own R code: ``pg_row = (90 + floor(lat*2)/2)*2 + 1``, ``gid = (pg_row - 1)*720 + pg_col``).
UCDP GED's ``priogrid_gid`` column uses the same numbering; tests/test_regions.py checks it on real files.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CELL_DEG = 0.5
N_ROWS = 360
N_COLS = 720
N_CELLS = N_ROWS * N_COLS


def _float_array(values: object, name: str) -> np.ndarray:
    """Return ``values`` as float64 with NaN for missing (accepts lists, arrays and nullable Series)."""
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    try:
        numeric = pd.to_numeric(series, errors="raise")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric degrees; {exc}") from exc
    return numeric.to_numpy(dtype="float64", na_value=np.nan)


def priogrid_gid(lat: object, lon: object) -> pd.arrays.IntegerArray:
    """Return the PRIO-GRID gid (Int64) of each point; <NA> where a coordinate is missing or out of range.

    Points exactly on the north pole (lat 90) or the antimeridian (lon 180) fall in the last row/column,
    as they have no cell further north/east.
    """
    la = _float_array(lat, "lat")
    lo = _float_array(lon, "lon")
    if la.shape != lo.shape:
        raise ValueError(f"priogrid_gid: lat has {la.shape[0]} values but lon has {lo.shape[0]}")
    ok = np.isfinite(la) & np.isfinite(lo) & (np.abs(la) <= 90) & (np.abs(lo) <= 180)
    row = np.clip(np.floor((np.where(ok, la, 0.0) + 90.0) / CELL_DEG), 0, N_ROWS - 1).astype("int64")
    col = np.clip(np.floor((np.where(ok, lo, 0.0) + 180.0) / CELL_DEG), 0, N_COLS - 1).astype("int64")
    gid = row * N_COLS + col + 1
    return pd.arrays.IntegerArray(gid, ~ok)


def _gid_array(gid: object) -> np.ndarray:
    arr = _float_array(gid, "gid")
    if np.isnan(arr).any():
        raise ValueError(f"PRIO-GRID gids must not be missing; got {int(np.isnan(arr).sum())} missing values")
    bad = (arr != np.floor(arr)) | (arr < 1) | (arr > N_CELLS)
    if bad.any():
        raise ValueError(
            f"PRIO-GRID gids must be whole numbers in 1..{N_CELLS}; got {int(bad.sum())} outside, "
            f"e.g. {arr[bad][:3].tolist()}"
        )
    return arr.astype("int64")


def gid_row_col(gid: object) -> tuple[np.ndarray, np.ndarray]:
    """Return 0-based (row, col) of each gid; row 0 is the southernmost row, col 0 starts at 180W."""
    g = _gid_array(gid) - 1
    return g // N_COLS, g % N_COLS


def gid_centroid(gid: object) -> tuple[np.ndarray, np.ndarray]:
    """Return (lat, lon) arrays of the centres of the given cells."""
    row, col = gid_row_col(gid)
    return -90.0 + (row + 0.5) * CELL_DEG, -180.0 + (col + 0.5) * CELL_DEG


def gid_from_row_col(row: np.ndarray, col: np.ndarray) -> np.ndarray:
    """Return the gid of 0-based (row, col); columns wrap around the antimeridian."""
    return np.asarray(row, dtype="int64") * N_COLS + np.mod(np.asarray(col, dtype="int64"), N_COLS) + 1


def queen_neighbours(gids: object) -> pd.DataFrame:
    """Return ``gid, neighbour_gid`` pairs among ``gids`` that share an edge or a corner (queen, 8 cells).

    Columns wrap across the antimeridian (col 719 touches col 0); rows do not wrap over the poles.
    """
    g = np.unique(_gid_array(gids))
    row, col = gid_row_col(g)
    present = pd.Index(g)
    out_a: list[np.ndarray] = []
    out_b: list[np.ndarray] = []
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr == 0 and dc == 0:
                continue
            r2 = row + dr
            ok = (r2 >= 0) & (r2 < N_ROWS)
            nb = gid_from_row_col(r2[ok], col[ok] + dc)
            hit = present.get_indexer(nb) >= 0
            out_a.append(g[ok][hit])
            out_b.append(nb[hit])
    pairs = pd.DataFrame({"gid": np.concatenate(out_a), "neighbour_gid": np.concatenate(out_b)})
    return pairs.sort_values(["gid", "neighbour_gid"], ignore_index=True)
