"""Backtest figures (matplotlib, Agg): reliability diagram, precision-recall curves, feature importances."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.metrics import reliability_table

_KEYS = ["region_id", "week", "horizon", "target"]


def _pyplot():  # noqa: ANN202 - matplotlib's module
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _scored(forecasts: pd.DataFrame, actuals: pd.DataFrame, target: str, horizon: int) -> pd.DataFrame:
    fc = forecasts[(forecasts["target"] == target) & (forecasts["horizon"] == horizon)]
    return fc.merge(actuals[[*_KEYS, "y"]], on=_KEYS, how="inner").dropna(subset=["y"])


def reliability_diagram(
    forecasts: pd.DataFrame, actuals: pd.DataFrame, target: str, horizon: int, path: Path
) -> Path:
    """Write observed frequency vs forecast probability per model (10 equal-width bins) to ``path``."""
    plt = _pyplot()
    data = _scored(forecasts, actuals, target, horizon)
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect calibration")
    for model, grp in data.groupby("model", sort=True):
        table = reliability_table(grp["y"], grp["p"])
        filled = table[table["n"] > 0]
        ax.plot(filled["p_mean"], filled["y_mean"], marker="o", label=f"{model} (n={len(grp)})")
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel="forecast probability (bin mean)",
        ylabel="observed frequency",
        title=f"Reliability: {target}, {horizon}-week horizon",
    )
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def reliability_by_period(
    forecasts: pd.DataFrame,
    actuals: pd.DataFrame,
    target: str,
    horizon: int,
    period: str,
    path: Path,
) -> Path:
    """Write, per model, the mean forecast against the observed rate in each test year or quarter (a drift
    over time that a pooled reliability diagram hides) to ``path``."""
    plt = _pyplot()
    data = _scored(forecasts, actuals, target, horizon)
    freq = {"year": "Y", "quarter": "Q"}[period]
    data = data.assign(period=data["week"].dt.to_period(freq).astype(str))
    fig, ax = plt.subplots(figsize=(8, 4.5))
    observed = data.drop_duplicates(["region_id", "week"]).groupby("period")["y"].mean()
    ax.plot(observed.index, observed.to_numpy(), color="black", marker="s", linewidth=2, label="observed")
    for model, grp in data.groupby("model", sort=True):
        mean = grp.groupby("period")["p"].mean()
        ax.plot(mean.index, mean.to_numpy(), marker="o", linewidth=1, label=str(model))
    ax.set(
        ylim=(0, 1),
        xlabel=period,
        ylabel="mean forecast / observed rate",
        title=f"Mean forecast vs observed by {period}: {target}, {horizon}-week horizon",
    )
    ax.tick_params(axis="x", labelrotation=60, labelsize=7)
    ax.legend(loc="upper left", fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def precision_recall_curves(
    forecasts: pd.DataFrame, actuals: pd.DataFrame, target: str, horizon: int, path: Path
) -> Path:
    """Write precision-recall curves per model, with the base rate as reference, to ``path``."""
    from sklearn.metrics import precision_recall_curve

    plt = _pyplot()
    data = _scored(forecasts, actuals, target, horizon)
    fig, ax = plt.subplots(figsize=(6, 6))
    for model, grp in data.groupby("model", sort=True):
        if grp["y"].nunique() < 2:
            continue
        precision, recall, _ = precision_recall_curve(grp["y"], grp["p"])
        ax.step(recall, precision, where="post", label=str(model))
    if len(data):
        base = float(data.drop_duplicates(subset=_KEYS)["y"].mean())
        ax.axhline(base, color="grey", linestyle="--", linewidth=1, label=f"base rate {base:.2f}")
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1.02),
        xlabel="recall",
        ylabel="precision",
        title=f"Precision-recall: {target}, {horizon}-week horizon",
    )
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def importance_chart(importances: pd.DataFrame, path: Path, top: int = 20) -> Path:
    """Write a horizontal bar chart of the ``top`` features of one model's importances to ``path``."""
    plt = _pyplot()
    top_rows = importances.nlargest(top, "importance").iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, max(3.0, 0.3 * len(top_rows) + 1)))
    ax.barh(top_rows["feature"].astype(str), top_rows["importance"].to_numpy(dtype=np.float64))
    first = importances.iloc[0] if len(importances) else None
    title = (
        "Feature importance"
        if first is None
        else f"{first['model']}: {first['target']}, h={first['horizon']}"
    )
    ax.set(xlabel="importance (share of total gain)", title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
