"""What a plausible event row is: its source's codebook scales, first year, the latest date it may carry.

The row checks themselves are in ``ingest.quarantine`` (reasons ``date_before_source``,
``date_after_release``, ``deaths_above_ceiling``, ``precision_out_of_range``); this module holds the facts
they compare against, and ``Limits``: the ingest time and death ceiling of one run.

The latest date a file may hold is the end of its release's data where the file says what that is
(``ingest.releases.declared_data_end``: UCDP Candidate ``v26_01_26_06`` -> 2026-06-30, GED ``23.1`` ->
2022-12-31, an ACLED export named ``..._2015-01-01_2022-06-30`` -> 2022-06-30), else the ingest time. An
event may start up to ``START_TOLERANCE`` after it (time zones) and end up to ``END_TOLERANCE`` after it
(Candidate ``v23_0_10``, data to October 2023, holds events that end on 6 November).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd

from civrisk.settings import Settings

FIRST_YEARS = {"ucdp": 1989, "acled": 1997}
"""First year of each source's data (UCDP GED: 1989; ACLED: 1997, Africa). Earlier dates are quarantined."""

PRECISION_SCALES: dict[str, dict[str, tuple[int, int, str]]] = {
    "ucdp": {"date_precision": (1, 5, "date_prec"), "geo_precision": (1, 7, "where_prec")},
    "acled": {"date_precision": (1, 3, "time_precision"), "geo_precision": (1, 3, "geo_precision")},
}
"""Source prefix -> canonical column -> (lowest code, highest code, the column's published name), from the
UCDP GED and ACLED codebooks. An empty value is an unknown precision; any other value off the scale is
quarantined (``precision_out_of_range``)."""

START_TOLERANCE = pd.Timedelta(days=1)
END_TOLERANCE = pd.Timedelta(days=14)

INT64_MAX = 2**63 - 1
"""Counts at or beyond this (as parsed, a float) cannot be stored as int64 and are quarantined."""


def default_max_deaths() -> int:
    """Return the default death ceiling: the ``max_deaths_per_event`` setting's declared default."""
    return int(Settings.model_fields["max_deaths_per_event"].default)


@dataclass(frozen=True)
class Limits:
    """The run-wide bounds of plausible rows: the ingest time (injectable for tests) and the death ceiling."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    max_deaths: int = field(default_factory=default_max_deaths)

    @classmethod
    def from_settings(cls, settings: Settings, now: datetime | None = None) -> Limits:
        """Return the limits of ``settings`` at ``now`` (default: the current time)."""
        return cls(now=now or datetime.now(UTC), max_deaths=settings.max_deaths_per_event)

    @property
    def today(self) -> pd.Timestamp:
        """Return the ingest day (UTC, midnight, naive) that files without a declared data end are held to."""
        stamp = pd.Timestamp(self.now)
        stamp = stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp
        return stamp.normalize()


def source_prefix(source: pd.Series) -> pd.Series:
    """Return the source family of each row ("ucdp" for ucdp_ged and ucdp_candidate, "acled"), else <NA>."""
    text = source.astype("string")
    # judged once per distinct source: a regex over 400k rows costs seconds
    families = {
        s: next((f for f in FIRST_YEARS if str(s).startswith(f)), None) for s in text.dropna().unique()
    }
    return text.map(families).astype("string")


__all__ = [
    "END_TOLERANCE",
    "FIRST_YEARS",
    "INT64_MAX",
    "PRECISION_SCALES",
    "START_TOLERANCE",
    "Limits",
    "default_max_deaths",
    "source_prefix",
]
