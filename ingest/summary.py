"""The text summary ``civrisk ingest`` prints: what was read, kept and quarantined, and what it covers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ingest.admin1_names import change_lines
from ingest.ingest_delta import IngestDelta
from ingest.pipeline import IngestResult
from ingest.quarantine import REASONS

TOP_COUNTRIES = 12


def country_level_breakdown(events: pd.DataFrame) -> dict[str, int]:
    """Return counts of events without an admin-1 region, by why.

    ``too_imprecise``: the source places them only in a country (UCDP where_prec 6-7);
    ``no_location``: neither coordinates nor an admin-1 name (e.g. the reduced Candidate file);
    ``unmatched``: coordinates or a name that matched no admin-1 region.
    """
    from ingest.regions import COUNTRY, precision_class

    no_admin1 = events["admin1_id"].isna().to_numpy()
    imprecise = precision_class(events) == COUNTRY
    no_location = (events["latitude"].isna() & events["admin1"].isna()).to_numpy() & ~imprecise
    return {
        "total": int(no_admin1.sum()),
        "too_imprecise": int((no_admin1 & imprecise).sum()),
        "no_location": int((no_admin1 & no_location).sum()),
        "unmatched": int((no_admin1 & ~imprecise & ~no_location).sum()),
    }


def format_summary(
    result: IngestResult, out_dir: str | Path | None = None, with_coverage: bool = True
) -> str:
    """Return the ingest summary as plain text (one block per topic)."""
    events, quarantine = result.events, result.quarantine
    lines: list[str] = []
    for f in result.files:
        hxl = ", HXL row skipped" if f.hxl_row_skipped else ""
        lines.append(
            f"read {f.path.name}: {f.layout_label} [{f.layout}] -> source {f.source} {f.source_version}, "
            f"{f.rows_read:,} rows{hxl}"
        )
    lines.append(
        f"rows read {result.rows_read:,}; kept {len(events):,}; quarantined {len(quarantine):,}"
        + (f" (see {Path(out_dir) / 'quarantine.csv'})" if out_dir is not None and len(quarantine) else "")
        + (
            f"; {result.superseded:,} replaced by a newer version of the same event in another file"
            if result.superseded
            else ""
        )
    )
    if len(quarantine):
        counts = quarantine["reason"].value_counts()
        order = [r for r in REASONS if r in counts.index] + [r for r in counts.index if r not in REASONS]
        lines.append("quarantined by reason:")
        lines += [f"  {reason:<28} {int(counts[reason]):>8,}" for reason in order]
    if events.empty:
        lines.append("no events kept")
        return "\n".join(lines)

    lines.append(f"dates {events['date_start'].min():%Y-%m-%d} .. {events['date_end'].max():%Y-%m-%d}")
    by_country = events["iso3"].value_counts()
    shown = ", ".join(f"{iso} {n:,}" for iso, n in by_country.head(TOP_COUNTRIES).items())
    more = len(by_country) - TOP_COUNTRIES
    lines.append(f"countries {len(by_country)}: {shown}" + (f", and {more} more" if more > 0 else ""))

    level = country_level_breakdown(events)
    lines.append(
        f"country level only (no admin-1 region) {level['total']:,}: too imprecise for admin-1 "
        f"(UCDP where_prec 6-7) {level['too_imprecise']:,}; no coordinates or admin-1 name "
        f"{level['no_location']:,}; not matched to an admin-1 region {level['unmatched']:,}"
    )

    vt = events.groupby("violence_type", observed=True).agg(
        events=("event_id", "size"),
        deaths=("deaths_best", "sum"),
        civilian_deaths=("deaths_civilians", "sum"),
    )
    lines.append("events by violence type:")
    lines += [
        f"  {name:<12} {int(row.events):>8,} events {int(row.deaths):>9,} deaths "
        f"{int(row.civilian_deaths):>9,} civilian deaths"
        for name, row in vt.iterrows()
    ]
    if (events["violence_type"] == "other").any():
        lines.append("  ('other' = protests, riots, strategic developments: kept, never modelled)")

    if with_coverage:
        lines += change_lines(result.region_changes) if result.region_changes is not None else []
        lines += coverage_lines(result.coverage)
    if out_dir is not None:
        lines.append(f"wrote {Path(out_dir) / 'events.parquet'}, quarantine.csv, coverage.csv")
    return "\n".join(lines)


def coverage_lines(coverage: pd.DataFrame) -> list[str]:
    """Return the coverage block: one line per source and country with its window."""
    cov = coverage.sort_values(["source", "iso3"])
    return ["coverage:"] + [
        f"  {r.source:<15} {r.iso3} {r.first_date:%Y-%m-%d} .. {r.last_date:%Y-%m-%d}"
        + (" (declared)" if r.declared else "")
        for r in cov.itertuples(index=False)
    ]


def format_store_summary(delta: IngestDelta) -> str:
    """Return ``civrisk ingest``'s report: each new file's summary, what the store gained, its coverage."""
    blocks = [format_summary(r, delta.store, with_coverage=False) for r in delta.results]
    lines = list(delta.lines())
    if delta.region_changes is not None:
        lines += change_lines(delta.region_changes)
    if delta.coverage is not None and len(delta.coverage):
        lines += coverage_lines(delta.coverage)
    if delta.written:
        lines.append(f"wrote {delta.store / 'events.parquet'}, quarantine.csv, coverage.csv, manifest.json")
    return "\n".join([*blocks, *lines])
