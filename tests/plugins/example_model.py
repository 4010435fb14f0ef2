"""A user's own model, outside the civrisk packages: named in a config as
``"tests.plugins.example_model:RecentHarmLogit"`` (docs/BACKTEST.md, "Your own model")."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from forecasting.base import BinaryForecaster


class RecentHarmLogit(BinaryForecaster):
    """Logistic regression on log civilian deaths of the last 4 and 52 known weeks."""

    def __init__(self, C: float = 1.0) -> None:
        self.C = C

    def _select_features(self, X: pd.DataFrame) -> list[str]:
        return sorted(c for c in X.columns if c.startswith(("civ_deaths_sum_4w_", "civ_deaths_sum_52w_")))

    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> None:
        self.model_ = LogisticRegression(C=self.C).fit(self._design(X), y)

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.model_.predict_proba(self._design(X))[:, 1]

    def _design(self, X: pd.DataFrame) -> np.ndarray:
        return np.log1p(np.nan_to_num(self._matrix(X), nan=0.0))
