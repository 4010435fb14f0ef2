"""The drift watch: calibration sums per verified week, the rolling record, its flags and where they show."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from civrisk.settings import Settings
from forecasting.drift import calibration_sums, calibration_watch
from forecasting.metrics import brier_score, expected_calibration_error
from publish.alerting.rules import AlertRules
from publish.publication.drift import drift_health, drift_watch
from publish.publication.verify_stats import alert_rows, calibration_rows
from publish.store.store import ScoreStore
from tests.synth_scores import make_scores


def test_summed_weekly_sums_give_the_pooled_calibration() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 1, 300)
    y = (rng.uniform(0, 1, 300) < p * 0.8).astype(float)
    weeks = [calibration_sums(p[i : i + 30], y[i : i + 30]) for i in range(0, 300, 30)]
    total: dict[str, float] = {}
    for s in weeks:
        for k, v in s.items():
            total[k] = total.get(k, 0.0) + v
    c = calibration_watch("MLI", 4, total, 10, z_threshold=3.0, bias_threshold=0.05)
    assert c.n == 300 and c.mean_p == pytest.approx(p.mean()) and c.observed == pytest.approx(y.mean())
    assert c.ece == pytest.approx(expected_calibration_error(y, p))
    assert c.brier == pytest.approx(brier_score(y, p))
    # z: the gap over its standard error, the variance inflated by h = 4 for overlapping windows
    assert c.z == pytest.approx((y - p).sum() / np.sqrt(4 * (p * (1 - p)).sum()))


@pytest.mark.parametrize(
    ("z", "bias", "drifting"),
    [(3.0, 0.05, True), (4.0, 0.05, False), (3.0, 0.10, False)],
)
def test_drift_needs_both_a_significant_and_a_material_gap(z: float, bias: float, drifting: bool) -> None:
    """Forecasts of 0.5 over 400 rows with 0.42 observed: bias 0.08, z = -3.2 (h = 1)."""
    sums = {"n": 400.0, "sum_p": 200.0, "sum_y": 168.0, "sum_sq": 100.0, "sum_var": 100.0}
    c = calibration_watch("BFA", 1, sums, 13, z_threshold=z, bias_threshold=bias)
    assert c.z == pytest.approx(-3.2) and c.bias == pytest.approx(0.08) and c.drifting is drifting


def verified_store(tmp_path, n_weeks: int, bias_from: int) -> tuple[ScoreStore, Settings]:
    """A store with ``n_weeks`` verified weeks of 60 regions; from week ``bias_from`` on, Mali's forecasts
    run 0.3 above what happened (BFA and NER stay calibrated)."""
    settings = Settings(home=tmp_path, db_url=f"sqlite:///{tmp_path / 's.db'}")
    store = ScoreStore(settings.resolved_db_url())
    rng = np.random.default_rng(3)
    for i in range(n_weeks):
        week = (pd.Timestamp("2021-01-04") + pd.Timedelta(weeks=i)).strftime("%Y-%m-%d")
        scores = make_scores(n_regions=60, week=week, horizons=(4,), targets=("civ_any",), seed=i)
        pub = store.record_publication(week, scores, "m", "1", f"fp{i}", datetime(2021, 1, 1))
        scored = store.scores(week)
        shift = np.where((scored["iso3"] == "MLI") & (i >= bias_from), 0.3, 0.0)
        truth = np.clip(scored["p"].to_numpy() - shift, 0, 1)
        scored = scored.assign(y=(rng.uniform(0, 1, len(scored)) < truth).astype(float))
        with store.transaction():
            for t, h, m, v, n in calibration_rows(scored):
                store.record_verification(pub.id, m, v, n, target=t, horizon=h)
    return store, settings


def test_the_watch_sums_the_last_weeks_and_flags_the_drifting_country(tmp_path) -> None:
    store, settings = verified_store(tmp_path, n_weeks=14, bias_from=2)
    with store:
        watch = drift_watch(store, settings)
        assert len(watch.weeks) == 13 and watch.weeks[0] == "2021-W02"  # the last 13 of 14
        assert [c.iso3 for c in watch.drifting] == ["MLI"]
        mli = next(c for c in watch.calibration if c.iso3 == "MLI")
        assert mli.bias > 0.15 and mli.weeks == 13 and mli.n == 13 * 20
        health = drift_health(store, settings)
        assert health["status"] == "drifting" and health["weeks"] == 13
        assert health["drifting"][0].startswith("MLI h4: forecast")
        assert any(line.startswith("  DRIFT MLI h4") for line in watch.lines())
        earlier = drift_watch(store, settings, before="2021-01-18")  # weeks 1-2, before the drift
        assert earlier.weeks == ("2021-W01", "2021-W02") and not earlier.drifting


def test_no_verified_week_is_unknown_not_ok(tmp_path) -> None:
    settings = Settings(home=tmp_path, db_url=f"sqlite:///{tmp_path / 's.db'}")
    with ScoreStore(settings.resolved_db_url()) as store:
        assert drift_health(store, settings) == {"status": "unknown", "weeks": 0, "drifting": []}
        assert drift_watch(store, settings).lines() == ["drift watch: no verified week yet"]


def test_alert_statistics_of_a_verified_week() -> None:
    """An alert open since W01 covers an onset in the window's last week: lead 5 weeks at h = 4."""
    origin = pd.Timestamp("2021-01-18")
    history = pd.DataFrame(
        {
            "alert_id": ["a", "b", "b"],
            "seq": [1, 1, 2],
            "rule": "level",
            "horizon": 4,
            "region_id": ["A", "B", "B"],
            "week": pd.to_datetime(["2021-01-04", "2021-01-11", "2021-01-18"]),
            "first_week": pd.to_datetime(["2021-01-04", "2021-01-11", "2021-01-11"]),
            "msg_type": ["Alert", "Alert", "Cancel"],
        }
    )
    scored = pd.DataFrame(
        {"region_id": ["A", "B", "C"], "target": "civ_any", "horizon": 4, "p": 0.5, "y": [1.0, 1.0, 0.0]}
    )
    weeks = pd.date_range(origin - pd.Timedelta(weeks=8), origin + pd.Timedelta(weeks=3), freq="7D")
    panel = pd.DataFrame(
        {
            "region_id": np.repeat(["A", "B", "C"], len(weeks)),
            "week": np.tile(weeks, 3),
            "civ_deaths": 0.0,
            "covered": True,
        }
    )
    panel.loc[(panel["region_id"] == "A") & (panel["week"] == weeks[-1]), "civ_deaths"] = 2.0
    rules = AlertRules(escalation=False, mass=None, horizons=(4,))
    rows = {m: (v, n) for _, _, m, v, n in alert_rows(scored, history, panel, origin, rules)}
    assert rows["alerts.level.in_force"] == (1.0, 3)  # B's alert was cancelled in the origin week
    assert rows["alerts.level.hits"][0] == 1.0 and rows["alerts.level.positives"][0] == 2.0
    assert rows["alerts.level.onsets"][0] == 1.0 and rows["alerts.level.warned"][0] == 1.0
    assert rows["alerts.level.lead_sum"][0] == 5.0  # onset 2021-02-08, alert opened 2021-01-04


