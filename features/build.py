"""The feature matrix at forecast origins: every family of leak-free features from a dense weekly panel.

At origin ``t`` (Monday of the publication week) only panel weeks ``<= t - k`` are read
(k = ``data_lag_weeks``); names carry that lag, mlforecast style: ``civ_deaths_sum_4w_lag1`` is the sum
of ``civ_deaths`` over the 4 weeks ending at week t-1. docs/FEATURES.md lists every family.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from civrisk.contracts import (
    ACTOR_CLASSES,
    GROUP_TARGET_GROUPS,
    MASS_KILLING_MIN,
    ORGANIZED_VIOLENCE,
    PERPETRATOR_GROUPS,
    validate_features,
)
from civrisk.weeks import WEEK_DTYPE
from features.dense import DensePanel, dense_panel
from features.lags import Windows, prefix_sums, weeks_since
from features.onset import onset_features, onset_names
from features.panel import BASE_MEASURES, GROUP_MEASURES, repeat_strings
from features.plugins import plugin_features
from features.spatial import country_codes, country_sum, neighbour_edges, neighbour_sum

_NAMED_GROUPS = tuple(g for g in PERPETRATOR_GROUPS if g != "other_unknown")


@dataclass(frozen=True)
class FeatureSpec:
    """Which features to build (frozen, so one spec names one feature set).

    The defaults give 136 features; 12 fewer without neighbours, 12 fewer for country-unit panels.
    """

    windows: tuple[int, ...] = (1, 4, 12, 26, 52)
    sum_measures: tuple[str, ...] = (
        BASE_MEASURES + tuple(f"events_{vt}" for vt in ORGANIZED_VIOLENCE) + GROUP_MEASURES
    )
    since: tuple[tuple[str, str], ...] = (("civ_harm", "civ_harm_events"),) + tuple(
        (f"civ_harm_{g}", f"civ_harm_events_{g}") for g in PERPETRATOR_GROUPS
    )
    """(name, measure): ``weeks_since_{name}`` counts weeks since the measure was last positive."""
    since_cap: int = 520
    harm_weeks: tuple[tuple[str, str, float], ...] = (
        ("civ_any", "civ_deaths", 1.0),
        ("civ_mass", "civ_deaths", MASS_KILLING_MIN),
        *((f"civ_any_{g}", f"civ_deaths_{g}", 1.0) for g in GROUP_TARGET_GROUPS),
    )
    """(name, measure, threshold): ``{name}_weeks_{n}w`` counts the covered weeks whose measure reached the
    threshold, one per binary target: over ``covered_share`` it is the region's recent weekly rate of that
    target's event, which the recent climatology baseline reads."""
    harm_week_windows: tuple[int, ...] = (12, 52)
    trend_measures: tuple[str, ...] = ("events", "civ_deaths", "civ_harm_events")
    trend_windows: tuple[int, int] = (4, 12)
    spatial_measures: tuple[str, ...] = ("events", "civ_deaths", "civ_harm_events") + tuple(
        f"civ_deaths_{g}" for g in _NAMED_GROUPS
    )
    spatial_windows: tuple[int, ...] = (4, 12)
    classes: tuple[str, ...] = field(default=ACTOR_CLASSES)
    class_window: int = 12
    onset_trend_measures: tuple[str, ...] = ("civ_harm_events", "civ_deaths")
    """Measures whose neighbour-summed trend is an onset feature (features.onset)."""
    onset_distance_windows: tuple[int, ...] = (4, 12)
    """Windows of recent civilian harm whose distance from the region is an onset feature."""
    distance_cap_km: float = 1000.0
    onset_classes: tuple[str, ...] = ("foreign_state_forces", "private_military", "jihadist")
    """Actor classes whose first appearance in a region is an onset feature (weeks since, capped)."""
    plugins: tuple[str, ...] = ()
    """Feature plug-ins ``package.module:function`` (features.plugins), added after the built-in families;
    their columns are not in :meth:`names` (only the plug-in knows them)."""

    def names(self, k: int, neighbours: bool = True, country: bool = True, coords: bool = False) -> list[str]:
        """Return the feature column names, in output order, for data lag ``k`` (``coords``: the regions'
        points are known, so distances are features)."""
        lag = f"lag{k}"
        out = [f"{m}_sum_{n}w_{lag}" for m in self.sum_measures for n in self.windows]
        out += [f"covered_share_{n}w_{lag}" for n in self.windows]
        out += [f"weeks_since_{name}_{lag}" for name, _ in self.since]
        out += [f"{name}_weeks_{n}w_{lag}" for name, *_ in self.harm_weeks for n in self.harm_week_windows]
        a, b = self.trend_windows
        out += [f"{m}_trend_{a}w_{b}w_{lag}" for m in self.trend_measures]
        for prefix, wanted in (("nb", neighbours), ("cty", country)):
            if wanted:
                out += [
                    f"{prefix}_{m}_sum_{n}w_{lag}"
                    for m in self.spatial_measures
                    for n in self.spatial_windows
                ]
        out += [f"present_class_{c}_{self.class_window}w_{lag}" for c in self.classes]
        out += onset_names(
            k,
            self.onset_trend_measures,
            self.trend_windows,
            self.onset_distance_windows,
            self.onset_classes,
            neighbours,
            coords,
        )
        out += ["week_of_year_sin", "week_of_year_cos"]
        return out


