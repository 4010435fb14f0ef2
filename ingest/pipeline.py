"""The ingest pipeline: files -> canonical events, quarantine and coverage tables (then atomic writes).

read (ingest.readers) -> canonicalise (ingest.ucdp / ingest.acled) -> row checks and quarantine
(ingest.quarantine, against ingest.plausibility) -> one version per event across the files
(ingest.releases) -> actor classes (ingest.actors) -> regions (ingest.regions) -> coverage
(ingest.coverage) -> validate_events -> atomic writes. Every row read is kept, quarantined, or replaced by
a newer version of its event from another of the files; ``ingest_files`` asserts that the three add up.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from civrisk.atomic import atomic_path
from civrisk.contracts import COVERAGE, EVENTS, QUARANTINE, validate, validate_events
from ingest.acled import stage_acled
from ingest.admin1_names import Admin1Aliases, change_lines, name_region_changes
from ingest.layouts import Layout, detect_layout, source_version
from ingest.plausibility import START_TOLERANCE, Limits
from ingest.quarantine import (
    DEATH_COLUMNS,
    empty_quarantine,
    find_duplicates,
    find_problems,
    quarantine_table,
)
from ingest.readers import RawTable, check_input, read_header, read_table
from ingest.releases import acled_version, declared_data_end, merge_release
from ingest.ucdp import refine_ucdp_layout, stage_ucdp

if TYPE_CHECKING:
    from ingest.boundaries import Boundaries

log = logging.getLogger(__name__)

EVENT_COLUMNS = (*EVENTS.columns, *EVENTS.optional)
"""The columns ingest writes: the contract's, then its optional ones (revised_at)."""

EVENTS_FILE = "events.parquet"
QUARANTINE_FILE = "quarantine.csv"
COVERAGE_FILE = "coverage.csv"


class StrictModeError(ValueError):
    """--strict was given and rows were quarantined; nothing was written."""


@dataclass(frozen=True)
class FileReport:
    """What one input file was read as, and how many rows it held."""

    path: Path
    layout: str
    layout_label: str
    source: str
    source_version: str
    rows_read: int
    hxl_row_skipped: bool
    data_end: pd.Timestamp | None = None  # the release's declared end of data, when it declares one


@dataclass(frozen=True)
class IngestResult:
    """The three output tables of an ingest run and a report per input file."""

    events: pd.DataFrame
    quarantine: pd.DataFrame
    coverage: pd.DataFrame
    files: list[FileReport] = field(default_factory=list)
    superseded: int = 0  # rows replaced by a newer version of the same event in another of the files
    region_changes: pd.DataFrame | None = None  # name-matched regions that start or stop appearing

    @property
    def rows_read(self) -> int:
        """Return the number of data rows read over all files."""
        return sum(f.rows_read for f in self.files)


def plan_files(paths: Sequence[str | Path], forced: str | None = None) -> list[tuple[Path, Layout]]:
    """Return each file with its layout, checked from headers only; raise before any row is read."""
    plan = []
    for p in paths:
        path = Path(p)
        check_input(path)
        plan.append((path, detect_layout(read_header(path), path, forced)))
    return plan


def stage_file(
    path: Path, layout: Layout, forced: bool = False, limits: Limits | None = None
) -> tuple[pd.DataFrame, FileReport]:
    """Return a file's staged events and its report (layout refined from content unless forced).

    The staged frame carries ``revised_at`` and, for the plausibility checks, ``_release_end`` (the latest
    date the file may hold) and ``_release_basis`` (what that date is).
    """
    limits = limits or Limits()
    raw: RawTable = read_table(path, columns=layout.columns)
    if not forced:
        layout = refine_ucdp_layout(layout, raw)
    version = source_version(path, layout)
    if layout.source == "acled":
        from ingest.actors import classify_actors

        staged = stage_acled(raw, layout, version, classify_actors)
        # a modification time after the ingest is no evidence of newness (and would win every comparison)
        revised = staged["revised_at"]
        staged["revised_at"] = revised.where(revised <= limits.today + START_TOLERANCE)
        version = acled_version(staged["revised_at"], version)
        staged["source_version"] = pd.Series(version, index=staged.index, dtype="string")
    else:
        staged = stage_ucdp(raw, layout, version)
        staged["revised_at"] = pd.Series(pd.NaT, index=staged.index, dtype="datetime64[ns]")
    end = declared_data_end(path, layout.source, version)
    basis = f"the end of the data of release {version}" if end is not None else "the ingest date"
    staged["_release_end"] = end if end is not None else limits.today
    staged["_release_basis"] = basis
    report = FileReport(
        path=path,
        layout=layout.name,
        layout_label=layout.label,
        source=layout.source,
        source_version=version,
        rows_read=len(raw.frame),
        hxl_row_skipped=raw.hxl_row_skipped,
        data_end=end,
    )
    return staged, report


