"""A long weekly panel viewed as dense (region x week) numpy arrays, the form every feature is computed on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from civrisk.contracts import validate_panel
from civrisk.weeks import WEEK_DTYPE

_WEEK_NS = np.int64(7 * 24 * 3600 * 10**9)


@dataclass(frozen=True)
class DensePanel:
    """The panel as arrays: ``covered`` and each measure are (weeks, regions), regions sorted by id.

    Weeks run down the first axis so that a window sum at a set of origins gathers whole rows of a
    cumulative sum (contiguous memory), and the feature matrix comes out origin by origin.
    """

    panel: pd.DataFrame
    region_ids: np.ndarray  # (R,) object, sorted
    iso3: np.ndarray  # (R,) object
    weeks: pd.DatetimeIndex  # (W,) consecutive Mondays
    covered: np.ndarray  # (W, R) bool
    order: np.ndarray | None  # panel row of each dense cell, or None when the panel is already in order

    @property
    def shape(self) -> tuple[int, int]:
        """Return (weeks, regions)."""
        return len(self.weeks), len(self.region_ids)

    def measure(self, name: str) -> np.ndarray:
        """Return measure ``name`` as a (weeks, regions) float32 array, NaN outside coverage."""
        if name not in self.panel.columns:
            raise ValueError(
                f"panel lacks measure column {name!r} needed by the features; it has "
                f"{[c for c in self.panel.columns if c not in ('region_id', 'unit', 'iso3', 'week')]}. "
                "Rebuild the panel with civrisk panel (features.panel.MEASURE_COLUMNS)."
            )
        values = self.panel[name].to_numpy(dtype=np.float32, na_value=np.nan)
        if self.order is not None:
            values = values[self.order]
        values = values.reshape(self.shape)
        holes = np.isnan(values) & self.covered
        if holes.any():
            raise ValueError(
                f"panel column {name!r} holds NaN in {int(holes.sum())} covered region-weeks; inside "
                "coverage a measure must be a number (0 when nothing happened)"
            )
        return values


def dense_panel(panel: pd.DataFrame, where: str = "features") -> DensePanel:
    """Return ``panel`` as dense arrays; raise if it is not dense over consecutive weeks."""
    validate_panel(panel, where)
    if panel.empty:
        raise ValueError(f"panel given to {where} is empty; build it with civrisk panel first")
    region_codes, region_ids = pd.factorize(panel["region_id"].astype(str), sort=True)
    week_ns = panel["week"].to_numpy(dtype=WEEK_DTYPE).view("int64")
    first = week_ns.min()
    offset = week_ns - first
    n_r, n_w = len(region_ids), int(offset.max() // _WEEK_NS) + 1
    week_codes = offset // _WEEK_NS
    if len(panel) != n_r * n_w:
        raise ValueError(
            f"panel given to {where} is not dense: {len(panel)} rows for {n_r} regions x {n_w} weeks "
            f"(expected {n_r * n_w}); every region needs every week (features.panel.build_panel makes one)"
        )
    pos = week_codes * n_r + region_codes.astype(np.int64)  # week-major cell of each panel row
    order: np.ndarray | None = None
    if not np.array_equal(pos, np.arange(len(pos))):
        order = np.empty(len(pos), dtype=np.int64)
        order[pos] = np.arange(len(pos))
    iso3_codes, iso3_names = pd.factorize(panel["iso3"].astype(str))
    iso3_grid = (iso3_codes if order is None else iso3_codes[order]).reshape(n_w, n_r)
    mixed = (iso3_grid != iso3_grid[:1, :]).any(axis=0)
    if mixed.any():
        raise ValueError(
            f"panel given to {where}: {int(mixed.sum())} regions change iso3 over time, e.g. "
            f"{list(np.asarray(region_ids)[mixed][:3])}; a region belongs to one country"
        )
    covered = panel["covered"].to_numpy(dtype=bool)
    covered = (covered if order is None else covered[order]).reshape(n_w, n_r)
    weeks = pd.DatetimeIndex(pd.date_range(pd.Timestamp(first, unit="ns"), periods=n_w, freq="7D")).astype(
        WEEK_DTYPE
    )
    return DensePanel(
        panel=panel,
        region_ids=np.asarray(region_ids, dtype=object),
        iso3=np.asarray(iso3_names, dtype=object)[iso3_grid[0]],
        weeks=weeks,
        covered=covered,
        order=order,
    )
