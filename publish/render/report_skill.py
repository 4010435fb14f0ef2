""" "How reliable is this?" for the planner report: backtest skill, calibration and verified past weeks.

Turns the tidy backtest metrics (forecasting.metrics.evaluate), reliability bins
(forecasting.metrics.reliability_table, one set per horizon) and the store's verification rows into plain
rows and sentences for the report. Nothing is estimated here; missing inputs give ``None``/empty results
and the report says plainly that there is nothing to show yet.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from civrisk.weeks import week_label
from forecasting.drift import CalibrationWatch
from publish.render.i18n import Words
from publish.render.labels import VERIFICATION as VERIFICATION_LABELS
from publish.render.report_charts import ReliabilityCurve

BASELINES = ("climatology", "persistence")
_COUNT_METRICS = {"hits", "misses", "false_alarms", "correct_negatives"}


@dataclass(frozen=True)
class SkillRow:
    """Backtest scores of the published model at one horizon, with its baselines and a sentence."""

    horizon: int
    n: int | None
    brier: float
    brier_climatology: float | None
    brier_persistence: float | None
    skill_climatology: float | None
    skill_persistence: float | None
    auc: float | None
    sentence: str


@dataclass(frozen=True)
class Verification:
    """Scores of past published weeks once their outcomes were known, newest first."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    summary: str


def _num(value: object) -> float | None:
    if value is None or value is pd.NA:
        return None
    f = float(value)  # type: ignore[arg-type]
    return None if math.isnan(f) else f


def _compare(skill: float | None, baseline: str, w: Words) -> str:
    if baseline == "climatology":
        texts = (
            w._("no comparison with climatology"),
            w._("about as good as climatology"),
            w._("{pct} better than climatology"),
            w._("{pct} worse than climatology"),
        )
    else:
        texts = (
            w._("no comparison with persistence"),
            w._("about as good as persistence"),
            w._("{pct} better than persistence"),
            w._("{pct} worse than persistence"),
        )
    if skill is None:
        return texts[0]
    pct = round(abs(skill), 2)
    if pct == 0:
        return texts[1]
    return (texts[2] if skill > 0 else texts[3]).format(pct=w.pct(pct))


def _chosen_model(models: list[str], model: str | None, preferred: str | None) -> str:
    if model is not None:
        if model not in models:
            raise ValueError(
                f"backtest_metrics hold no rows for model {model!r}; models present: {models} "
                "(pass backtest_model= one of them)"
            )
        return model
    if preferred in models:
        return str(preferred)
    candidates = [m for m in models if m not in BASELINES]
    if len(candidates) != 1:
        raise ValueError(
            f"backtest_metrics hold models {models}: cannot tell which one was published; pass "
            "backtest_model= the backtested name of the published model"
        )
    return candidates[0]


def _slice(frame: pd.DataFrame, target: str) -> pd.DataFrame:
    out = frame[frame["target"].astype(str) == target]
    if "subset" in out.columns:
        out = out[out["subset"].astype(str) == "all"]
    if "year" in out.columns:
        out = out[out["year"].isna()]
    return out


