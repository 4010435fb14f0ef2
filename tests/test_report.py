"""The weekly planner report: content of every section, escaping, self-containment, errors, speed."""

from __future__ import annotations

import re
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
import shapely

from publish.render.i18n import words
from publish.render.report import build_report_context, render_report, write_report
from publish.render.report_map import RISK_COLOURS, boundary_geometries, risk_colour
from publish.render.report_summary import AlertScope
from publish.render.report_text import driver_text, feature_words
from tests.report_synth import backtest_metrics, publication, synthetic_inputs

EN = words("en")
SECTION_IDS = (
    "header",
    "summary",
    "map",
    "ranking",
    "regions",
    "reliability-section",
    "freshness",
    "caveats",
    "citations",
)
EVIL = "<script>alert('x')</script>"


def html_of(**overrides: object) -> tuple[object, str]:
    kwargs = synthetic_inputs()
    kwargs.update(overrides)
    ctx = build_report_context(**kwargs)  # type: ignore[arg-type]
    return ctx, render_report(ctx)


def test_every_section_is_present_in_order():
    ctx, html = html_of()
    positions = [html.index(f'id="{s}"') for s in SECTION_IDS]
    assert positions == sorted(positions)
    assert "2020-W23" in html and "revision" in html.lower() and "xgb-civ v12" in html
    assert "0123456789ab" in html  # short data fingerprint
    assert "Data as of" in html and "1 June 2020" in html and "1 June 2020 06:30 UTC" in html
    assert html.count('class="region-row"') == len(ctx.ranking) == 12  # type: ignore[attr-defined]
    assert html.count('class="card"') == len(ctx.details) == 10  # type: ignore[attr-defined]
    # only the sources used are cited: ACLED and UCDP Candidate here, never UCDP GED
    for citation in ("Hegre, H., Croicu", "Raleigh, C.", "Runfola", "Natural Earth"):
        assert citation in html
    assert "Sundberg" not in html and "Davies, S., Engström" not in html
    assert "no data is not zero violence" in html.lower()


def test_table_ranks_by_headline_probability_with_every_column():
    kwargs = synthetic_inputs()
    ctx = build_report_context(**kwargs)  # type: ignore[arg-type]
    s = kwargs["scores"]
    head = s[(s["target"] == "civ_any") & (s["horizon"] == 4)].sort_values("p", ascending=False)
    assert [r.region_id for r in ctx.ranking] == head["region_id"].tolist()
    first = ctx.ranking[0]
    assert first.rank == 1 and first.p == pytest.approx(head["p"].iloc[0])
    assert [h for h, _ in first.p_by_horizon] == [1, 4, 12]
    deaths = s[(s["region_id"] == first.region_id) & (s["target"] == "civ_deaths") & (s["horizon"] == 4)]
    assert first.deaths == pytest.approx(deaths["expected"].iloc[0])
    assert first.deaths_q10 == deaths["q10"].iloc[0] and first.deaths_q90 == deaths["q90"].iloc[0]
    assert [g.group for g in first.groups] and [g.p for g in first.groups] == sorted(
        (g.p for g in first.groups), reverse=True
    )
    assert len(first.drivers) == 3
    sizes = [abs(d.contribution) for d in first.drivers]
    assert sizes == sorted(sizes, reverse=True)
    html = render_report(ctx)
    row = html[html.index(f'data-region="{first.region_id}"', html.index('id="ranked-regions"')) :]
    row = row[: row.index("</tr>")]
    assert EN.pct(first.p) in row and first.change_text in row and first.groups[0].short in row


def test_change_since_last_week_and_rises_in_the_summary():
    kwargs = synthetic_inputs()
    ctx = build_report_context(**kwargs)  # type: ignore[arg-type]
    prev = kwargs["previous_scores"]
    prev = prev[(prev["target"] == "civ_any") & (prev["horizon"] == 4)].set_index("region_id")["p"]
    for row in ctx.ranking:
        assert row.change == pytest.approx(row.p - prev[row.region_id])
        assert row.change_text == EN.points(row.change)
    riser = max(ctx.ranking, key=lambda r: r.change)
    assert any(s.startswith("Biggest rises since last week (2020-W22): " + riser.name) for s in ctx.summary)
    assert ctx.change_header == "Change since last week (2020-W22)"
    no_prev = build_report_context(**{**kwargs, "previous_scores": None})  # type: ignore[arg-type]
    assert {r.change_text for r in no_prev.ranking} == {"new"}
    assert any("No earlier publication to compare with" in s for s in no_prev.summary)


