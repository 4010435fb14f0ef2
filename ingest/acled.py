"""ACLED exports -> staged canonical events (see ingest.quarantine and docs/EVENTS.md for the mapping).

ACLED has no violence types; they follow from the event type and the actors:

* "Violence against civilians": one-sided; ``actor1`` is the perpetrator and every fatality a civilian.
* Battles (and the pre-2019 "Battle-..." types): state-based when either side is state forces (ACLED
  interaction code 1, or an actor class ``state_forces``/``foreign_state_forces``), else non-state.
* "Explosions/Remote violence" (and the older "Remote violence"): one-sided, with every fatality a civilian,
  when civilians were the target (``civilian_targeting`` says so, or ``actor2`` is civilians, as older
  exports record it); otherwise state-based or non-state by the actors, like battles.
* Protests, riots and strategic developments (old and new names): violence type "other": kept, counted,
  never modelled; fatalities count as civilian when civilians were the target.

Deaths: best = low = high = ``fatalities`` (ACLED publishes one number).

Rows without ``event_id_cnty`` (the Burkina Faso 2021+ export) get a synthetic id
``acled:syn-<16 hex>``: the first 16 hex digits of the SHA-1 of the row's content fields
(``SYNTHETIC_ID_FIELDS``, joined by a unit separator). It is stable across re-ingests of the same export;
two rows with identical content get the same id, so the second is quarantined as ``duplicate_id``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import pandas as pd

from ingest.layouts import Layout
from ingest.quarantine import RAW_PREFIX, native_id, parse_codes, parse_counts, parse_dates, parse_scale
from ingest.readers import RawTable

ONE_SIDED_TYPES = frozenset({"violence against civilians"})
BATTLE_TYPES = frozenset(
    {
        "battles",
        "battle-no change of territory",
        "battle-government regains territory",
        "battle-non-state actor overtakes territory",
    }
)
REMOTE_TYPES = frozenset({"explosions/remote violence", "remote violence"})
OTHER_TYPES = frozenset(
    {
        "protests",
        "riots",
        "riots/protests",
        "strategic developments",
        "strategic development",
        "non-violent activity by a conflict actor",
        "headquarters or base established",
        "non-violent transfer of territory",
    }
)
"""Event types ACLED has used (current and pre-2019 names), lower-cased. Any other type is quarantined
as ``unknown_violence_type`` rather than guessed."""

GEO_PRECISION_SCALE = (1, 3)
"""ACLED ``geo_precision``: 1 the named place .. 3 a larger region; other values: unknown precision."""

STATE_INTER = frozenset({"1", "state forces"})
CIVILIAN_INTER = frozenset({"7", "civilians"})
STATE_CLASSES = frozenset({"state_forces", "foreign_state_forces"})

SYNTHETIC_ID_FIELDS = (
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

Classifier = Callable[[pd.Series, str], pd.Series]


def stage_acled(raw: RawTable, layout: Layout, version: str, classify: Classifier) -> pd.DataFrame:
    """Return the staged canonical events of an ACLED export.

    ``classify`` is ``ingest.actors.classify_actors``; it tells state forces apart for battles and remote
    violence where interaction codes alone would miss foreign armies.
    """
    f = raw.frame
    kind = _event_kind(f["event_type"])
    actor1 = f["actor1"].astype("string")
    actor2 = f["actor2"].astype("string")
    state = _is_state(f["inter1"], actor1, classify) | _is_state(f["inter2"], actor2, classify)
    targeted = _lower(_column(f, "civilian_targeting")).str.contains("civilian", na=False) | _lower(
        f["inter2"]
    ).isin(CIVILIAN_INTER)
    one_sided = (kind == "one_sided") | ((kind == "remote") & targeted)
    armed = kind.isin(["battle", "remote"]) & ~one_sided
    violence = pd.Series(pd.NA, index=f.index, dtype="string")
    violence = violence.mask(one_sided, "one_sided")
    violence = violence.mask(armed & state, "state_based").mask(armed & ~state, "non_state")
    violence = violence.mask(kind == "other", "other")

    fatalities = parse_counts(f["fatalities"])
    civilian = one_sided | ((kind == "other") & targeted)
    ids = native_id(f["event_id_cnty"])
    ids = ids.fillna(synthetic_ids(f).where(ids.isna()))
    date = parse_dates(f["event_date"], layout.date_formats)
    geo_raw = _column(f, "geo_precision")
    admin2 = _column(f, "admin2")
    return pd.DataFrame(
        {
            "event_id": (layout.source + ":" + ids).astype("string"),
            "source": layout.source,
            "source_version": version,
            "source_file": raw.path.name,
            "source_row": raw.source_row,
            "date_start": date,
            "date_end": date,
            "date_precision": parse_codes(_column(f, "time_precision")),
            "country": f["country"].astype("string").str.strip(),
            "admin1": f["admin1"].astype("string"),
            "admin2": admin2.astype("string"),
            "latitude": parse_counts(f["latitude"]),
            "longitude": parse_counts(f["longitude"]),
            "geo_precision": parse_scale(geo_raw, *GEO_PRECISION_SCALE),
            "violence_type": violence,
            "side_a": actor1,
            "side_b": actor2,
            "perpetrator": actor1.where(one_sided),
            "deaths_best": fatalities,
            "deaths_low": fatalities,
            "deaths_high": fatalities,
            "deaths_civilians": fatalities.where(civilian, 0.0).where(fatalities.notna()),
            "gw_code": _na_int(f.index),
            "inter_a": f["inter1"],
            "inter_b": f["inter2"],
            "iso3_published": pd.Series(pd.NA, index=f.index, dtype="string"),
            RAW_PREFIX + "date_start": f["event_date"],
            RAW_PREFIX + "date_end": f["event_date"],
            RAW_PREFIX + "deaths_best": f["fatalities"],
            RAW_PREFIX + "deaths_low": f["fatalities"],
            RAW_PREFIX + "deaths_high": f["fatalities"],
            RAW_PREFIX + "deaths_civilians": f["fatalities"],
            RAW_PREFIX + "latitude": f["latitude"],
            RAW_PREFIX + "longitude": f["longitude"],
            RAW_PREFIX + "violence_type": f["event_type"],
            RAW_PREFIX + "geo_precision": geo_raw,
        },
        index=f.index,
    ).astype({"source": "string", "source_version": "string", "source_file": "string"})


def synthetic_ids(frame: pd.DataFrame) -> pd.Series:
    """Return ``syn-<16 hex>`` ids from each row's content fields (stable for the same export row)."""
    rows = frame.loc[_column(frame, "event_id_cnty").isna()]
    out = pd.Series(pd.NA, index=frame.index, dtype="string")
    if rows.empty:
        return out
    parts = [_column(rows, c).fillna("") for c in SYNTHETIC_ID_FIELDS]
    content = parts[0].str.cat(parts[1:], sep="\x1f")
    # hashing only the rows that lack an id; hashlib has no vectorised form
    digests = [hashlib.sha1(text.encode("utf-8")).hexdigest()[:16] for text in content.tolist()]
    out.loc[rows.index] = ["syn-" + d for d in digests]
    return out


