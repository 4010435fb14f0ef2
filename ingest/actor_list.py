"""The UCDP actor list (``ucdp-actor-<version>.csv[.gz]``): actor names and their organisation type.

UCDP's ``Org`` column says what kind of actor a name is. The codes, as they appear in the 22.1 list
(every code-4 name is "Government of ...", every code-2 name is "Supporters of ..." or "Opponents of
...", code-3 names are ethnic groups, clans and communities, code-1 names are armed organisations
such as JNIM, AQIM, CMA or Koglweogo) and as UCDP's non-state conflict codebook defines its ``org``
levels:

- 1: formally organised group (in state-based conflicts: the rebel side)
- 2: informally organised group: supporters or opponents of a political party or leader
- 3: informally organised group along a shared communal identity (ethnic, clan, religious)
- 4: the government of a state

``ingest.actors`` uses the list as a fallback for UCDP names that no rule matches.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd

ORG_LABELS: Mapping[int, str] = {
    1: "formally organised group",
    2: "informally organised group: supporters or opponents of a party or leader",
    3: "informally organised group along a communal identity (ethnic, clan, religious)",
    4: "government of a state",
}
"""UCDP actor list ``Org`` codes and what they mean."""

_REQUIRED = ("ActorId", "NameData", "Org")


def read_actor_list(path: Path) -> pd.DataFrame:
    """Return the UCDP actor list as ``actor_id, name, org`` (one row per actor id).

    Raises ValueError naming the file, the rows and the values when columns are missing or an
    ``Org`` code is not one of 1-4.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"UCDP actor list {path} does not exist; download ucdp-actor-<version>.csv from "
            "https://ucdp.uu.se/downloads/ or unset CIVRISK_UCDP_ACTOR_LIST"
        )
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except UnicodeDecodeError:
        # some UCDP releases of this file are cp1252, not UTF-8
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="cp1252")
    missing = [c for c in _REQUIRED if c not in raw.columns]
    if missing:
        raise ValueError(
            f"UCDP actor list {path} lacks columns {missing} (expected the UCDP actor dataset layout "
            f"with {list(_REQUIRED)}; got {len(raw.columns)} columns: {list(raw.columns)[:8]}...)"
        )
    # the official release ends with blank padding rows
    raw = raw[raw["ActorId"].str.strip() != ""]
    org = pd.to_numeric(raw["Org"].str.strip(), errors="coerce")
    bad = ~org.isin(list(ORG_LABELS))
    if bad.any():
        rows = [int(i) + 1 for i in raw.index[bad][:5]]
        values = sorted(set(raw.loc[bad, "Org"]))[:5]
        raise ValueError(
            f"UCDP actor list {path}: {int(bad.sum())} rows have an Org code outside {sorted(ORG_LABELS)} "
            f"(data rows {rows}, values {values}); fix or remove those rows"
        )
    return pd.DataFrame(
        {
            "actor_id": raw["ActorId"].str.strip().astype("string"),
            "name": raw["NameData"].str.strip().astype("string"),
            "org": org.astype("int64"),
        }
    ).reset_index(drop=True)


def org_by_name(actors: pd.DataFrame, normalise: Callable[[str], str]) -> dict[str, int]:
    """Return normalised actor name -> Org code, leaving out names listed with different codes."""
    keys = actors["name"].map(normalise)
    codes = actors.assign(key=keys).groupby("key")["org"].unique()
    return {str(k): int(v[0]) for k, v in codes.items() if len(v) == 1 and k}
