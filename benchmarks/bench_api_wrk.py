"""API speed against a static reference: ``wrk`` on loopback, a score page and a CAP file, 1 and 2 workers.

    python -m benchmarks.bench_api_wrk                      # 1 and 2 uvicorn workers, 15 s per run
    python -m benchmarks.bench_api_wrk --duration 30 --connections 32

Needs ``wrk`` (Debian: ``apt-get install -y wrk``). A scores store with three weekly publications of 1,000
regions and the alerts they raise is built under ``benchmarks/out/api_wrk/`` (the API tests' synthetic
publications, at 1,000 regions). The civrisk app runs under uvicorn (``--factory``, no access log) with
one extra mount, ``/static``, a Starlette ``StaticFiles`` folder holding the very bytes the API answered
for the two resources; so each resource is served twice by the same server process(es), once by the API
(key check, store query or page cache, CAP rendering) and once as a file. For each worker count and
resource, ``wrk`` runs ``--duration`` seconds per URL and the script prints requests/s and p99 latency
of both and their ratios (API / static; target: within 2x). ``wrk`` shares the two cores with the
server, so the absolute numbers are lower bounds; the ratios are measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from benchmarks.servers import wait_healthy

OUT = Path(__file__).resolve().parent / "out" / "api_wrk"
STATIC_ENV = "CIVRISK_BENCH_STATIC_DIR"


def app_with_static():  # noqa: ANN201 (FastAPI app; imported lazily so the driver stays light)
    """Return the civrisk app with ``/static`` serving the folder named by $CIVRISK_BENCH_STATIC_DIR."""
    from starlette.staticfiles import StaticFiles

    from serve.app import app_from_env

    app = app_from_env()
    app.mount("/static", StaticFiles(directory=os.environ[STATIC_ENV]), name="static")
    return app


def build_store(db: Path, n_regions: int, home: Path) -> tuple[str, str, str]:
    """Fill ``db`` with three publications and their alerts; return (read key, week label, alert id).

    The key is hashed under the pepper of ``home`` (generated there on first use), which the server reads.
    """
    from civrisk.settings import Settings
    from publish.store.store import ScoreStore
    from serve.auth import create_api_key
    from serve.pepper import api_key_pepper
    from serve.tables import create_serve_schema
    from tests.api_fixtures import fill_store

    if db.exists():
        db.unlink()
    store = ScoreStore(f"sqlite:///{db}")
    create_serve_schema(store.engine)
    fill_store(store, n_regions=n_regions)
    key = create_api_key(store.engine, "read", "bench_api_wrk", pepper=api_key_pepper(Settings(home=home)))
    week = store.latest_publications()[-1].week_label
    alerts = store.alerts()
    if alerts.empty:
        raise RuntimeError("the synthetic publications raised no alert; cannot benchmark a CAP file")
    alert_id = str(alerts["message_id"].iloc[-1])
    store.close()
    return key, week, alert_id


def start(workers: int, db: Path, port: int) -> subprocess.Popen[bytes]:
    """Start uvicorn with the static mount; return once /healthz answers."""
    env = {
        **os.environ,
        "CIVRISK_DB_URL": f"sqlite:///{db}",
        "CIVRISK_HOME": str(OUT / "home"),
        "CIVRISK_SHARED_DATA": str(OUT / "no_shared_data"),
        STATIC_ENV: str(OUT / "static"),
    }
    argv = [sys.executable, "-m", "uvicorn", "benchmarks.bench_api_wrk:app_with_static", "--factory"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), "--no-access-log"]
    argv += ["--log-level", "warning"]
    return wait_healthy(subprocess.Popen(argv, env=env), port)


def wrk(url: str, key: str | None, duration: int, connections: int, threads: int) -> dict[str, float]:
    """Run wrk against ``url``; return requests/s, p50 and p99 latency (ms) and non-2xx responses."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    cmd += ["-H", f"Authorization: Bearer {key}"] if key else []
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "rps": rps,
        "p50_ms": _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),  # type: ignore[union-attr]
        "p99_ms": _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),  # type: ignore[union-attr]
        "non_2xx": float(errors.group(1)) if errors else 0.0,
    }


def _ms(text: str) -> float:
    """Return wrk's latency text (``812.00us``, ``3.21ms``, ``1.02s``) in milliseconds."""
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def main() -> None:
    """Build the store, write the static copies, run wrk per worker count and resource, print ratios."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--regions", type=int, default=1000)
    ap.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--port", type=int, default=8791)
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        ap.error("wrk not found; install it (Debian: apt-get install -y wrk)")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "static").mkdir(exist_ok=True)
    db = OUT / "scores.db"
    key, week, alert_id = build_store(db, args.regions, OUT / "home")
    resources = {
        "score page": f"/v1/scores?week={week}&limit=100&offset=100",
        "CAP file": f"/v1/alerts/{alert_id}.cap",
    }
    base = f"http://127.0.0.1:{args.port}"
    print(f"load average at the start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    rows = []
    for workers in args.workers:
        proc = start(workers, db, args.port)
        try:
            for name, path in resources.items():
                body = httpx.get(base + path, headers={"Authorization": f"Bearer {key}"}).raise_for_status()
                static = f"{name.replace(' ', '_')}{'.xml' if 'CAP' in name else '.json'}"
                (OUT / "static" / static).write_bytes(body.content)
                api = wrk(base + path, key, args.duration, args.connections, args.threads)
                ref = wrk(f"{base}/static/{static}", None, args.duration, args.connections, args.threads)
                rows.append((workers, name, len(body.content), api, ref, os.getloadavg()[0]))
                print(
                    f"workers={workers} {name} ({len(body.content):,} bytes): " + _line(api, ref), flush=True
                )
        finally:
            proc.terminate()
            proc.wait(20)
    print("\n| workers | resource | bytes | API req/s | API p99 ms | static req/s | static p99 ms "
          "| static/API req/s | API/static p99 | load |")  # fmt: skip
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for workers, name, size, api, ref, load in rows:
        print(
            f"| {workers} | {name} | {size:,} | {api['rps']:.0f} | {api['p99_ms']:.1f} | {ref['rps']:.0f} | "
            f"{ref['p99_ms']:.1f} | {ref['rps'] / api['rps']:.2f}x | {api['p99_ms'] / ref['p99_ms']:.2f}x "
            f"| {load:.1f} |"
        )


def _line(api: dict[str, float], ref: dict[str, float]) -> str:
    """Return one run's figures and ratios as a line."""
    return (
        f"API {api['rps']:.0f} req/s, p99 {api['p99_ms']:.1f} ms; static {ref['rps']:.0f} req/s, p99 "
        f"{ref['p99_ms']:.1f} ms; static/API req/s {ref['rps'] / api['rps']:.2f}x, API/static p99 "
        f"{api['p99_ms'] / ref['p99_ms']:.2f}x (non-2xx {api['non_2xx']:.0f}/{ref['non_2xx']:.0f}; "
        f"load {os.getloadavg()[0]:.1f})"
    )


if __name__ == "__main__":
    main()
