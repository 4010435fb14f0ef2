"""Model features in words a planner reads, with their numbers and units.

:func:`parse_feature` reads the names features.build gives (``civ_deaths_state_allied_sum_4w_lag1``: the
sum of a panel measure over the last 4 weeks of data, data lag 1); :func:`feature_words` names a feature
("civilians killed by state forces and allies, last 4 weeks") and :func:`driver_text` states its value
("civilians killed by state forces and allies in the last 4 weeks: 17, up from 3 in the 4 weeks before").
Names it does not know come back with underscores replaced, never dropped: a driver the report cannot
phrase is still shown.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from publish.render.i18n import Words
from publish.render.labels import CLASSES, MEASURES, SINCE

_LAG = r"_lag(?P<lag>\d+)$"
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^(?P<scope>nb|cty)_(?P<m>\w+?)_sum_(?P<n>\d+)w" + _LAG), "spatial"),
    (re.compile(r"^(?P<m>\w+?)_sum_(?P<n>\d+)w" + _LAG), "sum"),
    (re.compile(r"^covered_share_(?P<n>\d+)w" + _LAG), "covered"),
    (re.compile(r"^weeks_since_(?P<m>\w+?)" + _LAG), "since"),
    (re.compile(r"^(?P<m>\w+?)_trend_(?P<n>\d+)w_(?P<b>\d+)w" + _LAG), "trend"),
    (re.compile(r"^present_class_(?P<m>\w+?)_(?P<n>\d+)w" + _LAG), "present"),
    (re.compile(r"^week_of_year_(sin|cos)$"), "season"),
]
_KNOWN = {"spatial": MEASURES, "sum": MEASURES, "since": SINCE, "trend": MEASURES, "present": CLASSES}
TREND_STEADY = 0.1
"""A trend feature (log1p of the recent weekly rate minus log1p of the earlier one) closer to 0 is steady."""


@dataclass(frozen=True)
class Feature:
    """A parsed feature name: its family, measure (or actor class), window, lag and scope."""

    name: str
    kind: str
    """sum, spatial, covered, since, trend, present, season; "other" when the name is not understood."""
    measure: str = ""
    weeks: int = 0
    lag: int = 1
    scope: str = ""
    """Spatial sums: "nb" (neighbouring regions) or "cty" (the whole country)."""
    weeks_b: int = 0
    """Trends: the longer, earlier window."""


def parse_feature(name: str) -> Feature:
    """Return what a feature name means; kind "other" for a name no family matches."""
    for pattern, kind in _PATTERNS:
        m = pattern.match(name)
        if m is None:
            continue
        g = m.groupdict()
        if kind in _KNOWN and g["m"] not in _KNOWN[kind]:
            continue
        return Feature(
            name,
            kind,
            measure=g.get("m") or "",
            weeks=int(g.get("n") or 0),
            lag=int(g.get("lag") or 1),
            scope=g.get("scope") or "",
            weeks_b=int(g.get("b") or 0),
        )
    return Feature(name, "other")


def _window(w: Words, f: Feature) -> str:
    """Return "in the last 4 weeks" (data lag 1) or "in the 4 weeks to 3 weeks before publication"."""
    if f.lag == 1:
        if f.weeks == 1:
            return w._("last week")
        return w._("in the last {n} weeks").format(n=f.weeks)
    return w.ngettext(
        "in the {n} week to {lag} weeks before publication",
        "in the {n} weeks to {lag} weeks before publication",
        f.weeks,
    ).format(n=f.weeks, lag=f.lag)


def _subject(w: Words, f: Feature) -> str:
    """Return what a feature counts or says, without its value."""
    if f.kind == "sum":
        return w._("{what} {window}").format(what=w._(MEASURES[f.measure]), window=_window(w, f))
    if f.kind == "spatial":
        where = w._("in neighbouring regions") if f.scope == "nb" else w._("in the whole country")
        return w._("{what} {where} {window}").format(
            what=w._(MEASURES[f.measure]), where=where, window=_window(w, f)
        )
    if f.kind == "covered":
        return w._("share of weeks covered by data {window}").format(window=_window(w, f))
    if f.kind == "since":
        return w._(SINCE[f.measure])
    if f.kind == "trend":
        return w._("trend in {what} (last {a} weeks against the {b} weeks before)").format(
            what=w._(MEASURES[f.measure]), a=f.weeks, b=f.weeks_b
        )
    if f.kind == "present":
        return w._("{actors} active {window}").format(actors=w._(CLASSES[f.measure]), window=_window(w, f))
    if f.kind == "season":
        return w._("time of year")
    return f.name.replace("_", " ")


def feature_words(name: str, w: Words) -> str:
    """Return a plain-language name for a feature, e.g. "civilians killed in the last 4 weeks"."""
    return _subject(w, parse_feature(name))


def driver_text(name: str, w: Words, value: float | None = None, before: float | None = None) -> str:
    """Return a feature with its value in words a planner reads.

    ``value`` is what the model saw; ``before`` (sums only) the same measure over the window just before,
    e.g. "civilians killed by state forces and allies in the last 4 weeks: 17, up from 3 in the 4 weeks
    before". Without a value the feature is named only.
    """
    f = parse_feature(name)
    subject = _subject(w, f)
    if value is None or math.isnan(value):
        return subject
    if f.kind == "season" or f.kind == "other":
        return subject
    if f.kind == "covered":
        return w._("{subject}: {value}").format(subject=subject, value=w.pct(value))
    if f.kind == "present":
        if value > 0:
            return w._("{subject}: yes").format(subject=subject)
        return w._("{subject}: no").format(subject=subject)
    if f.kind == "trend":
        if value > TREND_STEADY:
            return w._("{subject}: rising").format(subject=subject)
        if value < -TREND_STEADY:
            return w._("{subject}: falling").format(subject=subject)
        return w._("{subject}: steady").format(subject=subject)
    text = w._("{subject}: {value}").format(subject=subject, value=w.integer(value))
    if f.kind != "sum" or before is None or math.isnan(before):
        return text
    span = w._("the week before") if f.weeks == 1 else w._("the {n} weeks before").format(n=f.weeks)
    if round(value) > round(before):
        more = w._("{text}, up from {before} in {span}")
    elif round(value) < round(before):
        more = w._("{text}, down from {before} in {span}")
    else:
        more = w._("{text}, as in {span}")
    return more.format(text=text, before=w.integer(before), span=span)
