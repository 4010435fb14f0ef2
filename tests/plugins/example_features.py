"""A user's own feature family, outside the civrisk packages: named in a config as
``"tests.plugins.example_features:worst_week"`` (docs/FEATURES.md, "Your own features")."""

from __future__ import annotations

import numpy as np
import pandas as pd


def worst_week(panel: pd.DataFrame, data_lag_weeks: int, origins: pd.DatetimeIndex) -> pd.DataFrame:
    """Return the most civilians killed in one week of the last 8 known weeks, per region and origin."""
    col = f"civ_deaths_max_8w_lag{data_lag_weeks}"
    wide = panel.pivot(index="week", columns="region_id", values="civ_deaths").sort_index()
    # the row for week w holds the max over weeks w-7 .. w; origin t may read weeks <= t - k
    rolling = wide.rolling(8, min_periods=1).max()
    known = rolling.reindex(origins - pd.Timedelta(weeks=data_lag_weeks))
    known.index = origins
    out = known.stack(future_stack=True).rename(col).reset_index()
    out.columns = ["week", "region_id", col]
    return out.assign(**{col: out[col].astype(np.float64)})


def peeks_ahead(panel: pd.DataFrame, data_lag_weeks: int, origins: pd.DatetimeIndex) -> pd.DataFrame:
    """Return next week's civilian deaths: a leak (tests show check_no_leakage catches it)."""
    wide = panel.pivot(index="week", columns="region_id", values="civ_deaths").sort_index()
    ahead = wide.shift(-1).reindex(origins)
    out = ahead.stack(future_stack=True).rename("civ_deaths_next_week").reset_index()
    out.columns = ["week", "region_id", "civ_deaths_next_week"]
    return out
