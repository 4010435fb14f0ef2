"""An experiment's inputs from its config: events -> panel -> features and targets, plus a data fingerprint.

Thin wiring over the pure stages (ingest.pipeline, ingest.regions, features.panel, features.build,
forecasting.targets) so that ``civrisk backtest`` and ``civrisk train`` build exactly the same tables.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from experiments.config import ExperimentConfig

if TYPE_CHECKING:
    from ingest.boundaries import Boundaries

log = logging.getLogger(__name__)


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
    if data.sources:
        events = events[events["source"].isin(list(data.sources))]
        coverage = coverage[coverage["source"].isin(list(data.sources))]
    if data.countries:
        missing = sorted(set(data.countries) - set(events["iso3"].astype(str)))
        if missing:
            raise ValueError(
                f"config {config.source_path}: data.countries {missing} have no events in "
                f"{[str(p) for p in input_files(config)]}; check the ISO3 codes and the source filter"
            )
        events = events[events["iso3"].isin(list(data.countries))]
        coverage = coverage[coverage["iso3"].isin(list(data.countries))]
    return events.reset_index(drop=True), coverage.reset_index(drop=True), shapes


def prepare_inputs(config: ExperimentConfig) -> Inputs:
    """Return the panel, features (every origin) and targets (every target x horizon) of an experiment."""
    from experiments.tracking import data_fingerprint
    from features.build import build_features
    from features.panel import build_panel, build_panel_with_report, country_regions
    from forecasting.targets import build_targets
    from ingest.regions import neighbours, region_table

    fingerprint = data_fingerprint(input_files(config))
    events, coverage, shapes = load_events(config)
    unit = config.data.unit
    regions = region_table(events, shapes, unit)
    nbrs = neighbours(regions, shapes, unit)
    start, end = config.data.start, config.data.end
    panel, report = build_panel_with_report(events, regions, coverage, unit, start, end)
    country = None
    if unit != "country":
        weeks = panel["week"]
        country = build_panel(events, country_regions(regions), coverage, "country", weeks.min(), weeks.max())
    k = config.backtest.data_lag_weeks
    features = build_features(panel, nbrs if len(nbrs) else None, k, country_panel=country)
    origins = pd.DatetimeIndex(features["week"].unique())
    targets = build_targets(panel, list(config.horizons), list(config.targets), origins=origins)
    return Inputs(panel, features, targets, fingerprint, report.summary())
