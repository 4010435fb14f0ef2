"""Open an events file as a table of text: .csv, .csv.gz, .zip holding one CSV, or .parquet.

Every column is read as text (``<NA>`` for an empty field) so that each layout parses its own values and
a bad value becomes a quarantined row rather than a failed read. An HXL hashtag row under the header
(``#date +start``, as on HDX) is recognised and skipped.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from ingest.layouts import normalise_header

SUPPORTED_SUFFIXES = (".csv", ".csv.gz", ".zip", ".parquet")


class ReadError(ValueError):
    """An events file cannot be opened or parsed as a table."""


@dataclass(frozen=True)
class RawTable:
    """A file's rows as text, with the 1-based row number of each row in the file (header = row 0)."""

    path: Path
    frame: pd.DataFrame  # normalised column names; every column text with <NA> for empty fields
    source_row: np.ndarray  # int64, aligned with ``frame``
    hxl_row_skipped: bool


def file_kind(path: str | Path) -> str:
    """Return "csv", "csv.gz", "zip" or "parquet" from the file name; raise ReadError otherwise."""
    name = Path(path).name.lower()
    for kind in ("csv.gz", "csv", "zip", "parquet"):
        if name.endswith("." + kind):
            return kind
    raise ReadError(
        f"cannot read events file {Path(path).name}: expected one of {list(SUPPORTED_SUFFIXES)} "
        "(a .zip must hold exactly one .csv)"
    )


def read_header(path: str | Path) -> list[str]:
    """Return a file's normalised column names without reading its rows."""
    path = Path(path)
    kind = file_kind(path)
    if kind == "parquet":
        return normalise_header(pq.read_schema(path).names)
    return normalise_header(_raw_header(path, kind))


def read_table(path: str | Path, columns: Sequence[str] | None = None) -> RawTable:
    """Return every row of an events file as text, skipping an HXL hashtag row under the header.

    ``columns`` (normalised names) limits what is converted to pandas; absent ones are not an error
    here (layout detection checks required columns).
    """
    path = Path(path)
    kind = file_kind(path)
    raw_names = _raw_header(path, kind) if kind != "parquet" else pq.read_schema(path).names
    names = dict(zip(normalise_header(raw_names), raw_names, strict=True))
    keep = None if columns is None else [names[c] for c in dict.fromkeys(columns) if c in names]
    frame = _read_parquet(path, keep) if kind == "parquet" else _read_csv(path, kind, raw_names, keep)
    frame.columns = normalise_header(list(frame.columns))
    dup = sorted({c for c in frame.columns if list(frame.columns).count(c) > 1})
    if dup:
        raise ReadError(f"events file {path.name} repeats columns {dup}; expected each column once")
    rows = np.arange(1, len(frame) + 1, dtype="int64")
    hxl = len(frame) > 0 and is_hxl_row(frame.iloc[0])
    if hxl:
        frame = frame.iloc[1:].reset_index(drop=True)
        rows = rows[1:]
    return RawTable(path=path, frame=frame, source_row=rows, hxl_row_skipped=hxl)


def is_hxl_row(row: pd.Series) -> bool:
    """Return True when a row is an HXL hashtag row: every non-empty cell is a ``#tag`` (at least one)."""
    cells = [str(v).strip() for v in row.tolist() if not pd.isna(v) and str(v).strip()]
    return bool(cells) and all(_HXL_TAG.fullmatch(c) for c in cells)


_HXL_TAG = re.compile(r"#[a-z][a-z0-9_]*(\s*\+\s*[a-z][a-z0-9_]*)*", re.IGNORECASE)


