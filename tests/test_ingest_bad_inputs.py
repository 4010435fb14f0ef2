"""A corpus of bad inputs for ``civrisk ingest``: each is built in tmp_path and must give exit 1 with one
clear line naming the file and the fix, no traceback, and nothing written (issue 8, bad input)."""

from __future__ import annotations

import gzip
import io
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.errors import EXIT_BAD_INPUT
from cli.main import app
from tests.test_ingest_layouts import ACLED, write_acled_csv
from tests.test_ingest_quarantine import UCDP_COLUMNS, write_ucdp_csv

runner = CliRunner()


def good_csv_text(tmp_path: Path, rows: int = 3) -> str:
    return write_ucdp_csv(tmp_path / "src.csv", [{} for _ in range(rows)]).read_text(encoding="utf-8")


def truncated_gzip(tmp_path: Path) -> Path:
    data = gzip.compress(good_csv_text(tmp_path, 400).encode("utf-8"))
    path = tmp_path / "ged231_cut.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    return path


def not_gzipped(tmp_path: Path) -> Path:
    path = tmp_path / "ged231_plain.csv.gz"
    path.write_text(good_csv_text(tmp_path), encoding="utf-8")
    return path


def not_parquet(tmp_path: Path) -> Path:
    path = tmp_path / "ged231.parquet"
    path.write_text(good_csv_text(tmp_path), encoding="utf-8")
    return path


def utf16(tmp_path: Path) -> Path:
    path = tmp_path / "ged231_utf16.csv"
    path.write_bytes(good_csv_text(tmp_path).encode("utf-16"))
    return path


def latin1_header(tmp_path: Path) -> Path:
    path = tmp_path / "ged231_latin1.csv"
    path.write_bytes(good_csv_text(tmp_path).replace("Mopti region", "Ségou région").encode("latin-1"))
    return path


def latin1_deep(tmp_path: Path) -> Path:
    text = good_csv_text(tmp_path, 3000)
    lines = text.splitlines(keepends=True)
    lines[-1] = lines[-1].replace("Mopti region", "Ségou région")
    path = tmp_path / "ged231_latin1_deep.csv"
    path.write_bytes("".join(lines[:-1]).encode("utf-8") + lines[-1].encode("latin-1"))
    return path


def folder(tmp_path: Path) -> Path:
    path = tmp_path / "drop"
    path.mkdir()
    write_ucdp_csv(path / "ged231_a.csv", [{}])
    return path


def symlink_loop(tmp_path: Path) -> Path:
    path = tmp_path / "loop.csv"
    os.symlink(path.name, path)
    return path


def dangling_symlink(tmp_path: Path) -> Path:
    path = tmp_path / "gone.csv"
    os.symlink(tmp_path / "never_there.csv", path)
    return path


def mixed_header(tmp_path: Path) -> Path:
    columns = [*UCDP_COLUMNS, "event_id_cnty", "event_date", "fatalities", "actor1"]
    return write_ucdp_csv(tmp_path / "ged231_mixed.csv", [{}], columns=columns)


def empty_file(tmp_path: Path) -> Path:
    path = tmp_path / "ged231_empty.csv"
    path.write_bytes(b"")
    return path


def two_csvs_in_a_zip(tmp_path: Path) -> Path:
    path = tmp_path / "two.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.csv", good_csv_text(tmp_path))
        zf.writestr("b.csv", good_csv_text(tmp_path))
    return path


def wrong_suffix(tmp_path: Path) -> Path:
    path = tmp_path / "ged231.txt"
    path.write_text(good_csv_text(tmp_path), encoding="utf-8")
    return path


def misaligned_row(tmp_path: Path) -> Path:
    path = tmp_path / "ged231_short.csv"
    text = good_csv_text(tmp_path)
    path.write_text(text + "1,2,3\n", encoding="utf-8")
    return path


def semicolons(tmp_path: Path) -> Path:
    path = tmp_path / "ged231_semicolon.csv"
    path.write_text(good_csv_text(tmp_path).replace(",", ";"), encoding="utf-8")
    return path


BAD_FILES: list[tuple[Callable[[Path], Path], str]] = [
    (truncated_gzip, "ged231_cut.csv.gz is not a complete gzip file"),
    (not_gzipped, "ged231_plain.csv.gz cannot be decompressed as gzip"),
    (not_parquet, "ged231.parquet is not a Parquet file"),
    (utf16, "ged231_utf16.csv is UTF-16 text; save it as UTF-8"),
    (latin1_header, "ged231_latin1.csv is not UTF-8 text"),
    (latin1_deep, "ged231_latin1_deep.csv holds text that is not UTF-8"),
    (folder, "is a folder, not a file; pass the event files in it"),
    (symlink_loop, "loop.csv is a symbolic link loop"),
    (dangling_symlink, "never_there.csv, which does not exist"),
    (mixed_header, "ged231_mixed.csv mixes UCDP columns"),
    (empty_file, "ged231_empty.csv is empty: expected a header row"),
    (two_csvs_in_a_zip, "zip file two.zip must hold exactly one .csv; found 2"),
    (wrong_suffix, "cannot read events file ged231.txt: expected one of"),
    (misaligned_row, "line 5 has 3 fields"),
    (semicolons, "The header looks separated by semicolons"),
]


