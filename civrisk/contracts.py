"""Table contracts between civrisk's stages, written down once and validated where data crosses packages.

events (ingest) -> panel (features.panel) -> features at a cutoff (features.build)
-> forecasts (forecasting) -> published scores (publish).

Each contract is a mapping column -> dtype kind. ``validate_*`` names every missing or mistyped column
and says how to fix it, in the spirit of utilsforecast's ``validation.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

# ----------------------------------------------------------------------------------------------
# Vocabularies
# ----------------------------------------------------------------------------------------------

VIOLENCE_TYPES = ("state_based", "non_state", "one_sided", "other")
"""UCDP's three types of organized violence, plus ``other`` for ACLED events that are not organized
violence (protests, riots, strategic developments): kept and counted, never modelled."""

ORGANIZED_VIOLENCE = ("state_based", "non_state", "one_sided")

ACTOR_CLASSES = (
    "state_forces",
    "foreign_state_forces",
    "private_military",
    "pro_government_militia",
    "jihadist",
    "rebel_separatist",
    "communal_militia",
    "peacekeepers",
    "civilians",
    "unidentified_armed_group",
    "other",
    "placeholder",
    "unclassified",
)
"""Actor classes. ``placeholder`` flags a UCDP Candidate placeholder (``XXX436``): an actor UCDP has not
coded yet, neither identified nor unidentified; ``unclassified`` means no rule matched. ``civrisk actors``
lists both."""

PERPETRATOR_GROUPS: Mapping[str, tuple[str, ...]] = {
    "state_allied": ("state_forces", "foreign_state_forces", "private_military", "peacekeepers"),
    "jihadist_rebel": ("jihadist", "rebel_separatist"),
    "militia": ("pro_government_militia", "communal_militia"),
    "other_unknown": ("unidentified_armed_group", "civilians", "other", "placeholder", "unclassified"),
}
"""The perpetrator groups forecasts are split by (issue 3): state forces and their allies (incl. foreign
forces and private military such as Wagner), jihadist and rebel groups, militias; the rest is unknown."""

CLASS_TO_GROUP: Mapping[str, str] = {c: g for g, cs in PERPETRATOR_GROUPS.items() for c in cs}

UNITS = ("country", "admin1", "grid")


# ----------------------------------------------------------------------------------------------
# Contracts: column -> kind. Kinds: "string", "int", "float", "bool", "datetime".
# Nullable integers use pandas' "Int64"; strings may hold <NA> unless listed in ``required_non_null``.
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contract:
    """A named table layout: required columns with their kinds, and columns that must not hold nulls."""

    name: str
    columns: Mapping[str, str]
    non_null: tuple[str, ...] = ()
    unique_key: tuple[str, ...] = ()
    doc: str = ""
    optional: Mapping[str, str] = field(default_factory=dict)
    """Columns a table may lack (older tables written before they existed); checked for kind when present."""


EVENTS = Contract(
    name="events",
    columns={
        "event_id": "string",  # "<source>:<native id>", stable across re-ingests of the same release line
        "source": "string",  # ucdp_ged | ucdp_candidate | acled
        "source_version": "string",  # e.g. "23.1", "v23_0_10", "acled-export"
        "source_file": "string",
        "source_row": "int",  # 1-based data row number in the source file (header is row 0)
        "date_start": "datetime",
        "date_end": "datetime",
        "date_precision": "int",  # UCDP date_prec 1..5; ACLED time_precision 1..3
        "country": "string",
        "iso3": "string",
        "admin1": "string",  # as published (may be <NA>)
        "admin2": "string",
        "latitude": "float",
        "longitude": "float",
        "geo_precision": "int",  # UCDP where_prec 1..7; ACLED geo_precision 1..3; <NA> if unknown
        "violence_type": "string",  # one of VIOLENCE_TYPES
        "side_a": "string",
        "side_b": "string",
        "perpetrator": "string",  # the actor harming civilians, where one is identifiable
        "side_a_class": "string",  # one of ACTOR_CLASSES
        "side_b_class": "string",
        "perpetrator_class": "string",
        "deaths_best": "int",
        "deaths_low": "int",
        "deaths_high": "int",
        "deaths_civilians": "int",
        "civilian_harm": "bool",
        # region assignment (ingest.regions)
        "admin1_id": "string",  # id of the admin-1 polygon/name the event falls in; <NA> = country level
        "grid_id": "int",  # 0.5 degree PRIO-GRID gid; <NA> when too imprecise
    },
    non_null=(
        "event_id",
        "source",
        "source_file",
        "source_row",
        "date_start",
        "date_end",
        "iso3",
        "violence_type",
        "deaths_best",
        "deaths_civilians",
        "civilian_harm",
    ),
    unique_key=("event_id",),
    doc="Canonical events: one row per event from any source (see docs/EVENTS.md).",
    optional={
        # when the source last revised the row (ACLED ``timestamp``; NaT for UCDP): which version of an
        # event is newer (ingest.releases)
        "revised_at": "datetime",
    },
)

COVERAGE = Contract(
    name="coverage",
    columns={
        "source": "string",
        "iso3": "string",
        "first_date": "datetime",
        "last_date": "datetime",
        "declared": "bool",  # True when the user declared the window rather than observed it
    },
    non_null=("source", "iso3", "first_date", "last_date", "declared"),
    unique_key=("source", "iso3"),
    doc="Per source and country, the window the source covers. Outside it, no data is not zero.",
)

QUARANTINE = Contract(
    name="quarantine",
    columns={"source_file": "string", "source_row": "int", "reason": "string", "detail": "string"},
    non_null=("source_file", "source_row", "reason"),
    doc="Every rejected row with where it came from and why.",
)

PANEL_KEYS = ("region_id", "week")
PANEL = Contract(
    name="panel",
    columns={
        "region_id": "string",
        "unit": "string",  # country | admin1 | grid
        "iso3": "string",
        "week": "datetime",  # Monday of the ISO week
        "covered": "bool",  # False: outside every source's coverage -> measures are NaN
        "events": "float",
        "deaths": "float",
        "civ_deaths": "float",
        "civ_harm_events": "float",
    },
    non_null=("region_id", "unit", "iso3", "week", "covered"),
    unique_key=PANEL_KEYS,
    doc=(
        "Dense weekly panel, region x ISO week. Measures are floats so that weeks outside coverage hold "
        "NaN, never 0. Further measures (by violence type and perpetrator class/group) follow the naming "
        "in features.panel.MEASURE_COLUMNS."
    ),
)

FEATURES = Contract(
    name="features",
    columns={"region_id": "string", "week": "datetime", "iso3": "string"},
    non_null=("region_id", "week"),
    unique_key=PANEL_KEYS,
    doc="Feature matrix at forecast origins: keys plus float feature columns named for what they are.",
)

TARGETS = Contract(
    name="targets",
    columns={
        "region_id": "string",
        "week": "datetime",  # forecast origin: Monday of the publication week (data up to week - k)
        "horizon": "int",  # weeks ahead; the target covers weeks week .. week+horizon-1
        "target": "string",
        "y": "float",  # NaN when any target week is outside coverage
    },
    non_null=("region_id", "week", "horizon", "target"),
    unique_key=("region_id", "week", "horizon", "target"),
    doc="Labels per origin, horizon and target.",
)

FORECASTS = Contract(
    name="forecasts",
    columns={
        "region_id": "string",
        "week": "datetime",
        "horizon": "int",
        "target": "string",
        "model": "string",
        "p": "float",  # probability for binary targets; expected value for count targets
    },
    non_null=("region_id", "week", "horizon", "target", "model", "p"),
    unique_key=("region_id", "week", "horizon", "target", "model"),
    doc="Forecasts; count targets add q10, q50, q90; backtests add cutoff (last training week).",
)

SCORES = Contract(
    name="scores",
    columns={
        "publication_id": "int",
        "region_id": "string",
        "iso3": "string",
        "week": "datetime",
        "horizon": "int",
        "target": "string",
        "p": "float",
    },
    non_null=("publication_id", "region_id", "week", "horizon", "target", "p"),
    unique_key=("publication_id", "region_id", "horizon", "target"),
    doc="Published scores: a forecast bound to a publication (week, revision, model, data fingerprint).",
)


# ----------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------


class ContractError(ValueError):
    """A table does not match its contract. The message names every problem and how to fix it."""


def _kind_ok(series: pd.Series, kind: str) -> bool:
    dtype = series.dtype
    if kind == "string":
        return (
            pd.api.types.is_string_dtype(dtype)
            or pd.api.types.is_object_dtype(dtype)
            or isinstance(dtype, pd.CategoricalDtype)
        )
    if kind == "int":
        return pd.api.types.is_integer_dtype(dtype)
    if kind == "float":
        return pd.api.types.is_float_dtype(dtype) or pd.api.types.is_integer_dtype(dtype)
    if kind == "bool":
        return pd.api.types.is_bool_dtype(dtype)
    if kind == "datetime":
        return pd.api.types.is_datetime64_any_dtype(dtype)
    raise ValueError(f"unknown column kind {kind!r} in a contract")


def validate(df: pd.DataFrame, contract: Contract, where: str = "") -> pd.DataFrame:
    """Return ``df`` unchanged if it meets ``contract``; raise ContractError naming every problem."""
    if not isinstance(df, pd.DataFrame):
        raise ContractError(
            f"{contract.name} table{_at(where)}: expected a pandas DataFrame, got {type(df).__name__}"
        )
    problems: list[str] = []
    missing = [c for c in contract.columns if c not in df.columns]
    if missing:
        problems.append(f"missing columns {missing}")
    wrong = [
        f"{c} ({df[c].dtype}, expected {k})"
        for c, k in {**contract.columns, **contract.optional}.items()
        if c in df.columns and not _kind_ok(df[c], k)
    ]
    if wrong:
        problems.append(f"mistyped columns {wrong}")
    nulls = [c for c in contract.non_null if c in df.columns and df[c].isna().any()]
    if nulls:
        counts = {c: int(df[c].isna().sum()) for c in nulls}
        problems.append(f"nulls in required columns {counts}")
    if contract.unique_key and not missing:
        dup = df.duplicated(list(contract.unique_key), keep=False)
        if dup.any():
            first = df.loc[dup, list(contract.unique_key)].head(3).to_dict("records")
            problems.append(f"{int(dup.sum())} rows share a key {list(contract.unique_key)}, e.g. {first}")
    if problems:
        raise ContractError(
            f"{contract.name} table{_at(where)} does not match its contract: "
            + "; ".join(problems)
            + f". Expected columns: {dict(contract.columns)} (see civrisk/contracts.py)."
        )
    return df


def _at(where: str) -> str:
    return f" from {where}" if where else ""


def validate_events(df: pd.DataFrame, where: str = "") -> pd.DataFrame:
    """Return ``df`` if it is a canonical events table; raise ContractError otherwise."""
    validate(df, EVENTS, where)
    bad = sorted(set(df["violence_type"].dropna().unique()) - set(VIOLENCE_TYPES))
    if bad:
        raise ContractError(
            f"events table{_at(where)}: unknown violence_type values {bad}; expected one of "
            f"{list(VIOLENCE_TYPES)}"
        )
    for col in ("side_a_class", "side_b_class", "perpetrator_class"):
        unknown = sorted(set(df[col].dropna().unique()) - set(ACTOR_CLASSES))
        if unknown:
            raise ContractError(
                f"events table{_at(where)}: column {col} has unknown actor classes {unknown}; "
                f"expected one of {list(ACTOR_CLASSES)}"
            )
    return df


def validate_panel(df: pd.DataFrame, where: str = "") -> pd.DataFrame:
    """Return ``df`` if it is a weekly panel; raise ContractError otherwise."""
    validate(df, PANEL, where)
    weekday = df["week"].dt.day_of_week
    if (weekday != 0).any():
        raise ContractError(
            f"panel table{_at(where)}: {int((weekday != 0).sum())} weeks do not start on a Monday; "
            "weeks are ISO weeks keyed by their Monday (use features.panel.week_start)"
        )
    covered = df["covered"].astype(bool)
    leaked = df.loc[~covered, "events"].notna().sum()
    if leaked:
        raise ContractError(
            f"panel table{_at(where)}: {int(leaked)} region-weeks outside coverage hold numbers; "
            "outside coverage the measures must be NaN (no data is not zero violence)"
        )
    return df


def validate_features(df: pd.DataFrame, where: str = "") -> pd.DataFrame:
    """Return ``df`` if it is a feature matrix; raise ContractError otherwise."""
    validate(df, FEATURES, where)
    non_float = [
        c
        for c in df.columns
        if c not in ("region_id", "week", "iso3", "unit") and not pd.api.types.is_numeric_dtype(df[c])
    ]
    if non_float:
        raise ContractError(
            f"features table{_at(where)}: feature columns must be numeric; got non-numeric {non_float}"
        )
    return df


def validate_targets(df: pd.DataFrame, where: str = "") -> pd.DataFrame:
    """Return ``df`` if it is a targets table; raise ContractError otherwise."""
    return validate(df, TARGETS, where)


def validate_forecasts(df: pd.DataFrame, where: str = "") -> pd.DataFrame:
    """Return ``df`` if it is a forecasts table; raise ContractError otherwise."""
    validate(df, FORECASTS, where)
    return df