def _event_kind(event_type: pd.Series) -> pd.Series:
    lower = _lower(event_type)
    kind = pd.Series(pd.NA, index=event_type.index, dtype="string")
    kind = kind.mask(lower.isin(ONE_SIDED_TYPES), "one_sided")
    kind = kind.mask(lower.isin(BATTLE_TYPES), "battle")
    kind = kind.mask(lower.isin(REMOTE_TYPES), "remote")
    return kind.mask(lower.isin(OTHER_TYPES), "other")


def _is_state(inter: pd.Series, actor: pd.Series, classify: Classifier) -> pd.Series:
    by_code = _lower(inter).isin(STATE_INTER)
    names = actor.dropna().drop_duplicates()
    state_names = names[
        classify(names, "acled").astype("string").isin(STATE_CLASSES).fillna(False).to_numpy()
    ]
    by_class = actor.isin(state_names).fillna(False)
    return (by_code | by_class).fillna(False).astype(bool)


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    """Return a text column, or all <NA> when an export lacks it (e.g. no ``civilian_targeting``)."""
    if name in frame.columns:
        return frame[name].astype("string")
    return pd.Series(pd.NA, index=frame.index, dtype="string")


def _lower(text: pd.Series) -> pd.Series:
    return text.astype("string").str.strip().str.lower()


def _na_int(index: pd.Index) -> pd.Series:
    return pd.Series(np.full(len(index), pd.NA), index=index, dtype="Int64")
