"""Weeks, the one time unit of civrisk: ISO weeks keyed by their Monday, written "2020-W23" for people.

One module holds every week rule, with snapping made explicit:

- :func:`parse_week` is strict: an ISO week label or a Monday date. Any other day is refused with the
  Monday and the label it probably meant (a Wednesday is most likely an off-by-one upstream). Every
  command-line option and API parameter that names a week uses it.
- :func:`monday_of` (one date) and :func:`week_start` (a column of dates) snap: they return the Monday of
  the ISO week holding each date. Code that aggregates events into weeks uses them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import TypeAlias

import numpy as np
import pandas as pd

WEEK = pd.Timedelta(weeks=1)
DAY = pd.Timedelta(days=1)
WEEK_DTYPE = "datetime64[ns]"
"""dtype of every week column (the Monday at 00:00)."""

WEEK_LABEL_PATTERN = r"^[1-9]\d{3}-W(0[1-9]|[1-4]\d|5[0-3])$"
"""ISO week labels "2020-W23": years 1000-9999, weeks 01-53 (week 53 exists only in long ISO years)."""

_LABEL = re.compile(WEEK_LABEL_PATTERN)
_EPOCH_MONDAY = np.datetime64("1969-12-29", "D")  # the Monday on or before 1970-01-01

WeekLike: TypeAlias = date | datetime | pd.Timestamp | np.datetime64 | str


def week_start(dates: pd.Series | pd.DatetimeIndex | Iterable) -> pd.Series:
    """Return the Monday (00:00) of each date's ISO week, as a datetime64[ns] Series (NaT stays NaT)."""
    index = dates.index if isinstance(dates, pd.Series) else None
    values = pd.to_datetime(pd.Series(dates, index=index))
    if values.dt.tz is not None:  # the local calendar day decides the week
        values = values.dt.tz_localize(None)
    values = values.astype(WEEK_DTYPE)
    days = values.to_numpy().astype("datetime64[D]")
    monday = days - ((days - _EPOCH_MONDAY).astype("int64") % 7)
    return pd.Series(monday.astype(WEEK_DTYPE), index=values.index, name=getattr(dates, "name", None))


def day_numbers(values: pd.Series | np.ndarray) -> np.ndarray:
    """Return days since the epoch Monday (1969-12-29) as int64 (dates truncated to the day)."""
    days = np.asarray(values, dtype=WEEK_DTYPE).astype("datetime64[D]")
    return (days - _EPOCH_MONDAY).astype("int64")


def monday_of(value: WeekLike) -> date:
    """Return the Monday of the ISO week holding ``value`` (any day of it, or a week label): snapping."""
    if isinstance(value, str) and _LABEL.match(value.strip()):
        return parse_week_label(value)
    day = _as_date(value, "date")
    return date.fromordinal(day.toordinal() - day.weekday())


def parse_week_label(value: str) -> date:
    """Return the Monday of ISO week label ``value`` ("2020-W23"); ValueError that says why otherwise."""
    text = str(value).strip()
    match = re.match(r"^(\d{4})-W(\d{2})$", text)
    if not match or not _LABEL.match(text):
        raise ValueError(
            f"expected an ISO week label like '2020-W23' (year 1000-9999, '-W', week 01-53); got {value!r}"
        )
    year, week = int(match.group(1)), int(match.group(2))
    try:
        return date.fromisocalendar(year, week, 1)
    except ValueError:
        raise ValueError(f"week {value!r}: ISO year {year} has no week {week}") from None


def parse_week(value: WeekLike) -> date:
    """Return the Monday of the week ``value`` names: an ISO week label ("2020-W23") or a Monday date.

    Strict: another day of the week raises ValueError naming that week's Monday and label, so an
    off-by-one upstream is caught instead of silently moved (use :func:`monday_of` to snap on purpose).
    """
    if isinstance(value, str) and re.match(r"^\s*\d{4}-W", value):
        return parse_week_label(value)
    day = _as_date(value, "week")
    if day.weekday() != 0:
        monday = date.fromordinal(day.toordinal() - day.weekday())
        raise ValueError(
            f"week {day.isoformat()} is a {day.strftime('%A')}, not a Monday; weeks are keyed by their "
            f"Monday: give {monday.isoformat()} or {week_label(monday)} for that ISO week"
        )
    return day


def week_label(value: WeekLike) -> str:
    """Return the ISO week label of the week holding ``value``, e.g. ``"2020-W23"``."""
    day = _as_date(value, "date")
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _as_date(value: WeekLike, what: str) -> date:
    """Return ``value`` as a calendar date; ValueError/TypeError saying what was expected."""
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            raise ValueError(
                f"{what} {value!r}: expected an ISO week label like '2020-W23' or a date like '2020-06-01'"
            ) from None
    if isinstance(value, pd.Timestamp | np.datetime64 | datetime):
        ts = pd.Timestamp(value)
        if pd.isna(ts):
            raise ValueError(f"{what}: got a missing value (NaT); expected a date or an ISO week label")
        return ts.date()
    if isinstance(value, date):
        return value
    raise TypeError(f"{what}: expected a date, Timestamp or ISO week label; got {type(value).__name__}")


def utc_naive(value: date | datetime | pd.Timestamp, *, what: str) -> datetime:
    """Return ``value`` as a naive UTC datetime (whole seconds); naive input is taken to be UTC already."""
    if isinstance(value, pd.Timestamp):
        if pd.isna(value):
            raise ValueError(f"{what}: got NaT; expected a date or datetime")
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.replace(microsecond=0)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    raise TypeError(f"{what}: expected a date or datetime, got {type(value).__name__}")


def utc_now() -> datetime:
    """Return the current time as a naive UTC datetime in whole seconds (the store's clock)."""
    return datetime.now(UTC).replace(microsecond=0, tzinfo=None)
