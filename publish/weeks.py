"""Publication weeks: ISO weeks keyed by their Monday, written "2020-W23" for people and URLs."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import TypeAlias

import numpy as np
import pandas as pd

_LABEL = re.compile(r"^(\d{4})-W(\d{2})$")

WeekLike: TypeAlias = date | datetime | pd.Timestamp | np.datetime64 | str


def week_monday(value: WeekLike) -> date:
    """Return the Monday of the publication week ``value`` (an ISO label "2020-W23" or a Monday date).

    Raises ValueError for a date that is not a Monday (weeks are keyed by their Monday, so another day
    is most likely an off-by-one upstream) and for labels that name no ISO week.
    """
    if isinstance(value, str):
        m = _LABEL.match(value.strip())
        if m:
            year, week = int(m.group(1)), int(m.group(2))
            try:
                return date.fromisocalendar(year, week, 1)
            except ValueError as exc:
                raise ValueError(f"week {value!r}: ISO year {year} has no week {week}") from exc
        try:
            day = date.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValueError(
                f"week {value!r}: expected an ISO week label like '2020-W23' or a Monday date like "
                "'2020-06-01'"
            ) from exc
    elif isinstance(value, pd.Timestamp | np.datetime64 | datetime):
        ts = pd.Timestamp(value)
        if pd.isna(ts):
            raise ValueError("week: got a missing value (NaT); expected a Monday date or an ISO week label")
        day = ts.date()
    elif isinstance(value, date):
        day = value
    else:
        raise TypeError(f"week: expected a date, Timestamp or ISO week label; got {type(value).__name__}")
    if day.weekday() != 0:
        monday = date.fromordinal(day.toordinal() - day.weekday())
        raise ValueError(
            f"week {day.isoformat()} is a {day.strftime('%A')}, not a Monday; weeks are keyed by their "
            f"Monday (that ISO week, {week_label(monday)}, starts on {monday.isoformat()})"
        )
    return day


def week_label(monday: date) -> str:
    """Return the ISO week label of ``monday``, e.g. ``"2020-W23"``."""
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


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