def ingest_files(
    paths: Sequence[str | Path],
    forced: str | None = None,
    boundaries: Boundaries | None = None,
    declared_coverage: pd.DataFrame | None = None,
    limits: Limits | None = None,
    aliases: Admin1Aliases | None = None,
    check_renames: bool = True,
) -> IngestResult:
    """Return canonical events, quarantined rows and coverage for the given files (nothing is written).

    ``boundaries``: admin-1 polygons (None: events get admin-1 ids from published names only).
    ``limits``: the ingest time and death ceiling rows are checked against (default: now, the setting's
    default ceiling). ``aliases``: admin-1 renames (default: the packaged table). ``check_renames``: look
    for name-matched regions that look renamed (the events store does it once over all its events). An
    event in several files keeps its newest version (ingest.releases).
    """
    from ingest.countries import to_iso3
    from ingest.country_check import points_in_country
    from ingest.regions import assign_regions
    from ingest.successions import historical_iso3

    limits = limits or Limits()
    plan = plan_files(paths, forced)
    staged_parts, reports = [], []
    for path, layout in plan:
        staged, report = stage_file(path, layout, forced=forced is not None, limits=limits)
        staged_parts.append(staged)
        reports.append(report)
    staged = pd.concat(staged_parts, ignore_index=True) if staged_parts else pd.DataFrame()
    n_read = sum(r.rows_read for r in reports)
    if staged.empty:
        return IngestResult(_empty_events(), empty_quarantine(), _empty_coverage(), reports)

    iso3 = staged["iso3_published"].fillna(to_iso3(staged["country"]))
    unmatched = iso3.isna().to_numpy()
    if unmatched.any():  # the GW code (UCDP country_id) names what the country name did not
        iso3.loc[unmatched] = to_iso3(staged.loc[unmatched, "country"], staged.loc[unmatched, "gw_code"])
    # the country of the place at the event's date (Juba in 2005: Sudan; in 2015: South Sudan)
    staged["iso3"] = historical_iso3(iso3, staged["latitude"], staged["longitude"], staged["date_start"])
    inside = points_in_country(staged["iso3"], staged["latitude"], staged["longitude"])
    # UCDP where_prec 7: at sea or in the air, outside any land polygon by definition: not checked
    ucdp = staged["source"].str.startswith("ucdp").fillna(False)
    at_sea = ucdp & (staged["geo_precision"] == 7).fillna(False)
    staged["inside_country"] = inside.mask(at_sea.to_numpy(), pd.NA)
    problems = find_problems(staged, limits.max_deaths)
    reason, detail = problems["reason"], problems["detail"]
    for name in staged["source_file"].unique():  # a file holding one id twice: its first good row is kept
        ok = (reason.isna() & (staged["source_file"] == name)).to_numpy()
        dup = find_duplicates(
            staged.loc[ok, "event_id"], staged.loc[ok, "source_file"], staged.loc[ok, "source_row"]
        )
        dup_rows = dup.index[dup.notna()]
        reason.loc[dup_rows] = "duplicate_id"
        detail.loc[dup_rows] = dup[dup_rows]

    quarantine = quarantine_table(staged, reason, detail)
    kept, superseded = _newest_versions(staged.loc[reason.isna()])
    if len(kept) + len(quarantine) + superseded != n_read:
        raise AssertionError(
            f"ingest lost rows: read {n_read}, kept {len(kept)} + quarantined {len(quarantine)} + "
            f"superseded {superseded} = {len(kept) + len(quarantine) + superseded}"
        )
    events = canonical_events(kept)
    events = assign_regions(events, boundaries, aliases)
    events = events[list(EVENT_COLUMNS)].reset_index(drop=True)
    validate_events(events, "ingest.pipeline")
    from ingest.coverage import compute_coverage

    coverage = validate(compute_coverage(events, declared_coverage), COVERAGE, "ingest.coverage")
    changes = region_changes(events, boundaries) if check_renames else None
    return IngestResult(events, quarantine, coverage, reports, superseded, changes)


def region_changes(events: pd.DataFrame, boundaries: Boundaries | None) -> pd.DataFrame:
    """Return the name-matched regions of ``events`` that start or stop appearing (logged as a warning)."""
    polygons = set(boundaries.regions["region_id"]) if boundaries is not None else set()
    name_matched = events["admin1_id"].notna() & ~events["admin1_id"].isin(polygons)
    changes = name_region_changes(events, name_matched)
    for line in change_lines(changes):
        log.warning("%s", line)
    return changes


