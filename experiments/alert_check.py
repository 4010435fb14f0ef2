"""The forward alert check (issue 10): alert levels chosen on a training-period backtest, then judged on a
forward test, as a published model's levels live.

:func:`alert_check` takes a config with a forward ``test_window`` (``results_mali_forward``), runs a rolling
backtest of its headline target over the ``selection_years`` before that window, chooses the alert levels
there (``experiments.training.backtest_levels``: only rows whose outcome was known before the forward
window), runs the config's own (frozen) forward backtest, and simulates the same levels on both. The
forward window never informs the levels. Run it with ``python -m experiments.alert_check CONFIG``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from forecasting.alert_levels import AlertLevels
from forecasting.splits import WEEK
from forecasting.targets import HEADLINE_TARGET

if TYPE_CHECKING:
    from experiments.config import ExperimentConfig
    from experiments.inputs import Inputs

SHOWN = ("alert_rate", "alerts_per_week", "precision", "recall", "updates_per_alert_4w", "onsets_warned")
"""The statistics compared, in the order printed (lead_median follows)."""


@dataclass(frozen=True)
class AlertCheck:
    """The levels chosen on the selection backtest and the alert statistics of both windows."""

    levels: AlertLevels | None
    selection_window: str
    forward_window: str
    table: pd.DataFrame
    """horizon, rule, window ("selection" / "forward") and the statistics of ``alert_stats.ALERT_METRICS``."""

    def ratios(self) -> pd.DataFrame:
        """Return horizon, rule and the forward alert rate over the selection backtest's."""
        wide = self.table.pivot_table(index=["horizon", "rule"], columns="window", values="alert_rate")
        return (wide["forward"] / wide["selection"]).rename("rate_ratio").reset_index()

    def lines(self) -> list[str]:
        """Return the check as plain-text lines."""
        windows = f"{self.selection_window} (forward test {self.forward_window})"
        out = [
            f"levels chosen on the rolling backtest {windows}:",
            *(f"  {line}" for line in (self.levels.describe() if self.levels else ["defaults"])),
        ]
        ratio = self.ratios().set_index(["horizon", "rule"])["rate_ratio"]
        for r in self.table.sort_values(
            ["horizon", "rule", "window"], ascending=[True, True, False]
        ).itertuples():
            stats = ", ".join(f"{k} {getattr(r, k):.2f}" for k in SHOWN)
            out.append(f"  h{r.horizon} {r.rule} {r.window}: {stats}, lead_median {r.lead_median:.1f}")
        for (h, rule), x in ratio.items():
            out.append(f"  h{h} {rule}: forward alert rate / backtest alert rate = {x:.2f}")
        return out


def alert_check(
    cfg: ExperimentConfig,
    inputs: Inputs,
    models: tuple[str, ...] = ("logistic",),
    horizons: tuple[int, ...] = (1, 4),
    selection_years: int = 3,
) -> AlertCheck:
    """Return the forward alert check of ``cfg`` (module docstring) for ``models`` at ``horizons``."""
    from experiments.training import backtest_levels
    from forecasting.alert_stats import backtest_alert_table, weekly_harm_from_panel
    from forecasting.backtest import run_backtest

    if cfg.backtest.test_window is None:
        raise ValueError(
            f"config {cfg.name!r} has no backtest.test_window: the alert check needs a forward test"
        )
    start, end = (pd.Timestamp(d) for d in cfg.backtest.test_window)
    lag = cfg.backtest.data_lag_weeks
    sel_start = start - pd.DateOffset(years=selection_years)
    sel_start = sel_start - pd.Timedelta(days=sel_start.day_of_week)  # a Monday
    sel_end = start - WEEK
    plan_fields = {"targets": (HEADLINE_TARGET,), "horizons": horizons, "models": models}
    selection = cfg.model_copy(
        update={
            **plan_fields,
            "backtest": cfg.backtest.model_copy(
                update={"test_window": (sel_start.date(), sel_end.date()), "protocol": "rolling"}
            ),
        }
    )
    forward = cfg.model_copy(update=plan_fields)
    sel = run_backtest(inputs.features, inputs.targets, selection)
    fwd = run_backtest(inputs.features, inputs.targets, forward)
    chosen = {(HEADLINE_TARGET, h): models[0] for h in horizons}
    data_end = start - lag * WEEK  # the forward model's data end: nothing after it chooses the levels
    levels = backtest_levels(sel.forecasts, inputs, chosen, data_end)
    weekly = weekly_harm_from_panel(inputs.panel)
    per_h = {h: models[0] for h in horizons}
    parts = []
    for window, result in (("selection", sel), ("forward", fwd)):
        fc = result.forecasts
        if window == "selection":
            fc = fc[fc["week"] + (fc["horizon"] - 1) * WEEK <= data_end]
        assert levels is not None, "the selection backtest has civ_any forecasts"
        t = backtest_alert_table(fc, result.actuals, levels, per_h, weekly=weekly)
        t = t[t["subset"] == "all"].pivot_table(index=["horizon", "rule"], columns="metric", values="value")
        parts.append(t.reset_index().assign(window=window))
    return AlertCheck(
        levels,
        f"{sel_start.date()}..{sel_end.date()}",
        f"{start.date()}..{end.date()}",
        pd.concat(parts, ignore_index=True),
    )


def main(argv: list[str] | None = None) -> int:
    """Print the forward alert check of the config named on the command line."""
    from civrisk.settings import get_settings
    from experiments.config import load_config
    from experiments.inputs import prepare_inputs

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m experiments.alert_check CONFIG (e.g. results_mali_forward)", file=sys.stderr)
        return 2
    cfg = load_config(args[0], get_settings())
    check = alert_check(cfg, prepare_inputs(cfg))
    print("\n".join(check.lines()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
