"""Table contracts between civrisk's stages, written down once and validated where data crosses packages.

events (ingest) -> regions and panel (ingest.regions, features.panel) -> features at a cutoff
(features.build) -> targets and forecasts (forecasting) -> metrics (backtests) -> published scores and
alert messages (publish).

Each contract is a mapping column -> dtype kind. ``validate_*`` names every missing or mistyped column
and says how to fix it, in the spirit of utilsforecast's ``validation.py``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
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

GROUP_TARGET_GROUPS = tuple(g for g in PERPETRATOR_GROUPS if g != "other_unknown")
"""Perpetrator groups with their own ``civ_any_<group>`` target (``other_unknown`` is not forecast)."""

TARGET_KINDS: Mapping[str, str] = {
    "civ_any": "binary",
    "civ_mass": "binary",
    **{f"civ_any_{g}": "binary" for g in GROUP_TARGET_GROUPS},
    "civ_deaths": "count",
}
"""Every forecast target -> its kind: ``binary`` (a probability in [0, 1]) or ``count`` (expected civilian
deaths with quantiles). How each is computed: forecasting.targets."""

MASS_KILLING_MIN = 10.0
"""Civilians killed in one week (one region) that make a week a mass-killing week (``civ_mass``)."""

HEADLINE_TARGET = "civ_any"
"""The target that ranks regions, shades the map and drives alerts: any civilian killed in the window."""

MSG_TYPES = ("Alert", "Update", "Cancel")
"""CAP message types of an alert's life: it opens (Alert), changes (Update) and closes (Cancel)."""


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

    def empty(self) -> pd.DataFrame:
        """Return a zero-row table with this contract's columns in their pandas dtypes."""
        return pd.DataFrame({c: pd.Series(dtype=KIND_DTYPES[k]) for c, k in self.columns.items()})


KIND_DTYPES: Mapping[str, str] = {
    "string": "string",
    "int": "Int64",
    "float": "float64",
    "bool": "bool",
    "datetime": "datetime64[ns]",
}
"""The pandas dtype each column kind is built with (nullable integers: ``Int64``)."""


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

REGIONS = Contract(
    name="regions",
    columns={
        "region_id": "string",
        "unit": "string",  # country | admin1 | grid
        "iso3": "string",
        "name": "string",
        "lat": "float",  # a point inside the region (label point / cell centre); NaN when unknown
        "lon": "float",
    },
    non_null=("region_id", "unit", "iso3"),
    unique_key=("region_id",),
    doc="Every region of a unit in the modelled countries, with or without events (ingest.regions).",
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


ALERTS = Contract(
    name="alerts",
    columns={
        "alert_id": "string",  # stable across the alert's messages
        "msg_type": "string",  # one of MSG_TYPES
        "rule": "string",
        "region_id": "string",
        "iso3": "string",
        "region_name": "string",
        "target": "string",
        "horizon": "int",
        "week": "datetime",  # publication week of this message
        "first_week": "datetime",  # week the alert opened
        "p": "float",  # NaN only for a Cancel sent because the region has no score
        "p_prev": "float",
        "level": "float",
        "reason": "string",
        "drivers": "string",  # JSON [[group, p], ...], highest first; <NA> when not applicable
    },
    non_null=("alert_id", "msg_type", "rule", "region_id", "iso3", "target", "horizon", "week", "level"),
    unique_key=("alert_id", "week"),
    doc="Alert messages of one or more publications: one row per message (publish.alerting).",
)

METRICS = Contract(
    name="metrics",
    columns={
        "model": "string",
        "target": "string",
        "horizon": "int",
        "year": "int",  # <NA>: every test origin
        "subset": "string",  # all | onset
        "metric": "string",
        "value": "float",
        "n": "int",  # rows scored
        "reference": "string",  # skill scores: the model they compare with (brier_skill_best: best baseline)
        "lo": "float",  # block-bootstrap interval over origins (NaN where not computed)
        "hi": "float",
    },
    non_null=("model", "target", "horizon", "subset", "metric", "n"),
    unique_key=("model", "target", "horizon", "year", "subset", "metric"),
    doc="Tidy backtest scores (forecasting.metrics.evaluate); skill scores name their reference model.",
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


QUANTILE_COLUMN = re.compile(r"^q(\d{2})$")
"""Quantile columns of count forecasts: ``q10`` is the 10% quantile."""


def validate_forecasts(df: pd.DataFrame, where: str = "") -> pd.DataFrame:
    """Return ``df`` if it is a forecasts table; raise ContractError otherwise.

    Beyond the columns: every target is known; binary targets' ``p`` is a probability in [0, 1]; count
    targets' ``p`` (expected deaths) is >= 0 and their quantile columns (``qNN``) do not decrease.
    """
    validate(df, FORECASTS, where)
    unknown = sorted(set(df["target"].astype(str)) - set(TARGET_KINDS))
    if unknown:
        raise ContractError(
            f"forecasts table{_at(where)}: unknown targets {unknown}; expected some of {list(TARGET_KINDS)}"
        )
    p = df["p"].to_numpy(dtype="float64")
    binary = df["target"].astype(str).map(TARGET_KINDS).eq("binary").to_numpy()
    bad = ~np.isfinite(p) | (p < 0) | (binary & (p > 1))
    if bad.any():
        rows = df.loc[bad, ["region_id", "target", "horizon", "p"]].head(3).to_dict("records")
        raise ContractError(
            f"forecasts table{_at(where)}: {int(bad.sum())} values of p are not probabilities in [0, 1] "
            f"(binary targets) or non-negative counts (count targets), e.g. {rows}"
        )
    qcols = sorted((c for c in df.columns if QUANTILE_COLUMN.match(str(c))), key=lambda c: int(c[1:]))
    if len(qcols) > 1:
        q = df[qcols].to_numpy(dtype="float64")
        steps = np.diff(q, axis=1)
        crossed = (steps < -1e-9 * np.maximum(1.0, np.abs(q[:, 1:]))).any(axis=1)
        if crossed.any():
            rows = df.loc[crossed, ["region_id", "target", "horizon", *qcols[:3]]].head(3).to_dict("records")
            raise ContractError(
                f"forecasts table{_at(where)}: {int(crossed.sum())} rows have quantiles that decrease "
                f"({', '.join(qcols)} must not decrease), e.g. {rows}"
            )
    return df


def validate_regions(df: pd.DataFrame, where: str = "") -> pd.DataFrame:
    """Return ``df`` if it is a region table; raise ContractError otherwise."""
    validate(df, REGIONS, where)
    bad = sorted(set(df["unit"].astype(str)) - set(UNITS))
    if bad:
        raise ContractError(f"regions table{_at(where)}: unknown units {bad}; expected one of {list(UNITS)}")
    return df


def validate_alerts(df: pd.DataFrame, where: str = "") -> pd.DataFrame:
    """Return ``df`` if it is a table of alert messages; raise ContractError otherwise."""
    validate(df, ALERTS, where)
    bad = sorted(set(df["msg_type"].astype(str)) - set(MSG_TYPES))
    if bad:
        raise ContractError(
            f"alerts table{_at(where)}: unknown msg_type values {bad}; expected one of {list(MSG_TYPES)}"
        )
    return df


def validate_metrics(df: pd.DataFrame, where: str = "") -> pd.DataFrame:
    """Return ``df`` if it is a tidy metrics table; raise ContractError otherwise."""
    return validate(df, METRICS, where)
