"""Recalibration at publication time: the same map as in the backtest, fitted on the same kind of evidence.

At origin ``t`` the published model's raw probabilities are recalibrated with
:func:`forecasting.recalibration.recalibrate`, fitted on that model's out-of-sample forecasts at earlier
origins whose outcomes are resolved at ``t``: its backtest run's forecasts (raw, ``p_raw``) before its data
end, and its own forecasts at the origins since its data end (rebuilt here from the as-of panel: the bundle
never saw those weeks). Outcomes come from the as-of panel, so nothing after the data cut-off is read. With
no such history (a model published right after training, far from its backtest) the map is the identity.
Baselines and count targets are left as they are, as in the backtest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from civrisk.contracts import TARGET_KINDS
from civrisk.weeks import WEEK
from forecasting.recalibration import recalibrate
from forecasting.targets import build_targets
from publish.publication.model_source import backtest_forecasts

if TYPE_CHECKING:
    from publish.publication.model_source import PublishModel

_KEY = ["region_id", "week", "horizon", "target"]


def history_origins(model: PublishModel, origin: pd.Timestamp) -> list[pd.Timestamp]:
    """Return the origins after the model's data end whose forecasts may feed its recalibration at
    ``origin`` (resolved at h = 1 by then; longer horizons drop more in ``recalibrate``)."""
    spec = model.recalibration
    if spec.method == "none":
        return []
    last = origin - model.data_lag_weeks * WEEK
    first = max(model.data_end + WEEK, last - (spec.window_weeks + 52) * WEEK)
    return list(pd.date_range(first, last, freq="7D")) if first <= last else []


def recalibrate_publication(
    model: PublishModel, features: pd.DataFrame, panel: pd.DataFrame, origin: pd.Timestamp
) -> pd.DataFrame:
    """Return the forecasts at ``origin`` with the learned binary models' p recalibrated (``p_raw`` kept).

    ``features`` hold the origin's rows and the :func:`history_origins` rows; ``panel`` is the as-of panel.
    """
    spec = model.recalibration
    raw = model.predict(features)
    raw = raw.assign(region_id=raw["region_id"].astype(str), target=raw["target"].astype(str))
    now = raw[raw["week"] == origin].assign(p_raw=lambda d: d["p"]).reset_index(drop=True)
    learned = {
        (t, h)
        for (t, h), name in model.chosen.items()
        if TARGET_KINDS[t] == "binary" and not _is_baseline(name, t, h, model.data_lag_weeks)
    }
    if spec.method == "none" or not learned:
        return now
    own = raw[raw["week"] < origin][_KEY + ["p"]]
    for target, horizon in sorted(learned):
        name = model.chosen[(target, horizon)]
        past = backtest_forecasts(model, target)
        past = past[(past["horizon"] == horizon) & (past["model"] == name) & (past["week"] <= model.data_end)]
        mine = own[(own["target"] == target) & (own["horizon"] == horizon)]
        history = pd.concat([past[_KEY].assign(p=past["p_raw"]), mine], ignore_index=True)
        if history.empty:  # nothing resolved to learn from: the identity map
            continue
        y = _outcomes(panel, history, target, horizon)
        rows_now = now[(now["target"] == target) & (now["horizon"] == horizon)]
        rows = pd.concat([history.merge(y, on=["region_id", "week"], how="left"), rows_now[_KEY + ["p"]]])
        rows = rows.reset_index(drop=True)
        fitted = recalibrate(rows, horizon, model.data_lag_weeks, spec, pd.DatetimeIndex([origin]))
        current = fitted[rows["week"] == origin].to_numpy()
        now.loc[rows_now.index, "p"] = current
    return now


def _outcomes(panel: pd.DataFrame, history: pd.DataFrame, target: str, horizon: int) -> pd.DataFrame:
    """Return region_id, week, y of the history's origins from the as-of panel (NaN: not yet resolved)."""
    origins = pd.DatetimeIndex(sorted(history["week"].unique()))
    y = build_targets(panel, [horizon], [target], origins=origins)
    return y.assign(region_id=y["region_id"].astype(str))[["region_id", "week", "y"]]


def _is_baseline(name: str, target: str, horizon: int, k: int) -> bool:
    from forecasting.catalog import make_model

    return bool(make_model(name, target, horizon, data_lag_weeks=k).get_tag("baseline"))
