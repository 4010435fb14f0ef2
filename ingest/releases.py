"""Which version of an event wins, and what a release says about its data: the one supersession rule.

The rule (shared by ``civrisk ingest`` over several files and by the events store over what it holds; see
docs/EVENTS.md for the ACLED Mali example): when two rows carry the same ``event_id``, the newer version
wins, whatever order the files were copied or ingested in.

1. ACLED rows compare their ``revised_at`` (ACLED's per-row ``timestamp``, last modified) when both have one
   and they differ;
2. otherwise releases compare within a scheme: ACLED exports by their date (``acled-2023-03-27``: the
   newest ``timestamp`` in the file), UCDP Candidate by the month their data end (monthly ``v23_0_10`` =
   October 2023, cumulative ``v26_01_26_06`` = to June 2026), UCDP GED yearly releases (``23.1``) by number;
3. otherwise (the same release, or versions that cannot be compared: ``acled-export`` without timestamps,
   ``ucdp-explorer-export``, ``ucdp-candidate-reduced``) the row ingested later wins.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

_CANDIDATE_MONTHLY = re.compile(r"^v(\d{2})_0_(\d{1,2})$")
_CANDIDATE_CUMULATIVE = re.compile(r"^v\d{2}_\d{2}_(\d{2})_(\d{2})$")
_GED_YEARLY = re.compile(r"^(\d{2})\.(\d+)$")
_ACLED_EXPORT = re.compile(r"^acled-(\d{4})-(\d{2})-(\d{2})$")
# the ACLED export tool names files acled_export_<country>_<from>_<to>: the second date ends the data
_ACLED_NAME_RANGE = re.compile(r"_(\d{4}-\d{2}-\d{2})_(\d{4}-\d{2}-\d{2})(?:\.|$)")


def release_rank(source: str, version: str) -> tuple[str, int] | None:
    """Return (scheme, rank) ordering a source's releases, or None when the version is not comparable."""
    version = str(version)
    if source == "ucdp_candidate":
        match = _CANDIDATE_MONTHLY.match(version) or _CANDIDATE_CUMULATIVE.match(version)
        if match:  # both say up to which month their data run: that orders them
            return "ucdp_candidate", int(match.group(1)) * 100 + int(match.group(2))
    if source == "ucdp_ged":
        match = _GED_YEARLY.match(version)
        if match:
            return "ucdp_ged", int(match.group(1)) * 1000 + int(match.group(2))
    if source == "acled":
        match = _ACLED_EXPORT.match(version)
        if match:
            return "acled", int("".join(match.groups()))
    return None


def acled_version(revised_at: pd.Series, default: str) -> str:
    """Return an ACLED file's release, ``acled-<date of its newest row timestamp>``, else ``default``."""
    newest = revised_at.max() if len(revised_at) else pd.NaT
    return default if pd.isna(newest) else f"acled-{pd.Timestamp(newest):%Y-%m-%d}"


def declared_data_end(file: str | Path, source: str, version: str) -> pd.Timestamp | None:
    """Return the last day of data a release declares (by its version or file name), or None."""
    version = str(version)
    if source == "ucdp_candidate":
        match = _CANDIDATE_MONTHLY.match(version) or _CANDIDATE_CUMULATIVE.match(version)
        if match:
            month = pd.Period(year=2000 + int(match.group(1)), month=int(match.group(2)), freq="M")
            return month.end_time.normalize()
    if source == "ucdp_ged":
        match = _GED_YEARLY.match(version)
        if match:  # GED yy.1 holds data up to the end of the year before 20yy
            return pd.Timestamp(year=2000 + int(match.group(1)) - 1, month=12, day=31)
    if source == "acled":
        match = _ACLED_NAME_RANGE.search(Path(file).name)
        if match:
            try:
                return pd.Timestamp(match.group(2))
            except ValueError:
                return None
    return None


def merge_release(stored: pd.DataFrame, incoming: pd.DataFrame) -> tuple[pd.DataFrame, int, int, int]:
    """Return (merged events, added, superseded, stale): ``incoming`` merged over ``stored`` by event_id.

    ``superseded``: stored rows replaced by a newer (or not comparable, later-ingested) incoming version;
    ``stale``: incoming rows ignored because the stored version is newer (module docstring).
    """
    pos = pd.Index(stored["event_id"]).get_indexer(incoming["event_id"])
    common = pos >= 0
    older = np.zeros(len(incoming), dtype=bool)
    if common.any():
        older[common] = version_is_older(
            _rows(incoming, common),
            _rows(stored, pos[common]),
            incoming["source"].to_numpy(dtype=object)[common],
        )
    stale, replace = common & older, common & ~older
    kept = stored.drop(index=stored.index[pos[replace]])
    fresh = incoming.loc[~stale]
    parts = [p for p in (kept, fresh) if len(p)] or [stored]
    merged = pd.concat(parts, ignore_index=True)
    return merged, int((~common).sum()), int(replace.sum()), int(stale.sum())


def _rows(frame: pd.DataFrame, which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (source_version, revised_at) of the selected rows (revised_at NaT when the table has none)."""
    versions = frame["source_version"].to_numpy(dtype=object)[which]
    if "revised_at" in frame.columns:
        revised = frame["revised_at"].to_numpy(dtype="datetime64[ns]")[which]
    else:
        revised = np.full(len(versions), np.datetime64("NaT"), dtype="datetime64[ns]")
    return versions, revised


def version_is_older(
    new: tuple[np.ndarray, np.ndarray], old: tuple[np.ndarray, np.ndarray], sources: np.ndarray
) -> np.ndarray:
    """Return, per row, True when version ``new`` (source_version, revised_at) is older than ``old``."""
    new_version, new_revised = new
    old_version, old_revised = old
    both = ~np.isnat(new_revised) & ~np.isnat(old_revised)
    by_time = both & (new_revised != old_revised)
    out = by_time & (new_revised < old_revised)
    rest = np.flatnonzero(~by_time)
    if len(rest):
        out[rest] = release_is_older(sources[rest], new_version[rest], old_version[rest])
    return out


def release_is_older(sources: np.ndarray, new: np.ndarray, old: np.ndarray) -> np.ndarray:
    """Return, per row, True when release ``new`` is comparable with and older than release ``old``."""
    ranks: dict[tuple[str, str], tuple[str, int] | None] = {}

    def rank(source: str, version: str) -> tuple[str, int] | None:
        if (source, version) not in ranks:
            ranks[(source, version)] = release_rank(source, version)
        return ranks[(source, version)]

    out = np.zeros(len(new), dtype=bool)
    for i, (source, a, b) in enumerate(zip(sources, new, old, strict=True)):
        if a == b:
            continue
        ra, rb = rank(source, a), rank(source, b)
        out[i] = ra is not None and rb is not None and ra[0] == rb[0] and ra[1] < rb[1]
    return out


__all__ = [
    "acled_version",
    "declared_data_end",
    "merge_release",
    "release_is_older",
    "release_rank",
    "version_is_older",
]
