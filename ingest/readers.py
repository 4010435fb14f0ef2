"""Open an events file as a table of text: .csv, .csv.gz, .zip holding one CSV, or .parquet.

Every column is read as text (``<NA>`` for an empty field) so that each layout parses its own values and
a bad value becomes a quarantined row rather than a failed read. An HXL hashtag row under the header
(``#date +start``, as on HDX) is recognised and skipped.
"""

from __future__ import annotations

import csv
import errno
import io
import os
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


BLOCK_SIZES = (1 << 20, 16 << 20, 256 << 20, (1 << 31) - 1)
"""pyarrow CSV block sizes tried in turn: a quoted field longer than a block ("straddling object") makes
pyarrow fail, so a file with a 5 MB text field is re-read with larger blocks (small blocks are faster)."""


def check_input(path: Path) -> None:
    """Raise FileNotFoundError or ReadError unless ``path`` is a readable regular file (or a link to one)."""
    name = str(path)
    if path.is_file():
        if not os.access(path, os.R_OK):
            raise ReadError(f"events file {name} cannot be read (permission denied); make it readable")
        return
    if path.is_dir():
        raise ReadError(
            f"events file {name} is a folder, not a file; pass the event files in it (e.g. {name}/*.csv.gz)"
        )
    if path.is_symlink():
        try:
            os.stat(path)
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise ReadError(
                    f"events file {name} is a symbolic link loop (it leads back to itself); "
                    "point it at a real file"
                ) from None
        raise ReadError(
            f"events file {name} is a symbolic link to {os.readlink(path)}, which does not exist; "
            "point it at a real file"
        )
    if path.exists():
        raise ReadError(f"events file {name} is not a regular file (a device, socket or pipe)")
    raise FileNotFoundError(f"events file {name} does not exist")


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
        return normalise_header(_parquet_names(path))
    return normalise_header(_raw_header(path, kind))


def read_table(path: str | Path, columns: Sequence[str] | None = None) -> RawTable:
    """Return every row of an events file as text, skipping an HXL hashtag row under the header.

    ``columns`` (normalised names) limits what is converted to pandas; absent ones are not an error
    here (layout detection checks required columns).
    """
    path = Path(path)
    kind = file_kind(path)
    raw_names = _raw_header(path, kind) if kind != "parquet" else _parquet_names(path)
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
    for size in BLOCK_SIZES:
        try:
            with _open_binary(path, kind) as fh:
                table = pa_csv.read_csv(
                    fh,
                    read_options=pa_csv.ReadOptions(block_size=size),
                    parse_options=_PARSE,
                    convert_options=_convert(header, keep),
                )
            return _as_text(table.to_pandas())
        except pa.ArrowInvalid as err:
            if "straddl" in str(err) and size != BLOCK_SIZES[-1]:
                continue  # a field longer than the block: read again with larger blocks
            raise _parse_error(path, kind, header, err, size) from err
        except OSError as err:  # pyarrow raises OSError for a damaged or truncated gzip stream
            raise _stream_error(path, kind, err) from err
    raise AssertionError("unreachable: the last block size returns or raises")


def _parse_error(path: Path, kind: str, header: list[str], err: Exception, size: int) -> ReadError:
    """Return the ReadError for a CSV pyarrow could not parse: bad rows, non-UTF-8 text or a huge field."""
    text = str(err)
    if "invalid UTF8" in text or "invalid utf8" in text.lower():
        return ReadError(
            f"events file {path.name} holds text that is not UTF-8 ({text.splitlines()[0]}); save it as "
            "UTF-8 (e.g. 'CSV UTF-8' in Excel) and ingest that"
        )
    if "straddl" in text:
        return ReadError(
            f"events file {path.name} has a quoted field longer than {size:,} bytes, or a quote that is "
            "never closed; check the quoting of its text fields"
        )
    return ReadError(
        f"cannot parse events file {path.name} as CSV with {len(header)} columns: "
        f"{_first_bad_rows(path, kind, header) or text}. Expected UTF-8, comma-separated text with one "
        "header row and the same number of fields in every row; fix or remove those rows."
    )


def _stream_error(path: Path, kind: str, err: OSError) -> ReadError:
    """Return the ReadError for a file whose bytes end early or do not decompress."""
    if kind == "csv.gz" and "truncated" in str(err).lower():
        return ReadError(
            f"events file {path.name} is not a complete gzip file ({err}): it was cut short while copying "
            "or downloading; copy or download it again"
        )
    if kind == "csv.gz":
        return ReadError(
            f"events file {path.name} cannot be decompressed as gzip ({err}): it is damaged, or not "
            "gzipped (then rename it to .csv)"
        )
    return ReadError(f"cannot read events file {path.name}: {err}")


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
                read_options=pa_csv.ReadOptions(use_threads=False, block_size=BLOCK_SIZES[-1]),
                parse_options=parse,
                convert_options=_convert(header, None),
            )
    except (pa.ArrowInvalid, OSError) as err:  # not a field-count problem: report that
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
        with _open_binary(path, kind) as raw:
            head = raw.read(4)
        # a byte-order mark, or NUL bytes between ASCII letters: UTF-16 (a CSV header never holds NUL)
        if head[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in head:
            raise ReadError(
                f"events file {path.name} is UTF-16 text; save it as UTF-8 (e.g. 'CSV UTF-8' in Excel, or "
                f"iconv -f UTF-16 -t UTF-8 {path.name}) and ingest that"
            )
        with _open_text(path, kind) as fh:
            return next(csv.reader(fh))
    except StopIteration:
        raise ReadError(f"events file {path.name} is empty: expected a header row") from None
    except UnicodeDecodeError as err:
        raise ReadError(
            f"events file {path.name} is not UTF-8 text (byte {err.object[err.start : err.start + 1]!r} at "
            f"position {err.start}); save it as UTF-8 (e.g. 'CSV UTF-8' in Excel) and ingest that"
        ) from err
    except (OSError, zipfile.BadZipFile) as err:
        if isinstance(err, OSError) and kind == "csv.gz":
            raise _stream_error(path, kind, err) from err
        raise ReadError(f"cannot read the header of events file {path.name}: {err}") from err
    except csv.Error as err:
        raise ReadError(f"cannot read the header of events file {path.name}: {err}") from err


def _parquet_names(path: Path) -> list[str]:
    """Return a parquet file's column names; raise ReadError when the file is not parquet."""
    try:
        return list(pq.read_schema(path).names)
    except (pa.ArrowInvalid, OSError) as err:
        raise ReadError(
            f"events file {path.name} is not a Parquet file ({str(err).split('. ')[0]}); rename it to "
            "what it holds (.csv, .csv.gz, .zip) or export it again as Parquet"
        ) from err


def _read_parquet(path: Path, keep: list[str] | None) -> pd.DataFrame:
    """Read a parquet file and turn every column into text, as a CSV of the same table would read."""
    try:
        return _as_text(pd.read_parquet(path, columns=keep))
    except (pa.ArrowInvalid, OSError) as err:
        raise ReadError(f"cannot read Parquet events file {path.name}: {err}; export it again") from err


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