def skill_rows(
    metrics: pd.DataFrame | None,
    target: str,
    w: Words,
    model: str | None = None,
    preferred: str | None = None,
) -> tuple[str | None, tuple[SkillRow, ...]]:
    """Return (model scored, one SkillRow per horizon) from tidy backtest metrics; (None, ()) without any.

    ``metrics`` has columns model, target, horizon, metric, value (plus optional subset, year, n as
    forecasting.metrics.evaluate writes them; only subset "all" over all years is read).
    """
    if metrics is None or metrics.empty:
        return None, ()
    missing = [c for c in ("model", "target", "horizon", "metric", "value") if c not in metrics.columns]
    if missing:
        raise ValueError(
            f"backtest_metrics lack columns {missing}; expected the tidy table of "
            "forecasting.metrics.evaluate (model, target, horizon, metric, value)"
        )
    part = _slice(metrics, target)
    if part.empty:
        return None, ()
    chosen = _chosen_model(sorted(part["model"].astype(str).unique()), model, preferred)
    value = {
        (str(m), int(h), str(k)): _num(v)
        for m, h, k, v in zip(part["model"], part["horizon"], part["metric"], part["value"], strict=True)
    }
    counts = (
        {(str(m), int(h)): int(n) for m, h, n in zip(part["model"], part["horizon"], part["n"], strict=True)}
        if "n" in part.columns
        else {}
    )
    rows = []
    for h in sorted({int(x) for x in part.loc[part["model"].astype(str) == chosen, "horizon"]}):
        brier = value.get((chosen, h, "brier"))
        if brier is None:
            continue
        refs = {b: value.get((b, h, "brier")) for b in BASELINES}
        skills = {}
        for b in BASELINES:
            s = value.get((chosen, h, f"brier_skill_{b}"))
            if s is None and refs[b]:
                s = 1 - brier / refs[b]  # type: ignore[operator]
            skills[b] = s
        auc = value.get((chosen, h, "roc_auc"))
        sentence = w._("Within {wk}: {clim} and {pers}").format(
            wk=w.weeks(h),
            clim=_compare(skills["climatology"], "climatology", w),
            pers=_compare(skills["persistence"], "persistence", w),
        )
        if auc is not None:
            sentence += w._(
                "; it ranks a region where civilians were then killed above one where none were {pct} of the "
                "time"
            ).format(pct=w.pct(auc))
        rows.append(
            SkillRow(
                h,
                counts.get((chosen, h)),
                brier,
                refs["climatology"],
                refs["persistence"],
                skills["climatology"],
                skills["persistence"],
                auc,
                sentence + ".",
            )
        )
    return chosen, tuple(rows)


def reliability_curves(
    reliability: pd.DataFrame | None, target: str, model: str | None
) -> tuple[ReliabilityCurve, ...]:
    """Return one curve per horizon from bins (horizon, p_mean, y_mean, n); empty bins have no point.

    Optional columns ``model`` and ``target`` are filtered to the scored model and headline target.
    """
    if reliability is None or reliability.empty:
        return ()
    missing = [c for c in ("horizon", "p_mean", "y_mean", "n") if c not in reliability.columns]
    if missing:
        raise ValueError(
            f"reliability lacks columns {missing}; expected forecasting.metrics.reliability_table rows per "
            "horizon (horizon, p_mean, y_mean, n)"
        )
    r = reliability
    if "target" in r.columns:
        r = r[r["target"].astype(str) == target]
    if "model" in r.columns and model is not None:
        r = r[r["model"].astype(str) == model]
    r = r[(r["n"] > 0) & r["p_mean"].notna() & r["y_mean"].notna()].sort_values(["horizon", "p_mean"])
    return tuple(
        ReliabilityCurve(
            int(h),
            tuple(float(x) for x in g["p_mean"]),
            tuple(float(x) for x in g["y_mean"]),
            tuple(int(x) for x in g["n"]),
        )
        for h, g in r.groupby("horizon", sort=True)
    )


def _week_text(value: object) -> str:
    if isinstance(value, str) and "-W" in value:
        return value
    return week_label(pd.Timestamp(value).date())


def _fmt_metric(metric: str, value: float, w: Words) -> str:
    if metric in _COUNT_METRICS:
        return w.integer(value)
    return w.decimal(value, 3)


