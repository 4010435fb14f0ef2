"""Feature plug-ins: families of features users add without editing civrisk (docs/FEATURES.md).

A plug-in is a function named in an experiment config as ``"package.module:function"``::

    def my_features(panel: pd.DataFrame, data_lag_weeks: int, origins: pd.DatetimeIndex) -> pd.DataFrame:
        ...  # one row per (region_id, week = origin), float columns named for what they are

It receives the dense weekly panel (PANEL contract) and the origins, and must read, for origin ``t``,
only panel weeks ``<= t - data_lag_weeks`` (:func:`check_no_leakage` tests exactly that). Its columns are
added to the feature matrix; missing (region, origin) rows become NaN. The config names the path, the
trained bundle keeps it, so a published model recomputes the same plug-in features.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from civrisk.plugins import PluginError, import_object

FeaturePlugin = Callable[[pd.DataFrame, int, pd.DatetimeIndex], pd.DataFrame]
_KEYS = ["region_id", "week"]


def load_feature_plugin(path: str) -> FeaturePlugin:
    """Return the feature function ``path`` names."""
    fn = import_object(path, "feature plug-in")
    if not callable(fn):
        raise PluginError(f"feature plug-in {path!r} is a {type(fn).__name__}, not a function")
    return fn


def plugin_features(
    path: str, panel: pd.DataFrame, data_lag_weeks: int, origins: pd.DatetimeIndex, taken: set[str]
) -> pd.DataFrame:
    """Return the plug-in's columns for every (region, origin) of the panel, float32, keyed like features."""
    out = load_feature_plugin(path)(panel, data_lag_weeks, origins)
    if not isinstance(out, pd.DataFrame) or not set(_KEYS) <= set(out.columns):
        got = list(out.columns) if isinstance(out, pd.DataFrame) else type(out).__name__
        raise PluginError(f"feature plug-in {path!r} returned {got}; expected a frame with region_id, week")
    cols = [c for c in out.columns if c not in (*_KEYS, "iso3", "unit")]
    clash = sorted(set(cols) & taken)
    if clash:
        raise PluginError(f"feature plug-in {path!r} returns columns that already exist: {clash[:5]}")
    non_numeric = [c for c in cols if not pd.api.types.is_numeric_dtype(out[c])]
    if non_numeric:
        raise PluginError(f"feature plug-in {path!r}: columns {non_numeric} are not numeric")
    if out.duplicated(_KEYS).any():
        raise PluginError(f"feature plug-in {path!r} returned more than one row per (region_id, week)")
    out = out[[*_KEYS, *cols]].assign(region_id=out["region_id"].astype("string"))
    out["week"] = pd.to_datetime(out["week"]).astype("datetime64[ns]")
    return out.astype({c: np.float32 for c in cols})


def check_no_leakage(path: str, panel: pd.DataFrame, data_lag_weeks: int, origin: pd.Timestamp) -> None:
    """Raise PluginError if the plug-in's features at ``origin`` change when later weeks change.

    Weeks after ``origin - data_lag_weeks`` are replaced by a different history (measures doubled plus
    one); features that read only what was known at the origin stay the same.
    """
    origin = pd.Timestamp(origin)
    origins = pd.DatetimeIndex([origin])
    before = plugin_features(path, panel, data_lag_weeks, origins, set())
    later = panel["week"] > origin - pd.Timedelta(weeks=data_lag_weeks)
    measures = [
        c for c in panel.columns if c not in ("region_id", "unit", "iso3", "week", "covered") and later.any()
    ]
    changed = panel.copy()
    changed.loc[later, measures] = changed.loc[later, measures] * 2 + 1
    after = plugin_features(path, changed, data_lag_weeks, origins, set())
    merged = before.merge(after, on=_KEYS, suffixes=("", "_after"))
    for col in (c for c in before.columns if c not in _KEYS):
        a, b = merged[col].to_numpy(), merged[f"{col}_after"].to_numpy()
        if not np.array_equal(a, b, equal_nan=True):
            raise PluginError(
                f"feature plug-in {path!r}: column {col!r} at origin {origin.date()} changes when weeks "
                f"after {(origin - pd.Timedelta(weeks=data_lag_weeks)).date()} change; it reads data not "
                "yet available at the origin"
            )
