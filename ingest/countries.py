"""Country crosswalk: UCDP/ACLED/Natural Earth country names and Gleditsch-Ward codes -> ISO 3166-1 alpha-3.

Lookup order for a name: the alias table ``country_aliases.csv`` (publisher quirks such as UCDP's
"DR Congo (Zaire)" or ACLED's "Democratic Republic of Congo"), then pycountry's ISO names (name, official
name, common name, alpha-3), then the same two for the part before a parenthesis ("Myanmar (Burma)" ->
"Myanmar"). Names are compared after normalising case, accents, "&" and punctuation. A Gleditsch-Ward code
(UCDP's ``country_id``), when given, fills names that did not match (``gw_codes.csv``).

Codes outside ISO 3166-1, used on purpose: states that no longer exist keep their ISO 3166-3 codes
(CSK Czechoslovakia, DDR German Democratic Republic, YMD South Yemen); Kosovo is XKX (the user-assigned
code used by the EU, IMF and World Bank). UCDP's successor conventions are kept: "Russia (Soviet Union)"
is RUS, "Serbia (Yugoslavia)" SRB, "Yemen (North Yemen)" YEM.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from importlib import resources

import pandas as pd
import pycountry

_PUNCT = re.compile(r"[^\w\s]|_")
_SPACES = re.compile(r"\s+")
_PAREN = re.compile(r"\s*\(.*\)\s*$")


def normalise_name(name: str) -> str:
    """Return ``name`` folded for matching: no accents, lower case, '&' -> 'and', punctuation -> spaces."""
    text = unicodedata.normalize("NFKD", str(name))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = text.replace("&", " and ")
    text = _SPACES.sub(" ", _PUNCT.sub(" ", text)).strip()
    return text.removeprefix("the ")


def _read_package_csv(filename: str) -> pd.DataFrame:
    with resources.files("ingest").joinpath(filename).open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, dtype=str, keep_default_na=False)


@lru_cache(maxsize=1)
def _alias_index() -> dict[str, str]:
    aliases = _read_package_csv("country_aliases.csv")
    index: dict[str, str] = {}
    for row, (alias, iso3) in enumerate(zip(aliases["alias"], aliases["iso3"], strict=True), start=1):
        key = normalise_name(alias)
        if index.get(key, iso3) != iso3:
            raise ValueError(
                f"ingest/country_aliases.csv row {row}: alias {alias!r} maps to {iso3} but an earlier row "
                f"maps the same normalised name {key!r} to {index[key]}; keep one"
            )
        index[key] = iso3
    return index


@lru_cache(maxsize=1)
def _iso_index() -> dict[str, str]:
    """Return normalised ISO names (incl. 'Korea, Republic of' reordered) -> alpha-3 from pycountry."""
    index: dict[str, str] = {}
    for country in pycountry.countries:
        names = {country.alpha_3, country.name}
        for attr in ("official_name", "common_name"):
            value = getattr(country, attr, None)
            if value:
                names.add(value)
        for name in list(names):
            names.add(_PAREN.sub("", name))
            if (
                ", " in name
            ):  # "Congo, The Democratic Republic of the" -> "The Democratic Republic of the Congo"
                head, tail = name.split(", ", 1)
                names.add(f"{tail} {head}")
        for name in names:
            index.setdefault(normalise_name(name), country.alpha_3)
    return index


@lru_cache(maxsize=1)
def gw_table() -> pd.DataFrame:
    """Return the Gleditsch-Ward code table (gw_code Int64, iso3, name) shipped with the package."""
    table = _read_package_csv("gw_codes.csv")
    table["gw_code"] = table["gw_code"].astype("int64").astype("Int64")
    return table


def _lookup_name(name: str) -> str | None:
    aliases, iso = _alias_index(), _iso_index()
    key = normalise_name(name)
    if not key:
        return None
    for candidate in (key, normalise_name(_PAREN.sub("", name))):
        if candidate in aliases:
            return aliases[candidate]
        if candidate in iso:
            return iso[candidate]
    return None


def gw_to_iso3(gw_codes: pd.Series) -> pd.Series:
    """Return ISO3 for Gleditsch-Ward codes (ints, floats like 475.0, or digit strings); <NA> if unknown."""
    codes = pd.to_numeric(pd.Series(gw_codes), errors="coerce")
    whole = codes.where(codes == codes.round())
    mapping = dict(zip(gw_table()["gw_code"].astype("int64"), gw_table()["iso3"], strict=True))
    out = whole.map(lambda c: mapping.get(int(c)) if pd.notna(c) else None)
    return out.astype("string")


def iso_numeric_to_iso3(codes: pd.Series) -> pd.Series:
    """Return ISO3 for ISO 3166-1 numeric codes (466, '466', 466.0, '076'); <NA> if unknown."""
    numeric = pd.to_numeric(pd.Series(codes), errors="coerce")
    uniques = numeric.dropna().unique()
    mapping: dict[float, str | None] = {}
    for code in uniques:
        if code != round(code):
            continue
        country = pycountry.countries.get(numeric=f"{int(code):03d}")
        mapping[code] = country.alpha_3 if country else None
    return numeric.map(mapping).astype("string")


def to_iso3(names: pd.Series, gw_codes: pd.Series | None = None) -> pd.Series:
    """Return the ISO3 code of each country name (Series aligned with ``names``); <NA> when unknown.

    ``gw_codes`` (UCDP ``country_id``), when given, fills the names that did not match.
    """
    names = pd.Series(names)
    uniques = names.dropna().unique()
    mapping = {name: _lookup_name(name) for name in uniques}
    out = names.map(mapping).astype("string")
    if gw_codes is not None:
        gw = pd.Series(gw_codes)
        if len(gw) != len(names):
            raise ValueError(
                f"to_iso3: gw_codes has {len(gw)} values but names has {len(names)}; pass them row-aligned"
            )
        fallback = gw_to_iso3(gw)
        fallback.index = names.index
        out = out.fillna(fallback)
    return out


def iso3_name(iso3: pd.Series) -> pd.Series:
    """Return a display name per ISO3 code (ISO short name, or the historic/alias name); <NA> if unknown."""
    codes = pd.Series(iso3)
    gw_names = dict(zip(gw_table()["iso3"], gw_table()["name"], strict=True))

    def name_of(code: str) -> str | None:
        country = pycountry.countries.get(alpha_3=code)
        if country is not None:
            return getattr(country, "common_name", None) or country.name
        return gw_names.get(code)

    mapping = {code: name_of(code) for code in codes.dropna().unique()}
    return codes.map(mapping).astype("string")
