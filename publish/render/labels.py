"""Every label planners read, declared once: perpetrator groups, sources, alert rules, measures, actor
classes, verification metrics and the data citations.

Labels are English message ids marked with :func:`N_`; callers translate them on use with a
:class:`publish.render.i18n.Words` (``w._(GROUPS["militia"].label)``), so the report, the CAP texts and the
command line all say the same thing in each language.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from civrisk.contracts import PERPETRATOR_GROUPS
from publish.render.i18n import N_, Words


@dataclass(frozen=True)
class GroupWords:
    """The ways of naming one perpetrator group (message ids)."""

    label: str
    """Standalone, capitalised: tables, legends ("State forces and allies")."""
    short: str
    """For narrow cells ("State & allies")."""
    name: str
    """Inside a sentence, lower case, no article ("state forces and allies")."""
    by: str
    """After "killed": "by state forces and allies" (French needs its article: "par les forces ...")."""
    note: str
    """Who is counted in the group."""


GROUPS: Mapping[str, GroupWords] = {
    "state_allied": GroupWords(
        N_("State forces and allies"),
        N_("State & allies"),
        N_("state forces and allies"),
        N_("by state forces and allies"),
        N_("national forces, foreign forces and private military (e.g. Wagner / Africa Corps)"),
    ),
    "jihadist_rebel": GroupWords(
        N_("Jihadist and rebel groups"),
        N_("Jihadist & rebel"),
        N_("jihadist and rebel groups"),
        N_("by jihadist and rebel groups"),
        N_("jihadist and rebel or separatist groups"),
    ),
    "militia": GroupWords(
        N_("Militias"),
        N_("Militias"),
        N_("militias"),
        N_("by militias"),
        N_("pro-government and communal militias"),
    ),
    "other_unknown": GroupWords(
        N_("Unidentified or other perpetrators"),
        N_("Unidentified"),
        N_("unidentified or other perpetrators"),
        N_("by unidentified or other perpetrators"),
        N_("unidentified armed groups and others"),
    ),
}
"""Perpetrator groups (civrisk.contracts.PERPETRATOR_GROUPS) in words."""
assert set(GROUPS) == set(PERPETRATOR_GROUPS), "every perpetrator group needs its words"

FORECAST_GROUPS = ("state_allied", "jihadist_rebel", "militia")
"""Groups with their own forecast, in the order the report's footnote lists them."""

SOURCES: Mapping[str, str] = {
    "ucdp_ged": "UCDP GED",
    "ucdp_candidate": "UCDP Candidate",
    "acled": "ACLED",
}
"""Event sources (``events.source``) by their proper names (not translated)."""

RULES: Mapping[str, str] = {
    "level": N_("high risk"),
    "escalation": N_("risk well above usual"),
    "mass": N_("mass-casualty risk"),
    "threshold": N_("high risk"),
    "rise": N_("sharp rise"),
}
"""Alert rules (publish.alerting.rules) as a planner names them; ``threshold`` and ``rise`` are the rules
before alert levels were chosen on backtests, still named in older messages."""

MEASURES: Mapping[str, str] = {
    "events": N_("conflict events"),
    "deaths": N_("conflict deaths"),
    "civ_deaths": N_("civilians killed"),
    "civ_harm_events": N_("events harming civilians"),
    "events_state_based": N_("state-based conflict events"),
    "events_non_state": N_("non-state conflict events"),
    "events_one_sided": N_("attacks on civilians (one-sided violence)"),
    "deaths_state_based": N_("deaths in state-based conflict"),
    "deaths_non_state": N_("deaths in non-state conflict"),
    "deaths_one_sided": N_("deaths in attacks on civilians"),
    "civ_deaths_state_allied": N_("civilians killed by state forces and allies"),
    "civ_deaths_jihadist_rebel": N_("civilians killed by jihadist and rebel groups"),
    "civ_deaths_militia": N_("civilians killed by militias"),
    "civ_deaths_other_unknown": N_("civilians killed by unidentified or other perpetrators"),
    "civ_harm_events_state_allied": N_("events where state forces and allies harmed civilians"),
    "civ_harm_events_jihadist_rebel": N_("events where jihadist and rebel groups harmed civilians"),
    "civ_harm_events_militia": N_("events where militias harmed civilians"),
    "civ_harm_events_other_unknown": N_("events where unidentified perpetrators harmed civilians"),
}
"""Weekly panel measures (features.panel.MEASURE_COLUMNS) that features sum, as counted things."""

