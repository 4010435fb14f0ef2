"""``civrisk demo``: the whole weekly job on real data, from raw events to a published report.

1. Ingest the default data into ``<home>/events``: the shared ACLED files of the Sahel (the Africa file and
   the newer Mali export) when present, else the UCDP GED release ``settings.demo_ged_version``, downloaded
   (``civrisk fetch ucdp-ged``). The UCDP files of the shared folder are not mixed in: one source per
   country keeps counts comparable across weeks (docs/EVENTS.md).
2. Backtest the demo config (``experiments/configs/demo.toml``; ``--quick``: ``demo_quick.toml``) and log it
   to MLflow; a finished backtest of the same config on the same data is reused.
3. Fit the backtest's best model per target x horizon twice and register both: through the last covered
   week (the champion, published for the latest week the data support) and through the last data week of a
   week 13 weeks earlier (published for that week, so no score rests on outcomes unknown at the time).
4. Publish the earlier week, verify it against what happened, then publish the latest week: its report
   shows the verification. Every step is idempotent: running the demo again changes nothing.
5. Print the top-risk regions and where the report is.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from civrisk.settings import Settings
    from experiments.config import ExperimentConfig
    from experiments.inputs import Inputs
    from publish.publication.verify import VerifyResult
    from publish.publication.week import PublishResult

ACLED_FILE = Path("acled") / "acled_africa_1997_2022.csv.gz"
"""The shared ACLED Africa file, relative to ``settings.shared_data``."""
ACLED_FILES = (ACLED_FILE, Path("acled") / "acled_export_mli_2015-01-01_2022-06-30.csv.gz")
"""Every shared ACLED file of the Sahel: the Africa file and the newer Mali export (Mali to 2022-06; its
versions of the 2015-2020 events supersede the Africa file's, docs/EVENTS.md)."""
EARLIER_WEEKS = 13
"""How many weeks before the latest one the demo also publishes (and then verifies)."""
WEEK = pd.Timedelta(weeks=1)


@dataclass(frozen=True)
class DemoResult:
    """What the demo produced."""

    config: str
    latest: PublishResult
    earlier: PublishResult | None
    verification: VerifyResult | None
    champion_version: str
    notes: tuple[str, ...]

    @property
    def report(self) -> Path:
        """Return the latest publication's report."""
        return self.latest.folder / "report.html"


def demo_config_name(settings: Settings, quick: bool) -> str:
    """Return the shipped config the demo runs: ACLED (``demo``/``demo_quick``) or UCDP (``demo_ucdp``)."""
    if (settings.shared_data / ACLED_FILE).is_file():
        return "demo_quick" if quick else "demo"
    return "demo_ucdp"


def run_demo(settings: Settings, quick: bool = False, console: Console | None = None) -> DemoResult:
    """Run the demo in ``settings.home`` (see the module docstring) and return what it published."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from experiments.config import load_config

    console = console or Console()
    name = demo_config_name(settings, quick)
    cfg = load_config(name, settings)
    notes: list[str] = []
    columns = (
        SpinnerColumn(finished_text="[green]done"),
        TextColumn("{task.description}"),
        BarColumn(bar_width=20),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        with _step(progress, f"ingesting the demo data into {settings.home / 'events'}"):
            _ingest(cfg, settings, progress.console)
        with _step(progress, f"building the {cfg.data.unit} panel and features ({name})"):
            from experiments.inputs import load_events, prepare_inputs

            inputs = prepare_inputs(cfg)
            events, coverage, shapes = load_events(cfg)
        with _step(progress, _backtest_text(cfg)):
            run_id, metrics = _backtest(cfg, inputs, progress.console, settings)
        latest, earlier = _weeks(cfg, coverage, inputs)
        with _step(progress, f"training and registering models through {latest.date()} and {earlier.date()}"):
            versions = _train(
                cfg, inputs, run_id, metrics, [latest, earlier], progress.console, notes, settings
            )
        from publish.alerting.rules import AlertRules
        from publish.publication.model_source import load_publish_model
        from publish.publication.verify import NotYetVerifiable, verify_publication
        from publish.publication.week import PublishOptions, publish_model_week
        from publish.store.store import ScoreStore

        options = PublishOptions(cap_status="Exercise")
        with ScoreStore.from_settings(settings) as store:
            first = None
            verification = None
            with _step(progress, f"publishing {_label(earlier)} and verifying it against what happened"):
                model = load_publish_model(versions[1], settings)
                first = publish_model_week(
                    earlier, model, events, coverage, shapes, store, settings, options=options
                )
                try:
                    rules = AlertRules(levels=model.alert_levels)
                    verification = verify_publication(
                        store, first.publication, cfg, events, coverage, shapes, rules
                    )
                except NotYetVerifiable as exc:
                    notes.append(str(exc))
            with _step(progress, f"publishing {_label(latest)}: scores, alerts (CAP), exports, report"):
                model = load_publish_model(versions[0], settings)
                last = publish_model_week(
                    latest, model, events, coverage, shapes, store, settings, options=options
                )
    return DemoResult(name, last, first, verification, versions[0], tuple(notes))


@contextmanager
def _step(progress: Progress, text: str) -> Iterator[None]:
    task = progress.add_task(text, total=1)
    yield
    progress.update(task, completed=1)


def _label(week: pd.Timestamp) -> str:
    from civrisk.weeks import week_label

    return week_label(week.date())


def _ingest(cfg: ExperimentConfig, settings: Settings, console: Console) -> None:
    """Add the demo's source file to the incremental events store (the one ``civrisk weekly`` extends).

    Going through the store keeps its manifest, so re-running the demo after weekly cycles changes nothing
    (the file is known by its SHA-256) instead of overwriting what the cycles ingested.
    """
    from ingest.event_store import add_files, events_dir

    if cfg.data.events is None:
        raise ValueError(f"demo config {cfg.source_path} must name data.events (the folder ingest writes)")
    store = events_dir(settings)
    if Path(cfg.data.events).resolve() != store.resolve():
        raise ValueError(
            f"demo config {cfg.source_path}: data.events is {cfg.data.events}, but the events store is "
            f'{store}; set data.events = "{{home}}/events"'
        )
    files = _source_files(cfg, settings, console)
    delta = add_files(files, settings)
    console.print(
        f"  {delta.events_after:,} events in the store ({delta.total('added'):,} added, "
        f"{delta.total('quarantined'):,} quarantined; {len(delta.skipped)} files already ingested), "
        f"from {', '.join(p.name for p in files)}",
        highlight=False,
    )


def _source_files(cfg: ExperimentConfig, settings: Settings, console: Console) -> list[Path]:
    """Return the shared ACLED files of the Sahel, or the UCDP GED release downloaded into the cache."""
    shared = settings.shared_data / ACLED_FILE
    if "acled" in cfg.data.sources:
        if not shared.is_file():
            raise FileNotFoundError(f"{shared} not found; the ACLED demo config needs the shared data folder")
        return [settings.shared_data / f for f in ACLED_FILES if (settings.shared_data / f).is_file()]
    from ingest.fetch import fetch_release, ged_release

    release = ged_release(settings.demo_ged_version, settings.ucdp_base_url)
    console.print(f"  {shared} not found: using UCDP GED {release.version} ({release.url})", highlight=False)
    return [fetch_release(release, settings.resolved_downloads_dir(), console=console).path]


def _backtest_text(cfg: ExperimentConfig) -> str:
    span = cfg.backtest.test_label
    return (
        f"backtesting {len(cfg.models)} models x {len(cfg.targets)} targets x {len(cfg.horizons)} horizons "
        f"on {span}, refit every {cfg.backtest.retrain_every} weeks"
    )


def _backtest(
    cfg: ExperimentConfig, inputs: Inputs, console: Console, settings: Settings
) -> tuple[str, pd.DataFrame]:
    """Return (MLflow run id, metrics) of the config's backtest on these data, run and logged if new."""
    from experiments.tracking import find_backtest_run, load_run_metrics, log_backtest
    from forecasting.backtest import overall_scores, run_backtest

    uri = settings.resolved_tracking_uri()
    run_id = find_backtest_run(cfg, inputs.fingerprint, uri)
    if run_id is not None:
        console.print(f"  reusing backtest run {run_id} (same config and data)", highlight=False)
        metrics = load_run_metrics(run_id, uri)
    else:
        result = run_backtest(inputs.features, inputs.targets, cfg)
        run_id = log_backtest(result, cfg, inputs.fingerprint, uri=uri)
        metrics = result.metrics
    p = cfg.primary
    head = overall_scores(metrics, p.target, p.horizon, p.subset, metric=p.metric)
    scores = ", ".join(f"{m} {v:.3f}" for m, v in zip(head["model"], head["value"], strict=True))
    console.print(f"  {p.metric} of {p.target} at {p.horizon} weeks: {scores}", highlight=False)
    return run_id, metrics


def _weeks(
    cfg: ExperimentConfig, coverage: pd.DataFrame, inputs: Inputs
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Return (latest publishable week, the week ``EARLIER_WEEKS`` before it)."""
    from publish.publication.asof import latest_publishable_week

    countries = cfg.data.countries or sorted(set(inputs.panel["iso3"].astype(str)))
    latest = latest_publishable_week(coverage, countries, cfg.backtest.data_lag_weeks)
    return latest, latest - EARLIER_WEEKS * WEEK


def _train(
    cfg: ExperimentConfig,
    inputs: Inputs,
    run_id: str,
    metrics: pd.DataFrame,
    weeks: list[pd.Timestamp],
    console: Console,
    notes: list[str],
    settings: Settings,
) -> list[str]:
    """Return the registered version of a bundle fitted for each week (data through week - k), first
    registering it unless an identical registration exists. The first week's bundle is meant as champion."""
    from experiments.registry import register_bundle
    from experiments.training import backtest_levels, run_forecasts
    from forecasting.backtest import primary_score, select_models
    from forecasting.bundle import fit_bundle

    p = cfg.primary
    chosen = select_models(metrics, p.metric, p.subset)
    value = primary_score(metrics, chosen[(p.target, p.horizon)], p.target, p.horizon, p.metric, p.subset)
    k = cfg.backtest.data_lag_weeks
    versions = []
    for i, week in enumerate(weeks):
        data_end = week - k * WEEK
        found = _registered(cfg, inputs.fingerprint, run_id, data_end, settings)
        if found is not None:
            versions.append(found)
            continue
        bundle = fit_bundle(inputs.features, inputs.targets, chosen, data_end, cfg)
        forecasts = run_forecasts(run_id, settings.resolved_tracking_uri())
        bundle.alert_levels = backtest_levels(forecasts, inputs, chosen, data_end)
        notes.extend(bundle.notes)
        example = inputs.features[inputs.features["week"] <= data_end]
        reg = register_bundle(
            bundle,
            cfg,
            value,
            run_id,
            inputs.fingerprint,
            example,
            uri=settings.resolved_tracking_uri(),
            name=settings.registered_model_name,
        )
        versions.append(reg.version)
        role = "champion" if reg.champion_moved else "not champion"
        console.print(
            f"  registered {reg.name} v{reg.version} (data through {data_end.date()}): {role}, {reg.reason}",
            highlight=False,
        )
        if i == 0 and not reg.champion_moved:
            notes.append(
                f"the demo model v{reg.version} did not become champion ({reg.reason}); the demo publishes "
                "it anyway (civrisk publish without --model-version would use the champion)"
            )
    head = chosen[(p.target, p.horizon)]
    console.print(f"  published model for {p.target} at {p.horizon} weeks: {head}", highlight=False)
    return versions


def _registered(
    cfg: ExperimentConfig, data_fp: str, run_id: str, data_end: pd.Timestamp, settings: Settings
) -> str | None:
    """Return the version registered from this config, data, backtest and data end, if there is one."""
    import mlflow

    from experiments.registry import BACKTEST_RUN_TAG, DATA_END_TAG
    from experiments.tracking import CONFIG_TAG, DATA_TAG, use_tracking

    use_tracking(settings.resolved_tracking_uri())
    name = settings.registered_model_name
    want = {
        CONFIG_TAG: cfg.fingerprint(),
        DATA_TAG: data_fp,
        BACKTEST_RUN_TAG: run_id,
        DATA_END_TAG: str(data_end.date()),
    }
    client = mlflow.MlflowClient()
    if not client.search_registered_models(filter_string=f"name = '{name}'"):
        return None
    found = [
        int(mv.version)
        for mv in client.search_model_versions(filter_string=f"name = '{name}'")
        if all(mv.tags.get(k) == v for k, v in want.items())
    ]
    return str(max(found)) if found else None