def test_the_change_names_the_week_it_compares_with():
    kwargs = synthetic_inputs()
    earlier = kwargs["previous_scores"].assign(week=pd.Timestamp("2020-03-02"))  # 13 weeks before
    ctx, html = html_of(previous_scores=earlier)
    assert ctx.change_header == "Change since 2020-W10 (13 weeks earlier)"
    assert "since last week" not in html
    assert "Change is in percentage points since 2020-W10 (13 weeks earlier)." in html
    riser = max(ctx.ranking, key=lambda r: r.change)
    assert f"{riser.change_text} since 2020-W10 (13 weeks earlier)" in html  # the map tooltip
    assert "since 2020-W10 (13 weeks earlier)" in ctx.details[0].paragraph


def test_summary_counts_regions_above_the_alert_level_and_alerts():
    kwargs = synthetic_inputs()
    ids = kwargs["regions"]["region_id"].tolist()
    alerts = pd.DataFrame(
        {
            "region_id": [ids[0], ids[0], ids[1], ids[2]],
            "rule": ["level", "mass", "escalation", "level"],
            "horizon": [4, 4, 1, 4],
            "msg_type": pd.array(["Update", "Alert", "Cancel", pd.NA], dtype="string"),  # <NA>: standing
        }
    )
    ctx = build_report_context(**{**kwargs, "alerts": alerts})  # type: ignore[arg-type]
    above = sum(r.p >= 0.4 for r in ctx.ranking)  # the default level rule opens at 0.40 at h = 4
    assert f"{above} of 12 ranked regions are at or above the alert level of 40% (4 weeks)." in ctx.summary
    assert "3 alerts active in 2 regions: 1 new this week, 1 ended." in ctx.summary
    by_id = {r.region_id: r for r in ctx.ranking}
    assert by_id[ids[0]].alerts == ("high risk, 4 wk", "mass-casualty risk, 4 wk (new)")
    assert by_id[ids[1]].alerts == ("ended: risk well above usual, 1 wk",)
    assert by_id[ids[2]].alerts == ("high risk, 4 wk",)
    top3 = ", ".join(f"{r.name} ({r.country}, {EN.pct(r.p)})" for r in ctx.ranking[:2])
    assert ctx.summary[0].startswith(f"Highest chance that civilians are killed within 4 weeks: {top3}")


def test_no_alerts_on_a_backfill_week_says_why():
    ctx, html = html_of(alert_scope=AlertScope("backfill", "2020-W30"))
    why = (
        "this is a backfill: alerts are issued only for the latest published week (2020-W30), so none "
        "were evaluated for this one"
    )
    assert f"No alerts: {why}." in ctx.summary and ctx.alert_note == why and f"No alerts: {why}." in html
    ctx = build_report_context(**synthetic_inputs())  # type: ignore[arg-type]
    assert "No alert is active this week: no region reached an alert rule." in ctx.summary


def test_region_and_driver_names_from_data_are_escaped():
    kwargs = synthetic_inputs()
    rid = kwargs["regions"]["region_id"].iloc[0]
    kwargs["regions"].loc[0, "name"] = EVIL
    kwargs["drivers"].loc[0, "feature"] = '"><script>bad()</script>'
    kwargs["freshness"].loc[0, "source"] = "<img src=x onerror=alert(1)>"
    alerts = pd.DataFrame({"region_id": [rid], "rule": ["<b>x</b>"], "horizon": [4], "msg_type": ["Update"]})
    _, html = html_of(**{**kwargs, "alerts": alerts})
    assert "<script" not in html.lower() and "<img" not in html.lower() and "<b>x" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html  # table and map tooltips
    assert html.count("&lt;script&gt;alert(") >= 3  # ranking, full ranking, map <title>


