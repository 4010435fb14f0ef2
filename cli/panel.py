"""``civrisk panel`` and ``civrisk features``: thin wiring from files to the pure panel and feature code."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:  # pandas loads on use, so that `civrisk --help` stays fast
    import pandas as pd


from cli.errors import EXIT_BAD_INPUT


class Unit(StrEnum):
    """Spatial unit of a panel."""

    country = "country"
    admin1 = "admin1"
    grid = "grid"


def panel_command(
    events: Path | None = typer.Option(
        None,
        "--events",
        help="Folder with events.parquet and coverage.csv (default: the events store ingest adds to).",
    ),
    unit: Unit = typer.Option(..., "--unit", help="Spatial unit of the panel."),
    out: Path = typer.Option(
        ..., "--out", help="Folder for panel_{unit}, regions_{unit}, neighbours_{unit}."
    ),
    boundaries: Path | None = typer.Option(
        None,
        "--boundaries",
        help="Admin-1 GeoJSON for regions and neighbours (default: CIVRISK_BOUNDARIES, else the shared "
        "Sahel file, as in civrisk ingest; without any, admin-1 regions come from the events).",
    ),
    source: str | None = typer.Option(
        None, "--source", help="Count only this source (needed when sources overlap in a country)."
    ),
) -> None:
    """Build the dense weekly region x week panel, its region table and neighbours.

    Sub-national panels also write panel_country.parquet over the same weeks: country totals that
    include events too imprecise for a sub-national region (used by civrisk features).
    """
    from civrisk.atomic import write_parquet_atomic
    from features.panel import build_panel_with_report, country_regions
    from features.sources import select_source
    from ingest.boundaries import default_boundaries_path, load_boundaries
    from ingest.regions import neighbours, region_table

    if events is None:
        from civrisk.settings import get_settings
        from ingest.event_store import events_dir

        events = events_dir(get_settings())
    try:
        from ingest.events_folder import read_events_dir

        ev, coverage = read_events_dir(events)
        if source is not None:
            ev, coverage = select_source(ev, coverage, source)
        if boundaries is None:
            boundaries = default_boundaries_path()
        shapes = load_boundaries(boundaries) if boundaries is not None else None
        regions = region_table(ev, shapes, unit.value)
        nbrs = neighbours(regions, shapes, unit.value)
        panel, report = build_panel_with_report(ev, regions, coverage, unit.value)
        outputs = {
            f"panel_{unit.value}": panel,
            f"regions_{unit.value}": regions,
            f"neighbours_{unit.value}": nbrs,
        }
        summary = _panel_summary(panel, report.summary())
        if unit is not Unit.country:
            weeks = panel["week"]
            country, country_report = build_panel_with_report(
                ev, country_regions(regions), coverage, "country", weeks.min(), weeks.max()
            )
            outputs["panel_country"] = country
            summary += (
                f"\ncountry totals for the cty_ features: {country_report.counted} events counted "
                f"({country_report.counted - report.counted:+d} against the {unit.value} panel)"
            )
    except (ValueError, FileNotFoundError) as err:
        typer.echo(f"civrisk panel: {err}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from err
    written = [write_parquet_atomic(frame, out / f"{name}.parquet") for name, frame in outputs.items()]
    typer.echo(summary)
    typer.echo("wrote " + ", ".join(str(p) for p in written))


def _panel_summary(panel: pd.DataFrame, report: str) -> str:
    from civrisk.contracts import PERPETRATOR_GROUPS
    from civrisk.weeks import week_label

    totals = panel[["events", "deaths", "civ_deaths", "civ_harm_events"]].sum()
    groups = ", ".join(f"{g} {panel[f'civ_deaths_{g}'].sum():,.0f}" for g in PERPETRATOR_GROUPS)
    return (
        f"{report}\n"
        f"weeks {week_label(panel['week'].min())}..{week_label(panel['week'].max())}; "
        f"totals: events {totals['events']:,.0f}, deaths {totals['deaths']:,.0f}, civilian deaths "
        f"{totals['civ_deaths']:,.0f} ({groups}), civilian-harm events {totals['civ_harm_events']:,.0f}"
    )


def features_command(
    panel: Path = typer.Option(..., "--panel", help="Folder written by civrisk panel."),
    unit: Unit = typer.Option(..., "--unit", help="Spatial unit of the panel to read."),
    out: Path = typer.Option(..., "--out", help="Parquet file for the feature matrix."),
    lag: int | None = typer.Option(
        None, "--lag", min=1, help="Data lag k in weeks (default: settings publication_lag_weeks)."
    ),
    cutoff: str | None = typer.Option(
        None,
        "--cutoff",
        help="Build only the origin (publication week) holding this date or ISO week (2020-W23); it reads "
        "data through the week k weeks before. Default: every origin of the panel.",
    ),
) -> None:
    """Build leak-free features at forecast origins from a panel folder."""
    import pandas as pd

    from civrisk.atomic import write_parquet_atomic
    from civrisk.settings import get_settings
    from civrisk.weeks import parse_week, week_label
    from features.build import build_features

    k = lag if lag is not None else get_settings().publication_lag_weeks
    panel_path = panel / f"panel_{unit.value}.parquet"
    if not panel_path.is_file():
        typer.echo(
            f"civrisk features: {panel_path} not found; run civrisk panel --unit {unit.value}", err=True
        )
        raise typer.Exit(EXIT_BAD_INPUT)
    frame = pd.read_parquet(panel_path)
    nb_path = panel / f"neighbours_{unit.value}.parquet"
    nbrs = pd.read_parquet(nb_path) if nb_path.is_file() else None
    if nbrs is None or nbrs.empty:
        why = "not found" if nbrs is None else "holds no neighbour pairs (no boundaries?)"
        typer.echo(f"note: {nb_path} {why}; building without the nb_ (neighbour) features")
        nbrs = None
    country = None
    if unit is not Unit.country:
        country_path = panel / "panel_country.parquet"
        if country_path.is_file():
            country = pd.read_parquet(country_path)
        else:
            typer.echo(
                f"note: {country_path} not found; cty_ totals sum the {unit.value} regions and miss events "
                "too imprecise for them"
            )
    try:
        origins = [pd.Timestamp(parse_week(cutoff))] if cutoff is not None else None
        features = build_features(frame, nbrs, k, origins, country_panel=country)
    except ValueError as err:
        typer.echo(f"civrisk features: {err}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from err
    write_parquet_atomic(features, out)
    weeks = features["week"]
    span = f"{week_label(weeks.min())}..{week_label(weeks.max())}" if len(features) else "none"
    typer.echo(
        f"features: {len(features):,} rows ({features['region_id'].nunique()} regions x origins {span}), "
        f"{features.shape[1] - 3} features with data lag {k} week(s); wrote {out}"
    )
