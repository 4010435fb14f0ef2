"""The report's plain-language summary: a few sentences a planner reads first."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from publish.render.i18n import Words
from publish.render.report_regions import Comparison
from publish.render.report_table import RegionRow


@dataclass(frozen=True)
class AlertScope:
    """Whether this publication's alerts were evaluated, and if not, why.

    ``status``: "evaluated"; "backfill" (a week before the latest published one: alerts are issued only
    for the latest week, ``latest_week``); "no_rules" (no alert rule applies to the model's targets).
    """

    status: str = "evaluated"
    latest_week: str | None = None

    def why_none(self, w: Words) -> str | None:
        """Return why a publication has no alerts, or None when they were evaluated."""
        if self.status == "backfill":
            return w._(
                "this is a backfill: alerts are issued only for the latest published week ({week}), so "
                "none were evaluated for this one"
            ).format(week=self.latest_week)
        if self.status == "no_rules":
            return w._("no alert rule applies to the targets this model forecasts")
        return None


def summary_lines(
    rows: tuple[RegionRow, ...],
    horizon: int,
    threshold: float | None,
    alerts: pd.DataFrame | None,
    compared: Comparison | None,
    withheld: tuple[str, ...],
    n_no_score: int,
    scope: AlertScope,
    w: Words,
) -> tuple[str, ...]:
    """Return the summary: top 3 regions, regions at the alert level, alerts, biggest rises, mass-casualty
    risk, withheld countries and regions without a score."""
    wk = w.weeks(horizon)
    out = []
    if rows:
        top = [f"{r.name} ({r.country}, {w.pct(r.p)})" for r in rows[:3]]
        out.append(
            w._("Highest chance that civilians are killed within {wk}: {regions}.").format(
                wk=wk, regions=w.join(top)
            )
        )
    else:
        out.append(w._("No region has a score this week."))
    if threshold is not None:
        n_above = sum(r.p >= threshold for r in rows)
        out.append(
            w.ngettext(
                "{n} of {total} ranked region is at or above the alert level of {level} ({wk}).",
                "{n} of {total} ranked regions are at or above the alert level of {level} ({wk}).",
                len(rows),
            ).format(n=n_above, total=len(rows), level=w.pct(threshold), wk=wk)
        )
    out.append(_alerts_line(alerts, scope, w))
    if compared is None:
        out.append(w._("No earlier publication to compare with, so no changes are shown."))
    else:
        rises = sorted((r for r in rows if r.change_class == "up"), key=lambda r: -(r.change or 0.0))
        if rises:
            parts = [
                w._("{region} ({change} to {p})").format(
                    region=r.name, change=r.change_text.removeprefix("▲ "), p=w.pct(r.p)
                )
                for r in rises[:3]
            ]
            out.append(
                w._("Biggest rises {since}: {regions}.").format(
                    since=compared.since(w), regions=w.join(parts)
                )
            )
        else:
            out.append(w._("No region's risk rose {since}.").format(since=compared.since(w)))
    mass = sorted((r for r in rows if r.p_mass is not None), key=lambda r: (-(r.p_mass or 0.0), r.rank))[:3]
    if mass:
        parts = [f"{r.name} ({w.pct(r.p_mass)})" for r in mass]
        out.append(
            w._(
                "Highest chance of a mass-casualty week (10 or more civilians killed in one week) within "
                "{wk}: {regions}."
            ).format(wk=wk, regions=w.join(parts))
        )
    if withheld:
        out.append(
            w._("Scores withheld for {countries}: the data there are out of date.").format(
                countries=w.join(list(withheld))
            )
        )
    if n_no_score:
        out.append(
            w.ngettext(
                "{n} region has no score (outside data coverage): that is unknown risk, not low risk.",
                "{n} regions have no score (outside data coverage): that is unknown risk, not low risk.",
                n_no_score,
            ).format(n=n_no_score)
        )
    return tuple(out)


def _alerts_line(alerts: pd.DataFrame | None, scope: AlertScope, w: Words) -> str:
    why = scope.why_none(w)
    if why is not None:
        return w._("No alerts: {why}.").format(why=why)
    if alerts is None or alerts.empty:
        return w._("No alert is active this week: no region reached an alert rule.")
    kind = alerts["msg_type"].astype(str)
    active = alerts[kind != "Cancel"]
    n_alerts = w.ngettext("{n} alert", "{n} alerts", len(active)).format(n=len(active))
    n_regions = active["region_id"].nunique()
    return w.ngettext(
        "{alerts} active in {n} region: {new} new this week, {ended} ended.",
        "{alerts} active in {n} regions: {new} new this week, {ended} ended.",
        n_regions,
    ).format(
        alerts=n_alerts, n=n_regions, new=int((kind == "Alert").sum()), ended=int((kind == "Cancel").sum())
    )