DEFAULT_SPEC = FeatureSpec()


def build_features(
    panel: pd.DataFrame,
    neighbours: pd.DataFrame | None,
    data_lag_weeks: int = 1,
    origins: Sequence[pd.Timestamp] | None = None,
    *,
    country_panel: pd.DataFrame | None = None,
    spec: FeatureSpec = DEFAULT_SPEC,
    regions: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return the feature matrix (contract FEATURES): one row per origin and region, float32 features.

    Rows come sorted by origin, then region_id (a backtest fold is a contiguous slice).

    Args:
        panel: dense weekly panel (features.panel.build_panel).
        neighbours: (region_id, neighbour_id) pairs; None leaves out the ``nb_`` family.
        data_lag_weeks: k >= 1; origin t reads panel weeks <= t - k.
        origins: Mondays; default every panel week from the first week + k on. An origin may lie up to
            k weeks after the panel's last week (the live forecast).
        country_panel: country-unit panel over the same weeks, for ``cty_`` totals that include events
            too imprecise for a sub-national region; without it the totals sum the panel's regions.
            Country-unit panels get no ``cty_`` family (it would repeat their own values).
        regions: the region table (ingest.regions, with ``lat``/``lon``); None leaves out the distance
            features (``km_to_harm_``).
    """
    k = _check_lag(data_lag_weeks)
    dp = dense_panel(panel, "build_features")
    origin_index, ends = _origin_ends(dp, k, origins)
    n_r, n_p = len(dp.region_ids), len(origin_index)
    unit = str(panel["unit"].iloc[0])
    with_cty = unit != "country"
    coords = regions is not None
    names = spec.names(k, neighbours=neighbours is not None, country=with_cty, coords=coords)
    out = np.empty((len(names), n_p * n_r), dtype=np.float32)  # rows come origin by origin
    slot = {name: i for i, name in enumerate(names)}
    filled: set[str] = set()

    def put(name: str, values: np.ndarray) -> None:
        out[slot[name]] = values.reshape(-1)
        filled.add(name)

    lag = f"lag{k}"
    win = Windows(dp.covered, ends)
    edges = neighbour_edges(neighbours, dp.region_ids) if neighbours is not None else None
    country = _CountryTotals(dp, ends, country_panel) if with_cty else None
    since = dict(spec.since)
    class_measures = {f"events_class_{c}": c for c in spec.classes}
    needed = dict.fromkeys(
        [
            *spec.sum_measures,
            *since.values(),
            *(measure for _, measure, _ in spec.harm_weeks),
            *spec.trend_measures,
            *spec.spatial_measures,
            *class_measures,
        ]
    )
    for m in needed:
        values = dp.measure(m)
        prefix = prefix_sums(values)
        windows = set(spec.windows if m in spec.sum_measures else ())
        windows |= set(spec.spatial_windows if m in spec.spatial_measures else ())
        windows |= {spec.class_window} if m in class_measures else set()
        for n in sorted(windows):
            total = win.sum(prefix, n)
            if m in spec.sum_measures and n in spec.windows:
                put(f"{m}_sum_{n}w_{lag}", total)
            if m in spec.spatial_measures and n in spec.spatial_windows:
                if edges is not None:
                    put(f"nb_{m}_sum_{n}w_{lag}", neighbour_sum(total, *edges))
                if country is not None:
                    put(f"cty_{m}_sum_{n}w_{lag}", country.sum(m, n, total))
            if m in class_measures and n == spec.class_window:
                present = np.where(np.isnan(total), np.nan, total > 0).astype(np.float32)
                put(f"present_class_{class_measures[m]}_{n}w_{lag}", present)
        if m in spec.trend_measures:
            a, b = spec.trend_windows
            put(f"{m}_trend_{a}w_{b}w_{lag}", win.trend(prefix, a, b))
        for name in (name for name, measure in spec.since if measure == m):
            put(f"weeks_since_{name}_{lag}", weeks_since(values, dp.covered, ends, spec.since_cap))
        for name, threshold in ((n, th) for n, measure, th in spec.harm_weeks if measure == m):
            with np.errstate(invalid="ignore"):
                hit = prefix_sums(np.where(np.isnan(values), np.nan, values >= threshold).astype(np.float32))
            for n in spec.harm_week_windows:
                put(f"{name}_weeks_{n}w_{lag}", win.sum(hit, n))
        del values, prefix
    for n in spec.windows:
        put(f"covered_share_{n}w_{lag}", win.covered_share(n))
    onset = onset_features(
        dp,
        ends,
        k,
        edges,
        regions,
        trend_measures=spec.onset_trend_measures,
        trend_windows=spec.trend_windows,
        distance_windows=spec.onset_distance_windows,
        distance_cap_km=spec.distance_cap_km,
        classes=spec.onset_classes,
        cap=spec.since_cap,
    )
    for name, values in onset.items():
        put(name, values)
    angle = 2 * np.pi * (origin_index.day_of_year.to_numpy() - 1) / 365.25
    put("week_of_year_sin", np.broadcast_to(np.sin(angle).astype(np.float32)[:, None], (n_p, n_r)))
    put("week_of_year_cos", np.broadcast_to(np.cos(angle).astype(np.float32)[:, None], (n_p, n_r)))
    if filled != set(names):
        raise RuntimeError(f"features left unfilled: {sorted(set(names) - filled)} (a FeatureSpec bug)")

    frame = pd.DataFrame(out.T, columns=names, copy=False)
    region_code = np.tile(np.arange(n_r), n_p)
    frame.insert(0, "iso3", repeat_strings(dp.iso3, region_code))
    frame.insert(0, "week", np.repeat(origin_index.to_numpy(dtype=WEEK_DTYPE), n_r))
    frame.insert(0, "region_id", repeat_strings(dp.region_ids, region_code))
    for path in spec.plugins:
        extra = plugin_features(path, panel, k, origin_index, set(frame.columns))
        frame = frame.merge(extra, on=["region_id", "week"], how="left", validate="one_to_one")
    return validate_features(frame, "features.build.build_features")


def _check_lag(data_lag_weeks: int) -> int:
    if isinstance(data_lag_weeks, bool) or int(data_lag_weeks) != data_lag_weeks or data_lag_weeks < 1:
        raise ValueError(
            f"data_lag_weeks must be an integer >= 1 (1 = last complete week before the publication "
            f"week); got {data_lag_weeks!r}"
        )
    return int(data_lag_weeks)


def _origin_ends(
    dp: DensePanel, k: int, origins: Sequence[pd.Timestamp] | None
) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Return the sorted origins and, for each, the index of the last panel week it may read."""
    n_w = len(dp.weeks)
    first = dp.weeks[0]
    if origins is None:
        index = dp.weeks[k:]
    else:
        index = pd.DatetimeIndex(pd.to_datetime(pd.Series(list(origins), dtype=object))).astype(WEEK_DTYPE)
        not_monday = index[index.day_of_week != 0]
        if len(not_monday):
            raise ValueError(
                f"{len(not_monday)} origins are not Mondays, e.g. "
                f"{[f'{d:%Y-%m-%d}' for d in not_monday[:3]]}; "
                "an origin is the Monday of the publication week (features.panel.week_start)"
            )
        if index.has_duplicates:
            raise ValueError(f"origins repeat {int(index.duplicated().sum())} weeks; pass each origin once")
        index = index.sort_values()
    ends = ((index - first) // pd.Timedelta(days=7)).to_numpy(dtype=np.int64) - k
    bad = (ends < 0) | (ends > n_w - 1)
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} origins (e.g. {[f'{d:%Y-%m-%d}' for d in index[bad][:3]]}) need data outside "
            f"the panel: with data_lag_weeks={k} an origin t reads weeks up to t-{k}, and the panel holds "
            f"{first:%Y-%m-%d}..{dp.weeks[-1]:%Y-%m-%d}, so origins must lie in "
            f"{first + pd.Timedelta(weeks=k):%Y-%m-%d}..{dp.weeks[-1] + pd.Timedelta(weeks=k):%Y-%m-%d}"
        )
    return index, ends


