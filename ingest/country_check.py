"""The country check: does an event's point lie in the country its source names (buffered, permissive)?

Used by ingest to quarantine ``coordinates_outside_country`` (docs/REGIONS.md, "Country check").
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import shapely

from ingest.boundaries import Boundaries, load_countries
from ingest.locations import coordinates

COUNTRY_TOLERANCE_DEG = 0.25
"""Buffer around country polygons: coastal events, and borders simplified in Natural Earth / admin files."""

# Territory UCDP/ACLED code under another country than Natural Earth does (date-free, so permissive):
# Western Sahara under Morocco, Gaza/West Bank under Israel, Crimea under Ukraine, and predecessor states
# (Sudan before 2011, Ethiopia before 1993, Indonesia before 2002, "Serbia (Yugoslavia)" in the 1990s wars).
_EXTRA_TERRITORY: dict[str, tuple[str, ...]] = {
    "MAR": ("ESH",),
    "ISR": ("PSE",),
    "SDN": ("SSD",),
    "SSD": ("SDN",),
    "ETH": ("ERI",),
    "IDN": ("TLS",),
    "SRB": ("XKX", "MNE", "BIH", "HRV", "SVN", "MKD"),
}
_CRIMEA = shapely.box(32.4, 44.3, 36.7, 46.3)
_EXTRA_SHAPES = {"UKR": _CRIMEA}


@lru_cache(maxsize=512)
def _country_shape(countries: Boundaries, iso3: str, tolerance: float) -> shapely.Geometry | None:
    """Return the buffered, prepared polygon a point labelled ``iso3`` must fall in; None if none exists."""
    codes = (iso3, *_EXTRA_TERRITORY.get(iso3, ()))
    pos = countries.positions_for(codes)
    if not (countries.regions["iso3"].to_numpy()[pos] == iso3).any():
        return None
    parts = list(countries.geometries[pos])
    if iso3 in _EXTRA_SHAPES:
        parts.append(_EXTRA_SHAPES[iso3])
    shape = shapely.union_all(parts).simplify(0.01).buffer(tolerance)
    shapely.prepare(shape)
    return shape


def points_in_country(
    iso3: pd.Series, lat: pd.Series, lon: pd.Series, tolerance: float = COUNTRY_TOLERANCE_DEG
) -> pd.Series:
    """Return whether each point lies in its country (Natural Earth 50m, buffered by ``tolerance`` deg).

    False = clearly outside; <NA> = no polygon for that ISO3 (or none loaded) or no coordinates.
    """
    codes = pd.Series(iso3).astype("string")
    index = codes.index
    la, lo, ok = coordinates(pd.DataFrame({"latitude": np.asarray(lat), "longitude": np.asarray(lon)}))
    result = pd.array(np.zeros(len(codes), dtype=bool), dtype="boolean")
    result[:] = pd.NA
    countries = load_countries()
    if countries is not None:
        values = codes.fillna("").to_numpy(dtype=object)
        for code in pd.unique(values[ok]):
            shape = _country_shape(countries, code, float(tolerance)) if code else None
            if shape is None:
                continue
            rows = np.flatnonzero(ok & (values == code))
            result[rows] = shapely.contains_xy(shape, lo[rows], la[rows])
    return pd.Series(result, index=index, name="in_country")


__all__ = ["COUNTRY_TOLERANCE_DEG", "points_in_country"]
