"""The champion rule, like for like: a candidate replaces the champion only if it scores better on the same
test rows.

Each registered version points to its backtest run, whose artifacts hold the forecasts of every model and
the outcomes (``forecasts.parquet``, ``actuals.parquet``). The rule takes the primary target and horizon,
the model each version publishes there, and the rows (region, origin week) both runs forecast and scored;
it recomputes the primary metric of both on exactly those rows, against the candidate run's baselines for
skill scores. A 13-model config tested on 2017-2020 and a demo model tested on 2020-2021 are thus compared
on 2020 alone; with no common rows there is nothing to compare and the champion stays.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from experiments.config import PrimaryMetric
from forecasting.metrics import evaluate
from forecasting.plan import BASELINES

_KEYS = ["region_id", "week", "horizon", "target"]
_FORECASTS, _ACTUALS = "forecasts.parquet", "actuals.parquet"


@dataclass(frozen=True)
class Comparison:
    """The primary metric of candidate and champion on their common rows, and which rows those are."""

    candidate: float
    champion: float
    n_rows: int
    first_week: pd.Timestamp | None
    last_week: pd.Timestamp | None

    @property
    def window(self) -> str:
        """Return the common test window as ``2020-01-06..2020-12-28`` (empty when no rows)."""
        if self.first_week is None or self.last_week is None:
            return ""
        return f"{self.first_week.date()}..{self.last_week.date()}"


@dataclass(frozen=True)
class RunEvidence:
    """What a backtest run holds for the champion rule: its forecasts, outcomes and published model."""

    forecasts: pd.DataFrame
    actuals: pd.DataFrame
    model: str


def compare_on_common_rows(
    candidate: RunEvidence, champion: RunEvidence, primary: PrimaryMetric
) -> Comparison:
    """Return both versions' primary metric on the rows both runs forecast at the primary target x horizon."""
    sel = {"target": primary.target, "horizon": primary.horizon}
    cand = _slice(candidate.forecasts, sel)
    champ = _slice(champion.forecasts, sel)
    rows = (
        cand.loc[cand["model"] == candidate.model, ["region_id", "week"]]
        .merge(champ.loc[champ["model"] == champion.model, ["region_id", "week"]])
        .drop_duplicates()
    )
    actuals = _slice(candidate.actuals, sel)
    if primary.subset != "all":
        actuals = actuals[actuals[primary.subset].astype(bool)]
    rows = rows.merge(actuals.dropna(subset=["y"])[["region_id", "week"]])
    if rows.empty:
        return Comparison(float("nan"), float("nan"), 0, None, None)
    forecasts = pd.concat(
        [
            cand[cand["model"] == candidate.model].assign(model="candidate"),
            champ[champ["model"] == champion.model].assign(model="champion"),
            cand[cand["model"].isin(BASELINES)],
        ],
        ignore_index=True,
    ).merge(rows, on=["region_id", "week"])
    bases = [b for b in BASELINES if b in set(forecasts["model"])]
    scores = evaluate(forecasts[[*_KEYS, "model", "p"]], actuals, [primary.metric], baselines=bases)
    value = scores.set_index("model")["value"]
    weeks = pd.DatetimeIndex(rows["week"])
    return Comparison(
        float(value.get("candidate", float("nan"))),
        float(value.get("champion", float("nan"))),
        len(rows),
        weeks.min(),
        weeks.max(),
    )


def _slice(frame: pd.DataFrame, sel: dict[str, object]) -> pd.DataFrame:
    out = frame[(frame["target"].astype(str) == sel["target"]) & (frame["horizon"] == sel["horizon"])]
    return out.assign(region_id=out["region_id"].astype(str), target=out["target"].astype(str))


def run_evidence(run_id: str, model: str, uri: str) -> RunEvidence | None:
    """Return a backtest run's forecasts and outcomes (None for a run that is gone or was logged before
    outcomes were kept)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from experiments.tracking import use_tracking

    use_tracking(uri)
    try:
        names = {a.path for a in mlflow.MlflowClient().list_artifacts(run_id)}
        if not {_FORECASTS, _ACTUALS} <= names:
            return None
        fc = pd.read_parquet(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=_FORECASTS))
        act = pd.read_parquet(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=_ACTUALS))
    except MlflowException:
        return None
    return RunEvidence(fc, act, model)
