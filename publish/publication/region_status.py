"""Every region of a publication with its status: scored, withheld (and why), or no score.

Machine outputs (the HXL CSV, the GeoJSON, ``regions.json`` and the API) list every region of the model's
countries, so a region that got no score is never mistaken for a region of low risk: its row says why.
Region codes are the standard ones the boundaries carry (ISO 3166-2, OCHA P-codes), beside civrisk's
region id (the boundary file's id, the one scores are keyed by).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from publish.render.exports import publication_meta
from publish.store.store import Publication

SCORED, WITHHELD, NO_SCORE = "scored", "withheld", "no_score"
STATUSES = (SCORED, WITHHELD, NO_SCORE)
"""A region's status in one publication (docs/PUBLISHING.md, "Every region, with its status")."""
COLUMNS = ("region_id", "region_code", "iso3", "region_name", "status", "reason")


@dataclass(frozen=True)
class Withheld:
    """Why each withheld country got no score."""

    data_ends: Mapping[str, pd.Timestamp | None]
    """Per country, the last day its data cover at the cut-off (None: no data at all)."""
    thin: Mapping[str, tuple[int, float]]
    """Countries withheld as thin: iso3 -> (events in the last 4 data weeks, usual events per 4 weeks)."""
    last_week: pd.Timestamp
    """The publication's last data week."""

    def reason(self, iso3: str) -> str:
        """Return one line saying why ``iso3`` was withheld."""
        if iso3 in self.thin:
            n, usual = self.thin[iso3]
            return (
                f"thin data: {n} events in the last 4 data weeks against a usual {usual:.0f}; "
                "a partial file may have been ingested"
            )
        end = self.data_ends.get(iso3)
        if end is None:
            return "no data: no source covers this country"
        return (
            f"stale data: the country's data end on {pd.Timestamp(end).date()}, before the last data week "
            f"({self.last_week.date()})"
        )


def region_statuses(
    regions: pd.DataFrame,
    scored: set[str],
    withheld: set[str],
    why: Withheld,
    codes: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Return one row per region of ``regions`` (region_id, iso3, name) with its status and reason.

    ``scored``: region ids with published scores; ``withheld``: ISO3 of withheld countries; ``codes``: region
    id -> standard code (missing codes stay empty: no code is invented).
    """
    codes = codes or {}
    rows = []
    for rid, iso3, name in zip(regions["region_id"], regions["iso3"], regions["name"], strict=True):
        rid, iso3 = str(rid), str(iso3)
        if rid in scored:
            status, reason = SCORED, ""
        elif iso3 in withheld:
            status, reason = WITHHELD, why.reason(iso3)
        else:
            status, reason = NO_SCORE, "the model gave no score (its forecast was not a number): risk unknown"
        rows.append((rid, codes.get(rid), iso3, None if pd.isna(name) else str(name), status, reason))
    out = pd.DataFrame(rows, columns=list(COLUMNS))
    return out.sort_values(["iso3", "region_id"], kind="mergesort").reset_index(drop=True)


def regions_json(statuses: pd.DataFrame, publication: Publication) -> str:
    """Return ``{"publication": {...}, "regions": [...]}``: every region with its code and status."""
    records = [
        {k: (None if v is None or (isinstance(v, float) and pd.isna(v)) else v) for k, v in rec.items()}
        for rec in statuses[list(COLUMNS)].astype(object).where(statuses.notna(), None).to_dict("records")
    ]
    counts = {s: int((statuses["status"] == s).sum()) for s in STATUSES}
    doc = {"publication": publication_meta(publication), "counts": counts, "regions": records}
    return json.dumps(doc, ensure_ascii=False, indent=1)