class _CountryTotals:
    """Country totals of window sums, broadcast to the regions of each country."""

    def __init__(self, dp: DensePanel, ends: np.ndarray, country_panel: pd.DataFrame | None) -> None:
        self.codes, names = country_codes(dp.iso3)
        self.n_countries = len(names)
        self.cdp: DensePanel | None = None
        if country_panel is None:
            return
        cdp = dense_panel(country_panel, "build_features (country_panel)")
        if not cdp.weeks.equals(dp.weeks):
            raise ValueError(
                f"country_panel weeks {cdp.weeks[0]:%Y-%m-%d}..{cdp.weeks[-1]:%Y-%m-%d} differ from the "
                f"panel's {dp.weeks[0]:%Y-%m-%d}..{dp.weeks[-1]:%Y-%m-%d}; build both in one "
                "civrisk panel run"
            )
        rows = pd.Index(cdp.region_ids).get_indexer(names)
        if (rows < 0).any():
            raise ValueError(
                f"country_panel lacks the countries {list(names[rows < 0])} of the panel's regions; build it "
                "from the same events and regions"
            )
        self.cdp, self.rows = cdp, rows
        self.win = Windows(cdp.covered, ends)

    def sum(self, measure: str, n: int, region_totals: np.ndarray) -> np.ndarray:
        """Return (P, R) country totals of the ``n``-week sums of ``measure`` for each region's country."""
        if self.cdp is None:
            per_country = country_sum(region_totals, self.codes, self.n_countries)
        else:
            per_country = self.win.sum(prefix_sums(self.cdp.measure(measure)), n)[:, self.rows]
        return per_country[:, self.codes]