def verification_table(
    verification: pd.DataFrame | None, target: str, w: Words, max_weeks: int = 12
) -> Verification:
    """Return past weeks' verification (week, metric, value [, horizon, target]) as rows, newest first."""
    if verification is None or verification.empty:
        return Verification((), (), "")
    week_col = "week_label" if "week_label" in verification.columns else "week"
    missing = [c for c in (week_col, "metric", "value") if c not in verification.columns]
    if missing:
        raise ValueError(
            f"verification lacks columns {missing}; expected one row per publication week and metric "
            "(week or week_label, metric, value; optional target, horizon)"
        )
    v = verification
    if "target" in v.columns:
        v = v[v["target"].isna() | (v["target"].astype(str) == target)]
    v = v.assign(_week=[_week_text(x) for x in v[week_col]], metric=v["metric"].astype(str))
    keys = ["_week"] + (["horizon"] if "horizon" in v.columns else [])
    wide = v.pivot_table(index=keys, columns="metric", values="value", aggfunc="last", dropna=False)
    # the labelled scores only: calibration sums and alert statistics feed the drift watch, not this table
    metrics = [m for m in VERIFICATION_LABELS if m in wide.columns]
    wide = wide.sort_index(ascending=False)
    weeks = list(dict.fromkeys(k if isinstance(k, str) else k[0] for k in wide.index))[:max_weeks]
    rows = []
    for key, rec in wide.iterrows():
        week = key if isinstance(key, str) else key[0]
        if week not in weeks:
            continue
        horizon = [] if isinstance(key, str) else [w.weeks(int(key[1])) if pd.notna(key[1]) else "–"]
        cells = [_fmt_metric(m, rec[m], w) if pd.notna(rec[m]) else "–" for m in metrics]
        rows.append(tuple([week, *horizon, *cells]))
    columns = (
        w._("Week"),
        *((w._("Horizon"),) if len(keys) > 1 else ()),
        *(w._(VERIFICATION_LABELS[m]) if m in VERIFICATION_LABELS else m for m in metrics),
    )
    shown = wide.loc[[(k if isinstance(k, str) else k[0]) in weeks for k in wide.index]]
    totals = []
    if "hits" in shown.columns:
        n = int(shown["hits"].sum())
        totals.append(w.ngettext("{n} hit", "{n} hits", n).format(n=w.integer(n)))
    if "misses" in shown.columns:
        n = int(shown["misses"].sum())
        totals.append(w.ngettext("{n} miss", "{n} misses", n).format(n=w.integer(n)))
    if "false_alarms" in shown.columns:
        n = int(shown["false_alarms"].sum())
        totals.append(w.ngettext("{n} false alarm", "{n} false alarms", n).format(n=w.integer(n)))
    summary = w.ngettext(
        "Over the last {n} verified week", "Over the last {n} verified weeks", len(weeks)
    ).format(n=len(weeks))
    summary += f": {w.join(totals)}." if totals else "."
    if "brier" in shown.columns:
        summary += " " + w._("Mean Brier score {x} (0 is perfect; lower is better).").format(
            x=w.decimal(shown["brier"].mean(), 3)
        )
    return Verification(columns, tuple(rows), summary)


def drift_lines(watch: Sequence[CalibrationWatch], weeks: int, w: Words) -> tuple[str, ...]:
    """Return the drift watch in plain words: one warning per drifting country and horizon, or one line
    saying published forecasts stayed close to what happened (nothing before a week is verified)."""
    if not weeks or not watch:
        return ()
    out = []
    for c in (c for c in watch if c.drifting):
        text = (
            w._(
                "{country}: over the last {n} verified weeks, forecasts for the next {wk} averaged {p} while "
                "civilians were killed in {obs} of cases. They run too high there; use them with care until "
                "the model is retrained."
            )
            if c.bias > 0
            else w._(
                "{country}: over the last {n} verified weeks, forecasts for the next {wk} averaged {p} while "
                "civilians were killed in {obs} of cases. They run too low there; use them with care until "
                "the model is retrained."
            )
        )
        out.append(
            text.format(
                country=w.country(c.iso3),
                n=c.weeks,
                wk=w.weeks(c.horizon),
                p=w.pct(c.mean_p),
                obs=w.pct(c.observed),
            )
        )
    if not out:
        out.append(
            w.ngettext(
                "Calibration watch: over the last verified week, published forecasts stayed close to what "
                "happened in every country.",
                "Calibration watch: over the last {n} verified weeks, published forecasts stayed close to "
                "what happened in every country.",
                weeks,
            ).format(n=weeks)
        )
    return tuple(out)
