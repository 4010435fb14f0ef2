"""The weekly planner report: one self-contained HTML file (inline CSS and SVG; no scripts, fonts or tiles).

:func:`build_report_context` turns a publication's frames into a :class:`ReportContext` of plain data;
:func:`render_report` (pure) renders it with ``publish/templates/report.html.j2`` (autoescaped: region and
actor names come from data); :func:`write_report` writes it atomically. Sections, in order: header, summary,
map, the ranking of every region, the top regions in detail (what changed and why, trend, drivers), how
reliable this is, data freshness, caveats, data citations. A context is one language (``lang``): build one
per language the publication writes. :mod:`publish.render.report_pdf` prints the same HTML to PDF.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jinja2
import pandas as pd
import shapely
from markupsafe import Markup

from civrisk.atomic import write_text_atomic
from forecasting.drift import CalibrationWatch
from forecasting.targets import HEADLINE_TARGET
from publish.alerting.rules import AlertRules
from publish.render.i18n import SOURCE_LANGUAGE, Words, words
from publish.render.labels import FORECAST_GROUPS, GROUPS
from publish.render.report_charts import ReliabilityCurve, reliability_svg, trend_svg
from publish.render.report_header import (
    FreshnessRow,
    Header,
    Replay,
    citations,
    freshness_rows,
    header,
    replay,
)
from publish.render.report_map import (
    NO_SCORE_COLOUR,
    WITHHELD_FILL,
    MapData,
    MapLegend,
    build_map,
    render_map_svg,
)
from publish.render.report_regions import (
    Comparison,
    Observed,
    RegionDetail,
    before_values,
    comparison,
    region_details,
)
from publish.render.report_skill import (
    SkillRow,
    Verification,
    drift_lines,
    reliability_curves,
    skill_rows,
    verification_table,
)
from publish.render.report_summary import AlertScope, summary_lines
from publish.render.report_table import RegionRow, alert_labels, check_scores, ranked_rows
from publish.store.store import Publication

TEMPLATES = Path(__file__).parent / "templates"
MAP_WIDTH = 900
"""Pixels of the map's own coordinate system (it scales to the page; names are sized for print at A4)."""


@dataclass(frozen=True)
class ReportContext:
    """Everything the report shows, in one language, as plain data; :func:`render_report` lays it out.

    To add a section: a field here (built in :func:`build_report_context`) and a block in the template.
    """

    lang: str
    header: Header
    replay: Replay | None
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
    ranking: tuple[RegionRow, ...]
    details: tuple[RegionDetail, ...]
    compared: Comparison | None
    since: str | None
    """The comparison in words: "since 2022-W13 (13 weeks earlier)"; None without an earlier publication."""
    change_header: str
    alert_note: str | None
    skill_model: str | None
    skill: tuple[SkillRow, ...]
    reliability: tuple[ReliabilityCurve, ...]
    verification: Verification
    drift: tuple[str, ...]
    """The drift watch in words (``report_skill.drift_lines``); empty before a week is verified."""
    drift_alarm: bool
    """True when a country's published forecasts drift: the summary and the reliability section warn."""
    freshness: tuple[FreshnessRow, ...] | None
    group_notes: tuple[tuple[str, str], ...]
    citations: tuple[tuple[str, str], ...]

    @property
    def top(self) -> tuple[RegionRow, ...]:
        """Return the rows of the regions shown in detail."""
        return tuple(d.row for d in self.details)


