"""Canonical events -> dense weekly panel: every region x every ISO week, measures NaN outside coverage.

The panel is built with integer region and week codes and ``np.bincount`` into one (measures x
region-weeks) float32 block, so 400k events over 1,000 regions and 35 years take about two seconds of CPU.
See docs/FEATURES.md for the measures and the placement rules.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from civrisk.contracts import (
    ACTOR_CLASSES,
    CLASS_TO_GROUP,
    COVERAGE,
    ORGANIZED_VIOLENCE,
    PERPETRATOR_GROUPS,
    UNITS,
    validate,
    validate_events,
    validate_panel,
)
from civrisk.weeks import WEEK_DTYPE, day_numbers, week_start
from features.sources import check_single_source

log = logging.getLogger(__name__)

BASE_MEASURES = ("events", "deaths", "civ_deaths", "civ_harm_events")
VIOLENCE_MEASURES = tuple(f"{m}_{vt}" for m in ("events", "deaths") for vt in ORGANIZED_VIOLENCE)
GROUP_MEASURES = tuple(f"{m}_{g}" for m in ("civ_deaths", "civ_harm_events") for g in PERPETRATOR_GROUPS)
CLASS_MEASURES = tuple(f"events_class_{c}" for c in ACTOR_CLASSES)
MEASURE_COLUMNS: tuple[str, ...] = BASE_MEASURES + VIOLENCE_MEASURES + GROUP_MEASURES + CLASS_MEASURES
"""Every measure column of the panel, in order (float32; NaN outside coverage)."""

PANEL_KEY_COLUMNS = ("region_id", "unit", "iso3", "week", "covered")
_MEASURE_INPUTS = (
    "deaths_best",
    "deaths_civilians",
    "civilian_harm",
    "violence_type",
    "side_a_class",
    "side_b_class",
    "perpetrator_class",
)


# ----------------------------------------------------------------------------------------------
# Regions
# ----------------------------------------------------------------------------------------------


def region_keys(events: pd.DataFrame, unit: str) -> pd.Series:
    """Return each event's region id for ``unit`` (country: iso3, admin1: admin1_id, grid: str(grid_id))."""
    if unit not in UNITS:
        raise ValueError(f"unit {unit!r} is not one of {list(UNITS)}")
    column = {"country": "iso3", "admin1": "admin1_id", "grid": "grid_id"}[unit]
    return events[column].astype("string")


def country_regions(regions: pd.DataFrame) -> pd.DataFrame:
    """Return the country-unit region table of the countries in ``regions`` (region_id = iso3)."""
    _check_regions(regions)
    iso3 = sorted(regions["iso3"].astype(str).unique())
    return pd.DataFrame(
        {
            "region_id": pd.array(iso3, dtype="string"),
            "unit": "country",
            "iso3": pd.array(iso3, dtype="string"),
        }
    ).astype({"unit": "string"})


def _check_regions(regions: pd.DataFrame) -> None:
    missing = [c for c in ("region_id", "iso3") if c not in regions.columns]
    if missing:
        raise ValueError(
            f"regions table lacks columns {missing} (expected region_id, unit, iso3, name, lat, lon as "
            f"written by ingest.regions.region_table); got {list(regions.columns)}"
        )
    nulls = {c: int(regions[c].isna().sum()) for c in ("region_id", "iso3") if regions[c].isna().any()}
    if nulls:
        raise ValueError(f"regions table has nulls in {nulls}; every region needs a region_id and an iso3")
    dup = regions["region_id"].duplicated()
    if dup.any():
        raise ValueError(
            f"regions table lists {int(dup.sum())} region_ids twice, e.g. "
            f"{regions.loc[dup, 'region_id'].head(3).tolist()}; region_id must be unique"
        )


# ----------------------------------------------------------------------------------------------
# The panel
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PanelReport:
    """What happened to every input event: counted, or why not (no event leaves without a count)."""

    unit: str
    regions: int
    weeks: int
    events_in: int
    not_organized: int  # violence_type == "other": kept in the events table, never in the panel
    outside_weeks: int  # date_start before the panel's first or after its last week
    outside_source_coverage: int  # week not wholly inside the event's own source window for its country
    no_region: int  # region <NA> for this unit (too imprecise): in country totals only
    unknown_region: int  # region id not in the regions table
    counted: int
    covered_share: float  # share of region-weeks inside coverage

    @property
    def left_out(self) -> int:
        """Return the number of organized-violence events not in any region-week of this panel."""
        return self.events_in - self.not_organized - self.counted

    def as_dict(self) -> dict[str, object]:
        """Return the report as a plain dict (for logs and JSON)."""
        return asdict(self)

    def summary(self) -> str:
        """Return a one-paragraph human summary."""
        return (
            f"{self.unit} panel: {self.regions} regions x {self.weeks} weeks, "
            f"{self.covered_share:.1%} of region-weeks covered; {self.events_in} events in, "
            f"{self.counted} counted, {self.not_organized} not organized violence, "
            f"{self.outside_weeks} outside the panel weeks, {self.outside_source_coverage} outside their "
            f"source's coverage, {self.no_region} without a region at the {self.unit} level (country "
            "totals only), "
            f"{self.unknown_region} in regions missing from the region table"
        )


