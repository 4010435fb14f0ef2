"""Time one weekly publication of 1,000 synthetic regions x 3 horizons x every target, report included.

    python -m benchmarks.bench_publish                 # 1,000 regions in 10 countries, horizons 1/4/12
    python -m benchmarks.bench_publish --regions 2000  # more

Run it from the repository root with ``-m`` (it imports ``tests.synth``, the seeded event generator).

The regions are 0.5-degree squares (real polygons for the map, CAP areas and GeoJSON) in a block of West
Africa, split over 10 countries; three years of synthetic events (tests/synth.py) fall in them. The model is
a stand-in whose ``predict`` returns fixed pseudo-random probabilities (and count quantiles) for every
region, target and horizon, so the figures are those of the publication itself: data cut-off, panel and
features at the origin, scores, the store transaction, alerts, CAP, exports and the report. The week is
published twice: the second run finds the same publication and writes nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

import publish.publication.outputs as outputs
import publish.publication.report_inputs as report_inputs
import publish.publication.week as publication
from civrisk.settings import Settings
from experiments.config import BacktestConfig, DataConfig, ExperimentConfig
from forecasting.targets import ALL_TARGETS, TARGET_KINDS
from ingest.boundaries import Boundaries
from ingest.coverage import compute_coverage
from publish.publication.model_source import PublishModel
from publish.publication.week import PublishOptions, publish_model_week
from publish.store.store import ScoreStore
from tests.synth import make_events

COUNTRIES = ("MLI", "BFA", "NER", "NGA", "TCD", "CMR", "GHA", "CIV", "GIN", "SEN")
HORIZONS = (1, 4, 12)
WEEK = pd.Timedelta(weeks=1)
TIMES: dict[str, float] = defaultdict(float)


def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """Return ``fn`` adding its wall time to ``TIMES[name]``."""

    def run(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            TIMES[name] += time.perf_counter() - t0

    return run


def world(n_regions: int, events_per_region: int) -> tuple[pd.DataFrame, Boundaries]:
    """Return synthetic events and square region polygons (``n_regions`` over the 10 countries)."""
    per = n_regions // len(COUNTRIES)
    side = int(np.ceil(np.sqrt(per)))
    frames, ids, iso, names, geoms = [], [], [], [], []
    for c, iso3 in enumerate(COUNTRIES):
        ev = make_events(per * events_per_region, per, "2018-01-01", "2020-12-31", seed=c, iso3=iso3)
        r = ev["admin1_id"].str.rsplit("R", n=1).str[1].astype(int).to_numpy()
        x0, y0 = -12.0 + (c % 5) * side * 0.5, 5.0 + (c // 5) * side * 0.5
        lon = x0 + (r % side) * 0.5 + 0.25
        lat = y0 + (r // side) * 0.5 + 0.25
        ev = ev.assign(
            event_id=f"synthetic-{iso3}:" + ev["source_row"].astype(str),
            longitude=lon,
            latitude=lat,
            grid_id=pd.array(np.zeros(len(ev), dtype="int64"), dtype="Int64"),
        )
        frames.append(ev)
        for i in range(per):
            ids.append(f"{iso3}-R{i}")
            iso.append(iso3)
            names.append(f"Region {i} of {iso3}")
            x, y = x0 + (i % side) * 0.5, y0 + (i // side) * 0.5
            geoms.append(shapely.box(x, y, x + 0.5, y + 0.5))
    regions = pd.DataFrame({"region_id": ids, "iso3": iso, "name": names})
    events = pd.concat(frames, ignore_index=True).astype({"event_id": "string"})
    return events, Boundaries.from_frame(regions, np.array(geoms, dtype=object), "synthetic squares")


def stand_in_model(config: ExperimentConfig, data_end: pd.Timestamp) -> PublishModel:
    """Return a model whose forecasts are fixed pseudo-random numbers per region, target and horizon."""

    def predict(features: pd.DataFrame) -> pd.DataFrame:
        rng = np.random.default_rng(7)
        frames = []
        for target in ALL_TARGETS:
            for h in HORIZONS:
                n = len(features)
                frame = pd.DataFrame(
                    {
                        "region_id": features["region_id"].astype("string").to_numpy(),
                        "week": features["week"].to_numpy(),
                        "horizon": np.full(n, h, dtype="int64"),
                        "target": target,
                        "model": "stand_in",
                    }
                )
                if TARGET_KINDS[target] == "count":
                    mu = rng.gamma(1.0, 3.0 * h, n)
                    frame = frame.assign(p=mu, q10=mu * 0.2, q50=mu * 0.8, q90=mu * 2.5)
                else:
                    frame = frame.assign(p=rng.beta(0.7, 2.0, n), q10=np.nan, q50=np.nan, q90=np.nan)
                frames.append(frame)
        out = pd.concat(frames, ignore_index=True)
        return out.astype({"target": "string", "model": "string"})

    chosen = {(t, h): "stand_in" for t in ALL_TARGETS for h in HORIZONS}
    return PublishModel("bench", "1", config, predict, data_end, chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--regions", type=int, default=1000)
    parser.add_argument("--events-per-region", type=int, default=40)
    args = parser.parse_args()

    t0 = time.perf_counter()
    events, shapes = world(args.regions, args.events_per_region)
    coverage = compute_coverage(events)
    week = pd.Timestamp("2020-12-28")  # every country's data run to 2020-12-31: week 2020-12-21 is covered
    config = ExperimentConfig(
        name="bench_publish",
        data=DataConfig(events=Path("/synthetic"), countries=COUNTRIES, unit="admin1", start="2018-01-01"),
        targets=ALL_TARGETS,
        horizons=HORIZONS,
        backtest=BacktestConfig(test_years=(2019, 2019), data_lag_weeks=1),
    )
    model = stand_in_model(config, week - WEEK)
    print(
        f"synthetic world: {len(shapes.regions):,} regions, {len(events):,} events "
        f"({time.perf_counter() - t0:.1f} s to make)"
    )
    for module, name in (
        (publication, "origin_inputs"),
        (publication, "data_fingerprint"),
        (publication, "_record_alerts"),
        (outputs, "render_report"),
        (outputs, "write_hxl_csv"),
        (outputs, "write_geojson"),
        (outputs, "write_json"),
        (outputs, "build_cap"),
        (report_inputs, "report_contexts"),
    ):
        setattr(module, name, timed(name, getattr(module, name)))
    model = PublishModel(**{**model.__dict__, "predict": timed("predict", model.predict)})
    ScoreStore.record_publication = timed(
        "record_publication (checks, digest, insert)", ScoreStore.record_publication
    )  # type: ignore[method-assign]

    with tempfile.TemporaryDirectory(prefix="civrisk-bench-publish-") as tmp:
        settings = Settings(home=Path(tmp) / "home", db_url=f"sqlite:///{tmp}/scores.db")
        with ScoreStore(settings.resolved_db_url()) as store:
            runs = []
            for attempt in ("first", "again"):
                TIMES.clear()
                t1 = time.perf_counter()
                result = publish_model_week(
                    week, model, events, coverage, shapes, store, settings, options=PublishOptions("Test")
                )
                runs.append((attempt, time.perf_counter() - t1, dict(TIMES), result))
    for attempt, total, times, result in runs:
        pub = result.publication
        state = "new revision" if result.created else "same publication, nothing written"
        print(
            f"\n{attempt}: {total:.2f} s for {pub.n_scores:,} scores ({pub.week_label} r{pub.revision}, "
            f"{state}); {len(result.alerts)} alert messages, {len(result.files)} files"
        )
        for name, seconds in sorted(times.items(), key=lambda kv: -kv[1]):
            print(f"  {name:<45} {seconds:6.2f} s")


if __name__ == "__main__":
    main()
