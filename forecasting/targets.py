"""Forecast targets: labels per region, origin week, horizon and target, from the weekly panel.

The target for origin ``t`` and horizon ``h`` covers panel weeks ``t .. t+h-1`` (the publication week and
the ``h - 1`` weeks after it; see BRIEF time-series conventions). ``y`` is NaN when any week of that
window is outside coverage (``covered`` False, measure NaN, or a week missing from the panel) or lies
beyond the panel's last week: no data is not zero violence.

Computed on a dense region x week array with cumulative sums, so a 1.8M region-week panel takes seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from civrisk.contracts import (
    GROUP_TARGET_GROUPS,
    HEADLINE_TARGET,
    MASS_KILLING_MIN,
    TARGET_KINDS,
    validate_panel,
    validate_targets,
)

__all__ = ["ALL_TARGETS", "GROUP_TARGET_GROUPS", "HEADLINE_TARGET", "TARGET_KINDS", "TARGET_SPECS"]


@dataclass(frozen=True)
class TargetSpec:
    """How one target is computed from one panel measure over the window ``t .. t+h-1``.

    ``rule``: ``"sum_at_least"`` -> 1 if the window sum >= threshold; ``"week_at_least"`` -> 1 if some
    week of the window has measure >= threshold; ``"sum"`` -> the window sum (a count).
    """

    name: str
    measure: str
    rule: str
    threshold: float = 0.0

    @property
    def kind(self) -> str:
        """Return ``"binary"`` or ``"count"`` (civrisk.contracts.TARGET_KINDS)."""
        return TARGET_KINDS[self.name]


TARGET_SPECS: Mapping[str, TargetSpec] = {
    s.name: s
    for s in (
        TargetSpec("civ_any", "civ_deaths", "sum_at_least", 1.0),
        TargetSpec("civ_mass", "civ_deaths", "week_at_least", MASS_KILLING_MIN),
        *(TargetSpec(f"civ_any_{g}", f"civ_deaths_{g}", "sum_at_least", 1.0) for g in GROUP_TARGET_GROUPS),
        TargetSpec("civ_deaths", "civ_deaths", "sum"),
    )
}
assert list(TARGET_SPECS) == list(TARGET_KINDS), "every target of civrisk.contracts.TARGET_KINDS needs a spec"

ALL_TARGETS: tuple[str, ...] = tuple(TARGET_KINDS)

_WEEK = np.timedelta64(7, "D")


def build_targets(
    panel: pd.DataFrame,
    horizons: Sequence[int],
    targets: Sequence[str] = ALL_TARGETS,
    origins: Sequence[pd.Timestamp] | pd.DatetimeIndex | None = None,
) -> pd.DataFrame:
    """Return the TARGETS table (region_id, week = origin, horizon, target, y) for every panel region.

    Args:
        panel: PANEL-contract frame with the measures the targets need (``civ_deaths``,
            ``civ_deaths_<group>``).
        horizons: window lengths in weeks (each >= 1).
        targets: target names from :data:`ALL_TARGETS`.
        origins: Monday origins to label; default every panel week. Origins outside the panel get NaN.

    Returns:
        Long frame sorted by target, horizon, region_id, week; ``region_id`` and ``target`` are
        categoricals (the table can hold tens of millions of rows).
    """
    validate_panel(panel, where="build_targets")
    horizons = _check_horizons(horizons)
    specs = _check_targets(targets, panel)

    regions, region_codes = _region_codes(panel)
    week0 = panel["week"].min().to_datetime64().astype("datetime64[D]")
    week_idx = ((panel["week"].to_numpy().astype("datetime64[D]") - week0) // _WEEK).astype(np.int64)
    n_weeks = int(week_idx.max()) + 1
    shape = (len(regions), n_weeks)

    covered = np.zeros(shape, dtype=bool)  # weeks missing from the panel stay uncovered
    covered[region_codes, week_idx] = panel["covered"].to_numpy(dtype=bool)

    if origins is None:
        origin_idx = np.arange(n_weeks, dtype=np.int64)
        origin_weeks = week0 + origin_idx * _WEEK
    else:
        origin_weeks = _check_origins(origins)
        origin_idx = ((origin_weeks - week0) // _WEEK).astype(np.int64)

    frames = []
    for spec in specs:
        values = np.full(shape, np.nan)
        values[region_codes, week_idx] = panel[spec.measure].astype("float64").to_numpy(na_value=np.nan)
        observed = covered & ~np.isnan(values)
        if spec.rule == "week_at_least":
            per_week = np.where(observed, values >= spec.threshold, 0.0).astype("float64")
        else:
            per_week = np.where(observed, values, 0.0)
        csum = _prefix_sum(per_week)
        cmissing = _prefix_sum((~observed).astype("float64"))
        for h in horizons:
            y = _window(csum, cmissing, origin_idx, h, n_weeks)
            if spec.rule in ("sum_at_least", "week_at_least"):
                thr = 1.0 if spec.rule == "week_at_least" else spec.threshold
                y = np.where(np.isnan(y), np.nan, (y >= thr - 1e-9).astype("float64"))
            frames.append(_long(regions, origin_weeks, h, spec.name, y, panel["week"].dtype))

    out = pd.concat(frames, ignore_index=True)
    return validate_targets(out, where="build_targets")


def _prefix_sum(a: np.ndarray) -> np.ndarray:
    """Return cumulative sums along weeks with a leading zero column: out[:, j] = sum(a[:, :j])."""
    out = np.zeros((a.shape[0], a.shape[1] + 1))
    np.cumsum(a, axis=1, out=out[:, 1:])
    return out


def _window(
    csum: np.ndarray, cmissing: np.ndarray, origin_idx: np.ndarray, h: int, n_weeks: int
) -> np.ndarray:
    """Return window sums over weeks o .. o+h-1 for each origin (R x O); NaN if any week is missing."""
    start = origin_idx
    end = origin_idx + h  # exclusive
    inside = (start >= 0) & (end <= n_weeks)
    s = np.clip(start, 0, n_weeks)
    e = np.clip(end, 0, n_weeks)
    total = csum[:, e] - csum[:, s]
    missing = cmissing[:, e] - cmissing[:, s]
    # cumsums of integers in float64 are exact; round away float noise from fractional measures
    total = np.round(total, 9)
    return np.where((missing > 0.5) | ~inside[None, :], np.nan, total)


def _long(
    regions: pd.Index, origin_weeks: np.ndarray, h: int, target: str, y: np.ndarray, week_dtype: object
) -> pd.DataFrame:
    n_r, n_o = y.shape
    return pd.DataFrame(
        {
            "region_id": pd.Categorical.from_codes(np.repeat(np.arange(n_r), n_o), categories=regions),
            "week": pd.Series(np.tile(origin_weeks, n_r)).astype(week_dtype),
            "horizon": np.full(n_r * n_o, h, dtype=np.int64),
            "target": pd.Categorical.from_codes(
                np.full(n_r * n_o, ALL_TARGETS.index(target)), categories=list(ALL_TARGETS)
            ),
            "y": y.reshape(-1),
        }
    )


def _region_codes(panel: pd.DataFrame) -> tuple[pd.Index, np.ndarray]:
    codes, uniques = pd.factorize(panel["region_id"].astype("string"), sort=True)
    return pd.Index(uniques.astype(str), dtype="string"), codes


def _check_horizons(horizons: Sequence[int]) -> list[int]:
    hs = list(horizons)
    bad = [h for h in hs if isinstance(h, bool) or not isinstance(h, int | np.integer) or h < 1]
    if not hs or bad:
        raise ValueError(f"build_targets: horizons must be integers >= 1 (weeks); got {hs}")
    if len(set(hs)) != len(hs):
        raise ValueError(f"build_targets: horizons {hs} repeat a value")
    return [int(h) for h in hs]


def _check_targets(targets: Sequence[str], panel: pd.DataFrame) -> list[TargetSpec]:
    if isinstance(targets, str):
        targets = [targets]
    unknown = [t for t in targets if t not in TARGET_SPECS]
    if unknown or not targets:
        raise ValueError(f"build_targets: unknown targets {unknown}; expected some of {list(ALL_TARGETS)}")
    if len(set(targets)) != len(targets):
        raise ValueError(f"build_targets: targets {list(targets)} repeat a name")
    specs = [TARGET_SPECS[t] for t in targets]
    missing = {s.name: s.measure for s in specs if s.measure not in panel.columns}
    if missing:
        raise ValueError(
            f"build_targets: the panel lacks measure columns {sorted(set(missing.values()))} needed by "
            f"targets {sorted(missing)}; build the panel with perpetrator-group measures (features.panel)"
        )
    return specs


def _check_origins(origins: Sequence[pd.Timestamp] | pd.DatetimeIndex) -> np.ndarray:
    idx = pd.DatetimeIndex(origins)
    if idx.hasnans:
        raise ValueError("build_targets: origins hold NaT; pass Monday dates")
    not_monday = idx[idx.day_of_week != 0]
    if len(not_monday):
        raise ValueError(
            f"build_targets: {len(not_monday)} origins are not Mondays, e.g. {list(not_monday[:3].date)}; "
            "origins are ISO weeks keyed by their Monday"
        )
    if idx.has_duplicates:
        raise ValueError("build_targets: origins repeat a week")
    return idx.to_numpy().astype("datetime64[D]")
