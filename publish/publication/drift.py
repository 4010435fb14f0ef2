"""The drift watch: published calibration per country and alert statistics over the last verified weeks.

Reads the verification rows that ``publish.publication.verify_stats`` records with each verified week and
sums the last ``settings.drift_weeks`` of them (the latest verified revision of each week). The report, the
weekly cycle's summary, its retrain policy and ``/healthz`` all read the watch from here, so they agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypedDict

import pandas as pd

from forecasting.drift import CalibrationWatch, calibration_watch
from publish.publication.verify_stats import ALERT_PREFIX, CAL_PREFIX, alert_summary

if TYPE_CHECKING:
    from civrisk.settings import Settings
    from publish.store.store import ScoreStore


@dataclass(frozen=True)
class DriftWatch:
    """Calibration per country and horizon, and alert statistics per rule and horizon, over recent weeks."""

    weeks: tuple[str, ...]
    """Week labels summed, oldest first."""
    calibration: tuple[CalibrationWatch, ...]
    alerts: pd.DataFrame
    """rule, horizon and the statistics of ``verify_stats.alert_summary``."""

    @property
    def drifting(self) -> tuple[CalibrationWatch, ...]:
        """Return the countries and horizons whose published forecasts drift."""
        return tuple(c for c in self.calibration if c.drifting)

    def lines(self) -> list[str]:
        """Return the watch as plain-text lines for the weekly cycle's summary."""
        if not self.weeks:
            return ["drift watch: no verified week yet"]
        span = f"{self.weeks[0]}..{self.weeks[-1]}" if len(self.weeks) > 1 else self.weeks[0]
        out = [f"drift watch over {len(self.weeks)} verified weeks ({span}):"]
        if self.drifting:
            where = ", ".join(f"{c.iso3} h{c.horizon}" for c in self.drifting)
            out[0] = f"DRIFT: published calibration drifts in {where}; {out[0]}"
        for c in self.calibration:
            flag = "DRIFT" if c.drifting else "ok"
            out.append(
                f"  {flag} {c.iso3} h{c.horizon}: mean forecast {c.mean_p:.2f} vs observed {c.observed:.2f} "
                f"(z {c.z:+.1f}), ECE {c.ece:.3f}, Brier {c.brier:.3f}, n {c.n}"
            )
        for a in self.alerts.itertuples(index=False):
            out.append(
                f"  alerts {a.rule} h{a.horizon}: {a.alerts_per_week:.1f} per week "
                f"(rate {a.alert_rate:.2f}), "
                f"precision {_num(a.precision, 2)}, recall {_num(a.recall, 2)}, "
                f"{_num(a.updates_per_alert_4w, 2)} Updates per alert per 4 weeks, onsets warned "
                f"{_share(a.onsets_warned)} of {int(a.onsets)}, mean lead {_num(a.lead_mean)} weeks"
            )
        return out


def drift_watch(store: ScoreStore, settings: Settings, before: object | None = None) -> DriftWatch:
    """Return the watch over the last ``settings.drift_weeks`` verified weeks (before week ``before``)."""
    v = store.verifications()
    pubs = {p.id: p for p in store.publications()}
    v = v[v["publication_id"].isin(pubs) & v["metric"].astype(str).str.startswith((CAL_PREFIX, ALERT_PREFIX))]
    if v.empty:
        return DriftWatch((), (), _empty_alerts())
    v = v.assign(week=[pd.Timestamp(pubs[int(i)].week) for i in v["publication_id"]])
    if before is not None:
        v = v[v["week"] < pd.Timestamp(before)]
    latest = v.groupby("week")["publication_id"].max()  # the latest verified revision of each week
    keep = latest.sort_index().tail(int(settings.drift_weeks))
    v = v[v["publication_id"].isin(set(keep))]
    v = v.sort_values("id").drop_duplicates(["publication_id", "metric", "target", "horizon"], keep="last")
    weeks = tuple(pubs[int(i)].week_label for i in keep)
    return DriftWatch(weeks, _calibration(v, settings), _alerts(v))


def _calibration(v: pd.DataFrame, settings: Settings) -> tuple[CalibrationWatch, ...]:
    cal = v[v["metric"].astype(str).str.startswith(CAL_PREFIX)]
    parts = cal["metric"].astype(str).str.split(".", n=2, expand=True)
    if cal.empty:
        return ()
    cal = cal.assign(iso3=parts[1], stat=parts[2])
    out = []
    for (iso3, horizon), grp in cal.groupby(["iso3", "horizon"], sort=True):
        sums = grp.groupby("stat")["value"].sum().to_dict()
        out.append(
            calibration_watch(
                str(iso3),
                int(horizon),
                sums,
                grp["publication_id"].nunique(),
                settings.drift_z,
                settings.drift_bias,
            )
        )
    return tuple(out)


def _alerts(v: pd.DataFrame) -> pd.DataFrame:
    al = v[v["metric"].astype(str).str.startswith(ALERT_PREFIX)]
    if al.empty:
        return _empty_alerts()
    parts = al["metric"].astype(str).str.split(".", n=2, expand=True)
    al = al.assign(rule=parts[1], stat=parts[2])
    rows = []
    for (rule, horizon), grp in al.groupby(["rule", "horizon"], sort=True):
        sums = grp.groupby("stat")["value"].sum().to_dict()
        sums["n"] = float(grp.loc[grp["stat"] == "in_force", "n"].sum())
        rows.append(
            {"rule": rule, "horizon": int(horizon), **alert_summary(sums, grp["publication_id"].nunique())}
        )
    return pd.DataFrame(rows)


def _empty_alerts() -> pd.DataFrame:
    return pd.DataFrame(columns=["rule", "horizon", *alert_summary({}, 0)])


class DriftHealth(TypedDict):
    """The drift watch in short: status, weeks summed, the drifting countries and horizons in words."""

    status: Literal["ok", "drifting", "unknown"]
    weeks: int
    drifting: list[str]


def drift_health(store: ScoreStore, settings: Settings) -> DriftHealth:
    """Return the drift watch for ``/healthz``: whether published calibration drifts, and where.

    ``{"status": "ok" | "drifting" | "unknown", "weeks": n, "drifting": ["MLI h4: forecast 0.57 vs
    observed 0.45", ...]}``; "unknown" before any week is verified.
    """
    watch = drift_watch(store, settings)
    if not watch.weeks:
        return {"status": "unknown", "weeks": 0, "drifting": []}
    drifting = [
        f"{c.iso3} h{c.horizon}: forecast {c.mean_p:.2f} vs observed {c.observed:.2f} (z {c.z:+.1f})"
        for c in watch.drifting
    ]
    return {"status": "drifting" if drifting else "ok", "weeks": len(watch.weeks), "drifting": drifting}


def _share(x: float) -> str:
    return "-" if pd.isna(x) else f"{x:.0%}"


def _num(x: float, digits: int = 1) -> str:
    return "-" if pd.isna(x) else f"{x:.{digits}f}"
