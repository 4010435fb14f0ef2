"""Per-row contributions to a model's score, for the report's "main drivers" column.

A model that declares the ``capability:contributions`` tag explains itself: xgboost models give TreeSHAP
values, the linear logistic model coefficient x standardised feature (log-odds relative to a region at the
training mean). Wrappers (Calibrated) answer with their inner model. Other models have none.
"""

from __future__ import annotations

import pandas as pd

from forecasting.base import Forecaster, capable


def has_contributions(model: Forecaster) -> bool:
    """Return whether ``contributions`` can explain this fitted model."""
    return capable(model, "contributions") is not None


def contributions(model: Forecaster, X: pd.DataFrame) -> pd.DataFrame:
    """Return a column per feature of signed contributions (margin / log-odds units), indexed like X."""
    explainer = capable(model, "contributions")
    if explainer is None:
        raise TypeError(
            f"contributions: {type(model).__name__} declares no per-row attribution "
            "(tag capability:contributions); check has_contributions() first"
        )
    return explainer.contributions(X)
