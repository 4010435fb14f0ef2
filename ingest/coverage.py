"""Source coverage: per source and country, the window in which "no event" means "no violence".

Observed coverage is the span of the events a source has for a country whose date is *precise* (first
``date_start`` to last ``date_end`` of those): an event dated only to a month or a quarter (UCDP
``date_prec`` 5 spanning January to March, ACLED ``time_precision`` 3) says nothing about whether the
source watched January, so it does not stretch the window (``precise_dates``). A user may declare a window
instead (CSV: source, iso3, first_date, last_date), e.g. when a
source covered a country before its first event or after its last: a declared window overrides the observed
one for that source and country, and declared windows without events count too (zero events, covered).

A week (ISO week, Monday..Sunday) is covered when all seven days lie inside the window of at least one
source covering the country. Partly covered weeks are not covered: a count over part of a week would look
like a quiet week, which is the error coverage exists to prevent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from civrisk.contracts import COVERAGE, validate
from ingest.plausibility import source_prefix

DECLARED_COLUMNS = ("source", "iso3", "first_date", "last_date")

PRECISE_CODES = {"ucdp": 2, "acled": 2}
"""Highest date-precision code that dates an event to within about a week: UCDP ``date_prec`` 1 (the day)
and 2 (2-6 days); ACLED ``time_precision`` 1 (the day) and 2 (the week; 3 is the month)."""

PRECISE_WINDOW_DAYS = 7
"""An event whose window (``date_start`` .. ``date_end``) spans at most this many days is precise too (UCDP:
whatever its code; any source without a code)."""


def _dates(values: pd.Series, what: str) -> pd.Series:
    """Return ``values`` as datetime64 (midnight), raising with the first bad rows named."""
    parsed = pd.to_datetime(values, errors="coerce", format="ISO8601")
    bad = parsed.isna() & values.notna()
    if bad.any():
        rows = [int(i) for i in np.flatnonzero(bad.to_numpy())[:3] + 1]
        raise ValueError(
            f"{what}: {int(bad.sum())} values are not dates (expected YYYY-MM-DD), e.g. data rows {rows}: "
            f"{values[bad].head(3).tolist()}"
        )
    return parsed.dt.tz_localize(None) if parsed.dt.tz is not None else parsed


def validate_declared(declared: pd.DataFrame, where: str = "declared coverage") -> pd.DataFrame:
    """Return a clean declared-coverage frame (source, iso3, first_date, last_date); raise on any problem."""
    missing = [c for c in DECLARED_COLUMNS if c not in declared.columns]
    if missing:
        raise ValueError(
            f"{where} lacks columns {missing}; expected columns {list(DECLARED_COLUMNS)} "
            f"(got {list(declared.columns)})"
        )
    frame = declared.loc[:, list(DECLARED_COLUMNS)].copy()
    for col in ("source", "iso3"):
        frame[col] = frame[col].astype("string").str.strip()
    nulls = {c: int(frame[c].isna().sum()) for c in DECLARED_COLUMNS if frame[c].isna().any()}
    if nulls:
        raise ValueError(f"{where}: empty cells in required columns {nulls}; every row needs all four values")
    bad_iso = ~frame["iso3"].str.fullmatch(r"[A-Z]{3}")
    if bad_iso.any():
        rows = [int(i) for i in np.flatnonzero(bad_iso.to_numpy())[:3] + 1]
        raise ValueError(
            f"{where}: iso3 must be three capital letters (ISO 3166-1 alpha-3), got "
            f"{frame.loc[bad_iso, 'iso3'].head(3).tolist()} in data rows {rows}"
        )
    frame["first_date"] = _dates(frame["first_date"], f"{where} column first_date")
    frame["last_date"] = _dates(frame["last_date"], f"{where} column last_date")
    reversed_ = frame["last_date"] < frame["first_date"]
    if reversed_.any():
        rows = [int(i) for i in np.flatnonzero(reversed_.to_numpy())[:3] + 1]
        raise ValueError(f"{where}: last_date before first_date in data rows {rows}")
    dup = frame.duplicated(["source", "iso3"], keep=False)
    if dup.any():
        pairs = frame.loc[dup, ["source", "iso3"]].drop_duplicates().head(3).to_dict("records")
        raise ValueError(
            f"{where}: more than one window for {pairs}; declare one window per source and country"
        )
    return frame.reset_index(drop=True)


def read_declared(path: str | Path) -> pd.DataFrame:
    """Return the declared coverage in a user CSV (columns source, iso3, first_date, last_date), validated."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"declared coverage file {path} does not exist")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    return validate_declared(frame, where=f"declared coverage file {path}")


