"""The MLflow pyfunc wrapper of a ForecastBundle (imported only where mlflow is needed)."""

from typing import Any

import pandas as pd
from mlflow.pyfunc import PythonModel

from forecasting.bundle import ForecastBundle


class BundleModel(PythonModel):
    """pyfunc model whose ``predict(features)`` returns the long forecasts table of every target x horizon."""

    def __init__(self, bundle: ForecastBundle) -> None:
        self.bundle = bundle

    def predict(
        self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:  # noqa: ANN001
        """Return ``bundle.predict(model_input)`` (region_id, week, horizon, target, model, p, q10..q90)."""
        return self.bundle.predict(model_input)
