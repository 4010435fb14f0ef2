"""The published layouts of UCDP and ACLED event files, and detecting which one a file is in from its header.

Each layout names the columns civrisk needs from it (``required``); other columns are read and ignored.
Detection picks the most specific layout whose required columns are all present; when none fits, the error
names the layout the header looked most like and the columns it lacks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_UCDP_OPTIONAL = ("country_id", "code_status", "side_a_dset_id", "side_b_dset_id", "iso3")
_ACLED_OPTIONAL = (
    # exports of a country with neither (Burkina Faso 2021+) may lack the columns entirely: rows then get a
    # content id (ingest.identity) and a region from their coordinates
    "event_id_cnty",
    "admin1",
    "admin2",
    "timestamp",  # ACLED's last-modified time of the row: which version of an event is newer
    "tags",
    "time_precision",
    "geo_precision",
    "civilian_targeting",
    # content fields of the synthetic id of rows without event_id_cnty (ingest.acled)
    "sub_event_type",
    "assoc_actor_1",
    "assoc_actor_2",
    "location",
    "source",
    "notes",
)
_UCDP_CORE = (
    "id",
    "type_of_violence",
    "side_a",
    "side_b",
    "where_prec",
    "adm_1",
    "adm_2",
    "latitude",
    "longitude",
    "country",
    "date_prec",
    "date_start",
    "date_end",
    "deaths_civilians",
)


@dataclass(frozen=True)
class Layout:
    """A published file layout: the columns civrisk needs from it and how to name what it holds."""

    name: str  # the --format value
    label: str  # human name used in messages
    source: str  # canonical ``source`` value of its events
    required: tuple[str, ...]
    n_columns: int  # column count of the published layout (for messages only)
    default_version: str  # source_version when the file name carries none
    date_formats: tuple[str, ...]  # tried in order; "ISO8601" accepts dates with or without a time
    optional: tuple[str, ...] = ()  # read when present

    @property
    def columns(self) -> tuple[str, ...]:
        """Return the columns to read: required, then optional."""
        return self.required + tuple(c for c in self.optional if c not in self.required)


LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        Layout(
            name="ucdp_ged",
            label="UCDP GED official",
            source="ucdp_ged",
            required=(*_UCDP_CORE, "best", "high", "low"),
            n_columns=49,
            default_version="ucdp-ged",
            optional=_UCDP_OPTIONAL,
            date_formats=("ISO8601",),
        ),
        Layout(
            name="ucdp_candidate",
            label="UCDP Candidate events",
            source="ucdp_candidate",
            required=(*_UCDP_CORE, "best", "high", "low", "code_status"),
            n_columns=49,
            default_version="ucdp-candidate",
            optional=_UCDP_OPTIONAL,
            date_formats=("ISO8601",),
        ),
        Layout(
            name="ucdp_explorer",
            label="UCDP GED web-explorer export",
            source="ucdp_ged",
            required=(*_UCDP_CORE, "best_est", "high_est", "low_est"),
            n_columns=47,
            default_version="ucdp-explorer-export",
            optional=_UCDP_OPTIONAL,
            date_formats=("%m/%d/%Y %H:%M:%S", "%m/%d/%Y", "ISO8601"),
        ),
        Layout(
            name="ucdp_hdx",
            label="UCDP GED HDX copy",
            source="ucdp_ged",
            required=(*_UCDP_CORE, "best", "high", "low", "start_year", "end_year", "iso3"),
            n_columns=52,
            default_version="ucdp-ged-hdx",
            optional=_UCDP_OPTIONAL,
            date_formats=("ISO8601",),
        ),
        Layout(
            name="ucdp_candidate_reduced",
            label="UCDP Candidate events, reduced 7-column file",
            source="ucdp_candidate",
            required=(
                "id",
                "conflict_new_id",
                "conflict_name",
                "country",
                "best",
                "type_of_violence",
                "date",
            ),
            n_columns=7,
            default_version="ucdp-candidate-reduced",
            date_formats=("ISO8601",),
        ),
        Layout(
            name="acled",
            label="ACLED export",
            source="acled",
            required=(
                "event_date",
                "event_type",
                "actor1",
                "inter1",
                "actor2",
                "inter2",
                "country",
                "latitude",
                "longitude",
                "fatalities",
            ),
            n_columns=30,
            default_version="acled-export",
            optional=_ACLED_OPTIONAL,
            # ACLED's API writes ISO dates; its export tool writes "05 January 2021".
            date_formats=("ISO8601", "%d %B %Y"),
        ),
    )
}

# Layouts that share a header: detection from the header alone returns the first; the file name or its
# content then tells a candidate release from a final one (see ``refine_ucdp_layout`` in ingest.ucdp).
_SAME_HEADER = {"ucdp_candidate": "ucdp_ged"}


class LayoutError(ValueError):
    """An events file does not have the columns of any known layout (or of the one forced)."""


def normalise_header(columns: Sequence[object]) -> list[str]:
    """Return column names stripped of whitespace and a byte-order mark, lower-cased."""
    return [str(c).replace("\ufeff", "").strip().lower() for c in columns]


def detect_layout(columns: Sequence[str], file: str | Path, forced: str | None = None) -> Layout:
    """Return the layout of a file with these (normalised) columns; raise LayoutError when none fits.

    With ``forced`` (the --format value) that layout is checked instead of detected.
    """
    present = set(columns)
    name = Path(file).name
    if forced is not None:
        if forced not in LAYOUTS:
            raise LayoutError(f"unknown --format {forced!r} for {name}; expected one of {sorted(LAYOUTS)}")
        layout = LAYOUTS[forced]
        missing = [c for c in layout.required if c not in present]
        if missing:
            raise LayoutError(
                f"events file {name} lacks columns {missing} required by --format {forced} "
                f"({layout.label}, {layout.n_columns} columns expected; got {len(columns)} columns)."
            )
        return layout
    _refuse_mixed(present, name)
    candidates = [lay for n, lay in LAYOUTS.items() if n not in _SAME_HEADER]
    fitting = [lay for lay in candidates if present.issuperset(lay.required)]
    if fitting:
        # The most specific fit wins: the HDX copy also holds every official GED column.
        return max(fitting, key=lambda lay: len(lay.required))
    nearest = max(candidates, key=lambda lay: (_share_present(lay, present), len(lay.required)))
    missing = [c for c in nearest.required if c not in present]
    raise LayoutError(
        f"events file {name} lacks columns {missing} (looked like {nearest.label}, "
        f"{nearest.n_columns} columns expected; got {len(columns)} columns). Pass --format to force a layout."
        + _separator_hint(columns)
    )


# Columns only one source's layouts have (shared names such as country, latitude or year left out).
_UCDP_ONLY = frozenset(
    {"type_of_violence", "side_a", "side_b", "where_prec", "adm_1", "adm_2", "date_prec", "date_start"}
    | {"date_end", "deaths_civilians", "best", "best_est", "conflict_name", "conflict_new_id"}
)
_ACLED_ONLY = frozenset(
    {"event_id_cnty", "event_date", "event_type", "sub_event_type", "actor1", "actor2", "inter1", "inter2"}
    | {"fatalities", "admin1", "admin2", "time_precision", "civilian_targeting", "assoc_actor_1"}
)
MIXED_THRESHOLD = 3
"""A header holding at least this many columns only UCDP uses and as many only ACLED uses is refused."""


def _refuse_mixed(present: set[str], name: str) -> None:
    """Raise LayoutError when a header mixes UCDP and ACLED columns (reading it as either would guess)."""
    ucdp, acled = sorted(present & _UCDP_ONLY), sorted(present & _ACLED_ONLY)
    if len(ucdp) >= MIXED_THRESHOLD and len(acled) >= MIXED_THRESHOLD:
        raise LayoutError(
            f"events file {name} mixes UCDP columns {ucdp[:6]} and ACLED columns {acled[:6]}; a file must "
            "hold one source's layout: split it by source, or pass --format to say which layout to read"
        )


def _separator_hint(columns: Sequence[str]) -> str:
    """Return a hint when a one-column header looks split by another separator than the comma."""
    if len(columns) != 1:
        return ""
    for sep, label in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
        if columns[0].count(sep) >= 2:
            return f" The header looks separated by {label}: save the file as comma-separated CSV."
    return ""


def _share_present(layout: Layout, present: set[str]) -> float:
    return sum(c in present for c in layout.required) / len(layout.required)


_VERSION_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # GEDEvent_v23_0_10 (monthly candidate), GEDEvent_v26_01_26_06 (candidate half-year): as published
    (re.compile(r"gedevent_(v\d+(?:_\d+){2,})", re.IGNORECASE), "{0}"),
    # GEDEvent_v23_1 (official release)
    (re.compile(r"gedevent_v(\d+)_(\d+)(?!_?\d)", re.IGNORECASE), "{0}.{1}"),
    # ged231_caf, ged201_hdx_nga: three digits = major (2) + minor (1)
    (re.compile(r"(?<![a-z])ged(\d\d)(\d)(?!\d)", re.IGNORECASE), "{0}.{1}"),
    # ucdp_ged_23.1, ged-24-1
    (re.compile(r"ged[_-]?v?(\d\d)[._-](\d)(?!\d)", re.IGNORECASE), "{0}.{1}"),
)


def source_version(file: str | Path, layout: Layout) -> str:
    """Return the release a file holds, from its name ("23.1", "v23_0_10"), else the layout's default."""
    name = Path(file).name
    for pattern, template in _VERSION_PATTERNS:
        match = pattern.search(name)
        if match:
            return template.format(*match.groups())
    return layout.default_version


_CANDIDATE_NAME = re.compile(r"gedevent_v\d+_(?:0_\d+|\d+_\d+_\d+)|candidate", re.IGNORECASE)


def is_candidate_name(file: str | Path) -> bool:
    """Return True when a file name says it is a UCDP Candidate release (v23_0_10, v26_01_26_06, ...)."""
    return bool(_CANDIDATE_NAME.search(Path(file).name))
