"""The one path from events to model inputs: regions -> neighbours -> panel -> country panel -> features.

:func:`build_model_inputs` is called by every stage that feeds a model: backtests and training (through
:func:`prepare_inputs`, every origin of a config's panel), the weekly publication (one origin, the panel cut
at the publication's data cut-off) and verification (the outcome panel). A train/serve skew would need
two code paths; there is one. :func:`scope` is the one filter of a config's sources and countries.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from experiments.config import DataConfig, ExperimentConfig
from features.build import FeatureSpec, build_features
from features.panel import build_panel, build_panel_with_report, country_regions
from forecasting.targets import build_targets
from ingest.regions import neighbours, region_table

if TYPE_CHECKING:
    from ingest.boundaries import Boundaries

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelInputs:
    """The region table, the weekly panel and the feature rows a model reads."""

    regions: pd.DataFrame
    panel: pd.DataFrame
    features: pd.DataFrame
    panel_summary: str


@dataclass(frozen=True)
class Inputs:
    """The tables an experiment trains and scores on, and the fingerprint of the files they came from."""

    panel: pd.DataFrame
    features: pd.DataFrame
    targets: pd.DataFrame
    fingerprint: str
    panel_summary: str

    @property
    def last_week(self) -> pd.Timestamp:
        """Return the panel's last week (the newest data)."""
        return pd.Timestamp(self.panel["week"].max())


def scope(
    events: pd.DataFrame, coverage: pd.DataFrame, data: DataConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the events and coverage of ``data``'s sources and countries (a model knows no others)."""
    keep_ev = pd.Series(True, index=events.index)
    keep_cov = pd.Series(True, index=coverage.index)
    if data.sources:
        keep_ev &= events["source"].isin(list(data.sources))
        keep_cov &= coverage["source"].isin(list(data.sources))
    if data.countries:
        keep_ev &= events["iso3"].isin(list(data.countries))
        keep_cov &= coverage["iso3"].isin(list(data.countries))
    return events[keep_ev].reset_index(drop=True), coverage[keep_cov].reset_index(drop=True)


def build_model_inputs(
    events: pd.DataFrame,
    coverage: pd.DataFrame,
    boundaries: Boundaries | None,
    *,
    unit: str,
    spec: FeatureSpec,
    data_lag_weeks: int,
    start: date | pd.Timestamp | None = None,
    end: date | pd.Timestamp | None = None,
    origins: Sequence[pd.Timestamp] | None = None,
) -> ModelInputs:
    """Return regions, the panel of weeks ``start .. end`` and the features at ``origins`` (default: all).

    Regions and neighbours come from ``boundaries`` (admin-1) or the events; sub-national panels get a
    country panel over the same weeks for the ``cty_`` totals; features follow ``spec`` with lag
    ``data_lag_weeks``. Every stage that feeds a model calls this (module docstring).
    """
    regions, panel, summary = region_panel(events, coverage, boundaries, unit, start, end)
    nbrs = neighbours(regions, boundaries, unit)
    country = None
    if unit != "country":
        weeks = panel["week"]
        country = build_panel(events, country_regions(regions), coverage, "country", weeks.min(), weeks.max())
    features = build_features(
        panel,
        nbrs if len(nbrs) else None,
        data_lag_weeks,
        origins,
        country_panel=country,
        spec=spec,
        regions=fixed_points(regions, boundaries, unit),
    )
    return ModelInputs(regions, panel, features, summary)


def fixed_points(regions: pd.DataFrame, boundaries: Boundaries | None, unit: str) -> pd.DataFrame | None:
    """Return the regions with the points that do not depend on events (polygon centroids, cell centres)
    for the distance features, other points NaN; None when no region has one (country units, admin-1
    without boundaries). A point averaged from events would move with events after the origin."""
    if unit == "grid":
        return regions
    if unit == "admin1" and boundaries is not None:
        drawn = regions["region_id"].astype(str).isin(set(boundaries.regions["region_id"].astype(str)))
        return regions.assign(lat=regions["lat"].where(drawn), lon=regions["lon"].where(drawn))
    return None


def region_panel(
    events: pd.DataFrame,
    coverage: pd.DataFrame,
    boundaries: Boundaries | None,
    unit: str,
    start: date | pd.Timestamp | None = None,
    end: date | pd.Timestamp | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Return (regions, panel of weeks ``start .. end``, panel summary): what models and outcomes share."""
    regions = region_table(events, boundaries, unit)
    panel, report = build_panel_with_report(events, regions, coverage, unit, start, end)
    return regions, panel, report.summary()


def input_files(config: ExperimentConfig) -> list[Path]:
    """Return the files the experiment reads (events or raw files, and the boundaries)."""
    data = config.data
    files = [data.events] if data.events is not None else list(data.raw_files)
    if data.boundaries is not None:
        files.append(data.boundaries)
    return [Path(f) for f in files if f is not None]


def load_events(config: ExperimentConfig) -> tuple[pd.DataFrame, pd.DataFrame, Boundaries | None]:
    """Return (events, coverage, boundaries) filtered to the config's sources and countries."""
    from ingest.boundaries import load_boundaries

    data = config.data
    shapes = load_boundaries(data.boundaries) if data.boundaries is not None else None
    if data.events is not None:
        from ingest.events_folder import read_events_dir

        events, coverage = read_events_dir(Path(data.events))
    else:
        from ingest.pipeline import ingest_files

        result = ingest_files(list(data.raw_files), boundaries=shapes)
        if len(result.quarantine):
            reasons = result.quarantine["reason"].value_counts().to_dict()
            log.warning("ingest quarantined %d rows: %s", len(result.quarantine), reasons)
        events, coverage = result.events, result.coverage
    events, coverage = scope(events, coverage, data)
    missing = sorted(set(data.countries) - set(events["iso3"].astype(str)))
    if missing:
        raise ValueError(
            f"config {config.source_path}: data.countries {missing} have no events in "
            f"{[str(p) for p in input_files(config)]}; check the ISO3 codes and the source filter"
        )
    return events, coverage, shapes


def prepare_inputs(config: ExperimentConfig) -> Inputs:
    """Return the panel, features (every origin) and targets (every target x horizon) of an experiment."""
    from experiments.tracking import data_fingerprint

    fingerprint = data_fingerprint(input_files(config))
    events, coverage, shapes = load_events(config)
    built = build_model_inputs(
        events,
        coverage,
        shapes,
        unit=config.data.unit,
        spec=config.feature_spec(),
        data_lag_weeks=config.backtest.data_lag_weeks,
        start=config.data.start,
        end=config.data.end,
    )
    origins = pd.DatetimeIndex(built.features["week"].unique())
    targets = build_targets(built.panel, list(config.horizons), list(config.targets), origins=origins)
    return Inputs(built.panel, built.features, targets, fingerprint, built.panel_summary)
