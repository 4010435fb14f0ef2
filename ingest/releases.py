"""Which release of an event wins: ordering of a source's releases and the merge of a new file over a store.

Rule (docs/OPERATIONS.md): an incoming row replaces the stored row of the same ``event_id`` unless its
release is older. Releases are comparable within a scheme only: UCDP Candidate by the month their data end
(monthly ``v23_0_10`` = October 2023, cumulative ``v26_01_26_06`` = to June 2026), UCDP GED yearly releases
(``23.1``) by number. Other versions (``acled-export``, ``ucdp-explorer-export``, ``ucdp-candidate-reduced``)
are not comparable, so the file ingested later wins.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

_CANDIDATE_MONTHLY = re.compile(r"^v(\d{2})_0_(\d{1,2})$")
_CANDIDATE_CUMULATIVE = re.compile(r"^v\d{2}_\d{2}_(\d{2})_(\d{2})$")
_GED_YEARLY = re.compile(r"^(\d{2})\.(\d+)$")


def merge_release(stored: pd.DataFrame, incoming: pd.DataFrame) -> tuple[pd.DataFrame, int, int, int]:
    """Return (merged events, added, superseded, stale): ``incoming`` merged over ``stored`` by event_id.

    An incoming row replaces the stored row of its event unless its release is older (module docstring).
    """
    pos = pd.Index(stored["event_id"]).get_indexer(incoming["event_id"])
    common = pos >= 0
    older = np.zeros(len(incoming), dtype=bool)
    if common.any():
        older[common] = release_is_older(
            incoming["source"].to_numpy(dtype=object)[common],
            incoming["source_version"].to_numpy(dtype=object)[common],
            stored["source_version"].to_numpy(dtype=object)[pos[common]],
        )
    stale, replace = common & older, common & ~older
    kept = stored.drop(index=stored.index[pos[replace]])
    fresh = incoming.loc[~stale]
    parts = [p for p in (kept, fresh) if len(p)] or [stored]
    merged = pd.concat(parts, ignore_index=True)
    return merged, int((~common).sum()), int(replace.sum()), int(stale.sum())


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
    return None


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


__all__ = ["merge_release", "release_is_older", "release_rank"]
