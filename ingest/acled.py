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

Rows without ``event_id_cnty`` (the Burkina Faso 2021+ export) get a content id ``acled:syn-<16 hex>``
from fields that survive ACLED's revisions (``ingest.identity``). ``timestamp`` (ACLED's last-modified
time of the row) becomes ``revised_at``: which of two versions of an event is newer (``ingest.releases``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from ingest.identity import content_ids, parse_timestamps
from ingest.layouts import Layout
from ingest.quarantine import RAW_PREFIX, native_id, parse_codes, parse_counts, parse_dates
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


STATE_INTER = frozenset({"1", "state forces"})
CIVILIAN_INTER = frozenset({"7", "civilians"})
STATE_CLASSES = frozenset({"state_forces", "foreign_state_forces"})

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
    date = parse_dates(f["event_date"], layout.date_formats)
    lat, lon = parse_counts(f["latitude"]), parse_counts(f["longitude"])
    ids = native_id(_column(f, "event_id_cnty"))
    ids = ids.fillna(content_ids(f, date, lat, lon).where(ids.isna()))
    geo_raw = _column(f, "geo_precision")
    time_raw = _column(f, "time_precision")
    return pd.DataFrame(
        {
            "event_id": (layout.source + ":" + ids).astype("string"),
            "source": layout.source,
            "source_version": version,
            "source_file": raw.path.name,
            "source_row": raw.source_row,
            "date_start": date,
            "date_end": date,
            "date_precision": parse_codes(time_raw),
            "country": f["country"].astype("string").str.strip(),
            "admin1": _column(f, "admin1"),
            "admin2": _column(f, "admin2"),
            "latitude": lat,
            "longitude": lon,
            "geo_precision": parse_codes(geo_raw),
            "revised_at": parse_timestamps(_column(f, "timestamp")),
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
            RAW_PREFIX + "date_precision": time_raw,
        },
        index=f.index,
    ).astype({"source": "string", "source_version": "string", "source_file": "string"})


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
