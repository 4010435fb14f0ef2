"""The made-up world the synthetic UCDP generator draws from: countries in UCDP's spelling, and actors.

Countries are real (UCDP's names, Gleditsch-Ward codes and regions, ISO alpha-3 for the Natural Earth
polygons and pycountry's admin-1 names); ``weight`` is a rough share of GED events, so the synthetic file
is as lopsided as the real one (a few countries hold most events). Actor names are the kind UCDP uses
(``Government of X``, ``IS``, ``JNIM``, ``Dozos``); which actor did what to whom is random, so no event
in the synthetic file describes anything that happened. The table is ``synthetic_countries.csv``
(lists separated by ``|``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

TABLE = Path(__file__).with_name("synthetic_countries.csv")

SAHEL_ISO3 = ("MLI", "BFA", "NER")
"""Countries whose admin-1 regions come from the real polygons (the others get pycountry's names)."""


@dataclass(frozen=True)
class CountrySpec:
    """One country: UCDP name, GW code, ISO alpha-3, UCDP region, event weight, actors, admin-1 suffix."""

    name: str
    gw: int
    iso3: str
    region: str
    weight: float
    suffix: str  # how UCDP's adm_1 spells the unit ("Mopti region", "Idlib governorate")
    rebels: tuple[str, ...]  # fight the government (state-based) and harm civilians (one-sided)
    militias: tuple[str, ...]  # fight each other (non-state)
    foreign: tuple[str, ...]  # foreign governments fighting beside the government

    @property
    def government(self) -> str:
        """Return the UCDP name of the country's government as an actor."""
        return f"Government of {self.name}"


@lru_cache(maxsize=1)
def countries() -> tuple[CountrySpec, ...]:
    """Return the synthetic world's countries, read from ``synthetic_countries.csv``."""
    with open(TABLE, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    specs = []
    for line, row in enumerate(rows, start=2):
        rebels = _split(row["rebels"])
        if not rebels:
            raise ValueError(
                f"{TABLE} line {line}: country {row['name']!r} lists no rebels; give at least one"
            )
        specs.append(
            CountrySpec(
                name=row["name"],
                gw=int(row["gw"]),
                iso3=row["iso3"],
                region=row["region"],
                weight=float(row["weight"]),
                suffix=row["suffix"],
                rebels=rebels,
                militias=_split(row["militias"]) or rebels,
                foreign=_split(row["foreign"]),
            )
        )
    return tuple(specs)


def _split(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split("|") if x.strip())
