"""The words of a CAP alert in one language: event, headline, description and instruction.

Built from the message's numbers (probability, level, the previous publication's probability and week),
never from the English ``reason`` the alert rules store, so every language says the same thing.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import TYPE_CHECKING

from civrisk.weeks import week_label
from forecasting.targets import MASS_KILLING_MIN
from publish.render.i18n import Words
from publish.render.labels import GROUPS, group_name

if TYPE_CHECKING:
    from publish.render.cap import CapMessage

_FLOOR = re.compile(r"(?:still at or above|fell below) (\d+(?:\.\d+)?)")
_RECENT = re.compile(r"recent rate (\d+(?:\.\d+)?)")
_MOVED = re.compile(r"moved the alert (up|down) to the level")


def event(w: Words) -> str:
    """Return the CAP ``event``."""
    return w._("Risk of civilian harm from organized violence")


def _what(target: str, w: Words) -> str:
    if target == "civ_mass":
        return w._("a week with {n} or more civilians killed by organized violence").format(
            n=int(MASS_KILLING_MIN)
        )
    if target.startswith("civ_any_"):
        group = target.removeprefix("civ_any_")
        by = w._(GROUPS[group].by) if group in GROUPS else group
        return w._("civilians being killed {by}").format(by=by)
    return w._("at least one civilian being killed by organized violence")


def window(m: CapMessage, w: Words) -> str:
    """Return the forecast window in words ("in the 4 weeks from 1 June to 28 June 2020")."""
    end = m.week + timedelta(weeks=m.horizon, days=-1)
    if m.horizon == 1:
        return w._("in the week of {day} ({week})").format(day=w.date(m.week), week=week_label(m.week))
    return w._("in the {n} weeks from {start} to {end}").format(
        n=m.horizon, start=w.date(m.week), end=w.date(end)
    )


def headline(m: CapMessage, area: str, w: Words) -> str:
    """Return the headline (at most 160 characters)."""
    weeks = w._("next week") if m.horizon == 1 else w._("next {n} weeks").format(n=m.horizon)
    if m.msg_type == "Cancel":
        text = w._("{area}: alert ended, risk now {p} ({weeks})").format(area=area, p=w.pct(m.p), weeks=weeks)
    elif m.target == "civ_mass":
        text = w._("{area}: {p} risk of mass killing of civilians ({weeks})").format(
            area=area, p=w.pct(m.p), weeks=weeks
        )
    else:
        text = w._("{area}: {p} risk of civilians killed ({weeks})").format(
            area=area, p=w.pct(m.p), weeks=weeks
        )
    return text if len(text) <= 160 else text[:157] + "..."


def _previous(m: CapMessage, w: Words) -> str | None:
    if m.p_prev is None or m.p is None:
        return None
    if m.previous_week is None:
        return w._("The previous published forecast for the same horizon was {p}.").format(p=w.pct(m.p_prev))
    weeks = (m.week - m.previous_week).days // 7
    if weeks == 1:
        return w._("Last week's forecast ({week}) for the same horizon was {p}.").format(
            week=week_label(m.previous_week), p=w.pct(m.p_prev)
        )
    return w._("The forecast published for {week} ({n} weeks earlier), same horizon, was {p}.").format(
        week=week_label(m.previous_week), n=weeks, p=w.pct(m.p_prev)
    )


def _why(m: CapMessage, w: Words) -> str:
    """Return why the message was sent, from its numbers."""
    opened = week_label(m.first_week)
    if m.msg_type == "Alert":
        if m.rule == "rise" and m.p_prev is not None and m.p is not None:
            return w._(
                "Alert raised because the chance rose by {pts} percentage points, from {a} to {b} (an alert "
                "is raised on a rise of {rise} points or more)."
            ).format(
                pts=round((m.p - m.p_prev) * 100),
                a=w.pct(m.p_prev),
                b=w.pct(m.p),
                rise=round((m.level - m.p_prev) * 100),
            )
        recent = _RECENT.search(m.reason)
        if m.rule == "escalation" and recent and m.p is not None:
            base = float(recent.group(1))
            return w._(
                "Alert raised because the chance, {p}, is {pts} percentage points above this region's rate "
                "over the last year ({base})."
            ).format(p=w.pct(m.p), pts=round((m.p - base) * 100), base=w.pct(base))
        return w._("Alert raised because the chance, {p}, reached the alert level of {level}.").format(
            p=w.pct(m.p), level=w.pct(m.level)
        )
    if m.p is None:
        return w._(
            "The alert opened in {week} is cancelled: there is no score for this region this week (risk "
            "unknown, not low)."
        ).format(week=opened)
    floor = _FLOOR.search(m.reason)
    moved = _MOVED.search(m.reason)
    if m.msg_type == "Update" and moved:
        if moved.group(1) == "up":
            text = w._("The alert opened in {week} moves up to the level of {level}: the chance is now {p}.")
        else:
            text = w._(
                "The alert opened in {week} moves down to the level of {level}: the chance is now {p}."
            )
        return text.format(week=opened, level=w.pct(m.level), p=w.pct(m.p))
    recent = _RECENT.search(m.reason)
    if m.msg_type == "Cancel" and m.rule == "escalation" and recent:
        return w._(
            "The alert opened in {week} is cancelled: the chance, {p}, is no longer well above this region's "
            "rate over the last year ({base})."
        ).format(week=opened, p=w.pct(m.p), base=w.pct(float(recent.group(1))))
    if m.msg_type == "Update":
        if floor:
            return w._(
                "The alert opened in {week} remains in force: the chance, {p}, is still at or above {floor}."
            ).format(week=opened, p=w.pct(m.p), floor=w.pct(float(floor.group(1))))
        return w._("The alert opened in {week} remains in force: the chance is now {p}.").format(
            week=opened, p=w.pct(m.p)
        )
    if floor:
        return w._("The alert opened in {week} is cancelled: the chance, {p}, fell below {floor}.").format(
            week=opened, p=w.pct(m.p), floor=w.pct(float(floor.group(1)))
        )
    return w._("The alert opened in {week} is cancelled: the chance is now {p}.").format(
        week=opened, p=w.pct(m.p)
    )


def description(m: CapMessage, area: str, w: Words) -> str:
    """Return the description: probability, window, previous forecast, why, perpetrator groups, model."""
    if m.p is None:
        parts = [
            w._("civrisk has no forecast of {what} in {area} {window}.").format(
                what=_what(m.target, w), area=area, window=window(m, w)
            )
        ]
    else:
        parts = [
            w._("civrisk estimates a {p} probability of {what} in {area} {window}.").format(
                p=w.pct(m.p), what=_what(m.target, w), area=area, window=window(m, w)
            )
        ]
    prev = _previous(m, w)
    if prev:
        parts.append(prev)
    parts.append(_why(m, w))
    if m.drivers:
        groups = w.join([f"{group_name(w, g)} ({w.pct(p)})" for g, p in m.drivers])
        parts.append(
            w._("Probability of civilians killed by each perpetrator group: {groups}.").format(groups=groups)
        )
    if m.as_of is not None and m.sent.date() - m.as_of > timedelta(days=28):
        parts.append(
            w._("Replay: these forecasts rest on data up to {day} and were sent on {sent}.").format(
                day=w.date(m.as_of), sent=w.date(m.sent)
            )
        )
    parts.append(
        w._(
            "Forecast of model {model} version {version} for {week}, from reported conflict events; it is a "
            "calibrated probability, not a report that violence has happened."
        ).format(model=m.model_name, version=m.model_version, week=week_label(m.week))
    )
    return " ".join(parts)


def instruction(m: CapMessage, area: str, w: Words) -> str:
    """Return the instruction."""
    if m.msg_type == "Cancel":
        return w._("No action is needed because of this alert; keep following the weekly forecasts.")
    return w._(
        "Review protection, access and contingency plans for {area} and check current field reports. The "
        "forecast gives a likelihood, not certainty: use it alongside local knowledge."
    ).format(area=area)


def note(status: str, w: Words) -> str:
    """Return the CAP ``note`` of a message that is not an actual alert."""
    return w._("{status} message from civrisk: not an actual alert.").format(status=status)


def as_date(value: object) -> date | None:
    """Return a date from a date, datetime or ISO string (None for None)."""
    import pandas as pd

    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return pd.Timestamp(value).date()
