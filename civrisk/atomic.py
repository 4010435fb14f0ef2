"""Atomic file writes: write to a temporary file beside the target, then rename over it.

A reader never sees a half-written file and a crash leaves the previous version in place.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it to ``target``, else delete it."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        # mkstemp creates 0600; give the file the mode a plain open() would (0666 minus the umask) so a
        # service running as another user can read what the weekly job published.
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    """Return the process umask (reading it requires setting it; restore at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(target: str | Path, writer: Callable[[Path], object]) -> Path:
    """Call ``writer(tmp_path)`` and move the result to ``target`` atomically; return ``target``."""
    with atomic_path(target) as tmp:
        writer(tmp)
    return Path(target)


def write_text_atomic(target: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``target`` atomically; return ``target``."""
    return write_atomic(target, lambda p: p.write_text(text, encoding="utf-8"))


def write_parquet_atomic(df: pd.DataFrame, target: str | Path) -> Path:
    """Write ``df`` to parquet at ``target`` atomically; return ``target``."""
    return write_atomic(target, lambda p: df.to_parquet(p, index=False))


def write_csv_atomic(df: pd.DataFrame, target: str | Path) -> Path:
    """Write ``df`` to CSV at ``target`` atomically; return ``target``."""
    return write_atomic(target, lambda p: df.to_csv(p, index=False))
