"""What a publication leads with: the headline horizon, the alert rules that apply to its targets, and
the top-risk regions as a small table (for the terminal; the report has its own ranking)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date

import pandas as pd

from civrisk.weeks import week_label
from forecasting.targets import GROUP_TARGET_GROUPS, HEADLINE_TARGET
from publish.alerting.rules import AlertRules
from publish.render.i18n import SOURCE_LANGUAGE, words
from publish.render.labels import group_name
from publish.render.report_summary import AlertScope

HEADLINE_HORIZON = 4


def headline_horizon(horizons: Sequence[int]) -> int:
    """Return the horizon the report and the top table show: 4 weeks when forecast, else the shortest."""
    hs = sorted({int(h) for h in horizons})
    if not hs:
        raise ValueError("no horizons: a publication needs at least one forecast horizon")
    return HEADLINE_HORIZON if HEADLINE_HORIZON in hs else hs[0]


def rules_for(
    targets: Sequence[str], horizons: Sequence[int], base: AlertRules = AlertRules()
) -> AlertRules | None:
    """Return ``base`` restricted to what the model forecasts, or None when no rule can apply.

    The ``level`` and ``escalation`` rules need ``civ_any``, the ``mass`` rule needs ``civ_mass``, and only
    the watched horizons the model forecasts are watched.
    """
    watched = tuple(h for h in base.horizons if h in set(horizons))
    if not watched:
        return None
    has_any, has_mass = base.any_target in targets, base.mass_target in targets
    rules = replace(
        base,
        horizons=watched,
        level=base.level and has_any,
        escalation=base.escalation and has_any,
        mass=base.mass if has_mass else None,
    )
    return rules if rules.specs() else None


def alert_scope(rules: AlertRules | None, week: date, latest_week: date | None) -> AlertScope:
    """Return whether alerts are evaluated for a publication of ``week``: not without a rule that applies,
    and not for a backfill (a week before ``latest_week``, the latest published one)."""
    if rules is None:
        return AlertScope("no_rules")
    if latest_week is not None and latest_week > week:
        return AlertScope("backfill", week_label(latest_week))
    return AlertScope()


def top_regions(
    scores: pd.DataFrame,
    previous: pd.DataFrame | None,
    horizon: int,
    n: int = 10,
    lang: str = SOURCE_LANGUAGE,
) -> pd.DataFrame:
    """Return the ``n`` regions with the highest civ_any probability at ``horizon``.

    Columns: rank, region_id, region, iso3, country (in ``lang``), p, change (vs ``previous``; NaN without
    a score there), group (key) and main_group (its name in ``lang``) of the perpetrator group most likely
    to kill civilians, p_group.
    """
    w = words(lang)
    s = scores.assign(region_id=scores["region_id"].astype(str), target=scores["target"].astype(str))
    at_h = s[s["horizon"] == horizon]
    head = at_h[at_h["target"] == HEADLINE_TARGET].sort_values(
        ["p", "region_id"], ascending=[False, True], kind="mergesort"
    )
    head = head.head(n).reset_index(drop=True)
    prev: dict[str, float] = {}
    if previous is not None and len(previous):
        pv = previous[(previous["target"].astype(str) == HEADLINE_TARGET) & (previous["horizon"] == horizon)]
        prev = dict(zip(pv["region_id"].astype(str), pv["p"].astype(float), strict=True))
    groups = at_h[at_h["target"].isin([f"civ_any_{g}" for g in GROUP_TARGET_GROUPS])]
    best = groups.sort_values(["p", "target"], ascending=[False, True], kind="mergesort").drop_duplicates(
        "region_id"
    )
    best_of = {
        r: (t.removeprefix("civ_any_"), float(p))
        for r, t, p in zip(best["region_id"], best["target"], best["p"], strict=True)
    }
    names = head["region_name"] if "region_name" in head.columns else head["region_id"]
    return pd.DataFrame(
        {
            "rank": range(1, len(head) + 1),
            "region_id": head["region_id"].to_numpy(),
            "region": [str(x) if pd.notna(x) else r for x, r in zip(names, head["region_id"], strict=True)],
            "iso3": head["iso3"].astype(str).to_numpy(),
            "country": [w.country(str(c)) for c in head["iso3"]],
            "p": head["p"].astype(float).to_numpy(),
            "change": [
                p - prev[r] if r in prev else float("nan")
                for r, p in zip(head["region_id"], head["p"], strict=True)
            ],
            "group": [best_of.get(r, ("", float("nan")))[0] for r in head["region_id"]],
            "main_group": [group_name(w, best_of[r][0]) if r in best_of else "" for r in head["region_id"]],
            "p_group": [best_of.get(r, ("", float("nan")))[1] for r in head["region_id"]],
        }
    )
