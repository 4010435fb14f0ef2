"""Identity of ACLED rows published without ``event_id_cnty``: a key from fields that survive revision.

ACLED revises events after publication: on the 3,618 events that the Mali export (2023) and the Africa file
(2022) share, fatalities changed on 11, ``actor1`` on 489 (mostly "(2013-)" becoming "(2013-2020)"), ``notes``
on 1,673, ``source`` on 507; the date on 18, the event type on 5 and the coordinates (to 4 decimals) on
about 230. An id hashed from every field therefore changes with any revision, and a revised row becomes a
"new" event that is counted twice. The key below uses only ``IDENTITY_FIELDS``, normalised (dates parsed,
coordinates rounded to 4 decimals, text case-folded), which changed on 254 of those 3,618 events (7%, nearly
all of them moved points); fatalities, actors, names, notes and sources are left out.

Rows that share a key within one file (same day, place and event type: 38 of the 3,359 Burkina Faso rows
without ids; 18 get a suffix) are told apart deterministically: their distinct contents
(``CONTENT_FIELDS``) are sorted by content digest, the first keeps ``syn-<key>``, the k-th becomes
``syn-<key>-k``. A revision may swap two such ids, which never changes how many events there are. Rows
identical in every content field get the same id, so the second is quarantined as ``duplicate_id``.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

IDENTITY_FIELDS = ("country", "event_date", "event_type", "sub_event_type", "latitude", "longitude")
"""ACLED columns that make up the identity of a row without ``event_id_cnty`` (absent ones count empty)."""

CONTENT_FIELDS = (
    "event_date",
    "event_type",
    "sub_event_type",
    "actor1",
    "assoc_actor_1",
    "actor2",
    "assoc_actor_2",
    "country",
    "admin1",
    "location",
    "latitude",
    "longitude",
    "fatalities",
    "source",
    "notes",
)
"""Every published field of a row: tells apart rows that share an identity key, and finds exact copies."""

_SEP = "\x1f"  # the unit separator: never part of a published field


def content_ids(frame: pd.DataFrame, dates: pd.Series, lat: pd.Series, lon: pd.Series) -> pd.Series:
    """Return ``syn-<16 hex>[-k]`` for the rows of ``frame`` without ``event_id_cnty`` (<NA> elsewhere).

    ``dates``, ``lat``, ``lon``: the parsed event date and coordinates (NaT / NaN where they do not parse;
    the raw text stands in then).
    """
    out = pd.Series(pd.NA, index=frame.index, dtype="string")
    rows = _column(frame, "event_id_cnty").isna().to_numpy()
    if not rows.any():
        return out
    sub = frame.loc[rows]
    key_text = _identity_text(sub, dates[rows], lat[rows], lon[rows])
    parts = [_column(sub, c).fillna("") for c in CONTENT_FIELDS]
    content_text = parts[0].str.cat(parts[1:], sep=_SEP)
    keys = np.array([_digest(t) for t in key_text.tolist()], dtype=object)
    contents = np.array([_digest(t, 40) for t in content_text.tolist()], dtype=object)
    table = pd.DataFrame({"key": keys, "content": contents})
    # rank the distinct contents within each key: 0 keeps the bare key, k > 0 gets the suffix -(k+1)
    distinct = table.drop_duplicates().sort_values(["key", "content"])
    distinct["rank"] = distinct.groupby("key").cumcount()
    rank = table.merge(distinct, on=["key", "content"], how="left")["rank"].to_numpy()
    ids = ["syn-" + k if r == 0 else f"syn-{k}-{r + 1}" for k, r in zip(keys, rank, strict=True)]
    out.loc[sub.index] = ids
    return out


def _identity_text(sub: pd.DataFrame, dates: pd.Series, lat: pd.Series, lon: pd.Series) -> pd.Series:
    """Return the normalised identity fields of each row joined by the unit separator."""
    day = dates.dt.strftime("%Y-%m-%d").astype("string").fillna(_column(sub, "event_date"))
    coords = []
    for parsed, name in ((lat, "latitude"), (lon, "longitude")):
        text = parsed.round(4).map(lambda v: f"{v:.4f}" if np.isfinite(v) else "").astype("string")
        coords.append(text.mask(text == "", _column(sub, name)))
    fields = {
        "country": _fold(_column(sub, "country")),
        "event_date": day,
        "event_type": _fold(_column(sub, "event_type")),
        "sub_event_type": _fold(_column(sub, "sub_event_type")),
        "latitude": coords[0],
        "longitude": coords[1],
    }
    parts = [fields[name].fillna("") for name in IDENTITY_FIELDS]
    return parts[0].str.cat(parts[1:], sep=_SEP)


def _fold(text: pd.Series) -> pd.Series:
    return text.str.strip().str.casefold().str.replace(r"\s+", " ", regex=True)


def _digest(text: str, width: int = 16) -> str:
    # hashlib has no vectorised form; only rows without a published id are hashed
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:width]


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    """Return a text column, or all <NA> when the export lacks it."""
    if name in frame.columns:
        return frame[name].astype("string")
    return pd.Series(pd.NA, index=frame.index, dtype="string")


def parse_timestamps(text: pd.Series) -> pd.Series:
    """Return ACLED ``timestamp`` values (Unix seconds or ISO date-times) as naive UTC datetimes, else NaT."""
    numbers = pd.to_numeric(text, errors="coerce")
    # Unix seconds from 2000 on and before 2100: anything else is not a modification time
    ok = numbers.between(946_684_800, 4_102_444_800)
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    out[ok] = pd.to_datetime(numbers[ok], unit="s")
    rest = text.notna() & numbers.isna()
    if rest.any():
        parsed = pd.to_datetime(text[rest], errors="coerce", format="ISO8601", utc=True)
        out[rest] = parsed.dt.tz_localize(None).astype("datetime64[ns]")
    return out


__all__ = ["CONTENT_FIELDS", "IDENTITY_FIELDS", "content_ids", "parse_timestamps"]
