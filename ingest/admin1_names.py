"""Admin-1 names that stay one region: a per-country alias table for renames, and a check that lists
regions matched by name that start or stop appearing (a rename nobody has told civrisk about yet).

The packaged table ``ingest/admin1_aliases.csv`` (columns ``iso3, alias, name, note``) maps a published
spelling to the name it is the same region as ("Northern Darfur" -> "North Darfur" in SDN). A user CSV of
the same layout (setting ``admin1_aliases``) is read first: its rows add to the packaged ones and replace
them for the same country and alias. Names are compared as ``ingest.locations.admin1_slug`` keys, so
"Northern Darfur state" matches the alias "Northern Darfur". Only renames belong here: a region that was
split or merged is not the same region under another name (docs/REGIONS.md).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from ingest.locations import admin1_slug

log = logging.getLogger(__name__)

PACKAGED_FILE = "admin1_aliases.csv"
ALIAS_COLUMNS = ("iso3", "alias", "name")

CHANGE_MIN_EVENTS = 5
"""Regions with fewer events are not judged: a handful of events says nothing about when a name is used."""
CHANGE_GAP = pd.Timedelta(days=365)
"""A name-matched region "starts" when its first event comes this long after its country's first event
(or "stops" when its last comes this long before the country's last)."""


class AliasError(ValueError):
    """An admin-1 alias file is unusable; the message names the file, the rows and the fix."""


@dataclass(frozen=True, eq=False)
class Admin1Aliases:
    """(iso3, alias key) -> the key of the name it stands for, chains resolved."""

    table: Mapping[tuple[str, str], str]

    def canonical(self, iso3: object, slugs: pd.Series) -> pd.Series:
        """Return each admin-1 key with aliases of its country replaced by the name they stand for."""
        aliased = slugs.isin({alias for _, alias in self.table}).to_numpy(dtype=bool)
        if not aliased.any():  # the usual case: only rows carrying a known alias are looked up
            return slugs
        codes = pd.Series(np.asarray(iso3, dtype=object), index=slugs.index).astype("string").fillna("")
        keys = zip(codes[aliased], slugs[aliased], strict=True)
        out = slugs.copy()
        out[aliased] = [self.table.get(k, s) for k, s in zip(keys, slugs[aliased], strict=True)]
        return out


def load_aliases(extra: Path | None = None) -> Admin1Aliases:
    """Return the packaged aliases with ``extra``'s rows (a user CSV) added in front."""
    packaged = resources.files("ingest").joinpath(PACKAGED_FILE)
    with packaged.open("r", encoding="utf-8") as fh:
        table = _parse(pd.read_csv(fh, dtype=str, keep_default_na=False), f"ingest/{PACKAGED_FILE}")
    if extra is not None:
        path = Path(extra)
        if not path.is_file():
            raise AliasError(f"admin-1 alias file {path} does not exist (setting admin1_aliases)")
        try:
            user = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (ValueError, UnicodeDecodeError) as err:
            raise AliasError(f"admin-1 alias file {path} is not a UTF-8 CSV: {err}") from err
        table = {**table, **_parse(user, str(path))}
    return Admin1Aliases(_resolve(table))


@lru_cache(maxsize=1)
def packaged_aliases() -> Admin1Aliases:
    """Return the packaged aliases, read once per process."""
    return load_aliases()


def _parse(frame: pd.DataFrame, where: str) -> dict[tuple[str, str], str]:
    """Return (iso3, alias key) -> name key of one alias file; raise AliasError naming bad rows."""
    frame = frame.rename(columns=lambda c: str(c).strip().lower())
    missing = [c for c in ALIAS_COLUMNS if c not in frame.columns]
    if missing:
        raise AliasError(
            f"admin-1 alias file {where} lacks columns {missing}; expected iso3, alias, name (and an "
            f"optional note), got {list(frame.columns)}"
        )
    table: dict[tuple[str, str], str] = {}
    for row, (iso3, alias, name) in enumerate(frame[list(ALIAS_COLUMNS)].itertuples(index=False), start=2):
        iso3, a_key, n_key = str(iso3).strip().upper(), admin1_slug(alias), admin1_slug(name)
        if len(iso3) != 3 or not iso3.isalpha() or a_key is None or n_key is None:
            raise AliasError(
                f"admin-1 alias file {where} line {row}: needs an ISO3 code, an alias and a name; got "
                f"{iso3!r}, {alias!r}, {name!r}"
            )
        if table.get((iso3, a_key), n_key) != n_key:
            raise AliasError(
                f"admin-1 alias file {where} line {row}: {alias!r} in {iso3} is already an alias of "
                f"{table[(iso3, a_key)]!r}; give each alias one name"
            )
        if a_key != n_key:
            table[(iso3, a_key)] = n_key
    return table


def _resolve(table: dict[tuple[str, str], str]) -> dict[tuple[str, str], str]:
    """Return the table with chains followed (A -> B, B -> C gives A -> C); raise on a cycle."""
    out = {}
    for (iso3, alias), name in table.items():
        seen = {alias}
        while (iso3, name) in table:
            if name in seen:
                raise AliasError(f"admin-1 aliases of {iso3} loop: {sorted(seen)}; remove one of them")
            seen.add(name)
            name = table[(iso3, name)]
        out[(iso3, alias)] = name
    return out


def name_region_changes(events: pd.DataFrame, name_matched: pd.Series) -> pd.DataFrame:
    """Return pairs of name-matched regions where one stops appearing and another starts in its place.

    ``name_matched``: per event, whether its ``admin1_id`` came from a published name (no polygon). A pair
    is two regions of one country, each with CHANGE_MIN_EVENTS events or more, where the first stops at
    least CHANGE_GAP before the country's last event, the second starts at least CHANGE_GAP after the
    country's first and no earlier than 90 days before the first's last event and at most two years after
    it, and their events lie in the same place (median points within CHANGE_DISTANCE_DEG; without
    coordinates: names sharing a word). That is how a renamed region looks ("Northern Darfur" to 2013,
    "North Darfur" from 2013); a region where violence merely began or ended has no such partner, so
    conflicts moving across a country are not flagged. Columns: iso3, old_id, old_name, last, new_id,
    new_name, first, old_events, new_events.
    """
    columns = [
        "iso3",
        "old_id",
        "old_name",
        "last",
        "new_id",
        "new_name",
        "first",
        "old_events",
        "new_events",
    ]
    rows = name_matched.to_numpy(dtype=bool) & events["admin1_id"].notna().to_numpy()
    if not rows.any():
        return pd.DataFrame({c: [] for c in columns})
    ev = pd.DataFrame(
        {
            "admin1_id": events.loc[rows, "admin1_id"].astype("string").to_numpy(),
            "name": events.loc[rows, "admin1"].astype("string").to_numpy(),
            "start": events.loc[rows, "date_start"].to_numpy(),
            "end": events.loc[rows, "date_end"].to_numpy(),
            "lat": pd.to_numeric(events.loc[rows, "latitude"]).to_numpy(dtype="float64"),
            "lon": pd.to_numeric(events.loc[rows, "longitude"]).to_numpy(dtype="float64"),
        }
    )
    ev["iso3"] = ev["admin1_id"].str.slice(0, 3)
    span = ev.groupby("iso3").agg(c_first=("start", "min"), c_last=("end", "max"))
    # built-in aggregations only (no per-group Python): this runs over every ingest of 400k events
    regions = ev.groupby("admin1_id").agg(
        first=("start", "min"),
        last=("end", "max"),
        events=("start", "size"),
        lat=("lat", "median"),
        lon=("lon", "median"),
    )
    regions["iso3"] = regions.index.str.slice(0, 3)
    regions = regions[regions["events"] >= CHANGE_MIN_EVENTS].join(span, on="iso3")
    stops = regions[regions["c_last"] - regions["last"] > CHANGE_GAP]
    starts = regions[regions["first"] - regions["c_first"] > CHANGE_GAP]
    pairs = stops.reset_index().merge(starts.reset_index(), on="iso3", suffixes=("_old", "_new"))
    pairs = pairs[pairs["admin1_id_old"] != pairs["admin1_id_new"]]
    gap = pairs["first_new"] - pairs["last_old"]
    timely = (gap >= -pd.Timedelta(days=90)) & (gap <= 2 * CHANGE_GAP)
    distance = np.hypot(pairs["lat_old"] - pairs["lat_new"], pairs["lon_old"] - pairs["lon_new"])
    near = (distance <= CHANGE_DISTANCE_DEG).to_numpy()
    no_xy = distance.isna().to_numpy()
    words = [
        bool(set(a.split("-")[1:]) & set(b.split("-")[1:]) - _SHORT)
        for a, b in zip(pairs["admin1_id_old"], pairs["admin1_id_new"], strict=True)
    ]
    pairs = pairs[timely.to_numpy() & (near | (no_xy & np.asarray(words, dtype=bool)))]
    members = ev[ev["admin1_id"].isin(set(pairs["admin1_id_old"]) | set(pairs["admin1_id_new"]))]
    names = members.groupby("admin1_id")["name"].agg(lambda s: s.mode().iloc[0] if s.notna().any() else pd.NA)
    pairs = pairs.assign(
        name_old=pairs["admin1_id_old"].map(names), name_new=pairs["admin1_id_new"].map(names)
    )
    out = pd.DataFrame(
        {
            "iso3": pairs["iso3"],
            "old_id": pairs["admin1_id_old"],
            "old_name": pairs["name_old"],
            "last": pairs["last_old"],
            "new_id": pairs["admin1_id_new"],
            "new_name": pairs["name_new"],
            "first": pairs["first_new"],
            "old_events": pairs["events_old"],
            "new_events": pairs["events_new"],
        }
    )
    return out.sort_values(["iso3", "last", "old_id", "new_id"], ignore_index=True)[columns]


CHANGE_DISTANCE_DEG = 1.0
"""The median points of a renamed region's events under its two names lie within this distance."""
_SHORT = frozenset(
    {"north", "south", "east", "west", "northern", "southern", "eastern", "western", "al", "el"}
)


def change_lines(changes: pd.DataFrame, limit: int = 8) -> list[str]:
    """Return the warning about name-matched regions that look renamed, or no lines."""
    if changes.empty:
        return []
    shown = [
        f"{r.old_id} ({r.old_name}, {r.old_events:,} events to {pd.Timestamp(r.last):%Y-%m-%d}) -> "
        f"{r.new_id} ({r.new_name}, {r.new_events:,} events from {pd.Timestamp(r.first):%Y-%m-%d})"
        for r in changes.head(limit).itertuples(index=False)
    ]
    more = f"; and {len(changes) - limit} more" if len(changes) > limit else ""
    return [
        f"warning: {len(changes)} admin-1 regions matched by name stop appearing where another starts (a "
        "renamed region split in two? add an alias: setting admin1_aliases, docs/REGIONS.md): "
        + "; ".join(shown)
        + more
    ]


__all__ = [
    "Admin1Aliases",
    "AliasError",
    "change_lines",
    "load_aliases",
    "name_region_changes",
    "packaged_aliases",
]
