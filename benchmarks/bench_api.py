"""Load-test ``GET /v1/scores`` on a real uvicorn over a ten-year store (1,000 regions, 520 weeks, 9.4M rows).

    python -m benchmarks.bench_api                       # 1 and 2 workers, 3,000 requests each
    python -m benchmarks.bench_api --workers 2 --requests 10000 --concurrency 32

1. The store is bulk-filled once and cached at ``benchmarks/out/api_bench.db`` (~2 GB, ~2-4 min): the
   store's own schema and indexes, rows written straight with sqlite3 in one transaction per week,
   because ``record_publication`` (checks, digest, 18,000-row transactions) takes 13 min for 520 weeks
   (docs/PUBLISHING.md). Its ``scores_digest`` is a sha256 of the week's raw numbers, not the canonical
   digest: this store is only ever read.
2. ``uvicorn serve.app:app_from_env --factory`` runs on 127.0.0.1 in a subprocess, without access log.
3. A bounded asyncio load generator (httpx, keep-alive, ``--concurrency`` connections, ``--requests``
   requests after a warm-up, stopped by ``--time-limit``) asks for pages of 100 scores of one week
   (offsets cycling 0..900) and prints requests/s and latency p50/p90/p99 (ms). The generator shares the
   machine's cores with the server, so these are lower bounds of what the server alone does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np

from benchmarks.servers import wait_healthy
from civrisk.settings import Settings
from civrisk.weeks import week_label
from forecasting.targets import ALL_TARGETS, TARGET_KINDS
from publish.store.score_rows import digest_columns
from publish.store.store import ScoreStore
from serve.auth import create_api_key
from serve.pepper import api_key_pepper
from serve.tables import create_serve_schema

OUT = Path(__file__).resolve().parent / "out"
FIRST_WEEK = date(2016, 1, 4)


def fill_store(
    db: Path, weeks: int, regions: int, horizons: tuple[int, ...] = (1, 4, 12), seed: int = 1
) -> None:
    """Bulk-fill ``db`` with ``weeks`` weekly publications of ``regions`` x horizons x 6 targets."""
    store = ScoreStore(f"sqlite:///{db}")  # creates the store's tables, indexes and triggers
    store.close()
    rng = np.random.default_rng(seed)
    rid = np.array([f"R{i:05d}" for i in range(regions)], dtype=object)
    iso = np.array(["MLI", "BFA", "NER", "NGA", "CAF"], dtype=object)[np.arange(regions) % 5]
    name = np.array([f"Region {i}" for i in range(regions)], dtype=object)
    grid_r, grid_h, grid_t = (
        a.ravel() for a in np.meshgrid(np.arange(regions), horizons, np.arange(6), indexing="ij")
    )
    targets = np.array(ALL_TARGETS, dtype=object)[grid_t]
    is_count = np.array([TARGET_KINDS[t] == "count" for t in ALL_TARGETS])[grid_t]
    group = grid_h * 10 + grid_t  # rank within (target, horizon)
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-400000")
    start = con.execute("SELECT count(*) FROM publications").fetchone()[0]
    t0 = time.perf_counter()
    for i in range(start, weeks):
        monday = FIRST_WEEK + timedelta(weeks=i)
        mu = rng.gamma(1.0, 3.0, len(grid_r))
        p = np.where(is_count, mu, rng.beta(0.8, 2.0, len(grid_r)))
        order = np.lexsort((-p, group))
        rank = np.empty(len(p), dtype=np.int64)
        starts = np.r_[0, np.flatnonzero(np.diff(group[order])) + 1]
        pos = np.arange(len(p)) - np.repeat(starts, np.diff(np.r_[starts, len(p)]))
        rank[order] = pos + 1
        now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        q = [np.where(is_count, v, np.nan) for v in (np.floor(mu * 0.2), np.round(mu), np.ceil(mu * 2.5))]
        columns = {
            "region_id": rid[grid_r].tolist(),
            "iso3": iso[grid_r].tolist(),
            "region_name": name[grid_r].tolist(),
            "horizon": grid_h.tolist(),
            "target": targets.tolist(),
            "p": p.tolist(),
            **{
                c: [None if np.isnan(x) else x for x in col.tolist()]
                for c, col in zip(
                    ("expected", "q10", "q50", "q90"), (np.where(is_count, mu, np.nan), *q), strict=True
                )
            },
            "rank": rank.tolist(),
        }
        # the real digest (the API checks each publication against it before serving it)
        by_key = sorted(
            range(len(p)),
            key=lambda j: (columns["region_id"][j], columns["horizon"][j], columns["target"][j]),
        )
        digest = digest_columns({c: [v[j] for j in by_key] for c, v in columns.items()})
        con.execute("BEGIN")
        cur = con.execute(
            "INSERT INTO publications (week, week_label, revision, model_name, model_version,"
            " data_fingerprint, scores_digest, n_scores, as_of, created_at, status)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                monday.isoformat(),
                week_label(monday),
                1,
                "bench",
                "1",
                f"bench-{i}",
                digest,
                len(p),
                f"{monday - timedelta(days=1)} 00:00:00.000000",
                f"{now:%Y-%m-%d %H:%M:%S}.000000",
                "open",  # the store's guards take score rows only into an open publication
            ),
        )
        pub_id = cur.lastrowid
        cols = ("region_id", "iso3", "region_name", "horizon", "target", "p", "expected", "q10", "q50", "q90")
        rows = zip([pub_id] * len(p), *(columns[c] for c in (*cols, "rank")), strict=True)
        con.executemany(
            f"INSERT INTO scores (publication_id, {', '.join(cols)}, rank) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        con.execute("UPDATE publications SET status = 'published' WHERE id = ?", (pub_id,))  # the seal
        con.execute("COMMIT")
        if (i + 1) % 52 == 0:
            print(f"  filled {i + 1}/{weeks} weeks ({time.perf_counter() - t0:.0f} s)", flush=True)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("ANALYZE")
    con.close()


def tree_cpu_seconds(pid: int) -> float:
    """Return the user+system CPU seconds of process ``pid`` and all its descendants (Linux /proc)."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
        ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == parent and p not in tree]
        tree.update(kids)
        frontier.extend(kids)
    return sum(ticks.get(p, 0) for p in tree) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    db: Path, workers: int, port: int, page_cache_mb: int | None, http: str = "auto", loop: str = "auto"
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **({"CIVRISK_API_PAGE_CACHE_MB": str(page_cache_mb)} if page_cache_mb is not None else {}),
        "CIVRISK_DB_URL": f"sqlite:///{db}",
        "CIVRISK_HOME": str(OUT / "api_home"),
        "CIVRISK_SHARED_DATA": str(OUT / "no_shared_data"),
    }
    argv = [sys.executable, "-m", "uvicorn", "serve.app:app_from_env", "--factory", "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--workers", str(workers), "--no-access-log", "--log-level", "warning"]
    argv += ["--http", http, "--loop", loop]
    return wait_healthy(subprocess.Popen(argv, env=env), port)


