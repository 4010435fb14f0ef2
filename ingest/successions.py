"""Boundary changes by date: which country an event belonged to when it happened, and which holds it today.

Natural Earth draws today's borders. An event in today's South Sudan before its independence (9 July 2011)
happened in Sudan, and UCDP codes it so; one after it happened in South Sudan, whatever a file calls it.
``historical_iso3`` gives each located event the country of its place *at its date* (both ways: "Sudan"
after 2011 in Juba becomes SSD, "South Sudan" before 2011 there becomes SDN); events count towards that
country's totals. ``present_iso3`` gives the country that holds the place *today*: admin-1 regions and
grid cells belong to it, so a Sudan panel does not carry South Sudan's states and cells as "covered, zero"
for every week after 2011 (docs/REGIONS.md).

Only points strictly inside the successor's Natural Earth polygon move; events without coordinates keep
the country their source gave.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import shapely

from ingest.boundaries import Boundaries, load_countries


@dataclass(frozen=True)
class Succession:
    """A state that split from another on a date (the successor's territory was the predecessor's)."""

    successor: str
    predecessor: str
    on: pd.Timestamp


SUCCESSIONS = (
    Succession("SSD", "SDN", pd.Timestamp("2011-07-09")),  # South Sudan's independence
    Succession("ERI", "ETH", pd.Timestamp("1993-05-24")),  # Eritrea's independence
    Succession("TLS", "IDN", pd.Timestamp("2002-05-20")),  # Timor-Leste's independence
)
"""Splits since UCDP's first year (1989) that Natural Earth draws as separate countries."""


@lru_cache(maxsize=16)
def _territory(countries: Boundaries, iso3: str) -> shapely.Geometry | None:
    pos = countries.positions_for([iso3])
    if len(pos) == 0:
        return None
    shape = shapely.union_all(list(countries.geometries[pos]))
    shapely.prepare(shape)
    return shape


def _inside(
    countries: Boundaries, iso3: str, lat: np.ndarray, lon: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """Return which of ``rows`` lie strictly inside ``iso3``'s polygon (False without one)."""
    out = np.zeros(len(lat), dtype=bool)
    shape = _territory(countries, iso3)
    if shape is None or not rows.any():
        return out
    ok = rows & np.isfinite(lat) & np.isfinite(lon)
    out[ok] = shapely.contains_xy(shape, lon[ok], lat[ok])
    return out


def _arrays(iso3: pd.Series, lat: object, lon: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    codes = pd.Series(iso3).astype("string").fillna("").to_numpy(dtype=object)
    la = pd.to_numeric(pd.Series(lat), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    lo = pd.to_numeric(pd.Series(lon), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return codes, la, lo


def historical_iso3(
    iso3: pd.Series, lat: object, lon: object, dates: pd.Series, countries: Boundaries | None = None
) -> pd.Series:
    """Return each event's country at its date: a point in a successor's territory is the predecessor's
    before the split and the successor's from it on (``iso3`` unchanged elsewhere)."""
    countries = countries if countries is not None else load_countries()
    out = pd.Series(iso3, copy=True).astype("string")
    if countries is None or out.empty:
        return out
    codes, la, lo = _arrays(iso3, lat, lon)
    when = pd.to_datetime(pd.Series(dates)).to_numpy(dtype="datetime64[ns]")
    for s in SUCCESSIONS:
        rows = np.isin(codes, (s.successor, s.predecessor))
        inside = _inside(countries, s.successor, la, lo, rows)
        if inside.any():
            before = when < np.datetime64(s.on.to_datetime64())
            values = np.where(before, s.predecessor, s.successor)
            out.iloc[np.flatnonzero(inside)] = values[inside]
    return out


def present_iso3(iso3: pd.Series, lat: object, lon: object, countries: Boundaries | None = None) -> pd.Series:
    """Return the country that holds each event's place today (a predecessor's event in a successor's
    territory belongs to the successor); ``iso3`` unchanged elsewhere and without coordinates."""
    countries = countries if countries is not None else load_countries()
    out = pd.Series(iso3, copy=True).astype("string")
    if countries is None or out.empty:
        return out
    codes, la, lo = _arrays(iso3, lat, lon)
    for s in SUCCESSIONS:
        inside = _inside(countries, s.successor, la, lo, codes == s.predecessor)
        out.iloc[np.flatnonzero(inside)] = s.successor
    return out


def successor_of(predecessor: str, owner: str) -> bool:
    """Return True when ``owner`` is a state that split from ``predecessor`` (SSD from SDN, ...)."""
    return any(s.predecessor == predecessor and s.successor == owner for s in SUCCESSIONS)


__all__ = ["SUCCESSIONS", "Succession", "historical_iso3", "present_iso3", "successor_of"]
