"""Which source counts where: one source per country window, so no violence is counted twice."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd


def select_source(
    events: pd.DataFrame, coverage: pd.DataFrame, source: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the events and coverage rows of one source (``civrisk panel --source``)."""
    known = sorted(set(events["source"].dropna()) | set(coverage["source"].dropna()))
    if source not in known:
        raise ValueError(f"source {source!r} is not in the events or coverage; available sources: {known}")
    return (
        events.loc[events["source"] == source].reset_index(drop=True),
        coverage.loc[coverage["source"] == source].reset_index(drop=True),
    )


def check_single_source(coverage: pd.DataFrame, iso3s: Iterable[str] | None = None) -> None:
    """Raise if two sources cover the same country in overlapping windows (they would be double counted)."""
    cov = coverage if iso3s is None else coverage.loc[coverage["iso3"].isin(set(iso3s))]
    clashes: list[str] = []
    for iso3, rows in cov.sort_values(["iso3", "first_date"]).groupby("iso3", sort=True):
        if rows["source"].nunique() < 2:
            continue
        firsts, lasts, sources = (
            rows["first_date"].tolist(),
            rows["last_date"].tolist(),
            rows["source"].tolist(),
        )
        for i in range(len(rows)):
            for j in range(i + 1, len(rows)):
                if sources[i] != sources[j] and firsts[j] <= lasts[i]:
                    clashes.append(
                        f"{iso3}: {sources[i]} {firsts[i]:%Y-%m-%d}..{lasts[i]:%Y-%m-%d} overlaps "
                        f"{sources[j]} {firsts[j]:%Y-%m-%d}..{lasts[j]:%Y-%m-%d}"
                    )
    if clashes:
        shown = "; ".join(clashes[:5]) + (f"; and {len(clashes) - 5} more" if len(clashes) > 5 else "")
        raise ValueError(
            f"{len(clashes)} country windows are covered by several sources, which would count the same "
            f"violence twice ({shown}). Build the panel from one source: civrisk panel --source "
            f"{sorted(set(cov['source']))[0]} (or features.sources.select_source)."
        )