def one_line_failure(result, expected: str) -> str:
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    assert expected in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(("make", "expected"), BAD_FILES, ids=[m.__name__ for m, _ in BAD_FILES])
def test_a_bad_file_gives_one_line_and_writes_nothing(tmp_path, make, expected) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["ingest", str(make(tmp_path)), "--out", str(out)])
    line = one_line_failure(result, expected)
    assert line.startswith("civrisk ingest: ")
    assert not out.exists()


def test_a_bad_file_among_good_ones_leaves_an_existing_store_as_it_was(tmp_path) -> None:
    out = tmp_path / "out"
    good = write_ucdp_csv(tmp_path / "ged231_good.csv", [{}])
    assert runner.invoke(app, ["ingest", str(good), "--out", str(out)]).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    newer = write_ucdp_csv(tmp_path / "ged241_new.csv", [{"id": "5"}])
    result = runner.invoke(app, ["ingest", str(newer), str(truncated_gzip(tmp_path)), "--out", str(out)])
    one_line_failure(result, "is not a complete gzip file")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_out_that_is_a_file_is_refused(tmp_path) -> None:
    out = tmp_path / "events.parquet"
    out.write_bytes(b"not a folder")
    result = runner.invoke(
        app, ["ingest", str(write_ucdp_csv(tmp_path / "ged231.csv", [{}])), "--out", str(out)]
    )
    one_line_failure(result, f"events store {out} is a file; expected a folder")
    assert out.read_bytes() == b"not a folder"


def test_out_that_cannot_be_written_is_refused(tmp_path) -> None:
    out = Path("/sys/civrisk-events-test")  # /sys refuses new folders, even to root
    try:
        out.mkdir()
    except OSError:
        pass
    else:
        out.rmdir()
        pytest.skip("/sys accepts new folders here")
    result = runner.invoke(
        app, ["ingest", str(write_ucdp_csv(tmp_path / "ged231.csv", [{}])), "--out", str(out)]
    )
    one_line_failure(result, f"cannot create the events store folder {out}")


def test_bad_boundaries_are_one_line(tmp_path) -> None:
    bad = tmp_path / "regions.geojson"
    bad.write_text("{not json", encoding="utf-8")
    path = write_ucdp_csv(tmp_path / "ged231.csv", [{}])
    result = runner.invoke(
        app, ["ingest", str(path), "--out", str(tmp_path / "out"), "--boundaries", str(bad)]
    )
    one_line_failure(result, "regions.geojson is not a GeoJSON file")
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------------------------
# Inputs that look odd but are valid: they must be read
# ----------------------------------------------------------------------------------------------


def test_a_5_mb_text_field_is_read(tmp_path) -> None:
    path = write_ucdp_csv(tmp_path / "ged231_long.csv", [{}, {"source_article": "x" * 5_000_000}, {}])
    result = runner.invoke(app, ["ingest", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "rows read 3; kept 3; quarantined 0" in result.output


def test_an_acled_export_without_id_and_admin1_columns_is_read(tmp_path) -> None:
    path = write_acled_csv(
        tmp_path / "acled_bfa.csv", [{"event_date": "2021-05-03"}, {"event_date": "2021-05-04"}]
    )
    frame = pd.read_csv(path, dtype=str).drop(columns=["event_id_cnty", "admin1"])
    frame.to_csv(path, index=False)
    assert "event_id_cnty" not in pd.read_csv(path, nrows=0).columns and len(ACLED) > len(frame.columns)
    out = tmp_path / "out"
    result = runner.invoke(app, ["ingest", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    events = pd.read_parquet(out / "events.parquet")
    assert events["event_id"].str.startswith("acled:syn-").all() and len(events) == 2
    assert events["admin1"].isna().all()


def test_zip_gzip_and_parquet_of_the_same_rows_agree(tmp_path) -> None:
    text = good_csv_text(tmp_path)
    gz = tmp_path / "ged231_g.csv.gz"
    gz.write_bytes(gzip.compress(text.encode("utf-8")))
    zipped = tmp_path / "ged231_z.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("ged231_z.csv", text)
    pq = tmp_path / "ged231_p.parquet"
    pd.read_csv(io.StringIO(text), dtype=str).to_parquet(pq)
    counts = []
    for path in (gz, zipped, pq):
        out = tmp_path / f"out_{path.suffix}"
        result = runner.invoke(app, ["ingest", str(path), "--out", str(out)])
        assert result.exit_code == 0, result.output
        counts.append(len(pd.read_parquet(out / "events.parquet")))
    assert counts == [3, 3, 3]