def test_report_loads_nothing_from_outside():
    _, html = html_of(backtest_metrics=backtest_metrics())
    low = html.lower()
    for needle in ("src=", "<script", "<link", "@import", "url(http", 'href="http', "href='http", "<iframe"):
        assert needle not in low, needle
    # the only URLs are XML namespaces of the inline SVGs
    assert set(re.findall(r"https?://[^\s\"'<)]+", html)) == {"http://www.w3.org/2000/svg"}


def test_map_draws_every_region_with_its_colour_and_a_legend():
    kwargs = synthetic_inputs()
    kwargs["regions"].loc[1, ["lat", "lon"]] = [np.nan, np.nan]
    del kwargs["boundaries"][kwargs["regions"]["region_id"].iloc[1]]  # no polygon, no point: not drawn
    del kwargs["boundaries"][kwargs["regions"]["region_id"].iloc[2]]  # no polygon: a dot
    ctx, html = html_of(**kwargs)
    svg = html[html.index('<svg id="risk-map"') : html.index("</svg>", html.index('<svg id="risk-map"'))]
    assert svg.count("<path data-region=") == 10 and svg.count("<circle data-region=") == 1
    assert ctx.map.n_unlocated == 1 and "1 region without a location is not drawn" in html
    top = ctx.ranking[0]
    assert f'data-region="{top.region_id}"' in svg and f'fill="{risk_colour(top.p)}"' in svg
    assert all(c in svg for c in RISK_COLOURS) and "70–100%" in svg and "withheld (stale data)" in svg
    located = [r for r in ctx.ranking[:10] if r.region_id != kwargs["regions"]["region_id"].iloc[1]]
    assert svg.count('class="marker"') == len(located)  # numbered markers on the top 10 drawn regions


def test_stale_countries_are_withheld_and_flagged():
    kwargs = synthetic_inputs()
    kwargs["freshness"].loc[kwargs["freshness"]["iso3"] == "NER", "stale"] = True
    ctx, html = html_of(**kwargs)
    assert {r.iso3 for r in ctx.ranking} == {"MLI", "BFA"}
    assert ctx.withheld_countries == ("Niger",) and ctx.n_withheld == 4
    assert "Scores withheld for Niger: the data there are out of date." in ctx.summary
    assert "stale: scores withheld" in html and html.count('fill="url(#withheld)"><title>') == 4
    niger = next(f for f in ctx.freshness if f.iso3 == "NER")
    assert niger.stale and niger.weeks_since == 4 and niger.source_label == "UCDP Candidate"


def test_regions_without_a_score_are_grey_and_said_to_be_unknown():
    kwargs = synthetic_inputs()
    extra = pd.DataFrame(
        {"region_id": ["MLI-X"], "iso3": ["MLI"], "name": ["Nowhere"], "lat": [20.0], "lon": [0]}
    )
    kwargs["regions"] = pd.concat([kwargs["regions"], extra], ignore_index=True)
    ctx, html = html_of(**kwargs)
    assert ctx.n_no_score == 1 and "MLI-X" not in {r.region_id for r in ctx.ranking}
    assert "1 region has no score (outside data coverage): that is unknown risk, not low risk." in ctx.summary
    assert "Nowhere, Mali: no score this week (no data; not zero risk)" in html


def test_reliability_section_says_plainly_when_there_is_nothing_yet():
    _, html = html_of()
    assert "No backtest results came with this publication" in html
    assert "No published week has been verified yet" in html
    assert "No calibration data came with this publication" in html