def build_panel(
    events: pd.DataFrame,
    regions: pd.DataFrame,
    coverage: pd.DataFrame,
    unit: str,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Return the dense weekly panel (contract PANEL) of ``regions`` x ISO weeks; logs what is left out.

    Events left out other than non-organized violence make the log line a warning. Callers that report
    on their own (the CLI) use build_panel_with_report instead.
    """
    panel, report = build_panel_with_report(events, regions, coverage, unit, start, end)
    log.log(logging.WARNING if report.left_out else logging.INFO, "%s", report.summary())
    return panel


def build_panel_with_report(
    events: pd.DataFrame,
    regions: pd.DataFrame,
    coverage: pd.DataFrame,
    unit: str,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
) -> tuple[pd.DataFrame, PanelReport]:
    """Return the dense weekly panel and a report accounting for every input event."""
    from ingest.coverage import weekly_mask

    validate_events(events, "build_panel")
    validate(coverage, COVERAGE, "build_panel")
    _check_regions(regions)
    if unit not in UNITS:
        raise ValueError(f"unit {unit!r} is not one of {list(UNITS)}")
    region_ids = np.array(sorted(regions["region_id"].astype(str)), dtype=object)
    region_iso3 = regions.set_index(regions["region_id"].astype(str))["iso3"].astype(str).loc[region_ids]
    iso3s = np.array(sorted(set(region_iso3)), dtype=object)
    cov = coverage.loc[coverage["iso3"].isin(set(iso3s))]
    check_single_source(cov)
    weeks = _panel_weeks(cov, start, end)
    n_r, n_w = len(region_ids), len(weeks)

    mask = _country_week_mask(weekly_mask(cov, list(iso3s), weeks), iso3s, weeks)
    covered = mask[pd.Index(iso3s).get_indexer(region_iso3.to_numpy())]  # (regions, weeks)

    # the source windows of the events' own countries: a grid cell's border events may be coded in the
    # next country, which a build of one country's cells (features.partitioned) has not in ``cov``
    flat, kept, report_counts = _place_events(events, coverage, region_ids, weeks, unit)
    block = _measure_block(events.loc[kept, list(_MEASURE_INPUTS)], flat, n_r * n_w)
    block[:, ~covered.ravel()] = np.nan
    # one float32 block, handed to pandas without a copy; the key columns go in front
    panel = pd.DataFrame(block.T, columns=list(MEASURE_COLUMNS), copy=False)
    region_code = np.repeat(np.arange(n_r), n_w)
    panel.insert(0, "covered", covered.ravel())
    panel.insert(0, "week", np.tile(weeks.to_numpy(dtype=WEEK_DTYPE), n_r))
    panel.insert(0, "iso3", repeat_strings(region_iso3.to_numpy(dtype=object), region_code))
    panel.insert(
        0, "unit", repeat_strings(np.array([unit], dtype=object), np.zeros(n_r * n_w, dtype=np.int64))
    )
    panel.insert(0, "region_id", repeat_strings(region_ids, region_code))
    report = PanelReport(
        unit=unit,
        regions=n_r,
        weeks=n_w,
        covered_share=float(covered.mean()) if covered.size else 0.0,
        **report_counts,
    )
    return validate_panel(panel, "features.panel.build_panel"), report


def _panel_weeks(
    coverage: pd.DataFrame, start: str | pd.Timestamp | None, end: str | pd.Timestamp | None
) -> pd.DatetimeIndex:
    """Return the Mondays from ``start`` (default: first coverage week) to ``end`` (default: last)."""
    if (start is None or end is None) and coverage.empty:
        raise ValueError(
            "coverage has no rows for the regions' countries, so the panel weeks are unknown; pass "
            "start and end, or a coverage table (coverage.csv written by civrisk ingest)"
        )
    first = week_start([start if start is not None else coverage["first_date"].min()]).iloc[0]
    last = week_start([end if end is not None else coverage["last_date"].max()]).iloc[0]
    if last < first:
        raise ValueError(f"panel end week {last:%Y-%m-%d} is before its start week {first:%Y-%m-%d}")
    return pd.date_range(first, last, freq="7D").astype(WEEK_DTYPE)


def _country_week_mask(long: pd.DataFrame, iso3s: np.ndarray, weeks: pd.DatetimeIndex) -> np.ndarray:
    """Return the (countries, weeks) bool array of weekly_mask's long table (iso3, week, covered)."""
    rows = pd.Index(iso3s).get_indexer(long["iso3"].astype(str).to_numpy())
    cols = (day_numbers(long["week"]) - int(day_numbers(weeks[:1])[0])) // 7
    ok = (rows >= 0) & (cols >= 0) & (cols < len(weeks))
    mask = np.zeros((len(iso3s), len(weeks)), dtype=bool)
    mask[rows[ok], cols[ok]] = long["covered"].to_numpy(dtype=bool)[ok]
    if ok.sum() != mask.size:
        raise ValueError(
            f"ingest.coverage.weekly_mask returned {int(ok.sum())} matching (iso3, week) rows; expected one "
            f"for each of {len(iso3s)} countries x {len(weeks)} weeks = {mask.size}"
        )
    return mask


def _place_events(
    events: pd.DataFrame, coverage: pd.DataFrame, region_ids: np.ndarray, weeks: pd.DatetimeIndex, unit: str
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Return flat region-week codes of the counted events, their boolean row mask, and the counts."""
    n_w = len(weeks)
    organized = (events["violence_type"] != "other").to_numpy()
    day = day_numbers(events["date_start"])
    week_day = day - day % 7  # Monday of date_start's week, in days since the epoch Monday
    first_day = int(day_numbers(weeks[:1])[0])
    week_code = (week_day - first_day) // 7
    in_weeks = (week_code >= 0) & (week_code < n_w)

    # the event's own source must cover its country for the whole week (coverage rule of the panel)
    windows = coverage.set_index(["source", "iso3"])[["first_date", "last_date"]]
    pair = pd.MultiIndex.from_arrays([events["source"].astype(str), events["iso3"].astype(str)])
    pos = windows.index.get_indexer(pair)
    lo = day_numbers(windows["first_date"])
    hi = day_numbers(windows["last_date"])
    has = pos >= 0
    safe = np.where(has, pos, 0)
    in_source = has & (week_day >= lo[safe]) & (week_day + 6 <= hi[safe]) if len(windows) else has

    keys = region_keys(events, unit)
    no_region = keys.isna().to_numpy()
    region_code = pd.Index(region_ids).get_indexer(keys.fillna("").astype(str).to_numpy())
    unknown = ~no_region & (region_code < 0)

    a = organized
    b = a & in_weeks
    c = b & in_source
    d = c & ~no_region
    kept = d & ~unknown
    counts = {
        "events_in": len(events),
        "not_organized": int((~a).sum()),
        "outside_weeks": int((a & ~in_weeks).sum()),
        "outside_source_coverage": int((b & ~in_source).sum()),
        "no_region": int((c & no_region).sum()),
        "unknown_region": int((d & unknown).sum()),
        "counted": int(kept.sum()),
    }
    flat = region_code[kept].astype(np.int64) * n_w + week_code[kept]
    return flat, kept, counts


def _measure_block(events: pd.DataFrame, flat: np.ndarray, size: int) -> np.ndarray:
    """Return the (measures, region-weeks) float32 sums of the counted events, rows as MEASURE_COLUMNS."""
    block = np.empty((len(MEASURE_COLUMNS), size), dtype=np.float32)
    row = {name: i for i, name in enumerate(MEASURE_COLUMNS)}

    def put(name: str, select: np.ndarray | None = None, weights: np.ndarray | None = None) -> None:
        idx = flat if select is None else flat[select]
        w = None if weights is None else (weights if select is None else weights[select])
        block[row[name]] = np.bincount(idx, weights=w, minlength=size)

    deaths = events["deaths_best"].to_numpy(dtype=np.float64)
    civ = events["deaths_civilians"].to_numpy(dtype=np.float64)
    harm = events["civilian_harm"].to_numpy(dtype=bool)
    vt = pd.Categorical(events["violence_type"], categories=list(ORGANIZED_VIOLENCE)).codes
    group_names = list(PERPETRATOR_GROUPS)
    class_codes = {
        col: pd.Categorical(events[col], categories=list(ACTOR_CLASSES)).codes
        for col in ("side_a_class", "side_b_class", "perpetrator_class")
    }
    # a missing perpetrator class is an unknown perpetrator: it joins "other_unknown" so groups sum to totals
    class_to_group = np.array([group_names.index(CLASS_TO_GROUP[c]) for c in ACTOR_CLASSES] + [-1])
    group = class_to_group[class_codes["perpetrator_class"]]
    group[group < 0] = group_names.index("other_unknown")

    put("events")
    put("deaths", weights=deaths)
    put("civ_deaths", weights=civ)
    put("civ_harm_events", harm)
    for v_idx, v in enumerate(ORGANIZED_VIOLENCE):
        put(f"events_{v}", vt == v_idx)
        put(f"deaths_{v}", vt == v_idx, deaths)
    for g_idx, g in enumerate(group_names):
        put(f"civ_deaths_{g}", group == g_idx, civ)
        put(f"civ_harm_events_{g}", harm & (group == g_idx))
    for c_idx, c in enumerate(ACTOR_CLASSES):
        put(
            f"events_class_{c}",
            (class_codes["side_a_class"] == c_idx) | (class_codes["side_b_class"] == c_idx),
        )
    return block


def repeat_strings(values: np.ndarray, codes: np.ndarray) -> pd.array:
    """Return a string array of ``values[codes]`` (via Arrow: ~10x faster than object arrays)."""
    taken = pa.array(values, type=pa.string()).take(pa.array(codes))
    return pd.arrays.ArrowStringArray(taken)
