"""The report's frame: which publication it shows, whether it is a replay, how fresh each source's data are,
and which sources it must cite."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import pandas as pd

from civrisk.weeks import week_label
from publish.render.i18n import Words
from publish.render.labels import CITATIONS, SOURCES, source_label
from publish.store.store import Publication

REPLAY_AFTER = timedelta(days=28)
"""A report produced longer than this after its data end is a replay of the past (the banner says so):
a live weekly cycle publishes within days of its data cut-off."""


@dataclass(frozen=True)
class Header:
    """What publication the report shows and where it came from (dates formatted for the language)."""

    week_label: str
    week_start: str
    week_end: str
    published: str
    as_of: str
    model_name: str
    model_version: str
    revision: int
    fingerprint: str
    fingerprint_short: str


@dataclass(frozen=True)
class Replay:
    """The data end long before the report was produced: a replay of a past week, not today's outlook."""

    data_end: str
    produced: str
    gap: str
    text: str


@dataclass(frozen=True)
class FreshnessRow:
    """How recent one source's data are for one country; ``withheld``: all the country's sources are stale."""

    iso3: str
    country: str
    source: str
    source_label: str
    last_date: str
    weeks_since: int | None
    stale: bool
    withheld: bool


def header(pub: Publication, w: Words) -> Header:
    """Return the report's header of ``pub``."""
    monday = pd.Timestamp(pub.week)
    fp = str(pub.data_fingerprint)
    return Header(
        week_label=pub.week_label,
        week_start=w.day(monday),
        week_end=w.day(monday + pd.Timedelta(days=6)),
        published=f"{w.date(pd.Timestamp(pub.created_at))} {pd.Timestamp(pub.created_at):%H:%M} UTC",
        as_of=w.date(pd.Timestamp(pub.as_of)),
        model_name=pub.model_name,
        model_version=pub.model_version,
        revision=int(pub.revision),
        fingerprint=fp,
        fingerprint_short=fp.removeprefix("sha256:")[:12],
    )


def replay(pub: Publication, data_end: pd.Timestamp, w: Words) -> Replay | None:
    """Return the replay notice when ``pub`` was produced more than REPLAY_AFTER after ``data_end``."""
    produced = (
        pd.Timestamp(pub.created_at).tz_localize(None)
        if pd.Timestamp(pub.created_at).tzinfo
        else pd.Timestamp(pub.created_at)
    )
    gap = produced - data_end.normalize() - pd.Timedelta(days=1)
    if gap <= pd.Timedelta(REPLAY_AFTER):
        return None
    span = w.duration(gap.to_pytimedelta())
    text = w._(
        "Replay of a past week: the data end on {end}, {gap} before this report was produced ({made}). The "
        "forecasts are for the weeks from {start} ({week}), not for today, and its alerts were not sent at "
        "the time."
    ).format(
        end=w.date(data_end),
        gap=span,
        made=w.date(produced),
        start=w.date(pd.Timestamp(pub.week)),
        week=week_label(pub.week),
    )
    return Replay(w.date(data_end), w.date(produced), span, text)


def freshness_rows(
    freshness: pd.DataFrame | None, pub: Publication, country: Mapping[str, str], w: Words
) -> tuple[FreshnessRow, ...] | None:
    """Return one row per (source, country), withheld and stale first; None without freshness data.

    A country is withheld when all its sources are stale: one current source keeps its scores.
    """
    if freshness is None:
        return None
    missing = [c for c in ("source", "iso3", "last_date", "stale") if c not in freshness.columns]
    if missing:
        raise ValueError(f"freshness lacks columns {missing}; expected source, iso3, last_date, stale")
    codes = freshness["iso3"].astype(str)
    all_stale = freshness["stale"].astype(bool).groupby(codes.to_numpy()).all()
    ref = pd.Timestamp(pub.week)
    out = []
    for src, code, last, stale in zip(
        freshness["source"], codes, freshness["last_date"], freshness["stale"], strict=True
    ):
        last_ts = pd.Timestamp(last).tz_localize(None) if pd.notna(last) else None
        out.append(
            FreshnessRow(
                iso3=code,
                country=country.get(code) or w.country(code),
                source=str(src),
                source_label=source_label(str(src)),
                last_date=w._("never") if last_ts is None else w.date(last_ts),
                weeks_since=None if last_ts is None else int((ref - last_ts).days // 7),
                stale=bool(stale),
                withheld=bool(all_stale[code]),
            )
        )
    return tuple(sorted(out, key=lambda f: (not f.withheld, not f.stale, -(f.weeks_since or 0), f.country)))


def citations(sources: set[str] | None, w: Words) -> tuple[tuple[str, str], ...]:
    """Return (reference, translated note) of the sources used (every known one when unknown) and the
    boundaries."""
    used = [s for s in SOURCES if sources is None or s in sources]
    return tuple(
        (c.text, w._(c.note) if c.note else "") for key in (*used, "boundaries") for c in CITATIONS[key]
    )
