"""Servers the API benchmarks start: wait for one to answer before measuring it."""

from __future__ import annotations

import subprocess
import time

import httpx


def wait_healthy(proc: subprocess.Popen[bytes], port: int, timeout_s: float = 60) -> subprocess.Popen[bytes]:
    """Return ``proc`` once GET /healthz on ``port`` answers 200; kill it and raise after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"uvicorn did not answer /healthz within {timeout_s:.0f} s")