def precise_dates(events: pd.DataFrame) -> np.ndarray:
    """Return, per event, whether its date is precise enough to show what its source covered.

    UCDP: ``date_prec`` <= 2, or a window of at most PRECISE_WINDOW_DAYS days; ACLED: ``time_precision``
    1-2 (ACLED writes one date even for a month, so its window says nothing); a missing code: the window.
    """
    window = (events["date_end"] - events["date_start"]).dt.days.to_numpy() + 1
    short = np.asarray(window <= PRECISE_WINDOW_DAYS, dtype=bool)
    if "date_precision" not in events.columns:
        return short
    code = pd.to_numeric(events["date_precision"], errors="coerce").astype("Float64")
    family = source_prefix(events["source"])
    highest = family.map(PRECISE_CODES).astype("Float64")
    by_code = (code <= highest).fillna(False).to_numpy(dtype=bool)
    known = (code.notna() & highest.notna()).to_numpy(dtype=bool)
    ucdp = (family == "ucdp").fillna(False).to_numpy(dtype=bool)
    return np.where(known & ~ucdp, by_code, by_code | short)


def compute_coverage(events: pd.DataFrame, declared: pd.DataFrame | None = None) -> pd.DataFrame:
    """Return the COVERAGE table: the span of precise events per source and iso3; ``declared`` overrides."""
    need = ["source", "iso3", "date_start", "date_end"]
    missing = [c for c in need if c not in events.columns]
    if missing:
        raise ValueError(
            f"compute_coverage: events lack columns {missing} (expected the canonical events table)"
        )
    usable = events["source"].notna() & events["iso3"].notna() & precise_dates(events)
    ev = events.loc[usable, need]
    observed = (
        ev.groupby([ev["source"].astype("string"), ev["iso3"].astype("string")], sort=True)
        .agg(first_date=("date_start", "min"), last_date=("date_end", "max"))
        .reset_index()
        .assign(declared=False)
    )
    if declared is not None:
        decl = validate_declared(declared).assign(declared=True)
        keep = ~observed.set_index(["source", "iso3"]).index.isin(decl.set_index(["source", "iso3"]).index)
        observed = pd.concat([observed[keep], decl], ignore_index=True)
    table = observed.sort_values(["source", "iso3"], ignore_index=True)
    table = table.astype({"source": "string", "iso3": "string", "declared": "bool"})
    for col in ("first_date", "last_date"):
        table[col] = pd.to_datetime(table[col]).dt.normalize().astype("datetime64[ns]")
    return validate(table, COVERAGE, "ingest.coverage.compute_coverage")


def weekly_mask(coverage: pd.DataFrame, iso3s: object, weeks: object) -> pd.DataFrame:
    """Return iso3, week, covered for every pair; covered = the whole Mon..Sun week lies inside a window."""
    validate(coverage, COVERAGE, "weekly_mask coverage")
    week_index = pd.DatetimeIndex(pd.to_datetime(pd.Series(weeks))).normalize().unique().sort_values()
    not_monday = week_index[week_index.day_of_week != 0]
    if len(not_monday):
        raise ValueError(
            f"weekly_mask: weeks must be Mondays (ISO weeks keyed by their Monday); got {len(not_monday)} "
            f"other days, e.g. {[str(d.date()) for d in not_monday[:3]]}"
        )
    codes = pd.Index(pd.Series(iso3s, dtype="string").dropna().unique()).sort_values()
    start = week_index.to_numpy(dtype="datetime64[ns]")
    end = start + np.timedelta64(6, "D")
    covered = np.zeros((len(codes), len(start)), dtype=bool)
    first = coverage["first_date"].to_numpy(dtype="datetime64[ns]")
    last = coverage["last_date"].to_numpy(dtype="datetime64[ns]")
    cov_iso = coverage["iso3"].astype("string").to_numpy(dtype=object)
    for i, code in enumerate(codes):
        rows = cov_iso == code
        if rows.any():
            inside = (first[rows][:, None] <= start[None, :]) & (end[None, :] <= last[rows][:, None])
            covered[i] = inside.any(axis=0)
    return pd.DataFrame(
        {
            "iso3": pd.array(np.repeat(codes.to_numpy(dtype=object), len(start)), dtype="string"),
            "week": np.tile(start, len(codes)),
            "covered": covered.ravel(),
        }
    )
