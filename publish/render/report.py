"""The weekly planner report: one self-contained HTML file (inline CSS and SVG; no scripts, fonts or tiles).

:func:`build_report_context` turns a publication's frames into a :class:`ReportContext` of plain data;
:func:`render_report` (pure) renders it with ``publish/templates/report.html.j2`` (autoescaped: region and
actor names come from data); :func:`write_report` writes it atomically. Sections, in order: header, summary,
map, ranked regions, history, how reliable this is, data freshness, caveats, data citations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jinja2
import pandas as pd
import shapely
from markupsafe import Markup

from civrisk.atomic import write_text_atomic
from civrisk.weeks import week_label
from forecasting.targets import HEADLINE_TARGET
from ingest.countries import iso3_name
from publish.alerting.rules import AlertRules
from publish.render.report_charts import ReliabilityCurve, Sparkline, reliability_svg, sparkline_svg
from publish.render.report_map import NO_SCORE_COLOUR, WITHHELD_FILL, MapData, build_map, render_map_svg
from publish.render.report_skill import (
    SkillRow,
    Verification,
    reliability_curves,
    skill_rows,
    verification_table,
)
from publish.render.report_summary import summary_lines
from publish.render.report_table import RegionRow, alert_labels, check_scores, ranked_rows
from publish.render.report_text import (
    GROUP_LABELS,
    GROUP_NOTES,
    SOURCE_LABELS,
    fmt_count,
    fmt_pct,
    fmt_signed,
    weeks_text,
)
from publish.store.store import Publication

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Header:
    """What publication the report shows and where it came from."""

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


@dataclass(frozen=True)
class ReportContext:
    """Everything the report shows, as plain data; :func:`render_report` only lays it out."""

    header: Header
    summary: tuple[str, ...]
    horizon: int
    horizon_text: str
    horizons: tuple[int, ...]
    threshold: float | None
    map: MapData
    n_regions: int
    n_scored: int
    n_withheld: int
    n_no_score: int
    withheld_countries: tuple[str, ...]
    top: tuple[RegionRow, ...]
    ranking: tuple[RegionRow, ...]
    previous_label: str | None
    history: tuple[Sparkline, ...]
    skill_model: str | None
    skill: tuple[SkillRow, ...]
    reliability: tuple[ReliabilityCurve, ...]
    verification: Verification
    freshness: tuple[FreshnessRow, ...] | None
    group_labels: tuple[tuple[str, str], ...]


def build_report_context(
    scores: pd.DataFrame,
    publication: Publication,
    regions: pd.DataFrame,
    *,
    previous_scores: pd.DataFrame | None = None,
    boundaries: Mapping[str, shapely.Geometry] | None = None,
    countries: Mapping[str, shapely.Geometry] | None = None,
    history: pd.DataFrame | None = None,
    drivers: pd.DataFrame | None = None,
    alerts: pd.DataFrame | None = None,
    backtest_metrics: pd.DataFrame | None = None,
    backtest_model: str | None = None,
    reliability: pd.DataFrame | None = None,
    verification: pd.DataFrame | None = None,
    freshness: pd.DataFrame | None = None,
    horizon: int = 4,
    rules: AlertRules = AlertRules(),
    top_n: int = 50,
    history_regions: int = 8,
    history_weeks: int = 26,
) -> ReportContext:
    """Return the report's content for one publication.

    Args:
        scores: this publication's scores, long: region_id, iso3, region_name, horizon, target, p
            (probability; expected count for ``civ_deaths``), expected, q10, q50, q90. Targets read:
            civ_any (ranking, map, h = every horizon present), civ_mass, civ_any_state_allied,
            civ_any_jihadist_rebel, civ_any_militia, civ_deaths (at ``horizon``).
        publication: the store's Publication (week, revision, model, data fingerprint, as_of, created_at).
        regions: every region the service covers: region_id, iso3, name, lat, lon (centroid; NaN if none).
            Regions without a civ_any score are drawn grey ("no score": no data is not zero risk).
        previous_scores: last week's scores (same layout) for the change column and rises; None: none.
        boundaries: region_id -> shapely (Multi)Polygon in lon/lat (``report_map.boundary_geometries`` of
            ``ingest.boundaries.load_boundaries()``); regions without one are drawn as dots.
        countries: iso3 -> country polygon (e.g. ``boundary_geometries(load_countries())``) for context.
        history: region_id, week, p: civ_any at ``horizon`` in past published weeks (``history_weeks``
            kept; ``target``/``horizon`` columns, if present, are filtered to civ_any at ``horizon``);
            the last point is always this publication's score.
        drivers: region_id, feature, contribution: signed contributions to each region's score
            (e.g. SHAP values); the three largest by size are shown in words.
        alerts: this publication's alert messages (region_id, rule, horizon, msg_type).
        backtest_metrics: tidy backtest scores (model, target, horizon, metric, value [, subset, year, n]).
        backtest_model: the model name in ``backtest_metrics`` that was published (default: the
            publication's model name if present, else the only non-baseline model).
        reliability: reliability bins per horizon (horizon, p_mean, y_mean, n [, model, target]).
        verification: past published weeks scored against outcomes (week, metric, value [, target, horizon]);
            metrics brier, hits, misses, false_alarms are named in words.
        freshness: source, iso3, last_date, stale: per source and country, the last event date; regions of
            countries whose every source is stale are withheld from the map and the ranking.
        horizon: weeks ahead the map and ranking show (a target covers weeks t .. t+horizon-1).
        rules: alert rules; ``rules.threshold`` is the level the summary counts against.
        top_n: rows of the main table (the full ranking sits in a collapsed section).
    """
    s = check_scores(scores, "scores")
    head = s[(s["target"] == HEADLINE_TARGET) & (s["horizon"] == horizon)]
    if head.empty:
        have = sorted(set(s.loc[s["target"] == HEADLINE_TARGET, "horizon"]))
        raise ValueError(
            f"scores hold no {HEADLINE_TARGET} probabilities at horizon {horizon} (civ_any horizons present: "
            f"{have}); pass horizon= one of them"
        )
    reg = _regions(regions, s)
    country = _country_names(set(reg["iso3"]) | set(s["iso3"]))
    names = dict(zip(reg["region_id"], reg["name"], strict=True))
    fresh = _freshness(freshness, publication, country)
    stale = {f.iso3 for f in fresh or () if f.withheld}
    prev_p, prev_label = _previous(previous_scores, horizon)
    rows = ranked_rows(
        s, horizon, names, country, stale, prev_p, drivers, alert_labels(alerts), n_drivers=top_n
    )
    p_head = {r: p for r, p in zip(head["region_id"], head["p"], strict=True) if not math.isnan(p)}
    skill_model, skill = skill_rows(backtest_metrics, HEADLINE_TARGET, backtest_model, publication.model_name)
    withheld = tuple(sorted(country.get(c, c) for c in stale & set(reg["iso3"])))
    n_no_score = int(
        sum(
            1
            for r, c in zip(reg["region_id"], reg["iso3"], strict=True)
            if r not in p_head and c not in stale
        )
    )
    return ReportContext(
        header=_header(publication),
        summary=summary_lines(rows, horizon, rules.threshold, alerts, prev_label, withheld, n_no_score),
        horizon=horizon,
        horizon_text=weeks_text(horizon),
        horizons=tuple(sorted(set(s.loc[s["target"] == HEADLINE_TARGET, "horizon"]))),
        threshold=rules.threshold,
        map=_map(reg, rows, stale, boundaries, countries, country, horizon, publication.week_label),
        n_regions=len(reg),
        n_scored=len(p_head),
        n_withheld=int(reg["iso3"].isin(stale).sum()),
        n_no_score=n_no_score,
        withheld_countries=withheld,
        top=rows[:top_n],
        ranking=rows,
        previous_label=prev_label,
        history=_history(history, rows[:history_regions], publication, history_weeks, horizon),
        skill_model=skill_model,
        skill=skill,
        reliability=reliability_curves(reliability, HEADLINE_TARGET, skill_model),
        verification=verification_table(verification, HEADLINE_TARGET),
        freshness=fresh,
        group_labels=tuple((GROUP_LABELS[g], GROUP_NOTES[g]) for g in GROUP_NOTES),
    )


def _regions(regions: pd.DataFrame, s: pd.DataFrame) -> pd.DataFrame:
    """Return region_id, iso3, name, lat, lon for every region: the registry plus any scored extra."""
    missing = [c for c in ("region_id", "iso3", "name", "lat", "lon") if c not in regions.columns]
    if missing:
        raise ValueError(f"regions lack columns {missing}; expected region_id, iso3, name, lat, lon")
    reg = regions[["region_id", "iso3", "name", "lat", "lon"]].copy()
    reg["region_id"] = reg["region_id"].astype(str)
    reg["iso3"] = reg["iso3"].astype(str)
    if reg["region_id"].duplicated().any():
        dup = sorted(set(reg.loc[reg["region_id"].duplicated(), "region_id"]))[:5]
        raise ValueError(f"regions repeat region ids {dup}; expected one row per region")
    extra = s.drop_duplicates("region_id")
    extra = extra[~extra["region_id"].isin(reg["region_id"])]
    if len(extra):
        label = extra["region_name"] if "region_name" in extra.columns else extra["region_id"]
        reg = pd.concat(
            [reg, pd.DataFrame({"region_id": extra["region_id"], "iso3": extra["iso3"], "name": label})],
            ignore_index=True,
        )
    from_scores = (
        dict(zip(s["region_id"], s["region_name"], strict=False)) if "region_name" in s.columns else {}
    )
    reg["name"] = [
        str(n) if pd.notna(n) and str(n) else str(from_scores.get(r) or r)
        for r, n in zip(reg["region_id"], reg["name"], strict=True)
    ]
    return reg.reset_index(drop=True)


def _country_names(codes: set[str]) -> dict[str, str]:
    named = iso3_name(pd.Series(sorted(codes), dtype="string"))
    return {c: (str(n) if pd.notna(n) else c) for c, n in zip(sorted(codes), named, strict=True)}


def _header(pub: Publication) -> Header:
    monday = pd.Timestamp(pub.week)
    fp = str(pub.data_fingerprint)
    return Header(
        week_label=pub.week_label,
        week_start=f"{monday:%a %d %b %Y}",
        week_end=f"{monday + pd.Timedelta(days=6):%a %d %b %Y}",
        published=f"{pd.Timestamp(pub.created_at):%Y-%m-%d %H:%M} UTC",
        as_of=f"{pd.Timestamp(pub.as_of):%Y-%m-%d}",
        model_name=pub.model_name,
        model_version=pub.model_version,
        revision=int(pub.revision),
        fingerprint=fp,
        fingerprint_short=fp.removeprefix("sha256:")[:12],
    )


def _previous(previous: pd.DataFrame | None, horizon: int) -> tuple[dict[str, float] | None, str | None]:
    if previous is None or previous.empty:
        return None, None
    prev = check_scores(previous, "previous_scores")
    part = prev[(prev["target"] == HEADLINE_TARGET) & (prev["horizon"] == horizon)]
    label = "the previous publication"
    if "week" in prev.columns and prev["week"].notna().any():
        label = week_label(pd.Timestamp(prev["week"].dropna().iloc[0]).date())
    return dict(zip(part["region_id"], part["p"], strict=True)), label


def _freshness(
    freshness: pd.DataFrame | None, pub: Publication, country: dict[str, str]
) -> tuple[FreshnessRow, ...] | None:
    """Return one row per (source, country), withheld and stale first.

    A country is withheld when all its sources are stale: one current source keeps its scores.
    """
    if freshness is None:
        return None
    missing = [c for c in ("source", "iso3", "last_date", "stale") if c not in freshness.columns]
    if missing:
        raise ValueError(f"freshness lacks columns {missing}; expected source, iso3, last_date, stale")
    codes = freshness["iso3"].astype(str)
    names = {**_country_names(set(codes) - set(country)), **country}
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
                country=names[code],
                source=str(src),
                source_label=SOURCE_LABELS.get(str(src), str(src)),
                last_date="never" if last_ts is None else f"{last_ts:%Y-%m-%d}",
                weeks_since=None if last_ts is None else int((ref - last_ts).days // 7),
                stale=bool(stale),
                withheld=bool(all_stale[code]),
            )
        )
    return tuple(sorted(out, key=lambda f: (not f.withheld, not f.stale, -(f.weeks_since or 0), f.country)))


def _map(
    reg: pd.DataFrame,
    rows: tuple[RegionRow, ...],
    stale: set[str],
    boundaries: Mapping[str, shapely.Geometry] | None,
    countries: Mapping[str, shapely.Geometry] | None,
    country: Mapping[str, str],
    horizon: int,
    label: str,
) -> MapData:
    by_id = {r.region_id: r for r in rows}
    wk = weeks_text(horizon)
    fills, titles, ranks = [], [], []
    for rid, name, iso in zip(reg["region_id"], reg["name"], reg["iso3"], strict=True):
        where = f"{name}, {country.get(iso, iso)}"
        row = by_id.get(rid)
        if iso in stale:
            fills.append(WITHHELD_FILL)
            titles.append(f"{where}: score withheld, the data for {country.get(iso, iso)} are out of date")
            ranks.append(pd.NA)
        elif row is None:
            fills.append(NO_SCORE_COLOUR)
            titles.append(f"{where}: no score this week (no data; not zero risk)")
            ranks.append(pd.NA)
        else:
            fills.append(row.fill)
            change = "" if row.change is None else f"; {row.change_text} since last week"
            titles.append(
                f"{where}: {fmt_pct(row.p)} chance civilians are killed within {wk} (rank {row.rank}{change})"
            )
            ranks.append(row.rank)
    frame = reg.assign(fill=fills, title=titles, rank=pd.array(ranks, dtype="Int64"))
    names = {**_country_names(set(countries or {})), **country}
    title = (
        f"Chance that at least one civilian is killed in organised violence within {wk}, by region ({label})"
    )
    legend = f"Chance at least one civilian is killed within {wk}"
    return build_map(frame, boundaries, countries, names, title=title, legend_title=legend, width=1000)


def _history(
    history: pd.DataFrame | None, rows: tuple[RegionRow, ...], pub: Publication, weeks: int, horizon: int
) -> tuple[Sparkline, ...]:
    if not rows:
        return ()
    h = pd.DataFrame(columns=["region_id", "week", "p"]) if history is None else history
    missing = [c for c in ("region_id", "week", "p") if c not in h.columns]
    if missing:
        raise ValueError(f"history lacks columns {missing}; expected region_id, week, p")
    if "target" in h.columns:  # a store history holds every target and horizon: keep the headline one
        h = h[h["target"].astype(str) == HEADLINE_TARGET]
    if "horizon" in h.columns:
        h = h[h["horizon"] == horizon]
    now = pd.Timestamp(pub.week)
    ids = [r.region_id for r in rows]
    h = h[h["region_id"].astype(str).isin(ids)].assign(
        region_id=lambda d: d["region_id"].astype(str), week=lambda d: pd.to_datetime(d["week"])
    )
    # this week's point is always this publication's score (the history may hold another revision)
    h = h[(h["week"] < now) & (h["week"] > now - pd.Timedelta(weeks=weeks))].sort_values("week")
    out = []
    for r in rows:
        g = h[h["region_id"] == r.region_id]
        w = [*(week_label(x.date()) for x in g["week"]), pub.week_label]
        v = [*(float(x) for x in g["p"]), r.p]
        out.append(Sparkline(r.region_id, r.name, r.country, tuple(w), tuple(v)))
    return tuple(out)


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(pct=fmt_pct, count=fmt_count, signed=fmt_signed)
    return env


def render_report(ctx: ReportContext) -> str:
    """Return the report as one self-contained HTML document (pure: same context, same text)."""
    template = _environment().get_template("report.html.j2")
    threshold = ctx.threshold
    return template.render(
        ctx=ctx,
        map_svg=Markup(render_map_svg(ctx.map)),
        sparks=[Markup(sparkline_svg(line, threshold)) for line in ctx.history],
        reliability_svg=Markup(reliability_svg(ctx.reliability)) if ctx.reliability else None,
    )


def write_report(ctx: ReportContext, path: str | Path) -> Path:
    """Render the report and write it to ``path`` atomically; return ``path``."""
    return write_text_atomic(path, render_report(ctx))