def test_the_report_says_so_in_plain_words() -> None:
    from forecasting.drift import CalibrationWatch
    from publish.render.report import build_report_context, render_report
    from tests.report_synth import synthetic_inputs

    drifting = CalibrationWatch("MLI", 4, 13, 130, 0.57, 0.45, 0.09, 0.2, 3.4, True)
    fine = CalibrationWatch("BFA", 4, 13, 130, 0.30, 0.29, 0.04, 0.2, 0.3, False)
    kwargs = synthetic_inputs()
    en = build_report_context(**{**kwargs, "drift": (drifting, fine), "drift_weeks": 13})  # type: ignore[arg-type]
    warning = (
        "Mali: over the last 13 verified weeks, forecasts for the next 4 weeks averaged 57% while "
        "civilians were killed in 45% of cases. They run too high there; use them with care until the "
        "model is retrained."
    )
    assert en.drift == (warning,) and en.drift_alarm and en.summary[-1] == warning
    assert warning in render_report(en)
    fr = build_report_context(**{**kwargs, "drift": (drifting, fine), "drift_weeks": 13, "lang": "fr"})  # type: ignore[arg-type]
    assert "Elles y surestiment le risque" in fr.drift[0] and fr.summary[-1] == fr.drift[0]
    calm = build_report_context(**{**kwargs, "drift": (fine,), "drift_weeks": 13})  # type: ignore[arg-type]
    assert calm.drift == (
        "Calibration watch: over the last 13 verified weeks, published forecasts stayed close to what "
        "happened in every country.",
    )
    assert not calm.drift_alarm and calm.drift[0] not in calm.summary


def test_healthz_names_the_drifting_countries(tmp_path) -> None:
    from fastapi.testclient import TestClient

    from serve.app import create_app

    store, settings = verified_store(tmp_path, n_weeks=14, bias_from=2)
    store.close()
    with TestClient(create_app(settings)) as client:
        h = client.get("/healthz").json()
    assert h["status"] == "ok" and h["drift"] == "drifting"  # drift does not make the service unhealthy
    assert len(h["drifting"]) == 1 and h["drifting"][0].startswith("MLI h4: forecast ")