def test_reliability_section_with_backtest_calibration_and_verification():
    reliability = pd.DataFrame(
        {
            "horizon": [4, 4, 4, 1],
            "p_mean": [0.05, 0.5, np.nan, 0.1],
            "y_mean": [0.04, 0.45, np.nan, 0.12],
            "n": [900, 80, 0, 50],
        }
    )
    verification = pd.DataFrame(
        {
            "week": pd.to_datetime(["2020-04-27"] * 4 + ["2020-05-04"] * 4),
            "metric": ["brier", "hits", "misses", "false_alarms"] * 2,
            "value": [0.12, 5, 2, 1, 0.14, 3, 1, 0],
        }
    )
    ctx, html = html_of(
        backtest_metrics=backtest_metrics(), reliability=reliability, verification=verification
    )
    assert ctx.skill_model == "xgb-civ" and [r.horizon for r in ctx.skill] == [1, 4]
    assert ctx.skill[0].skill_climatology == pytest.approx(0.2)
    assert ctx.skill[1].sentence.startswith(
        "Within 4 weeks: 6% better than climatology and 25% better than persistence"
    )
    assert [len(c.p_mean) for c in ctx.reliability] == [1, 2]  # the empty bin has no point
    assert '<svg id="reliability"' in html and "forecast 50%, observed 45% (80 forecasts)" in html
    assert ctx.verification.rows[0][0] == "2020-W19"  # newest first
    assert "Over the last 2 verified weeks: 8 hits, 3 misses and 1 false alarm." in html
    assert "Mean Brier score 0.130" in html


