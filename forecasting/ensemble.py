"""Ensembles: the (weighted) mean of member models' probabilities.

Each member is cloned and fitted on the same frame and chooses its own features from it; the ensemble
keeps every numeric column so each member sees at predict time what it saw in fit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone

from forecasting.base import BinaryForecaster


class MeanEnsemble(BinaryForecaster):
    """P(event) = weighted mean of the members' probabilities (equal weights by default)."""

    def __init__(
        self, members: Sequence[BinaryForecaster] = (), weights: Sequence[float] | None = None
    ) -> None:
        self.members = members
        self.weights = weights

    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> None:
        members = list(self.members)
        if not members:
            raise ValueError("MeanEnsemble: members is empty; pass binary models, e.g. [Logistic(), XGB()]")
        bad = [type(m).__name__ for m in members if getattr(m, "kind", None) != "binary"]
        if bad:
            raise ValueError(f"MeanEnsemble: members must be binary Forecasters; got non-binary {bad}")
        if self.weights is None:
            w = np.full(len(members), 1.0 / len(members))
        else:
            w = np.asarray(self.weights, dtype="float64")
            if w.shape != (len(members),) or np.any(w < 0) or w.sum() <= 0:
                raise ValueError(
                    f"MeanEnsemble: weights must be {len(members)} non-negative numbers with a positive "
                    f"sum, got {list(self.weights)}"
                )
            w = w / w.sum()
        self.weights_ = w
        ys = pd.Series(y, index=X.index)
        self.members_ = [clone(m).fit(X, ys) for m in members]

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        probs = np.column_stack([m.predict_proba(X) for m in self.members_])
        return probs @ self.weights_