CLASSES: Mapping[str, str] = {
    "state_forces": N_("state forces"),
    "foreign_state_forces": N_("foreign state forces"),
    "private_military": N_("private military companies"),
    "pro_government_militia": N_("pro-government militias"),
    "jihadist": N_("jihadist groups"),
    "rebel_separatist": N_("rebel or separatist groups"),
    "communal_militia": N_("communal militias"),
    "peacekeepers": N_("peacekeepers"),
    "civilians": N_("civilians (as actors)"),
    "unidentified_armed_group": N_("unidentified armed groups"),
    "other": N_("other actors"),
    "unclassified": N_("unclassified actors"),
}
"""Actor classes (civrisk.contracts.ACTOR_CLASSES)."""

SINCE: Mapping[str, str] = {
    "civ_harm": N_("weeks since civilians were last harmed"),
    "civ_harm_state_allied": N_("weeks since state forces and allies last harmed civilians"),
    "civ_harm_jihadist_rebel": N_("weeks since jihadist and rebel groups last harmed civilians"),
    "civ_harm_militia": N_("weeks since militias last harmed civilians"),
    "civ_harm_other_unknown": N_("weeks since unidentified perpetrators last harmed civilians"),
}
"""``weeks_since_<name>`` features."""

VERIFICATION: Mapping[str, str] = {
    "brier": N_("Brier score"),
    "hits": N_("Hits"),
    "misses": N_("Misses"),
    "false_alarms": N_("False alarms"),
    "correct_negatives": N_("Correct quiet"),
}
"""Verification metrics of past published weeks."""


@dataclass(frozen=True)
class Citation:
    """One reference; ``note`` (a message id) is translated, the bibliographic text is not."""

    text: str
    note: str = ""


CITATIONS: Mapping[str, tuple[Citation, ...]] = {
    "ucdp_ged": (
        Citation(
            "UCDP Georeferenced Event Dataset (CC BY 4.0): Sundberg, R. & Melander, E. (2013). Introducing "
            "the UCDP Georeferenced Event Dataset. Journal of Peace Research 50(4)."
        ),
        Citation(
            "Davies, S., Engström, G., Pettersson, T. & Öberg, M. (2024). Organized violence 1989–2023, "
            "and the prevalence of organized crime groups. Journal of Peace Research 61(4)."
        ),
    ),
    "ucdp_candidate": (
        Citation(
            "UCDP Candidate Events Dataset: Hegre, H., Croicu, M., Eck, K. & Högbladh, S. (2020). "
            "Introducing the UCDP Candidate Events Dataset. Research & Politics 7(3)."
        ),
    ),
    "acled": (
        Citation(
            "ACLED: Raleigh, C., Linke, A., Hegre, H. & Karlsen, J. (2010). Introducing ACLED: An Armed "
            "Conflict Location and Event Dataset. Journal of Peace Research 47(5).",
            N_(
                "ACLED data © ACLED, used under ACLED's terms of use for non-commercial purposes with "
                "attribution; the raw events are not redistributed."
            ),
        ),
    ),
    "boundaries": (
        Citation(
            "geoBoundaries (CC BY 4.0): Runfola, D. et al. (2020). geoBoundaries: A global database of "
            "political administrative boundaries. PLoS ONE 15(4): e0231866; OCHA Common Operational "
            "Datasets (COD-AB); Natural Earth (public domain).",
            N_("Boundaries are for reference only and imply no endorsement."),
        ),
    ),
}
"""References per event source, plus the boundaries every report draws; a report cites the sources it used."""


def group_label(w: Words, group: str) -> str:
    """Return the standalone label of a perpetrator group (the key itself if unknown)."""
    g = GROUPS.get(group)
    return w._(g.label) if g else group


def group_name(w: Words, group: str) -> str:
    """Return the in-sentence name of a perpetrator group ("jihadist and rebel groups")."""
    g = GROUPS.get(group)
    return w._(g.name) if g else group


def rule_words(w: Words, rule: str) -> str:
    """Return an alert rule as a planner names it ("high risk")."""
    return w._(RULES[rule]) if rule in RULES else rule


def source_label(source: str) -> str:
    """Return an event source's proper name ("ACLED")."""
    return SOURCES.get(source, source)