def _newest_versions(kept: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Return the kept rows with one version per event (ingest.releases' rule, files in the order given)
    and how many rows lost to a newer version."""
    files = kept["source_file"].unique()
    if len(files) < 2:
        return kept, 0
    merged = kept.loc[kept["source_file"] == files[0]]
    lost = 0
    for name in files[1:]:
        merged, _, superseded, stale = merge_release(merged, kept.loc[kept["source_file"] == name])
        lost += superseded + stale
    return merged, lost


def canonical_events(kept: pd.DataFrame) -> pd.DataFrame:
    """Return kept staged rows as canonical events with typed deaths and actor classes (no regions yet)."""
    out = kept.drop(columns=[c for c in kept.columns if c.startswith("_")])
    for col in DEATH_COLUMNS:
        out[col] = out[col].astype("int64")
    out["source_row"] = out["source_row"].astype("int64")
    one_sided = (out["violence_type"] == "one_sided").to_numpy()
    out["civilian_harm"] = one_sided | (out["deaths_civilians"] > 0).to_numpy()
    out["perpetrator"] = out["perpetrator"].astype("string").where(one_sided)
    for side, inter in (("side_a", "inter_a"), ("side_b", "inter_b"), ("perpetrator", "inter_a")):
        out[f"{side}_class"] = classify_names(out[side], out["source"], out["country"], out[inter])
    # no identifiable perpetrator of civilian harm (battles, non-state clashes, "other" events)
    perp = out["perpetrator_class"].mask(~one_sided, "other")
    out["perpetrator_class"] = perp.mask(one_sided & out["perpetrator"].isna().to_numpy(), "unclassified")
    for col in ("date_precision", "geo_precision"):
        out[col] = out[col].astype("Int64")
    for col in ("latitude", "longitude"):
        out[col] = out[col].astype("float64")
    text = ["event_id", "source", "source_version", "source_file", "country", "iso3", "admin1", "admin2"]
    text += ["violence_type", "side_a", "side_b", "perpetrator", "side_a_class", "side_b_class"]
    text += ["perpetrator_class"]
    out[text] = out[text].astype("string")
    return out


def classify_names(
    names: pd.Series, sources: pd.Series, countries: pd.Series, inter: pd.Series | None = None
) -> pd.Series:
    """Return the actor class of each name (by its row's source and country); <NA> where there is no name.

    ``inter`` holds ACLED's actor-type codes: an ACLED name no rule matches takes the class of its code
    (e.g. 3, political militia -> unidentified_armed_group) rather than staying ``unclassified``.
    """
    from ingest.actors import classify_acled_inter, classify_actors

    out = pd.Series(pd.NA, index=names.index, dtype="string")
    for source in sources.dropna().unique():
        rows = (sources == source).to_numpy()
        classes = classify_actors(names[rows], str(source), countries=countries[rows]).astype("string")
        if source == "acled" and inter is not None:
            fallback = classify_acled_inter(inter[rows])
            classes = classes.mask((classes == "unclassified").fillna(False) & fallback.notna(), fallback)
        out.loc[rows] = classes
    return out


def write_outputs(result: IngestResult, out_dir: str | Path) -> dict[str, Path]:
    """Write events.parquet, quarantine.csv and coverage.csv atomically, all three or none; return paths."""
    out_dir = Path(out_dir)
    # events were validated by ingest_files (validate_events costs seconds on 400k rows: not twice)
    validate(result.quarantine, QUARANTINE, "ingest.pipeline.write_outputs")
    validate(result.coverage, COVERAGE, "ingest.pipeline.write_outputs")
    targets = {
        "events": out_dir / EVENTS_FILE,
        "quarantine": out_dir / QUARANTINE_FILE,
        "coverage": out_dir / COVERAGE_FILE,
    }
    # Each file is written to a temporary beside its target; the renames happen only after all three
    # temporaries are complete, so a failure leaves every earlier output in place.
    with ExitStack() as stack:
        tmp = {name: stack.enter_context(atomic_path(path)) for name, path in targets.items()}
        result.events.to_parquet(tmp["events"], index=False)
        result.quarantine.to_csv(tmp["quarantine"], index=False)
        result.coverage.to_csv(tmp["coverage"], index=False, date_format="%Y-%m-%d")
    return targets


def strict_message(results: IngestResult | Sequence[IngestResult]) -> str:
    """Return the --strict refusal: rows quarantined per reason and file."""
    results = [results] if isinstance(results, IngestResult) else list(results)
    quarantine = pd.concat([r.quarantine for r in results], ignore_index=True)
    counts = quarantine.groupby(["source_file", "reason"]).size()
    lines = [f"  {file}: {reason} {n}" for (file, reason), n in counts.items()]
    rows_read = sum(r.rows_read for r in results)
    return (
        f"--strict: {len(quarantine)} of {rows_read} rows would be quarantined; "
        "nothing was written.\n" + "\n".join(lines)
    )


def _empty_events() -> pd.DataFrame:
    kinds = {"string": "string", "int": "Int64", "float": "float64", "bool": "bool"}
    kinds["datetime"] = "datetime64[ns]"
    columns = {**EVENTS.columns, **EVENTS.optional}
    return pd.DataFrame({c: pd.Series(dtype=kinds[k]) for c, k in columns.items()})


def _empty_coverage() -> pd.DataFrame:
    kinds = {"string": "string", "bool": "bool", "datetime": "datetime64[ns]"}
    return pd.DataFrame({c: pd.Series(dtype=kinds[k]) for c, k in COVERAGE.columns.items()})


__all__ = [
    "FileReport",
    "IngestResult",
    "StrictModeError",
    "canonical_events",
    "ingest_files",
    "plan_files",
    "strict_message",
    "write_outputs",
]
