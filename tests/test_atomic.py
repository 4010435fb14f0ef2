"""Atomic writes leave either the old file or the new one, never a partial one."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from civrisk.atomic import write_atomic, write_text_atomic


def test_failed_write_keeps_the_previous_file_and_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "scores.csv"
    write_text_atomic(target, "old")

    def boom(p: Path) -> None:
        p.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(target, boom)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"]


def test_written_files_follow_the_umask_not_mkstemp_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        target = write_text_atomic(tmp_path / "report.html", "<html></html>")
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
