"""What a backtest or a trained bundle runs: targets x horizons, models, the rolling-origin protocol, seed.

:class:`ModelPlan` is the modelling half of an experiment config (``experiments.config.ExperimentConfig``
extends it with the data and the champion rule), validated before any work starts: unknown targets or
models, horizons the features cannot serve and settings for models not listed are refused here, in one
line, instead of in a worker process hours later. Every default is declared once, in these classes.

The plan also fixes the feature set (:meth:`ModelPlan.feature_spec`): the default windows plus one window
per horizon, so that persistence and the rolling sums exist for any horizon the plan asks for.
"""

from __future__ import annotations

import os
from datetime import date
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from civrisk.contracts import TARGET_KINDS
from civrisk.settings import DEFAULT_DATA_LAG_WEEKS
from features.build import DEFAULT_SPEC, FeatureSpec
from forecasting.metrics import DEFAULT_METRICS, check_metric_names
from forecasting.recalibration import RecalSpec

BASELINES = ("climatology", "recent_climatology", "persistence", "conflictology")
"""Reference models every backtest runs, whatever the plan lists, each recomputed at every origin: skill
is reported against the strongest of them per target x horizon (``brier_skill_best``)."""


DEFAULT_TEST_YEARS = (2017, 2020)
"""Test years of a backtest that names no test period."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class BacktestConfig(_Frozen):
    """The rolling-origin protocol (docs/BACKTEST.md): which origins are tested, how often models refit."""

    test_years: tuple[int, int] | None = None
    """First and last calendar year (inclusive) of test origins; [2017, 2020] when no test_window is set."""
    test_window: tuple[date, date] | None = None
    """First and last day (inclusive) of test origins, for windows that are not whole years (a forward
    test from 2021-07-05 to 2022-06-27, say). Give test_years or test_window, not both."""
    protocol: Literal["rolling", "frozen"] = "rolling"
    """``rolling``: refit every ``retrain_every`` weeks; ``frozen``: fit once at the first test origin and
    forecast the whole test period with that model, as a published model lives (a forward test).
    Baselines are recomputed at every origin under both."""
    retrain_every: int = Field(13, ge=1)
    """Weeks between refits (``rolling`` protocol)."""
    data_lag_weeks: int = Field(DEFAULT_DATA_LAG_WEEKS, ge=1)
    """k: at origin t the panel holds weeks <= t - k."""
    metrics: tuple[str, ...] = DEFAULT_METRICS
    """Scores to compute (the registry in forecasting/metrics.py; brier_skill_<model> for any model)."""
    intervals: tuple[str, ...] = ("brier_skill_best", "average_precision", "roc_auc")
    """Metrics that get a block-bootstrap interval over origins (overall rows, subset all). Not ECE: it is
    biased upward in small samples and resampling duplicates rows, which inflates it further."""
    interval_targets: tuple[str, ...] = ("civ_any",)
    """Targets whose headline metrics get intervals (each interval costs bootstrap_reps recomputations)."""
    bootstrap_reps: int = Field(200, ge=0)
    """Resamples per interval (0: no intervals)."""
    block_weeks: int = Field(13, ge=1)
    """Length in origin weeks of the bootstrap's blocks (a quarter: neighbouring weeks move together)."""
    bootstrap_seed: int = 0
    """Seed of the resampling: the same backtest gives the same intervals."""
    min_train_rows: int = Field(200, ge=1)
    """A fold with fewer labelled training rows than this is reported and skipped, not fitted."""
    n_jobs: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    """Processes running target x horizon units in parallel (default: one per CPU); scores do not change."""

    @field_validator("test_years")
    @classmethod
    def _years(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        if v is not None and v[0] > v[1]:
            raise ValueError(f"expected [first, last] with first <= last, got {list(v)}")
        return v

    @field_validator("test_window")
    @classmethod
    def _window(cls, v: tuple[date, date] | None) -> tuple[date, date] | None:
        if v is not None and v[0] > v[1]:
            raise ValueError(f"expected [first day, last day] with first <= last, got {[str(d) for d in v]}")
        return v

    @field_validator("metrics", "intervals")
    @classmethod
    def _metrics(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        check_metric_names(v)
        return v

    @model_validator(mode="before")
    @classmethod
    def _one_test_period(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        years, window = data.get("test_years"), data.get("test_window")
        if years is not None and window is not None:
            raise ValueError(
                f"give backtest.test_years or backtest.test_window, not both (got {years} and {window})"
            )
        return data if years is not None or window is not None else {**data, "test_years": DEFAULT_TEST_YEARS}

    @property
    def test_start(self) -> pd.Timestamp:
        """Return the first day test origins may fall on."""
        if self.test_window is not None:
            return pd.Timestamp(self.test_window[0])
        assert self.test_years is not None
        return pd.Timestamp(year=self.test_years[0], month=1, day=1)

    @property
    def test_end(self) -> pd.Timestamp:
        """Return the last day test origins may fall on."""
        if self.test_window is not None:
            return pd.Timestamp(self.test_window[1])
        assert self.test_years is not None
        return pd.Timestamp(year=self.test_years[1], month=12, day=31)

    @property
    def test_label(self) -> str:
        """Return the test period as people read it: ``2017-2020`` or ``2021-07-05..2022-06-27``."""
        if self.test_window is not None:
            return f"{self.test_window[0]}..{self.test_window[1]}"
        assert self.test_years is not None
        first, last = self.test_years
        return str(first) if first == last else f"{first}-{last}"


class ModelPlan(_Frozen):
    """Targets x horizons, the models to backtest (baselines always added), the protocol and the seed."""

    targets: tuple[str, ...] = tuple(TARGET_KINDS)
    """Targets to forecast (civrisk.contracts.TARGET_KINDS; docs/BACKTEST.md defines each)."""
    horizons: tuple[int, ...] = (1, 4, 12)
    """Weeks ahead: the target window of origin t is weeks t .. t+h-1 (1 to MAX_HORIZON)."""
    models: tuple[str, ...] = ("climatology", "persistence")
    """Catalog names (forecasting/catalog.py) or plug-ins as ``package.module:Class`` (docs/BACKTEST.md)."""
    backtest: BacktestConfig = Field(default_factory=lambda: BacktestConfig.model_validate({}))
    model_params: dict[str, dict[str, Any]] = {}
    """Per model, settings replacing the catalog's defaults (``[model_params.xgb] n_estimators = 100``)."""
    recalibration: RecalSpec = Field(default_factory=RecalSpec)
    """How the learned binary models' probabilities are recalibrated at each origin from their own resolved
    earlier forecasts (forecasting/recalibration.py; the same map in backtests and publications)."""
    feature_plugins: tuple[str, ...] = ()
    """Extra feature families as ``package.module:function`` (docs/FEATURES.md, "Your own features")."""
    seed: int = 20240101
    """Random seed of every model (and nested model) that takes one: same seed, same forecasts."""

    @field_validator("targets")
    @classmethod
    def _targets(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [t for t in v if t not in TARGET_KINDS]
        if unknown or not v:
            raise ValueError(f"expected some of {list(TARGET_KINDS)}, got unknown {unknown}")
        return v

    @field_validator("horizons")
    @classmethod
    def _horizons(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or any(h < 1 or h > MAX_HORIZON for h in v) or len(set(v)) != len(v):
            raise ValueError(f"expected distinct horizons from 1 to {MAX_HORIZON} weeks")
        return v

    @field_validator("models")
    @classmethod
    def _models(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        from forecasting.catalog import resolve_spec

        # canonical names (aliases such as "xgboost" -> "xgb"), baselines first and always present
        return tuple(dict.fromkeys([*BASELINES, *(resolve_spec(m).name for m in v)]))

    @field_validator("feature_plugins")
    @classmethod
    def _plugins(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        from features.plugins import load_feature_plugin

        for path in v:
            load_feature_plugin(path)
        return v

    @model_validator(mode="after")
    def _params_for_listed_models(self) -> ModelPlan:
        unknown = sorted(set(self.model_params) - set(self.models))
        if unknown:
            raise ValueError(f"model_params name models {unknown} that are not in models {list(self.models)}")
        return self

    def feature_spec(self) -> FeatureSpec:
        """Return the features this plan's models read: the defaults, a window per horizon, the plug-ins."""
        windows = tuple(sorted(set(DEFAULT_SPEC.windows) | set(self.horizons)))
        return FeatureSpec(windows=windows, plugins=self.feature_plugins)

    def params_for(self, models: tuple[str, ...] | None = None) -> dict[str, dict[str, Any]]:
        """Return the model settings of ``models`` (default: all listed)."""
        keep = set(models or self.models)
        return {k: v for k, v in self.model_params.items() if k in keep}


MAX_HORIZON = 52
"""Longest horizon a plan may ask for: a year ahead (the longest feature window)."""