async def load(
    base: str, key: str, week: str, n: int, concurrency: int, time_limit: float, warmup: int
) -> dict:
    """Send ``n`` requests over ``concurrency`` keep-alive connections; return throughput and latencies."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, limits=limits, headers=headers, timeout=10) as client:
        latencies: list[float] = []
        errors = 0
        counter = iter(range(n + warmup))
        measure_from = [0.0]

        async def worker() -> None:
            nonlocal errors
            for i in counter:
                if time.perf_counter() > stop_at:
                    return
                t0 = time.perf_counter()
                if i == warmup:
                    measure_from[0] = t0
                r = await client.get("/v1/scores", params={"week": week, "offset": (i % 10) * 100})
                dt = time.perf_counter() - t0
                if r.status_code != 200 or len(r.json()["items"]) != 100:
                    errors += 1
                if i >= warmup:
                    latencies.append(dt)

        stop_at = time.perf_counter() + time_limit
        cpu0 = time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        client_cpu = time.process_time() - cpu0
        wall = time.perf_counter() - measure_from[0]
    ms = sorted(x * 1000 for x in latencies)
    pct = statistics.quantiles(ms, n=100)
    return {
        "requests": len(ms),
        "errors": errors,
        "req_per_s": round(len(ms) / wall, 1),
        "p50_ms": round(pct[49], 2),
        "p90_ms": round(pct[89], 2),
        "p99_ms": round(pct[98], 2),
        "max_ms": round(ms[-1], 2),
        "client_cpu_ms_per_request": round(client_cpu / (len(ms) + warmup) * 1000, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weeks", type=int, default=520)
    ap.add_argument("--regions", type=int, default=1000)
    ap.add_argument("--db", type=Path, default=OUT / "api_bench.db")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument(
        "--page-cache-mb",
        type=int,
        default=None,
        help="CIVRISK_API_PAGE_CACHE_MB of the server (0: no cache)",
    )
    ap.add_argument("--http", default="auto", choices=["auto", "h11", "httptools"], help="uvicorn --http")
    ap.add_argument("--loop", default="auto", choices=["auto", "asyncio", "uvloop"], help="uvicorn --loop")
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per run, warm-up included")
    args = ap.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    fill_store(args.db, args.weeks, args.regions)
    print(f"store {args.db}: {args.db.stat().st_size / 1e9:.2f} GB ready in {time.perf_counter() - t0:.0f} s")
    store = ScoreStore(f"sqlite:///{args.db}")
    create_serve_schema(store.engine)
    # the server (CIVRISK_HOME=OUT/api_home) reads the pepper file this call generates on first use
    pepper = api_key_pepper(Settings(home=OUT / "api_home"))
    key = create_api_key(store.engine, "read", "bench_api", pepper=pepper)
    week = store.latest_publications()[-1].week_label
    rows = store.count_scores(week)
    store.close()
    results = []
    for workers in args.workers:
        port = free_port()
        proc = start_server(args.db, workers, port, args.page_cache_mb, args.http, args.loop)
        try:
            cpu0 = tree_cpu_seconds(proc.pid)
            res = asyncio.run(
                load(
                    f"http://127.0.0.1:{port}",
                    key,
                    week,
                    args.requests,
                    args.concurrency,
                    args.time_limit,
                    args.warmup,
                )
            )
            cpu = tree_cpu_seconds(proc.pid) - cpu0
        finally:
            proc.terminate()
            proc.wait(20)
        res = {
            "workers": workers,
            "concurrency": args.concurrency,
            "page_cache_mb": args.page_cache_mb,
            "http": args.http,
            "loop": args.loop,
            "week": week,
            "week_rows": rows,
            **res,
        }
        # CPU the server spent per request (warm-up included): what a request costs whatever the load
        res["server_cpu_ms_per_request"] = round(cpu / (res["requests"] + args.warmup) * 1000, 3)
        results.append(res)
        print(
            f"workers={workers} concurrency={args.concurrency} page cache {args.page_cache_mb}: "
            f"{res['req_per_s']} req/s, "
            f"p50 {res['p50_ms']} ms, "
            f"p90 {res['p90_ms']} ms, p99 {res['p99_ms']} ms, max {res['max_ms']} ms "
            f"({res['requests']} requests, {res['errors']} errors); server CPU "
            f"{res['server_cpu_ms_per_request']} ms/request, load generator CPU "
            f"{res['client_cpu_ms_per_request']} ms/request; load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    (OUT / f"api_results_{stamp}.json").write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
