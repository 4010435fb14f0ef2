"""A forecast bundle: one fitted model per target x horizon, predicting the long forecasts table.

This is what ``civrisk train`` fits on all data up to a cutoff and registers in MLflow (wrapped by
``experiments.pyfunc_bundle``); the publish stage loads it and calls :meth:`ForecastBundle.predict` on the
features at the publication origin.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from civrisk.contracts import validate_features, validate_forecasts, validate_targets
from features.build import DEFAULT_SPEC, FeatureSpec
from forecasting.alert_levels import AlertLevels
from forecasting.base import CountForecaster, Forecaster, numeric_feature_columns, predict_p
from forecasting.plan import ModelPlan
from forecasting.recalibration import RecalSpec
from forecasting.splits import WEEK

QUANTILES = (0.1, 0.5, 0.9)
QUANTILE_NAMES = ("q10", "q50", "q90")


@dataclass
class ForecastBundle:
    """Fitted models keyed by (target, horizon), the names of the models chosen, and their training bounds."""

    models: dict[tuple[str, int], Forecaster]
    chosen: dict[tuple[str, int], str]
    data_end: pd.Timestamp
    """Last panel week used: every training label window ends by it."""
    data_lag_weeks: int
    feature_columns: list[str]
    feature_spec: FeatureSpec = DEFAULT_SPEC
    """The features the models read: a publication rebuilds exactly these at its origin."""
    recalibration: RecalSpec = RecalSpec(method="none")
    """How the publication recalibrates the learned binary models' probabilities (as the backtest did);
    bundles trained before recalibration existed keep their raw probabilities."""
    notes: list[str] = field(default_factory=list)
    alert_levels: AlertLevels | None = None
    """Alert levels chosen on the backtest of these models (``forecasting.alert_choice``); None: a bundle
    trained before levels were chosen, which publishes with ``forecasting.alert_levels.DEFAULT_LEVELS``."""

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """Return the FORECASTS table (+ q10, q50, q90 for counts) for every row of ``features``."""
        validate_features(features, "ForecastBundle.predict")
        missing = [c for c in self.feature_columns if c not in features.columns]
        if missing:
            raise ValueError(
                f"features lack {len(missing)} columns the bundle was trained on, e.g. {missing[:5]}; build "
                f"them with features.build.build_features(data_lag_weeks={self.data_lag_weeks})"
            )
        keys = features[["region_id", "week"]].assign(region_id=features["region_id"].astype("string"))
        frames = []
        for (target, horizon), model in sorted(self.models.items()):
            out = keys.assign(
                horizon=np.int64(horizon),
                target=target,
                model=self.chosen[(target, horizon)],
                p=predict_p(model, features),
            )
            if isinstance(model, CountForecaster):
                q = model.predict_quantiles(features, QUANTILES)
                out = out.assign(**{name: q[:, j] for j, name in enumerate(QUANTILE_NAMES)})
            else:
                out = out.assign(**{name: np.nan for name in QUANTILE_NAMES})
            frames.append(out)
        table = pd.concat(frames, ignore_index=True)
        table["target"] = table["target"].astype("string")
        table["model"] = table["model"].astype("string")
        return validate_forecasts(table, "ForecastBundle.predict")


def fit_bundle(
    features: pd.DataFrame,
    targets: pd.DataFrame,
    chosen: Mapping[tuple[str, int], str],
    data_end: pd.Timestamp,
    plan: ModelPlan,
    make_model: Callable[[str, str, int], Forecaster] | None = None,
    on_fit: Callable[[int, int, str], None] | None = None,
) -> ForecastBundle:
    """Fit each chosen model on the origins whose label window ends by ``data_end`` (s <= data_end - h + 1).

    ``features`` were built with ``plan.feature_spec()`` and the plan's data lag. Features at those
    origins read data up to ``s - k`` < ``data_end``, so nothing after ``data_end`` is used: the bundle is
    what the backtest would have fitted at origin ``data_end + k`` weeks. ``on_fit(done, total, label)``
    is called as each model is fitted (progress bars).
    """
    from forecasting.backtest import catalog_factory, fit_noting

    validate_features(features, "fit_bundle")
    validate_targets(targets, "fit_bundle")
    data_lag_weeks = plan.backtest.data_lag_weeks
    make_model = make_model or catalog_factory(data_lag_weeks, plan.seed, plan.model_params)
    data_end = pd.Timestamp(data_end)
    feats = features.assign(region_id=features["region_id"].astype("string"))
    labels = targets.assign(
        region_id=targets["region_id"].astype("string"), target=targets["target"].astype(str)
    )
    models: dict[tuple[str, int], Forecaster] = {}
    notes: list[str] = []
    for (target, horizon), name in sorted(chosen.items()):
        last_origin = data_end - (horizon - 1) * WEEK
        lab = labels[
            (labels["target"] == target) & (labels["horizon"] == horizon) & (labels["week"] <= last_origin)
        ]
        train = feats.merge(lab[["region_id", "week", "y"]].dropna(subset=["y"]), on=["region_id", "week"])
        if train.empty:
            raise ValueError(
                f"no labelled origins <= {last_origin.date()} for {target} at h={horizon}; the cutoff "
                f"{data_end.date()} is before the panel has {horizon} observed weeks"
            )
        model = make_model(name, target, horizon)
        models[(target, horizon)] = fit_noting(
            model, train.drop(columns="y"), train["y"], notes, f"{name} {target} h{horizon}"
        )
        if on_fit is not None:
            on_fit(len(models), len(chosen), f"{name} {target} h={horizon}")
    return ForecastBundle(
        models=models,
        chosen=dict(chosen),
        data_end=data_end,
        data_lag_weeks=data_lag_weeks,
        feature_columns=numeric_feature_columns(features),
        feature_spec=plan.feature_spec(),
        recalibration=plan.recalibration,
        notes=notes,
    )
