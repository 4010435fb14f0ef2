"""Spatial aggregates of (origin x region) feature arrays: sums over neighbouring regions and countries."""

from __future__ import annotations

import numpy as np
import pandas as pd

NEIGHBOUR_COLUMNS = ("region_id", "neighbour_id")


def neighbour_edges(neighbours: pd.DataFrame, region_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (region, neighbour) integer codes into ``region_ids``, sorted by region.

    ``neighbours`` has one row per ordered pair (``region_id``, ``neighbour_id``), as written by
    ingest.regions.neighbours; list both directions for symmetric neighbourhoods.
    """
    missing = [c for c in NEIGHBOUR_COLUMNS if c not in neighbours.columns]
    if missing:
        raise ValueError(
            f"neighbours table lacks columns {missing}; expected {list(NEIGHBOUR_COLUMNS)} "
            f"(one row per region and neighbour), got {list(neighbours.columns)}"
        )
    index = pd.Index(region_ids)
    src = index.get_indexer(neighbours["region_id"].astype(str).to_numpy())
    dst = index.get_indexer(neighbours["neighbour_id"].astype(str).to_numpy())
    unknown = (src < 0) | (dst < 0)
    if unknown.any():
        bad = neighbours.loc[unknown, list(NEIGHBOUR_COLUMNS)].head(3).to_dict("records")
        raise ValueError(
            f"neighbours table has {int(unknown.sum())} rows naming regions that are not in the panel, "
            f"e.g. {bad}; build panel and neighbours from the same region table"
        )
    if (src == dst).any():
        raise ValueError(
            f"neighbours table lists {int((src == dst).sum())} regions as their own neighbour, e.g. "
            f"{neighbours.loc[src == dst, 'region_id'].head(3).tolist()}; a region is not its own neighbour"
        )
    pairs = src.astype(np.int64) * len(region_ids) + dst
    if len(np.unique(pairs)) != len(pairs):
        raise ValueError(
            f"neighbours table lists {len(pairs) - len(np.unique(pairs))} (region_id, neighbour_id) "
            "pairs more than once; each pair would be counted twice"
        )
    order = np.argsort(src, kind="stable")
    return src[order], dst[order]


def neighbour_sum(values: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Return (P, R) sums of (P, R) ``values`` over each region's neighbours, skipping NaN.

    A region without neighbours gets 0 (an empty sum); one whose neighbours are all NaN gets NaN.
    """
    from scipy import sparse

    out = np.zeros(values.shape, dtype=np.float32)
    if len(src) == 0:
        return out
    # one sparse product instead of gathering every edge's column: a weekly grid partition has ~8 edges
    # per cell, and the gathered (weeks x edges) float64 copies took most of build_features' time
    n = values.shape[1]
    adjacency = sparse.csr_array((np.ones(len(src)), (dst, src)), shape=(n, n))
    seen = ~np.isnan(values)
    sums = np.where(seen, values, 0.0).astype(np.float64) @ adjacency
    counts = seen.astype(np.float64) @ adjacency
    owners = np.unique(src)
    out[:, owners] = np.where(counts[:, owners] > 0, sums[:, owners], np.nan)
    return out


def country_codes(iso3: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (code per region, sorted country names) for an (R,) array of iso3 codes."""
    codes, names = pd.factorize(pd.Series(iso3, dtype="string"), sort=True)
    return codes, np.asarray(names, dtype=object)


def country_sum(values: np.ndarray, codes: np.ndarray, n_countries: int) -> np.ndarray:
    """Return (P, C) sums of (P, R) region columns per country, skipping NaN; NaN where all are NaN."""
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    columns = values[:, order]
    seen = ~np.isnan(columns)
    sums = np.add.reduceat(np.where(seen, columns, 0.0).astype(np.float64), starts, axis=1)
    counts = np.add.reduceat(seen.astype(np.int32), starts, axis=1)
    out = np.full((values.shape[0], n_countries), np.nan, dtype=np.float32)
    out[:, sorted_codes[starts]] = np.where(counts > 0, sums, np.nan)
    return out
