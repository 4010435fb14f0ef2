"""The weekly retrain policy: it trains when the champion is old or calibration drifts, and only the
registry's champion rule promotes what it trained."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

import operations.retrain as retrain
from civrisk.settings import Settings
from experiments.registry import list_versions, register_bundle
from experiments.training import Trained
from forecasting.bundle import ForecastBundle, fit_bundle
from operations.retrain import DRIFT_RETRAIN_GAP_WEEKS, retrain_decision
from tests.backtest_fixtures import Inputs, make_inputs
from tests.mlflow_store import fresh_store
from tests.test_registry import CONFIG

WEEK = date(2019, 9, 30)
DRIFT = ["MLI h4: forecast 0.57 vs observed 0.45 (z -3.4)"]


@pytest.mark.parametrize(
    ("champion_end", "newest_end", "drifting", "due", "why"),
    [
        (date(2019, 9, 16), None, [], False, "not due: the champion's data end 2019-09-16 is 2 weeks old"),
        (date(2019, 6, 24), None, [], True, "is 14 weeks old (retrain every 13 weeks)"),
        (date(2019, 9, 16), None, DRIFT, False, "the next drift retrain waits for 4 weeks of new data"),
        (date(2019, 8, 26), None, DRIFT, True, "published calibration drifts: MLI h4"),
        (
            date(2019, 8, 26),
            date(2019, 9, 23),
            DRIFT,
            False,
            "the newest version was trained on data through",
        ),
        (None, None, DRIFT, False, "no champion model yet"),
    ],
)
def test_the_policy_trains_when_due_or_drifting(champion_end, newest_end, drifting, due, why) -> None:
    decision = retrain_decision(WEEK, champion_end, newest_end, drifting, Settings())
    assert decision.due is due and why in " ".join(decision.reasons)


def test_the_policy_follows_its_settings() -> None:
    old = date(2019, 6, 24)
    assert not retrain_decision(WEEK, old, None, [], Settings(retrain_every_weeks=0)).due
    recent = WEEK - pd.Timedelta(weeks=DRIFT_RETRAIN_GAP_WEEKS)
    assert retrain_decision(WEEK, recent, None, DRIFT, Settings()).due
    assert not retrain_decision(WEEK, recent, None, DRIFT, Settings(retrain_on_drift=False)).due


@pytest.fixture(scope="module")
def inputs() -> Inputs:
    return make_inputs(horizons=CONFIG.horizons, targets=CONFIG.targets)


@pytest.fixture(scope="module")
def bundle(inputs: Inputs) -> ForecastBundle:
    chosen = {(t, h): "logistic" if t == "civ_any" else "persistence" for t in CONFIG.targets for h in (1, 4)}
    return fit_bundle(inputs.features, inputs.targets, chosen, pd.Timestamp("2019-06-24"), CONFIG)


@pytest.fixture()
def registry(tmp_path_factory, tmp_path: Path, inputs: Inputs, bundle: ForecastBundle) -> Settings:
    """Settings whose registry holds a champion (primary value 0.30, data through 2019-06-24)."""
    uri = fresh_store(tmp_path_factory, "retrain")
    settings = Settings(home=tmp_path / "home", mlflow_tracking_uri=uri)
    example = inputs.features[inputs.features["week"] <= bundle.data_end]
    reg = register_bundle(bundle, CONFIG, 0.30, "run0", "fp", example, uri=uri, name="civrisk")
    assert reg.champion_moved
    return settings


def fake_training(monkeypatch, inputs: Inputs, bundle: ForecastBundle, values: list[float]) -> list:
    """Replace the config's backtest and fit by ``bundle`` scoring ``values`` in turn; return the calls."""
    from experiments.inputs import Inputs as ModelData

    calls: list = []

    def train_bundle(cfg, got, uri, data_end=None, echo=print):
        calls.append((cfg.name, data_end))
        return Trained(bundle, f"run{len(calls)}", values[len(calls) - 1], pd.Timestamp(data_end))

    data = ModelData(inputs.panel, inputs.features, inputs.targets, "fp", "")
    monkeypatch.setattr("experiments.training.train_bundle", train_bundle)
    monkeypatch.setattr(retrain, "champion_config", lambda settings: CONFIG)
    monkeypatch.setattr(retrain, "store_inputs", lambda cfg, settings: data)
    return calls


def test_a_due_retrain_registers_and_only_the_champion_rule_promotes(
    monkeypatch, registry: Settings, inputs: Inputs, bundle: ForecastBundle
) -> None:
    calls = fake_training(monkeypatch, inputs, bundle, values=[0.20, 0.40])
    assert retrain.retrain_step(registry, date(2019, 7, 15)) == [
        "no retrain: not due: the champion's data end 2019-06-24 is 3 weeks old (retrain every 13), no drift"
    ]
    assert calls == []
    uri = registry.resolved_tracking_uri()
    for week, value, champion in ((date(2019, 10, 7), 0.20, 1), (date(2019, 10, 14), 0.40, 3)):
        lines = retrain.retrain_step(registry, week)
        assert lines[0].startswith("retrain due: the champion's data end 2019-06-24 is")
        assert calls[-1] == ("synthetic", pd.Timestamp(week) - pd.Timedelta(weeks=1))  # the last data week
        versions = list_versions(uri, "civrisk")
        assert versions.loc[versions["aliases"] == "champion", "version"].item() == champion
        state = "is now champion (published from the next cycle)" if champion > 1 else "is not champion"
        assert f"it {state}: {CONFIG.primary.metric} {value:.4f}" in lines[-1]