def build_report_context(
    scores: pd.DataFrame,
    publication: Publication,
    regions: pd.DataFrame,
    *,
    lang: str = SOURCE_LANGUAGE,
    previous_scores: pd.DataFrame | None = None,
    boundaries: Mapping[str, shapely.Geometry] | None = None,
    countries: Mapping[str, shapely.Geometry] | None = None,
    history: pd.DataFrame | None = None,
    observed: pd.DataFrame | None = None,
    data_end: pd.Timestamp | None = None,
    drivers: pd.DataFrame | None = None,
    alerts: pd.DataFrame | None = None,
    alert_scope: AlertScope = AlertScope(),
    backtest_metrics: pd.DataFrame | None = None,
    backtest_model: str | None = None,
    reliability: pd.DataFrame | None = None,
    verification: pd.DataFrame | None = None,
    drift: Sequence[CalibrationWatch] = (),
    drift_weeks: int = 0,
    freshness: pd.DataFrame | None = None,
    sources: set[str] | None = None,
    horizon: int = 4,
    rules: AlertRules = AlertRules(),
    top_n: int = 10,
    history_weeks: int = 26,
) -> ReportContext:
    """Return the report's content for one publication, in language ``lang``.

    Args:
        scores: this publication's scores, long: region_id, iso3, region_name, horizon, target, p
            (probability; expected count for ``civ_deaths``), expected, q10, q50, q90. Targets read:
            civ_any (ranking, map, h = every horizon present), civ_mass, civ_any_state_allied,
            civ_any_jihadist_rebel, civ_any_militia, civ_deaths (at ``horizon``).
        publication: the store's Publication (week, revision, model, data fingerprint, as_of, created_at).
        regions: every region the service covers: region_id, iso3, name, lat, lon (centroid; NaN if none).
            Regions without a civ_any score are drawn grey ("no score": no data is not zero risk).
        previous_scores: the previous publication's scores (same layout, with its ``week``) for the change
            column, which names that week; None: none.
        boundaries: region_id -> shapely (Multi)Polygon in lon/lat (``report_map.boundary_geometries`` of
            ``ingest.boundaries.load_boundaries()``); regions without one are drawn as dots.
        countries: iso3 -> country polygon (e.g. ``boundary_geometries(load_countries())``) for context.
        history: region_id, week, p: civ_any at ``horizon`` in past published weeks (``target``/``horizon``
            columns, if present, are filtered to civ_any at ``horizon``); this publication's score is added.
        observed: the weekly panel of the data as of the cut-off (region_id, week, civ_deaths and the other
            measures of features.panel; NaN = not covered): civilians reported killed per week in the trend
            charts and summaries, and the "before" window of each driver.
        data_end: the last day the data describe (default: the day before ``publication.as_of``).
        drivers: region_id, feature, contribution [, value]: signed contributions to each region's score
            (e.g. SHAP values) and the feature's value; the three largest by size are shown in words.
        alerts: this publication's alert messages (region_id, rule, horizon, msg_type).
        alert_scope: whether alerts were evaluated for this publication (not for a backfill week).
        backtest_metrics: tidy backtest scores (model, target, horizon, metric, value [, subset, year, n]).
        backtest_model: the model name in ``backtest_metrics`` that was published (default: the
            publication's model name if present, else the only non-baseline model).
        reliability: reliability bins per horizon (horizon, p_mean, y_mean, n [, model, target]).
        verification: past published weeks scored against outcomes (week, metric, value [, target, horizon]).
        drift: published calibration per country over the last ``drift_weeks`` verified weeks
            (``publish.publication.drift``); a drifting country is named in the summary.
        freshness: source, iso3, last_date, stale: per source and country, the last event date; regions of
            countries whose every source is stale are withheld from the map and the ranking.
        sources: event sources used (cited); default: those in ``freshness``, else every known source.
        horizon: weeks ahead the map and ranking show (a target covers weeks t .. t+horizon-1).
        rules: alert rules; the level rule's enter level at ``horizon`` is the one the summary counts against.
        top_n: regions shown in detail (what changed and why, trend, drivers); the ranking lists all.
    """
    w = words(lang)
    s = check_scores(scores, "scores")
    head = s[(s["target"] == HEADLINE_TARGET) & (s["horizon"] == horizon)]
    if head.empty:
        have = sorted(set(s.loc[s["target"] == HEADLINE_TARGET, "horizon"]))
        raise ValueError(
            f"scores hold no {HEADLINE_TARGET} probabilities at horizon {horizon} (civ_any horizons present: "
            f"{have}); pass horizon= one of them"
        )
    reg = _regions(regions, s)
    country = {c: w.country(c) for c in sorted(set(reg["iso3"]) | set(s["iso3"]))}
    names = dict(zip(reg["region_id"], reg["name"], strict=True))
    fresh = freshness_rows(freshness, publication, country, w)
    stale = {f.iso3 for f in fresh or () if f.withheld}
    week = pd.Timestamp(publication.week)
    end = (
        pd.Timestamp(data_end)
        if data_end is not None
        else pd.Timestamp(publication.as_of).normalize() - pd.Timedelta(days=1)
    )
    obs = Observed.of(observed, end - pd.Timedelta(days=end.dayofweek))
    prev_p, compared = _previous(previous_scores, horizon, week, w)
    rows = ranked_rows(
        s,
        horizon,
        names,
        country,
        stale,
        prev_p,
        drivers,
        alert_labels(alerts, w),
        top_n,
        w,
        before_values(drivers, obs),
    )
    p_head = {r: p for r, p in zip(head["region_id"], head["p"], strict=True) if not math.isnan(p)}
    skill_model, skill = skill_rows(
        backtest_metrics, HEADLINE_TARGET, w, backtest_model, publication.model_name
    )
    withheld = tuple(sorted(country.get(c, c) for c in stale & set(reg["iso3"])))
    n_no_score = int(
        sum(
            1
            for r, c in zip(reg["region_id"], reg["iso3"], strict=True)
            if r not in p_head and c not in stale
        )
    )
    used = (
        sources
        if sources is not None
        else (set(freshness["source"].astype(str)) if freshness is not None else None)
    )
    drift_text = drift_lines(drift, drift_weeks, w)
    alarm = any(c.drifting for c in drift)
    return ReportContext(
        lang=w.lang,
        header=header(publication, w),
        replay=replay(publication, end, w),
        summary=summary_lines(
            rows, horizon, rules.alert_level(horizon), alerts, compared, withheld, n_no_score, alert_scope, w
        )
        + (drift_text if alarm else ()),
        horizon=horizon,
        horizon_text=w.weeks(horizon),
        horizons=tuple(sorted(set(s.loc[s["target"] == HEADLINE_TARGET, "horizon"]))),
        threshold=rules.alert_level(horizon),
        map=_map(
            reg, rows, stale, boundaries, countries, country, horizon, publication.week_label, compared, w
        ),
        n_regions=len(reg),
        n_scored=len(p_head),
        n_withheld=int(reg["iso3"].isin(stale).sum()),
        n_no_score=n_no_score,
        withheld_countries=withheld,
        ranking=rows,
        details=region_details(
            rows[:top_n],
            len(rows),
            horizon,
            compared,
            _history(history, horizon, week, history_weeks),
            obs,
            week,
            end,
            w,
        ),
        compared=compared,
        since=compared.since(w) if compared else None,
        change_header=(
            w._("Change {since}").format(since=compared.since(w))
            if compared
            else w._("Change (no earlier publication)")
        ),
        alert_note=alert_scope.why_none(w),
        skill_model=skill_model,
        skill=skill,
        reliability=reliability_curves(reliability, HEADLINE_TARGET, skill_model),
        verification=verification_table(verification, HEADLINE_TARGET, w),
        drift=drift_text,
        drift_alarm=alarm,
        freshness=fresh,
        group_notes=tuple((w._(GROUPS[g].label), w._(GROUPS[g].note)) for g in FORECAST_GROUPS),
        citations=citations(used, w),
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


def _previous(
    previous: pd.DataFrame | None, horizon: int, week: pd.Timestamp, w: Words
) -> tuple[dict[str, float] | None, Comparison | None]:
    if previous is None or previous.empty:
        return None, None
    prev = check_scores(previous, "previous_scores")
    part = prev[(prev["target"] == HEADLINE_TARGET) & (prev["horizon"] == horizon)]
    when = None
    if "week" in prev.columns and prev["week"].notna().any():
        when = pd.Timestamp(prev["week"].dropna().iloc[0])
    compared = comparison(when, week) if when is not None else Comparison(w._("the previous publication"), 0)
    return dict(zip(part["region_id"], part["p"], strict=True)), compared


def _map(
    reg: pd.DataFrame,
    rows: tuple[RegionRow, ...],
    stale: set[str],
    boundaries: Mapping[str, shapely.Geometry] | None,
    countries: Mapping[str, shapely.Geometry] | None,
    country: Mapping[str, str],
    horizon: int,
    label: str,
    compared: Comparison | None,
    w: Words,
) -> MapData:
    by_id = {r.region_id: r for r in rows}
    wk = w.weeks(horizon)
    fills, titles, ranks = [], [], []
    for rid, name, iso in zip(reg["region_id"], reg["name"], reg["iso3"], strict=True):
        where = f"{name}, {country.get(iso, iso)}"
        row = by_id.get(rid)
        if iso in stale:
            fills.append(WITHHELD_FILL)
            titles.append(
                w._("{where}: score withheld, the data for {country} are out of date").format(
                    where=where, country=country.get(iso, iso)
                )
            )
            ranks.append(pd.NA)
        elif row is None:
            fills.append(NO_SCORE_COLOUR)
            titles.append(w._("{where}: no score this week (no data; not zero risk)").format(where=where))
            ranks.append(pd.NA)
        else:
            fills.append(row.fill)
            tip = w._("{where}: {p} chance civilians are killed within {wk} (rank {rank})").format(
                where=where, p=w.pct(row.p), wk=wk, rank=row.rank
            )
            if row.change is not None and compared is not None:
                tip += "; " + w._("{change} {since}").format(change=row.change_text, since=compared.since(w))
            titles.append(tip)
            ranks.append(row.rank)
    frame = reg.assign(fill=fills, title=titles, rank=pd.array(ranks, dtype="Int64"))
    names = {**{c: w.country(c) for c in (countries or {})}, **country}
    title = w._(
        "Chance that at least one civilian is killed in organised violence within {wk}, by region ({week})"
    ).format(wk=wk, week=label)
    legend = MapLegend(
        title=w._("Chance at least one civilian is killed within {wk}").format(wk=wk),
        no_score=w._("no score (no data)"),
        withheld=w._("withheld (stale data)"),
        rank=w._("rank in the ranking"),
    )
    return build_map(frame, boundaries, countries, names, title=title, legend=legend, width=MAP_WIDTH)


def _history(history: pd.DataFrame | None, horizon: int, week: pd.Timestamp, weeks: int) -> pd.DataFrame:
    """Return region_id, week, p of the published headline chance in the ``weeks`` weeks before ``week``."""
    h = pd.DataFrame(columns=["region_id", "week", "p"]) if history is None else history
    missing = [c for c in ("region_id", "week", "p") if c not in h.columns]
    if missing:
        raise ValueError(f"history lacks columns {missing}; expected region_id, week, p")
    if "target" in h.columns:  # a store history holds every target and horizon: keep the headline one
        h = h[h["target"].astype(str) == HEADLINE_TARGET]
    if "horizon" in h.columns:
        h = h[h["horizon"] == horizon]
    h = h.assign(region_id=h["region_id"].astype(str), week=pd.to_datetime(h["week"]), p=h["p"].astype(float))
    # this week's point is always this publication's score (the history may hold another revision)
    return h[(h["week"] < week) & (h["week"] > week - pd.Timedelta(weeks=weeks))][["region_id", "week", "p"]]


@cache
def _environment(lang: str) -> jinja2.Environment:
    """Return the template environment of one language (its gettext installed: one per language)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    w = words(lang)
    env.install_gettext_translations(w.translations, newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(
        pct=w.pct, count=w.count, integer=w.integer, decimal=w.decimal, skill=w.skill, signed=w.signed
    )
    return env


def render_report(ctx: ReportContext) -> str:
    """Return the report as one self-contained HTML document (pure: same context, same text)."""
    template = _environment(ctx.lang).get_template("report.html.j2")
    return template.render(
        ctx=ctx,
        map_svg=Markup(render_map_svg(ctx.map)),
        trends=[Markup(trend_svg(d.trend, ctx.threshold)) for d in ctx.details],
        reliability_svg=Markup(reliability_svg(ctx.reliability, words(ctx.lang)))
        if ctx.reliability
        else None,
    )


def write_report(ctx: ReportContext, path: str | Path) -> Path:
    """Render the report and write it to ``path`` atomically; return ``path``."""
    return write_text_atomic(path, render_report(ctx))
