"""The data a publication may use: events and coverage as of its data cut-off, freshness, and the inputs
at the forecast origin.

A publication for week ``t`` (its Monday, the forecast origin) with data lag ``k`` reads panel weeks
``<= t - k``; an explicit ``as_of`` date earlier than ``t`` moves that last data week back to
``week(as_of) - k``. Events that start after the last data week are dropped, and every coverage window is
clipped to end on that week's Sunday, so the panel never claims coverage the publication did not have.

A country is *fresh* when one of its sources covers the whole last data week; otherwise its data are
*stale* and its regions' scores are withheld (the report lists them under freshness).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from civrisk.contracts import COVERAGE, validate, validate_events
from civrisk.weeks import week_start
from experiments.inputs import ModelInputs, build_model_inputs

if TYPE_CHECKING:
    from experiments.config import ExperimentConfig
    from features.build import FeatureSpec
    from ingest.boundaries import Boundaries

WEEK = pd.Timedelta(weeks=1)
_DAY = pd.Timedelta(days=1)
_PROVENANCE = ("source_file", "source_row")
"""Event columns left out of the data fingerprint: where a row was read from, not what it says."""


@dataclass(frozen=True)
class DataCutoff:
    """What a publication may read: origin ``t``, lag ``k`` and the last data week (a Monday)."""

    origin: pd.Timestamp
    lag: int
    last_week: pd.Timestamp
    as_of: date

    @property
    def last_day(self) -> pd.Timestamp:
        """Return the Sunday that ends the last data week (the last day any data may describe)."""
        return self.last_week + 6 * _DAY


def data_cutoff(origin: pd.Timestamp, as_of: date | None, lag: int) -> DataCutoff:
    """Return the cut-off of a publication at ``origin`` (a Monday) with data lag ``lag`` weeks.

    ``as_of`` defaults to the origin's Monday; a later ``as_of`` does not let the publication read past
    ``t - k`` (features at ``t`` never do), an earlier one moves the last data week back.
    """
    origin = pd.Timestamp(origin)
    if origin.day_of_week != 0:
        raise ValueError(f"origin {origin.date()} is not a Monday; a publication week is keyed by its Monday")
    if lag < 1:
        raise ValueError(f"data lag must be >= 1 week; got {lag}")
    as_of = as_of if as_of is not None else origin.date()
    as_of_week = week_start([pd.Timestamp(as_of)]).iloc[0]
    return DataCutoff(origin, int(lag), min(origin, as_of_week) - lag * WEEK, as_of)


def clip_to_cutoff(
    events: pd.DataFrame, coverage: pd.DataFrame, cutoff: DataCutoff
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (events starting in weeks <= the last data week, coverage windows ending by its Sunday).

    A coverage window that starts after the cut-off is dropped (the source had not covered the country yet).
    """
    validate_events(events, "clip_to_cutoff")
    validate(coverage, COVERAGE, "clip_to_cutoff")
    end = cutoff.last_week + WEEK  # first day not available
    kept = events.loc[pd.to_datetime(events["date_start"]) < end].reset_index(drop=True)
    cov = coverage.loc[pd.to_datetime(coverage["first_date"]) <= cutoff.last_day].copy()
    cov["last_date"] = pd.to_datetime(cov["last_date"]).clip(upper=cutoff.last_day).astype("datetime64[ns]")
    return kept, validate(cov.reset_index(drop=True), COVERAGE, "clip_to_cutoff")


def last_covered_week(last_date: pd.Series) -> pd.Series:
    """Return, per window end, the Monday of the last week whose seven days end on or before it."""
    return week_start(pd.to_datetime(last_date) - 6 * _DAY)


def freshness(coverage: pd.DataFrame, countries: Iterable[str], cutoff: DataCutoff) -> pd.DataFrame:
    """Return source, iso3, first_date, last_date, stale for each source window of ``countries``.

    ``stale``: the window does not cover the whole last data week. A country without any window gets one
    row with source ``"none"`` and no dates (stale).
    """
    wanted = sorted(set(countries))
    cov = coverage.loc[coverage["iso3"].astype(str).isin(wanted)]
    first = pd.to_datetime(cov["first_date"])
    last = pd.to_datetime(cov["last_date"])
    stale = ~((first <= cutoff.last_week) & (last >= cutoff.last_day))
    out = pd.DataFrame(
        {
            "source": cov["source"].astype(str).to_numpy(),
            "iso3": cov["iso3"].astype(str).to_numpy(),
            "first_date": first.to_numpy(dtype="datetime64[ns]"),
            "last_date": last.to_numpy(dtype="datetime64[ns]"),
            "stale": stale.to_numpy(dtype=bool),
        }
    )
    absent = [c for c in wanted if c not in set(out["iso3"])]
    if absent:
        none = pd.DataFrame(
            {
                "source": "none",
                "iso3": absent,
                "first_date": pd.NaT,
                "last_date": pd.NaT,
                "stale": True,
            }
        ).astype({"first_date": "datetime64[ns]", "last_date": "datetime64[ns]"})
        out = pd.concat([out, none], ignore_index=True)
    return out.sort_values(["iso3", "source"], ignore_index=True)


