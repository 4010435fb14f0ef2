"""How precisely a published event location is known, and matching keys for admin-1 names.

UCDP ``where_prec``: 1 exact place, 2 within about 25 km, 3 admin-2 unit, 4 admin-1 unit, 5 a larger or vaguer
area (e.g. "northern Mali", a road or border; ``adm_1`` is filled only when that area lies in one admin-1),
6 country only, 7 international waters/airspace or similar. ACLED ``geo_precision``: 1 the named place,
2 near a place / part of a district, 3 a larger region (coordinates of its capital or centre).
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

POINT, ADMIN1, COUNTRY = 2, 1, 0
PRECISION_CLASSES = {  # source prefix -> {precision value: class}
    "ucdp": {1: POINT, 2: POINT, 3: POINT, 4: ADMIN1, 5: ADMIN1, 6: COUNTRY, 7: COUNTRY},
    "acled": {1: POINT, 2: POINT, 3: ADMIN1},
}
_SUFFIXES = (
    "region",
    "province",
    "state",
    "governorate",
    "prefecture",
    "department",
    "departement",
    "county",
    "oblast",
    "republic",
)
_PREFIX = re.compile(
    r"^(region|province|prefecture|department|departement|state|governorate)\s+(of|de|du|des|d)\s+"
)


def admin1_slug(name: object) -> str | None:
    """Return a matching key for an admin-1 name: "Tillabéri region" -> "tillaberi"; None if empty."""
    if name is None or (not isinstance(name, str) and pd.isna(name)):
        return None
    text = unicodedata.normalize("NFKD", str(name))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = re.sub(r"[^\w]+|_", " ", text).strip()
    text = _PREFIX.sub("", text)
    words = text.split()
    if len(words) > 1 and words[-1] in _SUFFIXES:
        words = words[:-1]
    return "-".join(words) or None


def admin1_slugs(names: pd.Series) -> pd.Series:
    """Return admin1_slug of each name (computed once per distinct name)."""
    uniques = names.dropna().unique()
    return names.map({n: admin1_slug(n) for n in uniques}).astype("string")


def precision_class(events: pd.DataFrame) -> np.ndarray:
    """Return each event's precision class (2 point, 1 admin1, 0 country) from source and geo_precision."""
    prec = pd.to_numeric(events["geo_precision"], errors="coerce").astype("Float64")
    source = events["source"].astype("string").str.lower()
    out = np.full(len(events), POINT, dtype="int8")
    known = prec.notna().to_numpy()
    matched = np.zeros(len(events), dtype=bool)
    for prefix, table in PRECISION_CLASSES.items():
        rows = source.str.startswith(prefix).fillna(False).to_numpy()
        matched |= rows
        values = prec[rows & known]
        classes = values.map(table)
        if classes.isna().any():
            raise ValueError(
                f"{int(classes.isna().sum())} {prefix} events have geo_precision outside "
                f"{sorted(table)}: {sorted(values[classes.isna()].unique().tolist())}"
            )
        out[np.flatnonzero(rows & known)] = classes.to_numpy(dtype="int8")
    if (known & ~matched).any():
        raise ValueError(
            f"geo_precision given for sources {sorted(set(source[known & ~matched].dropna()))} whose scale "
            f"is unknown; expected sources starting with {sorted(PRECISION_CLASSES)} (PRECISION_CLASSES in "
            "ingest/locations.py)"
        )
    return out


def coordinates(events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return latitude, longitude (float, NaN if missing) and whether both are usable degrees."""
    lat = pd.to_numeric(events["latitude"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    lon = pd.to_numeric(events["longitude"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    ok = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
    return lat, lon, ok
