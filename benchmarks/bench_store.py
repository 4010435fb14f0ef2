"""Fill a scores store with N weeks of synthetic publications and time inserts and single-week queries.

    python benchmarks/bench_store.py --weeks 52                 # one year, temporary SQLite file
    python benchmarks/bench_store.py --weeks 520 --db /tmp/s.db # ten years, ~9.4M score rows

Each week is 1,000 regions x 3 horizons x 6 targets (18,000 rows) by default. Prints insert times per
week and the median of repeated queries on the last, a middle and the first week.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.targets import ALL_TARGETS, TARGET_KINDS
from publish.store.store import ScoreStore


def week_frame(base: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Return ``base`` with new random numbers (so every week's scores differ)."""
    df = base.copy()
    is_count = df["target"].map(TARGET_KINDS).eq("count").to_numpy()
    mu = rng.gamma(1.0, 3.0, len(df))
    df["p"] = np.where(is_count, mu, rng.beta(0.8, 2.0, len(df)))
    df["q10"] = np.where(is_count, np.floor(mu * 0.2), np.nan)
    df["q50"] = np.where(is_count, np.round(mu), np.nan)
    df["q90"] = np.where(is_count, np.ceil(mu * 2.5), np.nan)
    return df


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Return the median wall time of ``fn`` in milliseconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weeks", type=int, default=52)
    ap.add_argument("--regions", type=int, default=1000)
    ap.add_argument("--horizons", default="1,4,12")
    ap.add_argument("--db", type=Path, default=None, help="SQLite file (default: a temporary one)")
    ap.add_argument("--url", default=None, help="any SQLAlchemy URL instead of --db")
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory()
    url = args.url or f"sqlite:///{args.db or Path(tmp.name) / 'bench.db'}"
    horizons = [int(h) for h in args.horizons.split(",")]
    regions = [f"R{i:05d}" for i in range(args.regions)]
    base = pd.MultiIndex.from_product(
        [regions, horizons, ALL_TARGETS], names=["region_id", "horizon", "target"]
    )
    base = base.to_frame(index=False)
    base["iso3"] = np.array(["MLI", "BFA", "NER", "NGA", "CAF"])[np.arange(len(base)) // (len(base) // 5 + 1)]
    base["region_name"] = "Region " + base["region_id"]
    rng = np.random.default_rng(1)
    first = date(2016, 1, 4)

    store = ScoreStore(url)
    start_weeks = len(store.latest_publications())
    inserts = []
    t_all = time.perf_counter()
    for i in range(start_weeks, start_weeks + args.weeks):
        frame = week_frame(base, rng)
        t0 = time.perf_counter()
        store.record_publication(first + timedelta(weeks=i), frame, "bench", "1", f"fp{i}", first)
        inserts.append(time.perf_counter() - t0)
        if (i + 1) % 52 == 0:
            print(f"  {i + 1} weeks stored, last insert {inserts[-1] * 1000:.0f} ms", flush=True)
    total = time.perf_counter() - t_all
    pubs = store.latest_publications()
    n_rows = sum(p.n_scores for p in pubs)
    print(f"store: {url}")
    print(f"weeks {len(pubs)}, rows per week {len(base):,}, score rows {n_rows:,}")
    if inserts:
        ms = sorted(x * 1000 for x in inserts)
        p95 = ms[int(0.95 * (len(ms) - 1))]
        print(
            f"insert one week ({len(base):,} rows, validation + digest + one transaction): "
            f"median {statistics.median(ms):.0f} ms, p95 {p95:.0f} ms, max {ms[-1]:.0f} ms; "
            f"{len(inserts)} weeks in {total:.1f} s"
        )

    def report(label: str, fn: Callable[[], object], repeat: int = args.repeat) -> None:
        print(f"  {label:<34}{timed(fn, repeat):8.1f} ms")

    for which, pub in (("last", pubs[-1]), ("middle", pubs[len(pubs) // 2]), ("first", pubs[0])):
        wk = pub.week
        print(f"queries on the {which} week {pub.week_label} (median of {args.repeat}):")
        report("page of 100 rows, offset 0", lambda wk=wk: store.scores(wk, limit=100))
        report("page of 100 rows, offset 9000", lambda wk=wk: store.scores(wk, limit=100, offset=9000))
        report(
            "civ_any h1, one country", lambda wk=wk: store.scores(wk, iso3="NER", target="civ_any", horizon=1)
        )
        report("count_scores (all)", lambda wk=wk: store.count_scores(wk))
        report(f"whole week ({len(base):,} rows)", lambda wk=wk: store.scores(wk), 3)
    print("other queries:")
    report("region history, all weeks, civ_any", lambda: store.region_history("R00500", target="civ_any"), 5)
    report("latest_publications", store.latest_publications)
    report("previous_publication", lambda: store.previous_publication(pubs[-1].week))
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
        print(f"database size {size / 1e6:.0f} MB ({size / max(n_rows, 1):.0f} bytes per score row)")
    store.close()
    tmp.cleanup()


if __name__ == "__main__":
    main()