def stale_countries(fresh: pd.DataFrame) -> set[str]:
    """Return the countries none of whose sources covers the last data week (their scores are withheld)."""
    all_stale = fresh["stale"].astype(bool).groupby(fresh["iso3"].astype(str).to_numpy()).all()
    return {str(c) for c, s in all_stale.items() if s}


def data_volume(events: pd.DataFrame, countries: Iterable[str], cutoff: DataCutoff) -> pd.DataFrame:
    """Return per country: events in the last 4 data weeks (``recent``) and the mean 4-week count over the
    52 weeks before them (``usual``), from events already clipped to the cut-off."""
    end = cutoff.last_week + WEEK
    recent_start, usual_start = end - 4 * WEEK, end - 56 * WEEK
    start = pd.to_datetime(events["date_start"])
    iso3 = events["iso3"].astype(str)
    rows = []
    for country in sorted(set(countries)):
        mine = start[iso3 == country]
        recent = int(((mine >= recent_start) & (mine < end)).sum())
        usual = float(((mine >= usual_start) & (mine < recent_start)).sum()) / 13
        rows.append({"iso3": country, "recent": recent, "usual": usual})
    return pd.DataFrame(rows, columns=["iso3", "recent", "usual"])


def thin_countries(volume: pd.DataFrame, share: float, min_volume: float) -> dict[str, tuple[int, float]]:
    """Return iso3 -> (recent, usual) of the countries whose recent volume fell below ``share`` of a usual
    volume of at least ``min_volume`` events per 4 weeks."""
    thin = volume[(volume["usual"] >= min_volume) & (volume["recent"] < share * volume["usual"])]
    return {str(r.iso3): (int(r.recent), float(r.usual)) for r in thin.itertuples(index=False)}


def latest_publishable_week(coverage: pd.DataFrame, countries: Iterable[str], lag: int) -> pd.Timestamp:
    """Return the last origin whose data are fresh for at least one country: last covered week + ``lag``."""
    wanted = set(countries)
    cov = coverage.loc[coverage["iso3"].astype(str).isin(wanted)]
    if cov.empty:
        raise ValueError(
            f"the coverage table has no window for the countries {sorted(wanted)}; ingest their events first"
        )
    return pd.Timestamp(last_covered_week(cov["last_date"]).max()) + lag * WEEK


def covered_weeks_after(
    coverage: pd.DataFrame, countries: Sequence[str], after: pd.Timestamp, through: pd.Timestamp
) -> list[pd.Timestamp]:
    """Return the weeks in (``after``, ``through``] that some source covers whole for one of ``countries``."""
    from ingest.coverage import weekly_mask

    if through <= after or not len(countries):
        return []
    weeks = pd.date_range(after + WEEK, through, freq="7D")
    mask = weekly_mask(coverage, list(countries), weeks)
    covered = mask.loc[mask["covered"].astype(bool), "week"]
    return sorted({pd.Timestamp(w) for w in covered})


def data_fingerprint(events: pd.DataFrame, coverage: pd.DataFrame, files: Sequence[Path] = ()) -> str:
    """Return a sha256 over the events (sorted by event_id, provenance columns left out), the coverage
    windows and the bytes of ``files`` (e.g. the boundaries): same data in, same fingerprint out."""
    digest = hashlib.sha256()
    ev = events.drop(columns=[c for c in _PROVENANCE if c in events.columns])
    ev = ev.sort_values("event_id", kind="mergesort").reset_index(drop=True)
    cov = coverage.sort_values(["source", "iso3"], kind="mergesort").reset_index(drop=True)
    for name, frame in (("events", ev), ("coverage", cov)):
        digest.update(f"{name}:{len(frame)}:{','.join(map(str, frame.columns))}".encode())
        hashed = pd.util.hash_pandas_object(frame.astype(_hashable(frame)), index=False)
        digest.update(np.ascontiguousarray(hashed.to_numpy(dtype="uint64")).tobytes())
    for path in files:
        digest.update(Path(path).name.encode())
        digest.update(hashlib.sha256(Path(path).read_bytes()).digest())
    return digest.hexdigest()


def _hashable(frame: pd.DataFrame) -> dict[str, str]:
    """Return dtype casts that make equal values hash equally whatever string dtype pandas chose."""
    return {
        c: "object"
        for c in frame.columns
        if pd.api.types.is_string_dtype(frame[c].dtype) or isinstance(frame[c].dtype, pd.CategoricalDtype)
    }


def origin_inputs(
    events: pd.DataFrame,
    coverage: pd.DataFrame,
    boundaries: Boundaries | None,
    config: ExperimentConfig,
    spec: FeatureSpec,
    cutoff: DataCutoff,
    earlier: Sequence[pd.Timestamp] = (),
) -> ModelInputs:
    """Return the panel through the last data week and the features (``spec``, the model's own) at the
    origin and at the ``earlier`` origins (for recalibration), from the one input builder training used
    (``experiments.inputs.build_model_inputs``)."""
    if events.empty:
        raise ValueError(
            f"no events start on or before {cutoff.last_day.date()} (the data cut-off of week "
            f"{cutoff.origin.date()}); the data begin later, so there is nothing to publish for that week"
        )
    return build_model_inputs(
        events,
        coverage,
        boundaries,
        unit=config.data.unit,
        spec=spec,
        data_lag_weeks=cutoff.lag,
        start=config.data.start,
        end=cutoff.last_week,
        origins=sorted({*earlier, cutoff.origin}),
    )
