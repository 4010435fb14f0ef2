"""Words for the planner report: feature names in plain language, group names, numbers as people read them.

``humanise_feature`` turns the feature names of features.build (``civ_deaths_sum_4w_lag1``) into phrases a
planner reads without a glossary ("civilian deaths, last 4 weeks"). Names it does not know come back with
underscores replaced, never dropped: a driver the report cannot phrase is still shown.
"""

from __future__ import annotations

import math
import re

GROUP_LABELS: dict[str, str] = {
    "state_allied": "State forces & allies",
    "jihadist_rebel": "Jihadist & rebel groups",
    "militia": "Militias",
    "other_unknown": "Unidentified or other perpetrators",
}
"""Display names of the perpetrator groups (civrisk.contracts.PERPETRATOR_GROUPS)."""

GROUP_SHORT: dict[str, str] = {
    "state_allied": "State & allies",
    "jihadist_rebel": "Jihadist & rebel",
    "militia": "Militias",
    "other_unknown": "Unidentified",
}
"""Short group names for narrow table cells (the report's footnote gives the full ones)."""

GROUP_NOTES: dict[str, str] = {
    "state_allied": "national forces, foreign forces and private military (e.g. Wagner / Africa Corps)",
    "jihadist_rebel": "jihadist and rebel or separatist groups",
    "militia": "pro-government and communal militias",
}

SOURCE_LABELS: dict[str, str] = {
    "ucdp_ged": "UCDP GED",
    "ucdp_candidate": "UCDP Candidate",
    "acled": "ACLED",
}
"""Display names of the event sources (``events.source``)."""

_GROUP_PHRASES = {
    "state_allied": "state forces & allies",
    "jihadist_rebel": "jihadist & rebel groups",
    "militia": "militias",
    "other_unknown": "unidentified perpetrators",
}

_MEASURES = {
    "events": "conflict events",
    "deaths": "conflict deaths",
    "civ_deaths": "civilian deaths",
    "civ_harm_events": "events harming civilians",
    "events_state_based": "state-based conflict events",
    "events_non_state": "non-state conflict events",
    "events_one_sided": "attacks on civilians (one-sided violence)",
    "deaths_state_based": "deaths in state-based conflict",
    "deaths_non_state": "deaths in non-state conflict",
    "deaths_one_sided": "deaths in attacks on civilians",
    **{f"civ_deaths_{g}": f"civilians killed by {w}" for g, w in _GROUP_PHRASES.items()},
    **{f"civ_harm_events_{g}": f"events where {w} harmed civilians" for g, w in _GROUP_PHRASES.items()},
}

_CLASSES = {
    "state_forces": "state forces",
    "foreign_state_forces": "foreign state forces",
    "private_military": "private military companies",
    "pro_government_militia": "pro-government militias",
    "jihadist": "jihadist groups",
    "rebel_separatist": "rebel or separatist groups",
    "communal_militia": "communal militias",
    "peacekeepers": "peacekeepers",
    "civilians": "civilians (as actors)",
    "unidentified_armed_group": "unidentified armed groups",
    "other": "other actors",
    "unclassified": "unclassified actors",
}

_LAG = r"_lag(?P<lag>\d+)$"
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^(?P<scope>nb|cty)_(?P<m>\w+?)_sum_(?P<n>\d+)w" + _LAG), "spatial_sum"),
    (re.compile(r"^(?P<m>\w+?)_sum_(?P<n>\d+)w" + _LAG), "sum"),
    (re.compile(r"^covered_share_(?P<n>\d+)w" + _LAG), "covered"),
    (re.compile(r"^weeks_since_(?P<what>\w+?)" + _LAG), "since"),
    (re.compile(r"^(?P<m>\w+?)_trend_(?P<a>\d+)w_(?P<b>\d+)w" + _LAG), "trend"),
    (re.compile(r"^present_class_(?P<c>\w+?)_(?P<n>\d+)w" + _LAG), "present"),
    (re.compile(r"^week_of_year_(sin|cos)$"), "season"),
]


def _window(n: str, lag: str) -> str:
    weeks = "last week" if n == "1" else f"last {n} weeks"
    if lag == "1":
        return weeks
    return f"{weeks} of data (to {lag} weeks before publication)"


def humanise_feature(name: str) -> str:
    """Return a plain-language phrase for a feature name, e.g. "civilian deaths, last 4 weeks"."""
    for pattern, kind in _PATTERNS:
        m = pattern.match(name)
        if m is None:
            continue
        g = m.groupdict()
        if kind == "sum" and g["m"] in _MEASURES:
            return f"{_MEASURES[g['m']]}, {_window(g['n'], g['lag'])}"
        if kind == "spatial_sum" and g["m"] in _MEASURES:
            where = "in neighbouring regions" if g["scope"] == "nb" else "in the whole country"
            return f"{_MEASURES[g['m']]} {where}, {_window(g['n'], g['lag'])}"
        if kind == "covered":
            return f"share of the {_window(g['n'], g['lag'])} covered by data"
        if kind == "since":
            what = g["what"]
            if what == "civ_harm":
                return "weeks since civilians were last harmed"
            group = what.removeprefix("civ_harm_")
            if group in _GROUP_PHRASES:
                return f"weeks since {_GROUP_PHRASES[group]} last harmed civilians"
        if kind == "trend" and g["m"] in _MEASURES:
            return f"trend in {_MEASURES[g['m']]} (last {g['a']} vs last {g['b']} weeks)"
        if kind == "present" and g["c"] in _CLASSES:
            return f"{_CLASSES[g['c']]} active, {_window(g['n'], g['lag'])}"
        if kind == "season":
            return "time of year"
    return name.replace("_", " ")


def weeks_text(horizon: int) -> str:
    """Return a horizon in words: "1 week", "4 weeks"."""
    return "1 week" if horizon == 1 else f"{horizon} weeks"


def fmt_pct(p: float | None) -> str:
    """Return a probability as a whole percentage ("23%"; "<1%" and ">99%" at the ends; "–" if missing)."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "–"
    if p < 0.005:
        return "<1%" if p > 0 else "0%"
    if p > 0.995:
        return ">99%" if p < 1 else "100%"
    return f"{p * 100:.0f}%"


def fmt_points(delta: float | None) -> str:
    """Return a change of probability in percentage points with an arrow ("▲ +12 pts", "▼ −3 pts")."""
    if delta is None or math.isnan(delta):
        return "new"
    pts = round(delta * 100)
    if pts == 0:
        return "● 0 pts"
    unit = "pt" if abs(pts) == 1 else "pts"
    return f"▲ +{pts} {unit}" if pts > 0 else f"▼ −{-pts} {unit}"


def fmt_count(x: float | None) -> str:
    """Return an expected count: one decimal below 10, whole numbers with thousands separators above."""
    if x is None or math.isnan(x):
        return "–"
    return f"{x:.1f}" if x < 10 else f"{x:,.0f}"


def fmt_signed(x: float) -> str:
    """Return a signed contribution with two significant decimals ("+0.42", "−0.05")."""
    return f"+{x:.2f}" if x >= 0 else f"−{-x:.2f}"


def join_words(items: list[str]) -> str:
    """Return "a", "a and b" or "a, b and c"."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
