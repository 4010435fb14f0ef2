"""The report's ranked regions: one row per region with its risks, change, perpetrators, drivers and alerts.

:func:`ranked_rows` reads the long scores frame once into region-wide arrays and returns plain
:class:`RegionRow` records, highest probability of civilians killed at the headline horizon first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from forecasting.targets import GROUP_TARGET_GROUPS, HEADLINE_TARGET
from publish.render.i18n import Words
from publish.render.labels import GROUPS, rule_words
from publish.render.report_map import risk_colour, risk_text_colour
from publish.render.report_text import driver_text, feature_words

MASS_TARGET = "civ_mass"
DEATHS_TARGET = "civ_deaths"
SCORE_COLUMNS = ("region_id", "iso3", "horizon", "target", "p")


@dataclass(frozen=True)
class GroupRisk:
    """Probability that a perpetrator group kills at least one civilian in the window."""

    group: str
    label: str
    short: str
    p: float


@dataclass(frozen=True)
class Driver:
    """One feature's signed contribution to a region's score, in words: its name and, when its value is
    known, what the model saw ("civilians killed in the last 4 weeks: 17, up from 3 in the 4 weeks
    before")."""

    feature: str
    words: str
    contribution: float
    text: str
    value: float | None = None


@dataclass(frozen=True)
class RegionRow:
    """A ranked region as the table shows it (probabilities in [0, 1], change in probability units)."""

    rank: int
    region_id: str
    name: str
    iso3: str
    country: str
    p: float
    fill: str
    text_colour: str
    p_by_horizon: tuple[tuple[int, float | None], ...]
    p_mass: float | None
    deaths: float | None
    deaths_q10: float | None
    deaths_q90: float | None
    change: float | None
    change_text: str
    change_class: str
    groups: tuple[GroupRisk, ...]
    drivers: tuple[Driver, ...]
    alerts: tuple[str, ...]


def check_scores(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Return ``df`` with typed key columns; raise ValueError naming missing columns or repeated keys."""
    missing = [c for c in SCORE_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(
            f"{name} lack columns {missing}; expected the long scores layout "
            "(region_id, iso3, region_name, horizon, target, p, expected, q10, q50, q90)"
        )
    out = df.copy()
    out["region_id"] = out["region_id"].astype(str)
    out["iso3"] = out["iso3"].astype(str)
    out["target"] = out["target"].astype(str)
    out["horizon"] = out["horizon"].astype("int64")
    out["p"] = out["p"].astype("float64")
    dup = out.duplicated(["region_id", "horizon", "target"])
    if dup.any():
        first = out.loc[dup, ["region_id", "horizon", "target"]].head(3).to_dict("records")
        raise ValueError(
            f"{name}: {int(dup.sum())} rows repeat a (region_id, horizon, target), e.g. {first}; pass one "
            "publication's scores"
        )
    return out


def _num(x: object) -> float | None:
    if x is None or x is pd.NA:
        return None
    f = float(x)  # type: ignore[arg-type]
    return None if math.isnan(f) else f


def _wide(s: pd.DataFrame, target: str, horizon: int | None, column: str = "p") -> dict[str, float]:
    part = s[s["target"] == target]
    if horizon is not None:
        part = part[part["horizon"] == horizon]
    if column not in part.columns:
        return {}
    return dict(zip(part["region_id"], part[column].astype("float64"), strict=True))


def _change_class(change: float | None) -> str:
    """Return "up", "down", "flat" (under half a point either way) or "new" (no score last week)."""
    if change is None:
        return "new"
    points = round(change * 100)
    return "up" if points > 0 else "down" if points < 0 else "flat"


def _expected_counts(s: pd.DataFrame, horizon: int) -> dict[str, float]:
    """Return region_id -> expected civilian deaths (``expected``, else ``p``: for counts they agree)."""
    part = s[(s["target"] == DEATHS_TARGET) & (s["horizon"] == horizon)]
    values = part["p"].astype("float64")
    if "expected" in part.columns:
        values = part["expected"].astype("float64").fillna(values)
    return dict(zip(part["region_id"], values, strict=True))


def alert_labels(alerts: pd.DataFrame | None, w: Words) -> dict[str, tuple[str, ...]]:
    """Return region_id -> this week's alerts in words ("high risk, 4 wk (new)"); an alert standing without a
    message this week has ``msg_type`` <NA>."""
    if alerts is None or alerts.empty:
        return {}
    missing = [c for c in ("region_id", "rule", "horizon", "msg_type") if c not in alerts.columns]
    if missing:
        raise ValueError(
            f"alerts lack columns {missing}; expected this publication's alert messages "
            "(region_id, rule, horizon, msg_type as publish.alerting.rules.evaluate_alerts or the store "
            "give them)"
        )
    out: dict[str, list[str]] = {}
    a = alerts.sort_values(["region_id", "rule", "horizon"], kind="mergesort")
    kinds = a["msg_type"].astype(str)  # <NA>: standing, no message this week
    for rid, rule, h, kind in zip(a["region_id"], a["rule"], a["horizon"], kinds, strict=True):
        what = w._("{rule}, {h} wk").format(rule=rule_words(w, str(rule)), h=int(h))
        if kind == "Alert":
            what = w._("{alert} (new)").format(alert=what)
        elif kind == "Cancel":
            what = w._("ended: {alert}").format(alert=what)
        out.setdefault(str(rid), []).append(what)
    return {k: tuple(v) for k, v in out.items()}


def top_drivers(
    drivers: pd.DataFrame | None,
    region_ids: list[str],
    w: Words,
    before: Mapping[tuple[str, str], float] | None = None,
    k: int = 3,
) -> dict[str, tuple[Driver, ...]]:
    """Return region_id -> its ``k`` largest contributions by size, for the given regions only.

    ``drivers`` may carry ``value`` (the feature as the model saw it); ``before`` maps (region_id, feature)
    to the same measure over the window just before (report_regions.before_values).
    """
    if drivers is None or drivers.empty:
        return {}
    missing = [c for c in ("region_id", "feature", "contribution") if c not in drivers.columns]
    if missing:
        raise ValueError(f"drivers lack columns {missing}; expected (region_id, feature, contribution)")
    d = drivers[drivers["region_id"].astype(str).isin(region_ids)]
    d = d.assign(_size=d["contribution"].astype("float64").abs()).sort_values(
        ["region_id", "_size", "feature"], ascending=[True, False, True], kind="mergesort"
    )
    d = d.groupby("region_id", sort=False).head(k)
    values = d["value"].astype("float64") if "value" in d.columns else pd.Series(math.nan, index=d.index)
    before = before or {}
    out: dict[str, list[Driver]] = {}
    for rid, feat, c, v in zip(
        d["region_id"].astype(str), d["feature"].astype(str), d["contribution"], values, strict=True
    ):
        value = None if math.isnan(v) else float(v)
        text = driver_text(feat, w, value, before.get((rid, feat)))
        out.setdefault(rid, []).append(Driver(feat, feature_words(feat, w), float(c), text, value))
    return {r: tuple(v) for r, v in out.items()}


def ranked_rows(
    s: pd.DataFrame,
    horizon: int,
    names: Mapping[str, str],
    countries: Mapping[str, str],
    withheld: set[str],
    previous: Mapping[str, float] | None,
    drivers: pd.DataFrame | None,
    alerts: Mapping[str, tuple[str, ...]],
    n_drivers: int,
    w: Words,
    before: Mapping[tuple[str, str], float] | None = None,
) -> tuple[RegionRow, ...]:
    """Return the ranked rows of checked scores ``s`` (highest civ_any p at ``horizon`` first).

    Regions of countries in ``withheld`` are left out of the ranking (the report lists them as withheld);
    drivers are looked up for the first ``n_drivers`` rows only (the table shows no more).
    """
    head = _wide(s, HEADLINE_TARGET, horizon)
    iso = dict(zip(s["region_id"], s["iso3"], strict=False))
    order = sorted(
        (r for r, p in head.items() if not math.isnan(p) and iso[r] not in withheld),
        key=lambda r: (-head[r], names.get(r, r), r),
    )
    horizons = sorted(set(s.loc[s["target"] == HEADLINE_TARGET, "horizon"]))
    by_h = {h: _wide(s, HEADLINE_TARGET, h) for h in horizons}
    mass = _wide(s, MASS_TARGET, horizon)
    deaths = _expected_counts(s, horizon)
    q10, q90 = _wide(s, DEATHS_TARGET, horizon, "q10"), _wide(s, DEATHS_TARGET, horizon, "q90")
    groups = {g: _wide(s, f"civ_any_{g}", horizon) for g in GROUP_TARGET_GROUPS}
    why = top_drivers(drivers, order[:n_drivers], w, before)
    rows = []
    for i, r in enumerate(order, start=1):
        p = head[r]
        prev = None if previous is None else previous.get(r)
        change = None if prev is None or math.isnan(prev) else p - prev
        g = sorted(
            (
                GroupRisk(k, w._(GROUPS[k].label), w._(GROUPS[k].short), v[r])
                for k, v in groups.items()
                if r in v and not math.isnan(v[r])
            ),
            key=lambda x: -x.p,
        )
        rows.append(
            RegionRow(
                rank=i,
                region_id=r,
                name=names.get(r, r),
                iso3=iso[r],
                country=countries.get(iso[r], iso[r]),
                p=p,
                fill=risk_colour(p),
                text_colour=risk_text_colour(p),
                p_by_horizon=tuple((h, _num(by_h[h].get(r))) for h in horizons),
                p_mass=_num(mass.get(r)),
                deaths=_num(deaths.get(r)),
                deaths_q10=_num(q10.get(r)),
                deaths_q90=_num(q90.get(r)),
                change=change,
                change_text=w.points(change),
                change_class=_change_class(change),
                groups=tuple(g),
                drivers=why.get(r, ()),
                alerts=alerts.get(r, ()),
            )
        )
    return tuple(rows)
