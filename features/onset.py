"""Onset features: signals of new harm in a region that has had none, each read only from weeks <= t - k.

- ``nb_{m}_trend_{a}w_{b}w``: the trend (log1p of the recent weekly rate minus that of the weeks before) of
  measure ``m`` summed over the region's neighbours: violence moving toward the region.
- ``km_to_harm_{n}w``: km between the region's point and the nearest other region's with civilian harm
  events in the last ``n`` weeks (great circle), capped at ``distance_cap_km`` (also when no region had
  any); NaN where the region's point is unknown.
- ``weeks_since_first_{c}``: weeks since actor class ``c`` (civrisk.contracts.ACTOR_CLASSES, as the
  ingest actor taxonomy assigns it) was first seen in the region, capped at ``cap`` (also when never
  seen): a new armed actor arriving (foreign or private military forces, a jihadist group).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.dense import DensePanel
from features.lags import Windows, prefix_sums
from features.spatial import neighbour_sum

EARTH_RADIUS_KM = 6371.0


def onset_names(
    k: int,
    trend_measures: Sequence[str],
    trend_windows: tuple[int, int],
    distance_windows: Sequence[int],
    classes: Sequence[str],
    neighbours: bool,
    coords: bool,
) -> list[str]:
    """Return the onset feature names, in output order, for data lag ``k``."""
    lag, (a, b) = f"lag{k}", trend_windows
    out = [f"nb_{m}_trend_{a}w_{b}w_{lag}" for m in trend_measures] if neighbours else []
    out += [f"km_to_harm_{n}w_{lag}" for n in distance_windows] if coords else []
    out += [f"weeks_since_first_{c}_{lag}" for c in classes]
    return out


def neighbour_trend(
    values: np.ndarray, edges: tuple[np.ndarray, np.ndarray], ends: np.ndarray, windows: tuple[int, int]
) -> np.ndarray:
    """Return (P, R) trends of the neighbours' weekly sums of (W, R) ``values`` at window ends ``ends``."""
    weekly = neighbour_sum(values, *edges)
    covered = ~np.isnan(weekly)
    return Windows(covered, ends).trend(prefix_sums(weekly), *windows)


def pairwise_km(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Return the (R, R) great-circle distances in km between points (NaN where a point is unknown)."""
    phi, lam = np.radians(lat)[:, None], np.radians(lon)[:, None]
    h = np.sin((phi - phi.T) / 2) ** 2 + np.cos(phi) * np.cos(phi.T) * np.sin((lam - lam.T) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def km_to_harm(recent: np.ndarray, km: np.ndarray, cap: float) -> np.ndarray:
    """Return (P, R) km to the nearest other region with ``recent`` (P, R) > 0, capped at ``cap``."""
    far = np.where(np.eye(len(km), dtype=bool) | np.isnan(km), np.inf, km)  # never the region itself
    with np.errstate(invalid="ignore"):
        hit = recent > 0
    out = np.full(recent.shape, np.inf)
    for p in range(recent.shape[0]):  # origins x (R x R): small for admin-1 and country units
        cols = hit[p]
        if cols.any():
            out[p] = far[:, cols].min(axis=1)
    out = np.minimum(out, cap)
    unknown = np.isnan(np.diag(km))
    out[:, unknown] = np.nan
    return out.astype(np.float32)


def weeks_since_first(values: np.ndarray, ends: np.ndarray, cap: int) -> np.ndarray:
    """Return (P, R) weeks from each end back to the first week with ``values > 0``, capped at ``cap``
    (also where there was none up to the end; uncovered weeks are never events)."""
    n_w = values.shape[0]
    idx = np.arange(n_w, dtype=np.int64)[:, None]
    with np.errstate(invalid="ignore"):
        hit = values > 0
    first = np.minimum.accumulate(np.where(hit, idx, n_w), axis=0)[ends]
    e = ends[:, None]
    return np.minimum(np.where(first <= e, e - first, cap), cap).astype(np.float32)


def onset_features(
    dp: DensePanel,
    ends: np.ndarray,
    k: int,
    edges: tuple[np.ndarray, np.ndarray] | None,
    regions: pd.DataFrame | None,
    *,
    trend_measures: Sequence[str],
    trend_windows: tuple[int, int],
    distance_windows: Sequence[int],
    distance_cap_km: float,
    classes: Sequence[str],
    cap: int,
) -> dict[str, np.ndarray]:
    """Return the onset features by name, each (P, R) at window ends ``ends`` (module docstring)."""
    lag, (a, b) = f"lag{k}", trend_windows
    out: dict[str, np.ndarray] = {}
    if edges is not None:
        for m in trend_measures:
            out[f"nb_{m}_trend_{a}w_{b}w_{lag}"] = neighbour_trend(dp.measure(m), edges, ends, trend_windows)
    if regions is not None:
        points = regions.assign(region_id=regions["region_id"].astype(str)).set_index("region_id")
        points = points.reindex(dp.region_ids.astype(str))
        km = pairwise_km(points["lat"].to_numpy(dtype="float64"), points["lon"].to_numpy(dtype="float64"))
        win = Windows(dp.covered, ends)
        harm = prefix_sums(dp.measure("civ_harm_events"))
        for n in distance_windows:
            out[f"km_to_harm_{n}w_{lag}"] = km_to_harm(win.sum(harm, n), km, distance_cap_km)
    for c in classes:
        out[f"weeks_since_first_{c}_{lag}"] = weeks_since_first(dp.measure(f"events_class_{c}"), ends, cap)
    return out
