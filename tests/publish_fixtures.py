"""A small synthetic world to publish from: two countries of events, an experiment config, fitted bundles.

Mali (6 admin-1 regions) has events 2018-01 .. 2020-12-31; Burkina Faso (4 regions) only to 2020-06-29,
so at the end of 2020 its data are stale. Bundles are fitted in memory (no MLflow) and wrapped as
``PublishModel`` exactly as registered ones are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from lxml import etree

from civrisk.settings import get_settings
from experiments.config import DataConfig, ExperimentConfig
from forecasting.bundle import ForecastBundle, fit_bundle
from forecasting.plan import BacktestConfig
from forecasting.targets import ALL_TARGETS
from ingest.coverage import compute_coverage
from publish.publication.model_source import PublishModel
from tests.synth import make_events

CAP_XSD = get_settings().shared_data.parent / "schemas" / "CAP-v1.2.xsd"
LATEST = pd.Timestamp("2020-12-28")
"""The latest publishable week: Mali's last whole covered week (2020-12-21) + 1 (Dec 31 is a Thursday)."""
WEEK = pd.Timedelta(weeks=1)


def world_events() -> pd.DataFrame:
    """Return canonical events of Mali (to 2020-12-31) and Burkina Faso (to 2020-06-30)."""
    mli = make_events(n_events=1500, n_regions=6, start="2018-01-01", end="2020-12-31", seed=3)
    bfa = make_events(n_events=500, n_regions=4, start="2018-01-01", end="2020-06-30", seed=4, iso3="BFA")
    bfa = bfa.assign(event_id="synthetic-bfa:" + bfa["source_row"].astype(str), country="Burkina Faso")
    return pd.concat([mli, bfa], ignore_index=True).astype({"event_id": "string", "country": "string"})


def config(events_dir: Path, horizons: tuple[int, ...] = (1, 4)) -> ExperimentConfig:
    """Return the experiment config the synthetic bundles are 'trained with' (admin-1, both countries)."""
    return ExperimentConfig(
        name="synthetic_publish",
        data=DataConfig(events=events_dir, countries=("BFA", "MLI"), unit="admin1", start="2018-01-01"),
        targets=ALL_TARGETS,
        horizons=horizons,
        models=("logistic",),
        backtest=BacktestConfig(test_years=(2019, 2019), retrain_every=26, data_lag_weeks=1),
    )


def write_events_dir(events: pd.DataFrame, folder: Path) -> Path:
    """Write events.parquet and coverage.csv as civrisk ingest does; return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    events.to_parquet(folder / "events.parquet", index=False)
    compute_coverage(events).to_csv(folder / "coverage.csv", index=False, date_format="%Y-%m-%d")
    return folder


def fit_model(cfg: ExperimentConfig, data_end: pd.Timestamp, version: str) -> PublishModel:
    """Return a bundle fitted on the config's data through ``data_end`` (logistic for civ_any)."""
    from experiments.inputs import prepare_inputs

    inputs = prepare_inputs(cfg)
    pairs = [(t, h) for t in cfg.targets for h in cfg.horizons]
    chosen = {(t, h): ("logistic" if t == "civ_any" else "climatology") for t, h in pairs}
    bundle: ForecastBundle = fit_bundle(
        inputs.features, inputs.targets, chosen, data_end, cfg.model_copy(update={"seed": 5})
    )
    return PublishModel.from_bundle(bundle, cfg, name="civrisk-test", version=version)


@dataclass(frozen=True)
class World:
    """Everything a test publishes from."""

    events: pd.DataFrame
    coverage: pd.DataFrame
    cfg: ExperimentConfig
    model: PublishModel
    """Trained through the week before LATEST: publishes LATEST."""
    early_model: PublishModel
    """Trained two weeks earlier: publishes the week before LATEST."""


def cap_schema() -> etree.XMLSchema:
    """Return the OASIS CAP 1.2 schema."""
    return etree.XMLSchema(etree.parse(str(CAP_XSD)))


def assert_caps_valid(folder: Path) -> int:
    """Validate every CAP file under ``folder/alerts``; return how many there are."""
    schema = cap_schema()
    files = sorted((folder / "alerts").glob("*.cap.xml"))
    for path in files:
        doc = etree.parse(str(path))
        assert schema.validate(doc), f"{path.name}: {schema.error_log}"
    return len(files)


def make_world(folder: Path) -> World:
    """Return the synthetic world with its events written to ``folder`` and both models fitted."""
    events = world_events()
    cfg = config(write_events_dir(events, folder))
    from ingest.events_folder import read_events_dir

    events, coverage = read_events_dir(folder)
    latest, early = fit_model(cfg, LATEST - WEEK, "2"), fit_model(cfg, LATEST - 2 * WEEK, "1")
    return World(events, coverage, cfg, latest, early)
