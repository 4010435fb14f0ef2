"""The weekly planner report: content of every section, escaping, self-containment, errors, speed."""

from __future__ import annotations

import re
from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest
import shapely

from publish.render.report import build_report_context, render_report, write_report
from publish.render.report_map import RISK_COLOURS, boundary_geometries, risk_colour
from publish.render.report_text import fmt_pct, fmt_points, humanise_feature
from publish.store.store import Publication
from tests.synth_scores import make_scores

SECTION_IDS = (
    "header",
    "summary",
    "map",
    "ranking",
    "history",
    "reliability-section",
    "freshness",
    "caveats",
    "citations",
)
EVIL = "<script>alert('x')</script>"


def publication(n_scores: int = 0) -> Publication:
    """Return a Publication of week 2020-W23 as the store would hand it over."""
    return Publication(
        id=7,
        week=date(2020, 6, 1),
        week_label="2020-W23",
        revision=2,
        model_name="xgb-civ",
        model_version="12",
        data_fingerprint="sha256:0123456789abcdef0123456789abcdef",
        scores_digest="d" * 64,
        n_scores=n_scores,
        as_of=datetime(2020, 5, 31, 23, 0),
        created_at=datetime(2020, 6, 1, 6, 30),
        status="published",
    )


def synthetic_inputs(n_regions: int = 12, seed: int = 0, vertices: int = 4) -> dict[str, object]:
    """Return build_report_context keyword arguments: seeded scores on a grid of square regions."""
    rng = np.random.default_rng(seed)
    scores = make_scores(n_regions=n_regions, horizons=(1, 4, 12), seed=seed)
    ids = scores["region_id"].drop_duplicates().tolist()
    side = int(np.ceil(np.sqrt(n_regions)))
    lon = np.array([-5.0 + (i % side) for i in range(n_regions)])
    lat = np.array([12.0 + (i // side) for i in range(n_regions)])
    geoms = {
        rid: shapely.segmentize(shapely.box(x - 0.5, y - 0.5, x + 0.5, y + 0.5), 4.0 / vertices)
        for rid, x, y in zip(ids, lon, lat, strict=True)
    }
    names = scores.drop_duplicates("region_id").set_index("region_id")
    regions = pd.DataFrame(
        {
            "region_id": ids,
            "iso3": names.loc[ids, "iso3"].to_numpy(),
            "name": names.loc[ids, "region_name"].to_numpy(),
            "lat": lat,
            "lon": lon,
        }
    )
    previous = make_scores(n_regions=n_regions, horizons=(1, 4, 12), seed=seed + 1, week="2020-05-25")
    weeks = pd.date_range(end="2020-06-01", periods=26, freq="W-MON")
    history = pd.DataFrame(
        {
            "region_id": np.repeat(ids, len(weeks)),
            "week": np.tile(weeks, n_regions),
            "p": rng.uniform(0, 1, len(weeks) * n_regions),
        }
    )
    features = ["civ_deaths_sum_4w_lag1", "weeks_since_civ_harm_lag1", "nb_events_sum_12w_lag1", "odd_thing"]
    drivers = pd.DataFrame(
        {
            "region_id": np.repeat(ids, len(features)),
            "feature": features * n_regions,
            "contribution": rng.normal(0, 1, len(features) * n_regions),
        }
    )
    freshness = pd.DataFrame(
        {
            "source": ["acled", "acled", "ucdp_candidate"],
            "iso3": ["MLI", "BFA", "NER"],
            "last_date": pd.to_datetime(["2020-05-30", "2020-05-29", "2020-04-30"]),
            "stale": [False, False, False],
        }
    )
    return {
        "scores": scores,
        "publication": publication(len(scores)),
        "regions": regions,
        "previous_scores": previous,
        "boundaries": geoms,
        "history": history,
        "drivers": drivers,
        "freshness": freshness,
    }


def backtest_metrics() -> pd.DataFrame:
    """Return tidy backtest scores for the model and both baselines at horizons 1 and 4."""
    rows = []
    for h, (b_model, b_clim, b_pers) in {1: (0.08, 0.10, 0.09), 4: (0.15, 0.16, 0.20)}.items():
        for model, b in (("xgb-civ", b_model), ("climatology", b_clim), ("persistence", b_pers)):
            rows.append(("all", model, "civ_any", h, "brier", b, 5000))
        rows.append(("all", "xgb-civ", "civ_any", h, "roc_auc", 0.83, 5000))
        rows.append(("onset", "xgb-civ", "civ_any", h, "brier", 0.99, 100))  # another subset: not read
    return pd.DataFrame(rows, columns=["subset", "model", "target", "horizon", "metric", "value", "n"])


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
    assert "Data as of" in html and "2020-05-31" in html and "2020-06-01 06:30 UTC" in html
    assert html.count('class="region-row"') == len(ctx.top) == 12  # type: ignore[attr-defined]
    for citation in (
        "Sundberg",
        "Davies, S., Engström",
        "Hegre, H., Croicu",
        "Raleigh, C.",
        "Runfola",
        "Natural Earth",
    ):
        assert citation in html
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
    assert fmt_pct(first.p) in row and first.change_text in row and first.groups[0].short in row


def test_change_since_last_week_and_rises_in_the_summary():
    kwargs = synthetic_inputs()
    ctx = build_report_context(**kwargs)  # type: ignore[arg-type]
    prev = kwargs["previous_scores"]
    prev = prev[(prev["target"] == "civ_any") & (prev["horizon"] == 4)].set_index("region_id")["p"]
    for row in ctx.ranking:
        assert row.change == pytest.approx(row.p - prev[row.region_id])
        assert row.change_text == fmt_points(row.change)
    riser = max(ctx.ranking, key=lambda r: r.change)
    assert any(s.startswith("Biggest rises since 2020-W22: " + riser.name) for s in ctx.summary)
    no_prev = build_report_context(**{**kwargs, "previous_scores": None})  # type: ignore[arg-type]
    assert {r.change_text for r in no_prev.ranking} == {"new"}
    assert any("No earlier publication to compare with" in s for s in no_prev.summary)


def test_summary_counts_regions_above_the_alert_level_and_alerts():
    kwargs = synthetic_inputs()
    ids = kwargs["regions"]["region_id"].tolist()
    alerts = pd.DataFrame(
        {
            "region_id": [ids[0], ids[0], ids[1]],
            "rule": ["threshold", "mass", "rise"],
            "horizon": [4, 4, 1],
            "msg_type": ["Update", "Alert", "Cancel"],
        }
    )
    ctx = build_report_context(**{**kwargs, "alerts": alerts})  # type: ignore[arg-type]
    above = sum(r.p >= 0.5 for r in ctx.ranking)
    assert f"{above} of 12 ranked regions are at or above the alert level of 50% (4 weeks)." in ctx.summary
    assert "2 alerts active in 1 region: 1 new this week, 1 ended." in ctx.summary
    by_id = {r.region_id: r for r in ctx.ranking}
    assert by_id[ids[0]].alerts == ("mass-casualty risk, 4 wk (new)", "high risk, 4 wk")
    assert by_id[ids[1]].alerts == ("ended: sharp rise, 1 wk",)
    top3 = ", ".join(f"{r.name} ({r.country}, {fmt_pct(r.p)})" for r in ctx.ranking[:2])
    assert ctx.summary[0].startswith(
        f"Highest chance that civilians are killed within the next 4 weeks: {top3}"
    )


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
    assert "Over the last 2 verified weeks: 8 hits, 3 misses, 1 false alarms." in html
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
    assert ctx.summary[0].startswith("Highest chance that civilians are killed within the next week: ")
    s = kwargs["scores"]
    best = s[(s["target"] == "civ_any") & (s["horizon"] == 1)].sort_values("p").iloc[-1]
    assert ctx.ranking[0].region_id == best["region_id"]


def test_full_ranking_is_collapsed_and_the_table_shows_the_top_n():
    ctx, html = html_of(top_n=5)
    assert len(ctx.top) == 5 and len(ctx.ranking) == 12
    assert html.count('class="region-row"') == 5
    full = html[html.index('<details id="full-ranking">') : html.index("</details>")]
    assert full.count("<tr><td") == 12 and '<details id="full-ranking" open' not in html


def test_history_sparklines_for_the_top_regions():
    ctx, html = html_of(history_regions=3)
    assert [s.region_id for s in ctx.history] == [r.region_id for r in ctx.ranking[:3]]
    assert all(len(s.values) == 26 and s.weeks[-1] == "2020-W23" for s in ctx.history)
    assert [s.values[-1] for s in ctx.history] == [r.p for r in ctx.ranking[:3]]
    assert html.count('class="spark"') == 3
    ctx = build_report_context(**{**synthetic_inputs(), "history": None})  # type: ignore[arg-type]
    assert all(s.values == (r.p,) for s, r in zip(ctx.history, ctx.ranking, strict=False))


def test_render_is_pure_and_write_is_atomic(tmp_path):
    ctx, html = html_of()
    assert render_report(ctx) == html
    path = write_report(ctx, tmp_path / "out" / "report.html")
    assert path.read_text(encoding="utf-8") == html
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("civ_deaths_sum_4w_lag1", "civilian deaths, last 4 weeks"),
        (
            "civ_deaths_jihadist_rebel_sum_12w_lag1",
            "civilians killed by jihadist & rebel groups, last 12 weeks",
        ),
        ("nb_civ_deaths_sum_4w_lag1", "civilian deaths in neighbouring regions, last 4 weeks"),
        ("cty_events_sum_12w_lag1", "conflict events in the whole country, last 12 weeks"),
        ("events_sum_1w_lag5", "conflict events, last week of data (to 5 weeks before publication)"),
        ("weeks_since_civ_harm_lag1", "weeks since civilians were last harmed"),
        ("weeks_since_civ_harm_militia_lag1", "weeks since militias last harmed civilians"),
        ("civ_harm_events_trend_4w_12w_lag1", "trend in events harming civilians (last 4 vs last 12 weeks)"),
        ("present_class_private_military_12w_lag1", "private military companies active, last 12 weeks"),
        ("covered_share_52w_lag1", "share of the last 52 weeks covered by data"),
        ("week_of_year_cos", "time of year"),
        ("some_new_feature", "some new feature"),
    ],
)
def test_humanise_feature(name, words):
    assert humanise_feature(name) == words


def test_sahel_report_on_real_boundaries(shared_data):
    from ingest.boundaries import load_boundaries, load_countries

    b = load_boundaries(shared_data / "boundaries" / "sahel_adm1_mli_bfa_ner.geojson")
    countries = load_countries(shared_data / "boundaries" / "countries-50m.json")
    kwargs = synthetic_inputs(n_regions=len(b.regions))
    centroids = shapely.centroid(b.geometries)
    regions = b.regions.assign(lat=shapely.get_y(centroids), lon=shapely.get_x(centroids))
    ids = dict(zip(kwargs["regions"]["region_id"], regions["region_id"], strict=True))
    for key in ("scores", "previous_scores", "history", "drivers"):
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


def test_thousand_regions_render_whole_map_and_top_table():
    # speed is measured by benchmarks/bench_publish.py, not asserted here
    kwargs = synthetic_inputs(n_regions=1000, vertices=200)
    ctx = build_report_context(**kwargs)  # type: ignore[arg-type]
    html = render_report(ctx)
    assert html.count("<path data-region=") == 1000 and html.count('class="region-row"') == 50


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
    assert ctx.map.land == () and len(ctx.history) == 8


def test_history_from_the_store_is_filtered_to_the_headline_target_and_horizon():
    kwargs = synthetic_inputs()
    h = kwargs["history"].assign(target="civ_any", horizon=4)
    noise = h.assign(target="civ_mass", p=0.999)
    other_h = h.assign(horizon=1, p=0.001)
    ctx = build_report_context(**{**kwargs, "history": pd.concat([h, noise, other_h])})  # type: ignore[arg-type]
    assert all(0.001 not in s.values and 0.999 not in s.values for s in ctx.history)
    assert all(len(s.values) == 26 for s in ctx.history)


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
        ("acled", False, False, "2020-05-30"),
        ("ucdp_candidate", True, False, "never"),
    }
    assert "stale (other sources current)" in html
    ssd = next(f for f in ctx.freshness if f.iso3 == "SSD")
    assert (
        ssd.withheld and ssd.country == "South Sudan" and ssd.weeks_since == 73
    )  # 2019-01-07 .. 2020-06-01 is 511 days
    assert ctx.freshness[0] is ssd  # withheld countries come first
