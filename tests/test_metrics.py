"""Each metric against a reference implementation or a hand computation; evaluate's tidy table."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import properscoring
import pytest
from sklearn import metrics as skm

from forecasting import metrics as m


@pytest.fixture()
def binary(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    p = rng.uniform(0, 1, 500)
    y = (rng.uniform(0, 1, 500) < p).astype(float)
    # ties matter for AUC and AP: round a third of the scores
    p[:150] = np.round(p[:150], 1)
    return y, p


def test_brier_and_log_loss_match_sklearn(binary: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = binary
    assert m.brier_score(y, p) == pytest.approx(skm.brier_score_loss(y, p))
    clipped = np.clip(p, m.LOG_LOSS_EPS, 1 - m.LOG_LOSS_EPS)
    assert m.log_loss(y, p) == pytest.approx(skm.log_loss(y, clipped))


def test_log_loss_is_finite_for_confident_misses() -> None:
    assert np.isfinite(m.log_loss([1.0, 0.0], [0.0, 1.0]))
    assert m.log_loss([1.0, 0.0], [0.0, 1.0]) == pytest.approx(-np.log(m.LOG_LOSS_EPS))


def test_auc_and_average_precision_match_sklearn_with_ties(binary: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = binary
    assert m.roc_auc(y, p) == pytest.approx(skm.roc_auc_score(y, p))
    assert m.average_precision(y, p) == pytest.approx(skm.average_precision_score(y, p))
    # a forecast with only two values (persistence-like) is all ties
    coarse = (p > 0.5).astype(float)
    assert m.roc_auc(y, coarse) == pytest.approx(skm.roc_auc_score(y, coarse))
    assert m.average_precision(y, coarse) == pytest.approx(skm.average_precision_score(y, coarse))


def test_undefined_scores_are_nan() -> None:
    assert np.isnan(m.roc_auc([0.0, 0.0], [0.2, 0.3]))
    assert np.isnan(m.average_precision([0.0, 0.0], [0.2, 0.3]))
    assert np.isnan(m.brier_skill([1.0, 0.0], [0.5, 0.5], [1.0, 0.0]))


def test_brier_skill_against_reference() -> None:
    y = np.array([1.0, 0.0, 0.0, 1.0])
    p = np.array([0.8, 0.1, 0.2, 0.6])
    ref = np.full(4, 0.5)
    expected = 1 - np.mean((p - y) ** 2) / 0.25
    assert m.brier_skill(y, p, ref) == pytest.approx(expected)
    assert m.brier_skill(y, ref, ref) == 0.0


def test_ece_by_hand() -> None:
    # bin [0.1, 0.2): p 0.1, 0.15 vs y 0, 1 -> |0.5 - 0.125| = 0.375, weight 2/5
    # bin [0.9, 1.0]: p 0.9, 1.0, 0.95 vs y 1, 1, 0 -> |2/3 - 0.95| = 0.28333, weight 3/5
    y = [0.0, 1.0, 1.0, 1.0, 0.0]
    p = [0.1, 0.15, 0.9, 1.0, 0.95]
    expected = 2 / 5 * 0.375 + 3 / 5 * abs(2 / 3 - 0.95)
    assert m.expected_calibration_error(y, p) == pytest.approx(expected)
    table = m.reliability_table(y, p)
    assert table["n"].tolist() == [0, 2, 0, 0, 0, 0, 0, 0, 0, 3]
    assert table.loc[9, "y_mean"] == pytest.approx(2 / 3)
    assert np.isnan(table.loc[0, "p_mean"])


def test_top_k_alerts_by_hand() -> None:
    # week A: 10 regions, 10% budget = 1 alert: the top region (p .9) is positive
    # week B: 10 regions, 1 alert, a tie of two regions at the top, one positive -> 0.5 expected hits
    y = [1, 0, 0, 0, 0, 0, 0, 0, 1, 0] + [1, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    p = [0.9, 0.5, 0.4, 0.3, 0.3, 0.2, 0.2, 0.1, 0.1, 0.0] + [
        0.7,
        0.7,
        0.3,
        0.2,
        0.1,
        0.1,
        0.1,
        0.1,
        0.0,
        0.0,
    ]
    weeks = ["A"] * 10 + ["B"] * 10
    precision, recall = m.top_k_alerts(np.array(y, float), p, weeks, 0.1)
    assert precision == pytest.approx((1 + 0.5) / 2)
    assert recall == pytest.approx((1 + 0.5) / 4)
    # 11 regions at 10%: ceil(1.1) = 2 alerts; 10 regions at 30%: exactly 3 (no float round-up to 4)
    _, rec = m.top_k_alerts(np.ones(11), np.linspace(0, 1, 11), ["w"] * 11, 0.1)
    assert rec == pytest.approx(2 / 11)
    prec, _ = m.top_k_alerts(np.r_[np.ones(3), np.zeros(7)], np.linspace(1, 0, 10), ["w"] * 10, 0.3)
    assert prec == 1.0


def test_msle_matches_sklearn(rng: np.random.Generator) -> None:
    y = rng.poisson(3, 200).astype(float)
    yhat = rng.gamma(2, 1.5, 200)
    assert m.msle(y, yhat) == pytest.approx(skm.mean_squared_log_error(y, yhat))


def test_crps_ensemble_matches_properscoring(rng: np.random.Generator) -> None:
    y = rng.poisson(4, 50).astype(float)
    samples = rng.negative_binomial(2, 0.3, size=(50, 40)).astype(float)
    np.testing.assert_allclose(m.crps_ensemble(y, samples), properscoring.crps_ensemble(y, samples))


def test_crps_from_quantiles_approaches_the_sample_crps(rng: np.random.Generator) -> None:
    y = rng.poisson(4, 30).astype(float)
    samples = rng.gamma(3, 2, size=(30, 4000))
    levels = np.linspace(0.005, 0.995, 199)
    q = np.quantile(samples, levels, axis=1).T
    # crps_ensemble is checked against properscoring above (which is slow for 4000 members)
    np.testing.assert_allclose(
        m.crps_quantiles(y, q, levels), m.crps_ensemble(y, samples), rtol=0.02, atol=0.02
    )
    # one quantile: twice the pinball loss, by hand
    assert m.crps_quantiles([3.0], np.array([[1.0]]), [0.5])[0] == pytest.approx(2 * 0.5 * 2.0)


def test_interval_coverage() -> None:
    assert m.interval_coverage([0, 5, 10, 3], [0, 1, 1, 4], [2, 5, 9, 6]) == pytest.approx(0.5)


def test_input_errors_name_the_problem() -> None:
    with pytest.raises(
        ValueError, match=re.escape("y must hold only 0 and 1 (drop NaN labels first); got 1")
    ):
        m.brier_score([0.0, np.nan], [0.1, 0.2])
    with pytest.raises(
        ValueError, match=re.escape("p must hold probabilities in [0, 1]; got 1 values outside")
    ):
        m.brier_score([0.0, 1.0], [0.1, 1.2])
    with pytest.raises(ValueError, match=re.escape("unknown metric 'bier'")):
        m.evaluate(pd.DataFrame(), pd.DataFrame(), metrics=["bier"])


def _forecast_frame(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    weeks = pd.date_range("2019-12-02", periods=10, freq="W-MON")
    regions = [f"R{i}" for i in range(20)]
    keys = pd.MultiIndex.from_product([regions, weeks], names=["region_id", "week"]).to_frame(index=False)
    keys["horizon"] = 4
    keys["target"] = "civ_any"
    truth = rng.uniform(0, 1, len(keys))
    actuals = keys.assign(y=(rng.uniform(0, 1, len(keys)) < truth).astype(float))
    actuals.loc[0, "y"] = np.nan  # outside coverage: not scored
    actuals["onset"] = np.arange(len(actuals)) % 3 == 0
    models = {
        "good": np.clip(truth + rng.normal(0, 0.05, len(keys)), 0, 1),
        "climatology": np.full(len(keys), 0.5),
        "persistence": (rng.uniform(0, 1, len(keys)) < 0.5).astype(float),
    }
    forecasts = pd.concat([keys.assign(model=name, p=p) for name, p in models.items()], ignore_index=True)
    return forecasts, actuals


def test_evaluate_tidy_table(rng: np.random.Generator) -> None:
    forecasts, actuals = _forecast_frame(rng)
    out = m.evaluate(forecasts, actuals, by=("horizon", "year"), subsets=("onset",))
    assert list(out.columns) == [
        "model",
        "target",
        "horizon",
        "year",
        "subset",
        "metric",
        "value",
        "n",
        "reference",
    ]
    assert set(out["year"]) == {2019, 2020}
    assert set(out["subset"]) == {"all", "onset"}
    assert not set(out["metric"]) & set(m.COUNT_METRICS)  # binary target: no count metrics
    row = out[(out.model == "good") & (out.year == 2020) & (out.subset == "all") & (out.metric == "brier")]
    scored = forecasts.merge(actuals, on=["region_id", "week", "horizon", "target"])
    scored = scored[(scored.model == "good") & (scored.week.dt.year == 2020) & scored.y.notna()]
    assert row["value"].item() == pytest.approx(skm.brier_score_loss(scored.y, scored.p))
    assert row["n"].item() == len(scored)
    skill = out[(out.model == "climatology") & (out.metric == "brier_skill_climatology")]["value"]
    assert (skill == 0).all()
    good = out[(out.model == "good") & (out.subset == "all") & (out.metric == "brier_skill_climatology")]
    assert (good["value"] > 0.15).all()


def test_evaluate_counts_use_quantile_columns(rng: np.random.Generator) -> None:
    n = 60
    keys = pd.DataFrame(
        {
            "region_id": [f"R{i % 6}" for i in range(n)],
            "week": pd.Timestamp("2020-01-06") + pd.to_timedelta(7 * (np.arange(n) // 6), unit="D"),
            "horizon": 1,
            "target": "civ_deaths",
        }
    )
    y = rng.poisson(3, n).astype(float)
    levels = [0.05, 0.1, 0.5, 0.9, 0.95]
    q = np.tile(np.array([0.0, 1.0, 3.0, 5.0, 7.0]), (n, 1))
    quantiles = {f"q{round(lv * 100):02d}": q[:, j] for j, lv in enumerate(levels)}
    fc = keys.assign(model="m", p=3.0, p_nonzero=0.95, **quantiles)
    out = m.evaluate(fc, keys.assign(y=y), by=())
    got = out.set_index("metric")["value"]
    assert set(got.index) == set(m.COUNT_METRICS)
    assert got["crps"] == pytest.approx(m.crps_quantiles(y, q, levels).mean())
    assert got["coverage80"] == pytest.approx(np.mean((y >= 1) & (y <= 5)))
    assert out["horizon"].isna().all()


def test_skill_against_the_best_baseline_names_it() -> None:
    """brier_skill_best compares with the lowest-Brier baseline on the same rows and says which it was."""
    weeks = pd.date_range("2020-01-06", periods=8, freq="W-MON")
    y = np.array([1, 0, 1, 1, 0, 0, 1, 0] * 2, dtype=float)
    keys = pd.DataFrame(
        {"region_id": ["A"] * 8 + ["B"] * 8, "week": list(weeks) * 2, "horizon": 1, "target": "civ_any"}
    )
    good, weak, model = np.clip(y * 0.8 + 0.1, 0, 1), np.full(16, 0.5), np.clip(y * 0.9 + 0.05, 0, 1)
    fc = pd.concat(
        [keys.assign(model=name, p=p) for name, p in (("near", good), ("flat", weak), ("m", model))],
        ignore_index=True,
    )
    act = keys.assign(y=y)
    out = m.evaluate(fc, act, ["brier", "brier_skill_best"], baselines=("near", "flat"))
    row = out[(out["model"] == "m") & (out["metric"] == "brier_skill_best")].iloc[0]
    assert row["reference"] == "near"
    expected = 1 - m.brier_score(y, model) / m.brier_score(y, good)
    assert row["value"] == pytest.approx(expected) and 0 < row["value"] < 1


def test_block_bootstrap_interval_brackets_the_estimate_and_is_reproducible(rng) -> None:
    from forecasting.bootstrap import block_interval

    weeks = pd.date_range("2018-01-01", periods=60, freq="W-MON")
    n = len(weeks) * 10
    y = (rng.random(n) < 0.3).astype(float)
    p = np.clip(0.3 + 0.4 * (y - 0.3) + rng.normal(0, 0.1, n), 0.01, 0.99)
    scored = pd.DataFrame({"week": np.repeat(weeks, 10), "horizon": 1, "y": y, "p": p})
    lo, hi = block_interval(scored, "roc_auc", block_weeks=13, reps=200, seed=1)
    auc = m.roc_auc(y, p)
    assert lo < auc < hi and hi - lo < 0.2
    assert (lo, hi) == block_interval(scored, "roc_auc", block_weeks=13, reps=200, seed=1)


def test_count_scores_like_the_field(rng) -> None:
    """CRPS of the quantile ensemble (scoringrules), Brier of P(y > 0) and the VIEWS-binned ignorance."""
    levels = [f"q{q:02d}" for q in range(5, 100, 5)]
    n = 200
    mu = rng.gamma(1.0, 3.0, n)
    y = rng.poisson(mu).astype(float)
    q = np.sort(rng.poisson(mu[:, None], (n, len(levels))).astype(float), axis=1)
    d = pd.DataFrame(q, columns=levels).assign(y=y, p=mu, p_nonzero=1 - np.exp(-mu))
    crps = m.metric_spec("crps_samples")[0].build(m.metric_spec("crps_samples")[1])(d)
    assert 0 < crps < np.mean(np.abs(y - mu)) + 1
    ign = m.metric_spec("ignorance")[0].build(m.metric_spec("ignorance")[1])(d)
    worst = -np.log2(1 / (len(levels) + len(m.IGNORANCE_BINS) - 1))
    assert 0 < ign < worst
    bz = m.metric_spec("brier_nonzero")[0].build(m.metric_spec("brier_nonzero")[1])(d)
    assert bz == pytest.approx(np.mean(((y > 0) - (1 - np.exp(-mu))) ** 2))
