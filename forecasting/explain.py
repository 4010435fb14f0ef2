"""Per-row contributions to a model's score, for the report's "main drivers" column.

xgboost models give TreeSHAP values; the linear logistic model gives coefficient x standardised feature
(log-odds relative to a region at the training mean, the exact decomposition of a linear score). A
missing-value indicator's contribution is added to its feature's. Other models have none (None).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.base import Forecaster


def _inner(model: Forecaster) -> Forecaster:
    """Return the fitted base of a wrapper (Calibrated exposes it as ``inner_``), else the model."""
    return getattr(model, "inner_", model)


def has_contributions(model: Forecaster) -> bool:
    """Return whether ``contributions`` can explain this fitted model."""
    from forecasting.sk_models import Logistic
    from forecasting.xgb_models import XGB, XGBCount

    inner = _inner(model)
    if getattr(inner, "constant_", None) is not None:
        return False
    return isinstance(inner, XGB | XGBCount | Logistic)


def contributions(model: Forecaster, X: pd.DataFrame) -> pd.DataFrame:
    """Return a column per feature of signed contributions (margin / log-odds units), indexed like X."""
    from forecasting.sk_models import Logistic
    from forecasting.xgb_models import XGB, XGBCount
    from forecasting.xgb_models import contributions as tree_contributions

    inner = _inner(model)
    if isinstance(inner, XGB | XGBCount):
        return tree_contributions(model, X).drop(columns="bias")
    if isinstance(inner, Logistic):
        return _linear_contributions(inner, X)
    raise TypeError(
        f"contributions: {type(inner).__name__} has no per-row attribution; use an xgboost or logistic "
        "model, or check has_contributions() first"
    )


def _linear_contributions(model: Forecaster, X: pd.DataFrame) -> pd.DataFrame:
    model._check_is_fitted("contributions")
    pipeline = model.pipeline_  # type: ignore[attr-defined]
    prep, clf = pipeline[:-1], pipeline[-1]
    names = list(model.feature_names_in_)
    Z = prep.transform(model._matrix(model._prepare(X, "contributions")))  # type: ignore[attr-defined]
    terms = Z * clf.coef_[0]
    out = terms[:, : len(names)].copy()
    imputer = next(step for step in _steps(prep) if hasattr(step, "indicator_"))
    if imputer.indicator_ is not None:
        for j, feature_index in enumerate(imputer.indicator_.features_):
            out[:, feature_index] += terms[:, len(names) + j]
    return pd.DataFrame(np.asarray(out, dtype="float64"), index=X.index, columns=names)


def _steps(pipeline: object) -> list[object]:
    """Return the leaf steps of a (possibly nested) scikit-learn Pipeline, in order."""
    if not hasattr(pipeline, "steps"):
        return [pipeline]
    return [leaf for _, step in pipeline.steps for leaf in _steps(step)]