def test_backtest_model_must_be_named_when_ambiguous():
    bt = pd.concat([backtest_metrics(), backtest_metrics().assign(model=lambda d: d["model"] + "-b")])
    kwargs = {**synthetic_inputs(), "backtest_metrics": bt}
    kwargs["publication"] = publication().__class__(**{**publication().__dict__, "model_name": "other"})
    msg = (
        "backtest_metrics hold models ['climatology', 'climatology-b', 'persistence', 'persistence-b', "
        "'xgb-civ', 'xgb-civ-b']: cannot tell which one was published; pass backtest_model= the "
        "backtested name of the published model"
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        build_report_context(**kwargs)  # type: ignore[arg-type]
    ctx = build_report_context(**{**kwargs, "backtest_model": "xgb-civ-b"})  # type: ignore[arg-type]
    assert ctx.skill_model == "xgb-civ-b"


def test_bad_inputs_say_what_was_expected():
    kwargs = synthetic_inputs()
    msg = (
        "scores lack columns ['horizon']; expected the long scores layout "
        "(region_id, iso3, region_name, horizon, target, p, expected, q10, q50, q90)"
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        build_report_context(**{**kwargs, "scores": kwargs["scores"].drop(columns="horizon")})  # type: ignore[arg-type]
    msg = (
        "scores hold no civ_any probabilities at horizon 2 (civ_any horizons present: [1, 4, 12]); "
        "pass horizon= one of them"
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        build_report_context(**kwargs, horizon=2)  # type: ignore[arg-type]
    msg = "regions lack columns ['lat', 'lon']; expected region_id, iso3, name, lat, lon"
    with pytest.raises(ValueError, match=re.escape(msg)):
        build_report_context(**{**kwargs, "regions": kwargs["regions"].drop(columns=["lat", "lon"])})  # type: ignore[arg-type]
    doubled = pd.concat([kwargs["scores"], kwargs["scores"].head(1)])
    with pytest.raises(ValueError, match=re.escape("scores: 1 rows repeat a (region_id, horizon, target)")):
        build_report_context(**{**kwargs, "scores": doubled})  # type: ignore[arg-type]


def test_headline_horizon_is_a_parameter():
    kwargs = synthetic_inputs()
    ctx = build_report_context(**kwargs, horizon=1)  # type: ignore[arg-type]
    html = render_report(ctx)
    assert "within 1 week, by region" in html and "Map: chance civilians are killed within 1 week" in html
    assert ctx.summary[0].startswith("Highest chance that civilians are killed within 1 week: ")
    s = kwargs["scores"]
    best = s[(s["target"] == "civ_any") & (s["horizon"] == 1)].sort_values("p").iloc[-1]
    assert ctx.ranking[0].region_id == best["region_id"]


def test_the_ranking_lists_every_region_and_the_top_n_are_detailed():
    ctx, html = html_of(top_n=5)
    assert len(ctx.details) == 5 and len(ctx.ranking) == 12
    assert html.count('class="region-row"') == 12 and html.count('class="card"') == 5
    assert "<details" not in html  # nothing collapsed: the whole ranking prints


def test_trends_show_observed_harm_and_published_forecasts_for_26_weeks():
    kwargs = synthetic_inputs()
    ctx = build_report_context(**kwargs)  # type: ignore[arg-type]
    obs = kwargs["observed"]
    for d in ctx.details[:3]:
        t = d.trend
        assert len(t.weeks) == 26 and t.weeks[-1] == "2020-W23" and t.weeks[0] == "2019-W50"
        assert t.published[-1] == d.row.p and all(p is not None for p in t.published)
        assert t.killed[-1] is None  # the publication week has no data yet
        mine = obs[obs["region_id"] == d.row.region_id].set_index("week")["civ_deaths"]
        assert (
            t.killed[-2] == mine[pd.Timestamp("2020-05-25")]
            and t.killed[0] == mine[pd.Timestamp("2019-12-09")]
        )
    html = render_report(ctx)
    assert html.count('class="trend"') == 10
    sparse = kwargs["history"][kwargs["history"]["week"] == pd.Timestamp("2020-03-02")]
    ctx = build_report_context(**{**kwargs, "history": sparse})  # type: ignore[arg-type]
    assert sum(p is not None for p in ctx.details[0].trend.published) == 2  # 2020-W10 and this week
    assert "2 forecasts published in these 26 weeks" in ctx.details[0].trend.summary


def test_what_changed_and_why_is_written_from_the_numbers():
    kwargs = synthetic_inputs()
    ctx = build_report_context(**kwargs)  # type: ignore[arg-type]
    d = ctx.details[0]
    obs = kwargs["observed"]
    mine = obs[obs["region_id"] == d.row.region_id].sort_values("week")
    now, before = int(mine["civ_deaths"].tail(4).sum()), int(mine["civ_deaths"].iloc[-8:-4].sum())
    text = d.paragraph
    assert text.startswith(f"{d.row.name} ranks 1 of 12: {EN.pct(d.row.p)} chance that civilians are killed")
    assert (
        f"In the last 4 weeks of data (to 31 May 2020), {now} civilians were reported killed "
        f"({before} in the 4 weeks before)" in text
    )
    assert f"Most likely perpetrators: {EN._(d.row.groups[0].label).lower()}" in text.replace(
        "Jihadist", "jihadist"
    )
    assert "Expected civilian deaths within 4 weeks:" in text


def test_drivers_are_told_with_numbers_and_the_window_before():
    kwargs = synthetic_inputs()
    ctx = build_report_context(**kwargs)  # type: ignore[arg-type]
    obs = kwargs["observed"]
    for d in ctx.details:
        drv = {x.feature: x for x in d.row.drivers}
        state = drv.get("civ_deaths_state_allied_sum_4w_lag1")
        if state is None:
            continue
        mine = obs[obs["region_id"] == d.row.region_id].sort_values("week")["civ_deaths_state_allied"]
        now, before = int(mine.tail(4).sum()), int(mine.iloc[-8:-4].sum())
        trend = "up from" if now > before else "down from" if now < before else "as in"
        head = f"civilians killed by state forces and allies in the last 4 weeks: {now}"
        assert state.text.startswith(head) and trend in state.text
        if trend != "as in":
            assert state.text == f"{head}, {trend} {before} in the 4 weeks before"
        break
    else:
        raise AssertionError("no region has the state-forces driver among its three largest")


def test_render_is_pure_and_write_is_atomic(tmp_path):
    ctx, html = html_of()
    assert render_report(ctx) == html
    path = write_report(ctx, tmp_path / "out" / "report.html")
    assert path.read_text(encoding="utf-8") == html
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]


@pytest.mark.parametrize(
    ("name", "value", "before", "text"),
    [
        (
            "civ_deaths_sum_4w_lag1",
            17.0,
            3.0,
            "civilians killed in the last 4 weeks: 17, up from 3 in the 4 weeks before",
        ),
        (
            "civ_deaths_jihadist_rebel_sum_12w_lag1",
            2.0,
            9.0,
            "civilians killed by jihadist and rebel groups in the last 12 weeks: 2, down from 9 in the 12 "
            "weeks before",
        ),
        ("events_sum_1w_lag1", 4.0, 4.0, "conflict events last week: 4, as in the week before"),
        (
            "nb_civ_deaths_sum_4w_lag1",
            40.0,
            None,
            "civilians killed in neighbouring regions in the last 4 weeks: 40",
        ),
        (
            "cty_events_sum_12w_lag1",
            1234.0,
            None,
            "conflict events in the whole country in the last 12 weeks: 1,234",
        ),
        ("events_sum_4w_lag5", 3.0, None, "conflict events in the 4 weeks to 5 weeks before publication: 3"),
        ("weeks_since_civ_harm_lag1", 2.0, None, "weeks since civilians were last harmed: 2"),
        ("weeks_since_civ_harm_militia_lag1", 30.0, None, "weeks since militias last harmed civilians: 30"),
        (
            "civ_harm_events_trend_4w_12w_lag1",
            0.5,
            None,
            "trend in events harming civilians (last 4 weeks against the 12 weeks before): rising",
        ),
        (
            "present_class_private_military_12w_lag1",
            1.0,
            None,
            "private military companies active in the last 12 weeks: yes",
        ),
        ("covered_share_52w_lag1", 0.5, None, "share of weeks covered by data in the last 52 weeks: 50%"),
        ("week_of_year_cos", 0.3, None, "time of year"),
        ("some_new_feature", 1.0, None, "some new feature"),
    ],
)
def test_driver_text(name, value, before, text):
    assert driver_text(name, EN, value, before) == text
    assert feature_words(name, EN) == text.split(":")[0] if ":" in text else text


def test_sahel_report_on_real_boundaries(shared_data):
    from ingest.boundaries import load_boundaries, load_countries

    b = load_boundaries(shared_data / "boundaries" / "sahel_adm1_mli_bfa_ner.geojson")
    countries = load_countries(shared_data / "boundaries" / "countries-50m.json")
    kwargs = synthetic_inputs(n_regions=len(b.regions))
    centroids = shapely.centroid(b.geometries)
    regions = b.regions.assign(lat=shapely.get_y(centroids), lon=shapely.get_x(centroids))
    ids = dict(zip(kwargs["regions"]["region_id"], regions["region_id"], strict=True))
    for key in ("scores", "previous_scores", "history", "drivers", "observed"):
        kwargs[key] = kwargs[key].assign(region_id=kwargs[key]["region_id"].map(ids))
    kwargs["scores"]["iso3"] = kwargs["scores"]["region_id"].map(
        dict(zip(regions["region_id"], regions["iso3"], strict=True))
    )
    kwargs.update(
        regions=regions, boundaries=boundary_geometries(b), countries=boundary_geometries(countries)
    )
    ctx, html = html_of(**kwargs)
    assert len([s for s in ctx.map.shapes if s.d]) == 31
    assert 0 < len(ctx.map.land) < 40 and len(ctx.map.borders) == 3  # neighbours for context; MLI, BFA, NER
    assert {lab.text for lab in ctx.map.labels if not lab.rank} >= {"Algeria", "Nigeria"}
    assert "Mopti" in html and ctx.map.width <= 1000
    named = {lab.text for lab in ctx.map.labels if lab.kind == "name"}
    assert len(named) + ctx.map.n_unnamed == len(ctx.ranking) and len(named) >= 25  # names print on the map
    fr = build_report_context(**kwargs, lang="fr")  # type: ignore[arg-type]
    assert {lab.text for lab in fr.map.labels if lab.kind == "country"} >= {"Algérie", "Nigeria"}


def test_thousand_regions_render_whole_map_and_top_table():
    # speed is measured by benchmarks/bench_publish.py, not asserted here
    kwargs = synthetic_inputs(n_regions=1000, vertices=200)
    ctx = build_report_context(**kwargs)  # type: ignore[arg-type]
    html = render_report(ctx)
    assert html.count("<path data-region=") == 1000 and html.count('class="region-row"') == 1000
    assert html.count('class="card"') == 10
    assert html.count('class="name"') + ctx.map.n_unnamed == 40  # the 40 best ranked, unless they collide


def test_minimal_inputs_render_with_every_section_saying_what_is_missing():
    kwargs = synthetic_inputs()
    only_any = kwargs["scores"][kwargs["scores"]["target"] == "civ_any"]
    ctx = build_report_context(only_any, kwargs["publication"], kwargs["regions"])  # type: ignore[arg-type]
    html = render_report(ctx)
    assert all(f'id="{s}"' in html for s in SECTION_IDS)
    row = ctx.ranking[0]
    assert row.p_mass is None and row.deaths is None and row.groups == () and row.drivers == ()
    assert "No freshness information came with this publication" in html
    assert not any("mass-casualty" in s for s in ctx.summary)
    assert ctx.map.land == () and len(ctx.details) == 10 and ctx.replay is None
    assert all(k is None for k in ctx.details[0].trend.killed)  # no observed panel: no bars, not zeros
    assert "Sundberg" in html and "Raleigh" in html  # sources unknown: every source is cited


def test_history_from_the_store_is_filtered_to_the_headline_target_and_horizon():
    kwargs = synthetic_inputs()
    h = kwargs["history"].assign(target="civ_any", horizon=4)
    noise = h.assign(target="civ_mass", p=0.999)
    other_h = h.assign(horizon=1, p=0.001)
    ctx = build_report_context(**{**kwargs, "history": pd.concat([h, noise, other_h])})  # type: ignore[arg-type]
    for d in ctx.details:
        assert 0.001 not in d.trend.published and 0.999 not in d.trend.published
        assert sum(p is not None for p in d.trend.published) == 26


def test_a_replay_says_so_when_the_data_end_long_before_publication():
    kwargs = synthetic_inputs()
    late = publication(len(kwargs["scores"]), created_at=datetime(2026, 12, 4, 13, 0))
    ctx, html = html_of(publication=late)
    assert ctx.replay is not None and 'id="replay"' in html
    assert ctx.replay.text.startswith("Replay of a past week: the data end on 31 May 2020, 6 years before")
    assert html_of()[0].replay is None  # published the day after the data end: live


def test_specks_are_drawn_as_dots_so_their_colour_shows():
    kwargs = synthetic_inputs()
    rid = kwargs["regions"]["region_id"].iloc[5]
    x, y = kwargs["regions"].loc[5, ["lon", "lat"]]
    kwargs["boundaries"][rid] = shapely.box(x - 0.001, y - 0.001, x + 0.001, y + 0.001)
    ctx, _ = html_of(**kwargs)
    speck = next(s for s in ctx.map.shapes if s.region_id == rid)
    assert speck.d == "" and speck.r > 0
    assert sum(1 for s in ctx.map.shapes if s.d) == 11


def test_a_country_is_withheld_only_when_all_its_sources_are_stale():
    kwargs = synthetic_inputs()
    extra = pd.DataFrame(
        {"source": ["ucdp_candidate", "acled"], "iso3": ["MLI", "SSD"], "last_date": [None, "2019-01-07"]}
    ).assign(stale=True)
    kwargs["freshness"] = pd.concat([kwargs["freshness"], extra], ignore_index=True)
    ctx, html = html_of(**kwargs)
    assert ctx.withheld_countries == () and {r.iso3 for r in ctx.ranking} == {"MLI", "BFA", "NER"}
    mali = [f for f in ctx.freshness if f.iso3 == "MLI"]
    assert {(f.source, f.stale, f.withheld, f.last_date) for f in mali} == {
        ("acled", False, False, "30 May 2020"),
        ("ucdp_candidate", True, False, "never"),
    }
    assert "stale (other sources current)" in html
    ssd = next(f for f in ctx.freshness if f.iso3 == "SSD")
    assert (
        ssd.withheld and ssd.country == "South Sudan" and ssd.weeks_since == 73
    )  # 2019-01-07 .. 2020-06-01 is 511 days
    assert ctx.freshness[0] is ssd  # withheld countries come first
