"""Row checks for staged events: each rejected row gets one reason (the first that applies) and a detail.

A *staged* frame is what a source module (``ingest.ucdp``, ``ingest.acled``) makes of a file: canonical
columns parsed as far as they parse (NaT / NaN where a value does not), plus the raw text of the values a
check may quote (``_raw_<column>``). ``find_problems`` judges every row at once (vectorised); nothing is
dropped here: the pipeline splits kept and quarantined rows and asserts that they add up.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from civrisk.contracts import QUARANTINE, validate
from ingest.plausibility import (
    END_TOLERANCE,
    FIRST_YEARS,
    INT64_MAX,
    PRECISION_SCALES,
    START_TOLERANCE,
    default_max_deaths,
    source_prefix,
)

REASONS = (
    "missing_id",
    "unparseable_date",
    "date_before_source",
    "date_after_release",
    "non_numeric_deaths",
    "negative_deaths",
    "deaths_above_ceiling",
    "best_outside_low_high",
    "end_before_start",
    "precision_out_of_range",
    "unknown_violence_type",
    "unknown_country",
    "unparseable_coordinates",
    "coordinates_outside_country",
    "duplicate_id",
)
"""Quarantine reasons in the order they are checked; a row carries the first that applies."""

DEATH_COLUMNS = ("deaths_best", "deaths_low", "deaths_high", "deaths_civilians")
RAW_PREFIX = "_raw_"


# ----------------------------------------------------------------------------------------------
# Parsing: a value that does not parse becomes NaT / NaN, and the raw text stays for the detail.
# ----------------------------------------------------------------------------------------------


def parse_dates(text: pd.Series, formats: tuple[str, ...]) -> pd.Series:
    """Return datetimes (day resolution, NaT where no format fits), trying ``formats`` in order."""
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    todo = text.notna()
    for fmt in formats:
        if not todo.any():
            break
        parsed = pd.to_datetime(text[todo], format=fmt, errors="coerce")
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_localize(None)
        out.loc[parsed.index] = parsed.astype("datetime64[ns]")
        todo = todo & out.isna()
    return out.dt.normalize()


def parse_counts(text: pd.Series) -> pd.Series:
    """Return numbers as floats: NaN where the text is empty or not a number ('15960.0' reads as 15960)."""
    arr = pa.array(text, type=pa.string(), from_pandas=True)
    # pyarrow casts strictly: blank out what is not a plain decimal number first (vectorised, no 'inf')
    ok = pc.fill_null(pc.match_substring_regex(arr, _NUMBER), False)
    clean = pc.if_else(ok, pc.utf8_trim_whitespace(arr), pa.scalar(None, pa.string()))
    values = pc.cast(clean, pa.float64()).to_numpy(zero_copy_only=False)
    return pd.Series(values, index=text.index, dtype="float64")


_NUMBER = r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$"


def parse_codes(text: pd.Series) -> pd.Series:
    """Return whole-number codes (precision codes, UCDP's '1.0') as Int64, <NA> where not a whole number."""
    values = parse_counts(text)
    whole = values.where(np.isfinite(values) & (values == np.floor(values)))
    return whole.astype("Int64")


def native_id(text: pd.Series) -> pd.Series:
    """Return published ids as text, with float-written ids ('15960.0', HDX) as the integer they hold."""
    ids = text.astype("string").str.strip()
    return ids.str.replace(r"^(\d+)\.0*$", r"\1", regex=True).mask(ids == "")


# ----------------------------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------------------------


def find_problems(staged: pd.DataFrame, max_deaths: int | None = None) -> pd.DataFrame:
    """Return ``reason`` and ``detail`` per row of ``staged`` (both <NA> for rows that pass every check).

    Expects the staged columns named in the module docstring plus ``iso3``, ``inside_country``
    (bool/NA from ``ingest.country_check.points_in_country``) and, per row, ``_release_end`` (latest
    plausible date) with ``_release_basis`` (what it is, for the detail). ``max_deaths``: the death
    ceiling (default: the ``max_deaths_per_event`` setting's default). Duplicate ids are judged
    separately by ``find_duplicates``. Details are only formatted for the rows that fail.
    """
    reason = np.full(len(staged), None, dtype=object)
    detail = np.full(len(staged), None, dtype=object)
    ceiling = min(default_max_deaths() if max_deaths is None else int(max_deaths), INT64_MAX)
    for name, mask, describe in _checks(staged, ceiling):
        failing = mask.fillna(False).to_numpy(dtype=bool)
        if not failing.any():
            continue
        text = describe(staged.loc[failing]).astype("string").to_numpy(dtype=object)
        fresh = pd.isna(reason)
        first = failing & fresh
        reason[first] = name
        detail[first] = text[first[failing]]
        # a row with several problems names the later ones in its detail
        later = np.flatnonzero(failing & ~fresh & (reason != name))
        detail[later] = [f"{d}; also {name}" for d in detail[later]]
    return pd.DataFrame(
        {"reason": pd.array(reason, dtype="string"), "detail": pd.array(detail, dtype="string")},
        index=staged.index,
    )


Describe = Callable[[pd.DataFrame], pd.Series]


def _checks(staged: pd.DataFrame, ceiling: int) -> list[tuple[str, pd.Series, Describe]]:
    """Return (reason, failing-rows mask, detail formatter) in the order of ``REASONS``."""
    checks: list[tuple[str, pd.Series, Describe]] = [
        ("missing_id", staged["event_id"].isna(), lambda r: _const(r, "the row has no event id")),
    ]
    for col in ("date_start", "date_end"):
        checks.append(("unparseable_date", staged[col].isna(), _quoter(col, "is not a date")))
    checks += _date_checks(staged)
    for col in DEATH_COLUMNS:
        value = staged[col]
        not_whole = value.isna() | (value != np.floor(value))
        checks.append(("non_numeric_deaths", not_whole, _quoter(col, "is not a whole number")))
    for col in DEATH_COLUMNS:
        checks.append(("negative_deaths", staged[col] < 0, _quoter(col, "is negative")))
    for col in DEATH_COLUMNS:
        # compared as floats: 9223372036854775807 parses as 2**63, which no int64 holds
        too_big = staged[col] >= float(INT64_MAX)
        above = (staged[col] > ceiling) & ~too_big
        checks.append(("deaths_above_ceiling", too_big, _quoter(col, "does not fit a 64-bit integer")))
        what = f"is above the ceiling of {ceiling:,} deaths per event (setting max_deaths_per_event)"
        checks.append(("deaths_above_ceiling", above, _quoter(col, what)))
    best, low, high = staged["deaths_best"], staged["deaths_low"], staged["deaths_high"]
    checks.append(
        (
            "best_outside_low_high",
            (best < low) | (best > high),
            lambda r: (
                "best "
                + _num(r["deaths_best"])
                + " is outside low "
                + _num(r["deaths_low"])
                + " .. high "
                + _num(r["deaths_high"])
            ),
        )
    )
    checks.append(
        (
            "end_before_start",
            staged["date_end"] < staged["date_start"],
            lambda r: "date_end " + _day(r["date_end"]) + " is before date_start " + _day(r["date_start"]),
        )
    )
    checks += _precision_checks(staged)
    checks.append(
        (
            "unknown_violence_type",
            staged["violence_type"].isna(),
            lambda r: _quote("violence type", _raw(r, "violence_type"), "is not a known type"),
        )
    )
    checks.append(
        (
            "unknown_country",
            staged["iso3"].isna(),
            lambda r: _quote("country", r["country"].astype("string"), "matches no ISO 3166 country"),
        )
    )
    lat, lon = staged["latitude"], staged["longitude"]
    raw_lat, raw_lon = _raw(staged, "latitude"), _raw(staged, "longitude")
    bad_coord = (raw_lat.notna() & (lat.isna() | (lat.abs() > 90))) | (
        raw_lon.notna() & (lon.isna() | (lon.abs() > 180))
    )
    checks.append(
        (
            "unparseable_coordinates",
            bad_coord | (raw_lat.isna() != raw_lon.isna()),
            lambda r: (
                "latitude "
                + _raw(r, "latitude").fillna("<empty>")
                + ", longitude "
                + _raw(r, "longitude").fillna("<empty>")
                + " is not a point in degrees"
            ),
        )
    )
    checks.append(
        (
            "coordinates_outside_country",
            staged["inside_country"] == False,  # noqa: E712  (NA = no polygon known: not a problem)
            lambda r: (
                "point (lat "
                + _num(r["latitude"], 4)
                + ", lon "
                + _num(r["longitude"], 4)
                + ") lies outside "
                + r["iso3"].astype("string").fillna("")
                + " ("
                + r["country"].astype("string").fillna("")
                + ")"
            ),
        )
    )
    return checks


def _date_checks(staged: pd.DataFrame) -> list[tuple[str, pd.Series, Describe]]:
    """Return the checks of dates before the source's first year or after the file's release."""
    prefix = source_prefix(staged["source"])
    first = pd.to_datetime(prefix.map({p: f"{y}-01-01" for p, y in FIRST_YEARS.items()}).astype(object))
    checks: list[tuple[str, pd.Series, Describe]] = [
        (
            "date_before_source",
            staged["date_start"] < first,
            lambda r: (
                "date_start "
                + _day(r["date_start"])
                + " is before "
                + source_prefix(r["source"]).map(lambda p: f"{p.upper()}'s first year {FIRST_YEARS[p]}")
            ),
        )
    ]
    if "_release_end" not in staged.columns:
        return checks
    end = staged["_release_end"]
    for col, tolerance in (("date_start", START_TOLERANCE), ("date_end", END_TOLERANCE)):
        late = staged[col] > end + tolerance
        checks.append(("date_after_release", late, _late(col, tolerance)))
    return checks


def _late(col: str, tolerance: pd.Timedelta) -> Describe:
    """Return a formatter saying how a date lies after the file's latest plausible date."""

    def describe(rows: pd.DataFrame) -> pd.Series:
        return (
            f"{col} "
            + _day(rows[col])
            + f" is more than {tolerance.days} day{'s' if tolerance.days > 1 else ''} after "
            + _day(rows["_release_end"])
            + ", "
            + rows["_release_basis"].astype("string").fillna("")
        )

    return describe


def _precision_checks(staged: pd.DataFrame) -> list[tuple[str, pd.Series, Describe]]:
    """Return the checks of precision codes that are present but not on their source's codebook scale."""
    prefix = source_prefix(staged["source"])
    checks: list[tuple[str, pd.Series, Describe]] = []
    for col in ("date_precision", "geo_precision"):
        raw = _raw(staged, col)
        code = parse_codes(raw)
        low = prefix.map({f: cols[col][0] for f, cols in PRECISION_SCALES.items()}).astype("Float64")
        high = prefix.map({f: cols[col][1] for f, cols in PRECISION_SCALES.items()}).astype("Float64")
        off = (code.isna() | (code < low) | (code > high)).fillna(True)
        checks.append(("precision_out_of_range", raw.notna() & low.notna() & off, _off_scale(col)))
    return checks


def _off_scale(col: str) -> Describe:
    """Return a formatter quoting a precision value with its published name and codebook scale."""

    def describe(rows: pd.DataFrame) -> pd.Series:
        prefix = source_prefix(rows["source"])
        name = prefix.map({f: cols[col][2] for f, cols in PRECISION_SCALES.items()}).astype("string")
        scale = prefix.map({f: f"{cols[col][0]}..{cols[col][1]}" for f, cols in PRECISION_SCALES.items()})
        value = _raw(rows, col).str.slice(0, 20)
        return name + " '" + value + "' is not a code " + scale.astype("string") + " of its codebook"

    return describe


def find_duplicates(event_id: pd.Series, source_file: pd.Series, source_row: pd.Series) -> pd.Series:
    """Return, per row, a detail naming the earlier row whose event id it repeats (<NA> for first rows)."""
    dup = event_id.duplicated(keep="first") & event_id.notna()
    detail = pd.Series(pd.NA, index=event_id.index, dtype="string")
    if not dup.any():
        return detail
    first_pos = ~event_id.duplicated(keep="first") & event_id.notna()
    where = pd.DataFrame(
        {"file": source_file[first_pos].astype("string"), "row": source_row[first_pos]},
    ).set_index(event_id[first_pos])
    ids = event_id[dup]
    detail.loc[dup] = (
        "event id "
        + ids
        + " duplicates "
        + where["file"].reindex(ids).to_numpy()
        + " row "
        + where["row"].reindex(ids).astype("string").to_numpy()
        + " (the first is kept)"
    )
    return detail


def quarantine_table(staged: pd.DataFrame, reason: pd.Series, detail: pd.Series) -> pd.DataFrame:
    """Return the QUARANTINE table for the rows of ``staged`` that carry a reason."""
    bad = reason.notna()
    table = pd.DataFrame(
        {
            "source_file": staged.loc[bad, "source_file"].astype("string"),
            "source_row": staged.loc[bad, "source_row"].astype("int64"),
            "reason": reason[bad].astype("string"),
            "detail": detail[bad].astype("string"),
        }
    ).reset_index(drop=True)
    return validate(table, QUARANTINE, "ingest.quarantine")


def empty_quarantine() -> pd.DataFrame:
    """Return a QUARANTINE table without rows."""
    return pd.DataFrame(
        {
            "source_file": pd.Series(dtype="string"),
            "source_row": pd.Series(dtype="int64"),
            "reason": pd.Series(dtype="string"),
            "detail": pd.Series(dtype="string"),
        }
    )


def _raw(staged: pd.DataFrame, col: str) -> pd.Series:
    name = RAW_PREFIX + col
    if name in staged.columns:
        return staged[name].astype("string")
    return staged[col].astype("string")


def _quoter(col: str, what: str) -> Describe:
    """Return a formatter quoting the raw value of ``col`` in the failing rows."""

    def describe(rows: pd.DataFrame) -> pd.Series:
        return _quote(col, _raw(rows, col), what)

    return describe


def _const(rows: pd.DataFrame, text: str) -> pd.Series:
    return pd.Series(text, index=rows.index, dtype="string")


def _quote(col: str, raw: pd.Series, what: str) -> pd.Series:
    shown = col + " '" + raw.str.slice(0, 60) + "' " + what
    return shown.fillna(col + " is empty")


def _num(values: pd.Series, decimals: int = 0) -> pd.Series:
    if decimals == 0:
        return values.round().astype("Int64").astype("string").fillna("<NA>")
    return values.round(decimals).astype("string").fillna("<NA>")


def _day(values: pd.Series) -> pd.Series:
    return values.dt.strftime("%Y-%m-%d").astype("string").fillna("<NA>")
