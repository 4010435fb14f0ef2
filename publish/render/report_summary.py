"""The report's plain-language summary: a few sentences a planner reads first."""

from __future__ import annotations

import pandas as pd

from publish.render.report_table import RegionRow
from publish.render.report_text import fmt_pct, join_words, weeks_text


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary_lines(
    rows: tuple[RegionRow, ...],
    horizon: int,
    threshold: float | None,
    alerts: pd.DataFrame | None,
    previous_label: str | None,
    withheld: tuple[str, ...],
    n_no_score: int,
) -> tuple[str, ...]:
    """Return the summary: top 3 regions, regions at the alert level, alerts, biggest rises, mass-casualty
    risk, withheld countries and regions without a score."""
    wk = weeks_text(horizon)
    next_wk = "week" if horizon == 1 else wk
    out = []
    if rows:
        top = [f"{r.name} ({r.country}, {fmt_pct(r.p)})" for r in rows[:3]]
        out.append(f"Highest chance that civilians are killed within the next {next_wk}: {join_words(top)}.")
    else:
        out.append("No region has a score this week.")
    if threshold is not None:
        n_above = sum(r.p >= threshold for r in rows)
        out.append(
            f"{n_above} of {len(rows)} ranked regions are at or above the alert level of "
            f"{fmt_pct(threshold)} ({wk})."
        )
    if alerts is not None and not alerts.empty:
        kind = alerts["msg_type"].astype(str)
        active = alerts[kind != "Cancel"]
        out.append(
            f"{_plural(len(active), 'alert')} active in {_plural(active['region_id'].nunique(), 'region')}: "
            f"{int((kind == 'Alert').sum())} new this week, {int((kind == 'Cancel').sum())} ended."
        )
    else:
        out.append("No alerts are active this week.")
    if previous_label is None:
        out.append("No earlier publication to compare with, so no week-on-week changes are shown.")
    else:
        rises = sorted((r for r in rows if r.change_class == "up"), key=lambda r: -(r.change or 0.0))
        if rises:
            parts = [f"{r.name} ({r.change_text.removeprefix('▲ ')} to {fmt_pct(r.p)})" for r in rises[:3]]
            out.append(f"Biggest rises since {previous_label}: {join_words(parts)}.")
        else:
            out.append(f"No region's risk rose since {previous_label}.")
    mass = sorted((r for r in rows if r.p_mass is not None), key=lambda r: (-(r.p_mass or 0.0), r.rank))[:3]
    if mass:
        parts = [f"{r.name} ({fmt_pct(r.p_mass)})" for r in mass]
        out.append(
            f"Highest chance of a mass-casualty week (10 or more civilians killed in one week) within {wk}: "
            f"{join_words(parts)}."
        )
    if withheld:
        out.append(f"Scores withheld for {join_words(list(withheld))}: the data there are out of date.")
    if n_no_score:
        out.append(
            f"{n_no_score} region{'s have' if n_no_score != 1 else ' has'} no score (outside data coverage): "
            "that is unknown risk, not low risk."
        )
    return tuple(out)