def _read_csv(path: Path, kind: str, header: list[str], keep: list[str] | None) -> pd.DataFrame:
    try:
        with _open_binary(path, kind) as fh:
            table = pa_csv.read_csv(fh, parse_options=_PARSE, convert_options=_convert(header, keep))
    except pa.ArrowInvalid as err:
        raise ReadError(
            f"cannot parse events file {path.name} as CSV with {len(header)} columns: "
            f"{_first_bad_rows(path, kind, header) or err}. Expected UTF-8, comma-separated text with one "
            "header row and the same number of fields in every row; fix or remove those rows."
        ) from err
    return _as_text(table.to_pandas())


_PARSE = pa_csv.ParseOptions(newlines_in_values=True)


def _convert(header: list[str], keep: list[str] | None) -> pa_csv.ConvertOptions:
    # every column as text: a bad value then quarantines its row instead of failing the read
    return pa_csv.ConvertOptions(
        column_types={name: pa.string() for name in header},
        null_values=[""],
        strings_can_be_null=True,
        include_columns=keep,
    )


def _first_bad_rows(path: Path, kind: str, header: list[str], limit: int = 3) -> str:
    """Return where the first rows with the wrong number of fields are (a single-threaded re-read)."""
    bad: list[str] = []

    def note(row: pa_csv.InvalidRow) -> str:
        if len(bad) < limit:
            bad.append(f"line {row.number} has {row.actual_columns} fields: {row.text[:80]!r}")
        return "skip"

    parse = pa_csv.ParseOptions(newlines_in_values=True, invalid_row_handler=note)
    try:
        with _open_binary(path, kind) as fh:
            pa_csv.read_csv(
                fh,
                read_options=pa_csv.ReadOptions(use_threads=False),
                parse_options=parse,
                convert_options=_convert(header, None),
            )
    except pa.ArrowInvalid as err:  # not a field-count problem (e.g. invalid UTF-8): report that
        return str(err)
    return "; ".join(bad)


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with every column as pandas text, missing where empty (typed columns formatted)."""
    out = {}
    for col in frame.columns:
        s = frame[col]
        if isinstance(s.dtype, pd.StringDtype):
            out[col] = s  # already text (pandas >= 3 reads pyarrow strings as such): no copy
            continue
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            text = s.dt.strftime("%Y-%m-%d %H:%M:%S").astype("string")
        else:
            text = s.astype("string").mask(s.isna())
        out[col] = text.mask(text == "")
    return pd.DataFrame(out, columns=frame.columns)


def _raw_header(path: Path, kind: str) -> list[str]:
    try:
        with _open_text(path, kind) as fh:
            return next(csv.reader(fh))
    except StopIteration:
        raise ReadError(f"events file {path.name} is empty: expected a header row") from None
    except (OSError, UnicodeDecodeError, zipfile.BadZipFile, csv.Error) as err:
        raise ReadError(f"cannot read the header of events file {path.name}: {err}") from err


def _read_parquet(path: Path, keep: list[str] | None) -> pd.DataFrame:
    """Read a parquet file and turn every column into text, as a CSV of the same table would read."""
    return _as_text(pd.read_parquet(path, columns=keep))


@contextmanager
def _open_binary(path: Path, kind: str) -> Iterator[IO[bytes]]:
    if kind == "zip":
        with zipfile.ZipFile(path) as zf, zf.open(_zip_member(path, zf)) as member:
            yield member
    else:
        # pyarrow's native streams decompress gzip faster than Python's gzip module
        with pa.input_stream(str(path), compression="gzip" if kind == "csv.gz" else None) as fh:
            yield fh


@contextmanager
def _open_text(path: Path, kind: str) -> Iterator[IO[str]]:
    with _open_binary(path, kind) as raw:
        # utf-8-sig drops a byte-order mark from the first column name
        yield io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def _zip_member(path: Path, zf: zipfile.ZipFile) -> str:
    members = [n for n in zf.namelist() if n.lower().endswith(".csv") and not n.startswith("__MACOSX/")]
    if len(members) != 1:
        raise ReadError(
            f"zip file {path.name} must hold exactly one .csv; found {len(members)}: {members[:5]}"
        )
    return members[0]
