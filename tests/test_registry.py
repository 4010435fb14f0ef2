"""Model registry: register bundles, move the champion only when better or forced, list, load and predict."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.config import DataConfig, ExperimentConfig
from experiments.registry import (
    champion_decision,
    list_versions,
    load_champion,
    load_model_version,
    primary_label,
    register_bundle,
)
from forecasting.bundle import ForecastBundle, fit_bundle
from forecasting.plan import BacktestConfig
from tests.backtest_fixtures import Inputs, make_inputs
from tests.mlflow_store import fresh_store

CONFIG = ExperimentConfig(
    name="synthetic",
    data=DataConfig(events=Path("/nonexistent/events")),
    targets=("civ_any", "civ_deaths"),
    horizons=(1, 4),
    models=("logistic",),
    backtest=BacktestConfig(test_years=(2019, 2019), retrain_every=26),
)
LABEL = "brier_skill_best|civ_any|h4|all"
DATA_END = pd.Timestamp("2019-06-24")


def test_champion_decision_rules() -> None:
    assert champion_decision(0.1, LABEL, None, force=False) == (True, "no champion yet")
    assert champion_decision(0.2, LABEL, ("3", 0.1, LABEL), force=False)[0]
    moved, why = champion_decision(0.1, LABEL, ("3", 0.2, LABEL), force=False)
    assert not moved and why == "brier_skill_best 0.1000 does not beat champion v3's 0.2000"
    assert not champion_decision(0.2, LABEL, ("3", 0.2, LABEL), force=False)[0]  # a tie is not better
    assert champion_decision(0.1, LABEL, ("3", 0.2, LABEL), force=True) == (True, "forced (--force)")
    # lower is better for the Brier score itself
    brier = "brier|civ_any|h4|all"
    assert champion_decision(0.10, brier, ("1", 0.12, brier), force=False)[0]
    moved, why = champion_decision(0.3, LABEL, ("2", 0.1, "brier|civ_any|h4|all"), force=False)
    assert not moved and "are not comparable" in why
    assert not champion_decision(math.nan, LABEL, ("2", 0.1, LABEL), force=False)[0]
    assert primary_label(CONFIG) == LABEL


@pytest.fixture(scope="module")
def inputs() -> Inputs:
    return make_inputs(horizons=CONFIG.horizons, targets=CONFIG.targets)


@pytest.fixture(scope="module")
def bundle(inputs: Inputs) -> ForecastBundle:
    chosen = {("civ_any", 1): "logistic", ("civ_any", 4): "logistic", ("civ_deaths", 1): "climatology"}
    chosen[("civ_deaths", 4)] = "persistence"
    return fit_bundle(
        inputs.features, inputs.targets, chosen, DATA_END, CONFIG.model_copy(update={"seed": 5})
    )


def test_bundle_trains_only_on_labels_observed_by_the_cutoff(inputs: Inputs, bundle: ForecastBundle) -> None:
    # refit with every label whose window ends after the data end scrambled: the bundle must not change
    t = inputs.targets
    later = t["week"] + (t["horizon"] - 1) * pd.Timedelta(weeks=1) > DATA_END
    scrambled = inputs.targets.copy()
    scrambled.loc[later, "y"] = 1.0 - scrambled.loc[later, "y"].clip(upper=1)
    again = fit_bundle(
        inputs.features, scrambled, bundle.chosen, DATA_END, CONFIG.model_copy(update={"seed": 5})
    )
    origin = inputs.features[inputs.features["week"] == DATA_END + pd.Timedelta(weeks=1)]
    pd.testing.assert_frame_equal(bundle.predict(origin), again.predict(origin))
    out = bundle.predict(origin)
    assert set(out["target"]) == {"civ_any", "civ_deaths"} and set(out["horizon"]) == {1, 4}
    assert out.loc[out["target"] == "civ_deaths", ["q10", "q50", "q90"]].notna().all().all()


@pytest.mark.slow
def test_register_champion_list_and_load(
    inputs: Inputs, bundle: ForecastBundle, tmp_path_factory: pytest.TempPathFactory
) -> None:
    uri = fresh_store(tmp_path_factory, "registry")
    with pytest.raises(LookupError, match=re.escape("registered model 'civrisk' has no 'champion' version")):
        load_champion(uri=uri, name="civrisk")
    assert list_versions(uri=uri, name="civrisk").empty

    example = inputs.features[inputs.features["week"] <= DATA_END]
    first = register_bundle(bundle, CONFIG, 0.20, "run-a", "d" * 64, example, uri=uri, name="civrisk")
    assert (first.version, first.champion_moved, first.reason) == ("1", True, "no champion yet")
    worse = register_bundle(bundle, CONFIG, 0.15, "run-b", "d" * 64, example, uri=uri, name="civrisk")
    assert (worse.version, worse.champion_moved) == ("2", False)
    assert worse.previous_champion == "1" and worse.previous_value == pytest.approx(0.20)
    forced = register_bundle(
        bundle, CONFIG, 0.10, "run-c", "d" * 64, example, force=True, uri=uri, name="civrisk"
    )
    assert (forced.version, forced.champion_moved, forced.reason) == ("3", True, "forced (--force)")

    table = list_versions(uri=uri, name="civrisk")
    assert table["version"].tolist() == [1, 2, 3]
    assert table["aliases"].tolist() == ["", "", "champion"]
    assert table["primary_value"].tolist() == pytest.approx([0.20, 0.15, 0.10])
    assert (table["primary_metric"] == LABEL).all() and (table["data_end"] == "2019-06-24").all()

    champion = load_champion(uri=uri, name="civrisk")
    assert champion.version == "3" and champion.data_end == DATA_END
    assert champion.tags["civrisk.backtest_run_id"] == "run-c"
    origin = inputs.features[inputs.features["week"] == DATA_END + pd.Timedelta(weeks=1)]
    got = champion.predict(origin)
    expected = bundle.predict(origin)
    assert list(got.columns) == list(expected.columns)
    np.testing.assert_allclose(got["p"].to_numpy(), expected["p"].to_numpy())
    assert load_model_version(1, uri=uri, name="civrisk").version == "1"


def test_the_champion_rule_compares_like_for_like_on_common_rows() -> None:
    """A candidate tested on 2019-2020 and a champion tested on 2020-2021 are compared on 2020 alone."""
    from experiments.champion import RunEvidence, compare_on_common_rows
    from experiments.config import PrimaryMetric

    rng = np.random.default_rng(3)
    weeks = pd.date_range("2019-01-07", "2021-12-27", freq="W-MON")
    regions = [f"R{i}" for i in range(6)]
    keys = pd.DataFrame([(r, w) for r in regions for w in weeks], columns=["region_id", "week"])
    keys = keys.assign(horizon=4, target="civ_any")
    y = (rng.random(len(keys)) < 0.3).astype(float)
    actuals = keys.assign(y=y, onset=False)

    def forecasts(model: str, years: tuple[int, int], noise: float) -> pd.DataFrame:
        sel = keys["week"].dt.year.between(*years)
        p = np.clip(y * 0.6 + 0.2 + rng.normal(0, noise, len(keys)), 0.01, 0.99)
        rows = keys.assign(model=model, p=p)[sel]
        flat = keys.assign(model="recent_climatology", p=0.3)[sel]
        return pd.concat([rows, flat], ignore_index=True)

    cand = RunEvidence(forecasts("logistic", (2019, 2020), 0.05), actuals, "logistic")
    champ = RunEvidence(forecasts("xgb", (2020, 2021), 0.30), actuals, "xgb")
    got = compare_on_common_rows(cand, champ, PrimaryMetric(target="civ_any", horizon=4))
    assert got.n_rows == len(regions) * int((weeks.year == 2020).sum())
    assert got.window.startswith("2020-01-06..2020-12-28")
    assert got.candidate > got.champion  # less noise: more skill against the same baseline, same rows
    moved, why = champion_decision(0.01, LABEL_BEST, ("7", 0.99, LABEL_BEST), force=False, common=got)
    assert moved and f"on the {got.n_rows:,} test rows both backtests scored (2020-01-06..2020-12-28)" in why
    disjoint = RunEvidence(forecasts("xgb", (2021, 2021), 0.3), actuals, "xgb")
    none = compare_on_common_rows(cand, disjoint, PrimaryMetric(target="civ_any", horizon=4))
    moved, why = champion_decision(0.5, LABEL_BEST, ("7", 0.1, LABEL_BEST), force=False, common=none)
    assert not moved and "share no scored test rows" in why


LABEL_BEST = "brier_skill_best|civ_any|h4|all"
