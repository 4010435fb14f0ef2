"""Actor classes: rules as data (``actor_rules.toml``), matched on normalised names (see docs/ACTORS.md).

``classify_actors`` maps each actor name to one of ``contracts.ACTOR_CLASSES``: the first rule whose
pattern matches the normalised name wins; UCDP names no rule matches fall back on their ``Org`` code in
the UCDP actor list; the rest are ``unclassified`` (``civrisk actors`` lists them by deaths). Sides that
name several actors ("Government of Mali, Government of Russia (Soviet Union)") are split and classed
by their most external member unless a ``joint`` rule names the combination. Names are classified once
per distinct value and cached on the rules, so 400k events cost a factorize and a take.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from civrisk.contracts import ACTOR_CLASSES
from ingest.actor_list import org_by_name, read_actor_list

SOURCES = ("ucdp_ged", "ucdp_candidate", "acled")
UCDP_SOURCES = frozenset({"ucdp_ged", "ucdp_candidate"})
STATE_RESOLVED = frozenset({"state_forces", "foreign_state_forces"})
_RULE_KEYS = frozenset({"pattern", "class", "sources", "joint", "note"})
_TOP_KEYS = frozenset({"version", "joint", "ucdp_org", "rule"})

# Cyrillic and Greek letters that look like Latin ones (the 2026 UCDP candidate text has such mixes).
_LOOKALIKES = str.maketrans(
    {
        **dict(zip("АВЕЅІЈКМНОРСТУХԌԚԜ", "ABESIJKMHOPCTYXGQW", strict=True)),
        **dict(zip("аеѕіјорсухԁԛԝӏһ", "aesijopcyxdqwlh", strict=True)),
        **dict(zip("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", "ABEZHIKMNOPTYX", strict=True)),
        **dict(zip("αιοκνρτυ", "aiokvptu", strict=True)),
    }
)
# Typographic apostrophes, quotes and dashes, folded before NFKC (which would turn an acute into a space).
_PUNCT = str.maketrans(
    {
        **dict.fromkeys("\u2018\u2019\u02bc\u00b4`", "'"),
        **dict.fromkeys("\u201c\u201d", '"'),
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2212", "-"),
    }
)
_DROP_CATEGORIES = frozenset({"Mn", "Me", "Cf", "Cc", "Co", "Cs", "Cn", "So", "Sk"})
_PARENS = re.compile(r"\([^)]*\)")


def fold_text(text: str) -> str:
    """Return ``text`` with NFKC, accents, look-alike letters, emoji and typographic punctuation folded."""
    text = unicodedata.normalize("NFKC", text.translate(_PUNCT))
    text = unicodedata.normalize("NFKD", text).translate(_LOOKALIKES)
    text = "".join(c for c in text if unicodedata.category(c) not in _DROP_CATEGORIES or c in "\t\n")
    return unicodedata.normalize("NFC", text)


def _fold_pattern(pattern: str) -> str:
    """Return a rule pattern with typographic punctuation and accents folded as names are (regex kept)."""
    text = unicodedata.normalize("NFKD", pattern.translate(_PUNCT))
    return unicodedata.normalize("NFC", "".join(c for c in text if unicodedata.category(c) != "Mn"))


def normalise_name(name: str) -> str:
    """Return the matching key of an actor name: folded, whitespace collapsed, lower case."""
    return " ".join(fold_text(name).split()).casefold()


def _place_key(name: str) -> str:
    """Return a state/country name without parentheticals or a leading 'the' ("Russia (Soviet Union)")."""
    key = " ".join(_PARENS.sub(" ", normalise_name(name)).split())
    return key.removeprefix("the ")


@dataclass(frozen=True)
class Rule:
    """One classification rule: a pattern, the class it gives, where it applies and where it came from."""

    pattern: str
    cls: str
    sources: frozenset[str] | None
    joint: bool
    origin: str
    regex: re.Pattern[str] = field(compare=False, repr=False)

    def applies(self, source: str) -> bool:
        """Return True when the rule is meant for ``source``."""
        return self.sources is None or source in self.sources


# What a name resolves to before the event country is known: one (class, state key) per member actor.
_Verdict = tuple[tuple[str, str | None], ...]


@dataclass(frozen=True, eq=False)
class ActorRules:
    """Ordered rules plus joint-side handling and the UCDP actor-list fallback (see ``load_rules``)."""

    rules: tuple[Rule, ...]
    separators: Mapping[str, tuple[str, ...]]
    precedence: tuple[str, ...]
    org_classes: Mapping[int, str]
    actor_orgs: Mapping[str, int] = field(default_factory=dict)
    actor_list: Path | None = None
    _cache: dict[tuple[str, str], _Verdict] = field(default_factory=dict, compare=False, repr=False)

    def verdict(self, name: str, source: str) -> _Verdict:
        """Return the member classes (and named states) of one raw actor name, cached."""
        key = (source, name)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._judge(normalise_name(name), source)
        return found

    def _judge(self, name: str, source: str) -> _Verdict:
        for rule in self.rules:
            if rule.joint and rule.applies(source) and rule.regex.search(name):
                return ((rule.cls, None),)
        seps = self.separators.get(source, ())
        parts = [name]
        if seps and name not in self.actor_orgs:
            parts = [p.strip() for p in re.split("|".join(map(re.escape, seps)), name)]
            parts = [p for p in parts if p] or [name]
        return tuple(self._judge_one(p, source) for p in parts)

    def _judge_one(self, name: str, source: str) -> tuple[str, str | None]:
        for rule in self.rules:
            if rule.joint or not rule.applies(source):
                continue
            match = rule.regex.search(name)
            if match:
                state = match.groupdict().get("state")
                return rule.cls, (_place_key(state) if state else None)
        org = self.actor_orgs.get(name) if source in UCDP_SOURCES else None
        return (self.org_classes.get(org, "unclassified") if org is not None else "unclassified"), None

    def resolve(self, verdict: _Verdict, country: str | None) -> str:
        """Return the class of a side given its member verdicts and the event country key (or None)."""
        classes = [
            ("state_forces" if state == country else "foreign_state_forces")
            if state is not None and country is not None and cls in STATE_RESOLVED
            else cls
            for cls, state in verdict
        ]
        if len(classes) == 1:
            return classes[0]
        if "unclassified" in classes:
            return "unclassified"
        return min(classes, key=self.precedence.index)


# ------------------------------------------------------------------------------------------------
# Loading
# ------------------------------------------------------------------------------------------------


def load_rules(
    extra: Path | None = None, *, actor_list: Path | None = None, use_actor_list: bool = True
) -> ActorRules:
    """Return the packaged rules, preceded by the rules of ``extra`` (default: settings.actor_rules).

    The user file has the packaged layout; its rules are tried first and its ``[joint]`` and
    ``[ucdp_org]`` keys replace the packaged ones. ``actor_list`` (default: the settings' UCDP actor
    list, when that file exists) supplies the Org fallback for UCDP names; ``use_actor_list=False``
    leaves it out.
    """
    from civrisk.settings import get_settings

    settings = get_settings()
    packaged = resources.files("ingest").joinpath("actor_rules.toml")
    layers = [_parse(tomllib.loads(packaged.read_text(encoding="utf-8")), "packaged actor_rules.toml")]
    extra = extra if extra is not None else settings.actor_rules
    if extra is not None:
        layers.insert(0, _parse(_read_toml(Path(extra)), str(extra)))
    merged: dict[str, Any] = {"rules": ()}
    for layer in reversed(layers):  # packaged first, the user's keys on top
        merged = {**merged, **{k: v for k, v in layer.items() if k != "rules"}}
        merged["rules"] = layer["rules"] + merged["rules"]
    for key in ("separators", "precedence", "org_classes"):
        if key not in merged:
            raise ValueError(f"actor rules lack {key!r}: the packaged actor_rules.toml is damaged")
    path = actor_list if actor_list is not None else settings.resolved_ucdp_actor_list()
    path = path if use_actor_list else None
    orgs = org_by_name(read_actor_list(path), normalise_name) if path is not None else {}
    return ActorRules(
        rules=merged["rules"],
        separators=merged["separators"],
        precedence=merged["precedence"],
        org_classes=merged["org_classes"],
        actor_orgs=orgs,
        actor_list=path,
    )


@lru_cache(maxsize=1)
def default_rules() -> ActorRules:
    """Return ``load_rules()`` once per process (the rules used when ``classify_actors`` gets none)."""
    return load_rules()


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(
            f"actor rules file {path} does not exist (set by load_rules or CIVRISK_ACTOR_RULES)"
        )
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"actor rules file {path} is not valid TOML: {err}") from err


def _parse(doc: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Return the validated content of one rules document; raise ValueError naming every problem."""
    unknown = sorted(set(doc) - _TOP_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown top-level keys {unknown}; expected {sorted(_TOP_KEYS)}")
    out: dict[str, Any] = {"rules": tuple(_rule(r, i, where) for i, r in enumerate(doc.get("rule", []), 1))}
    joint = doc.get("joint", {})
    if "separators" in joint:
        seps = joint["separators"]
        bad = sorted(set(seps) - set(SOURCES))
        if bad:
            raise ValueError(
                f"{where}: [joint] separators name unknown sources {bad}; expected {list(SOURCES)}"
            )
        out["separators"] = {s: tuple(fold_text(x).casefold() for x in v) for s, v in seps.items()}
    if "precedence" in joint:
        prec, needed = list(joint["precedence"]), [c for c in ACTOR_CLASSES if c != "unclassified"]
        if sorted(prec) != sorted(needed):
            raise ValueError(
                f"{where}: [joint] precedence must list each of {needed} exactly once; got {prec}"
            )
        out["precedence"] = tuple(prec)
    if "ucdp_org" in doc:
        table: Mapping[str, str] = doc["ucdp_org"]
        wrong = {k: v for k, v in table.items() if k not in ("1", "2", "3", "4") or v not in ACTOR_CLASSES}
        if wrong:
            raise ValueError(
                f"{where}: [ucdp_org] entries {wrong} must map Org 1-4 to one of {list(ACTOR_CLASSES)}"
            )
        out["org_classes"] = {int(k): v for k, v in table.items()}
    return out


def _rule(entry: Mapping[str, Any], number: int, where: str) -> Rule:
    at = f"{where}, rule {number}"
    if not isinstance(entry, Mapping) or "pattern" not in entry or "class" not in entry:
        raise ValueError(f"{at}: a [[rule]] needs 'pattern' and 'class'; got {dict(entry)}")
    unknown = sorted(set(entry) - _RULE_KEYS)
    if unknown:
        raise ValueError(
            f"{at} (pattern {entry['pattern']!r}): unknown keys {unknown}; expected {sorted(_RULE_KEYS)}"
        )
    cls = entry["class"]
    if cls not in ACTOR_CLASSES:
        raise ValueError(
            f"{at} (pattern {entry['pattern']!r}): class {cls!r} is not one of {list(ACTOR_CLASSES)}"
        )
    sources = entry.get("sources")
    if sources is not None:
        bad = sorted(set(sources) - set(SOURCES))
        if bad or not sources:
            raise ValueError(
                f"{at} (pattern {entry['pattern']!r}): sources {sources} must be some of {list(SOURCES)}"
            )
    try:
        regex = re.compile(_fold_pattern(entry["pattern"]), re.IGNORECASE)
    except re.error as err:
        raise ValueError(
            f"{at}: pattern {entry['pattern']!r} is not a valid regular expression: {err}"
        ) from err
    return Rule(
        pattern=entry["pattern"],
        cls=cls,
        sources=frozenset(sources) if sources is not None else None,
        joint=bool(entry.get("joint", False)),
        origin=at,
        regex=regex,
    )


# ------------------------------------------------------------------------------------------------
# Classification
# ------------------------------------------------------------------------------------------------


def classify_actors(
    names: pd.Series,
    source: str,
    rules: ActorRules | None = None,
    *,
    countries: pd.Series | None = None,
) -> pd.Series:
    """Return the actor class of each name (string Series, same index); <NA> where the name is empty.

    ``countries`` (event country names as the same source spells them, aligned with ``names``) lets
    state rules tell a country's own forces (state_forces) from another state's (foreign_state_forces).
    """
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; expected one of {list(SOURCES)}")
    rules = rules if rules is not None else default_rules()
    text = names.astype("string")
    text = text.where((text.str.strip() != "").fillna(False))
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    verdicts = [rules.verdict(str(n), source) for n in uniques]
    if countries is None:
        table = np.array([rules.resolve(v, None) for v in verdicts] + [None], dtype=object)
        values = table[codes]
    else:
        if len(countries) != len(names):
            raise ValueError(
                f"countries has {len(countries)} rows but names has {len(names)}; pass aligned Series"
            )
        c_codes, c_uniques = pd.factorize(pd.Series(countries).astype("string"), use_na_sentinel=True)
        keys = [_place_key(str(c)) for c in c_uniques] + [None]
        width = len(c_uniques) + 1
        pair_codes, pairs = pd.factorize((codes.astype(np.int64) + 1) * width + (c_codes + 1))
        table = np.empty(len(pairs), dtype=object)
        for i, pair in enumerate(pairs):
            n, c = divmod(int(pair), width)  # n - 1: name code, c - 1: country code (-1: missing)
            table[i] = rules.resolve(verdicts[n - 1], keys[c - 1]) if n > 0 else None
        values = table[pair_codes]
    return pd.Series(pd.array(values, dtype="string"), index=names.index)


ACLED_INTER_CLASSES: Mapping[str, str] = {
    "1": "state_forces",
    "2": "rebel_separatist",
    "3": "unidentified_armed_group",
    "4": "communal_militia",
    "5": "other",
    "6": "other",
    "7": "civilians",
    "8": "foreign_state_forces",
    "state forces": "state_forces",
    "rebel group": "rebel_separatist",
    "rebel groups": "rebel_separatist",
    "political militia": "unidentified_armed_group",
    "political militias": "unidentified_armed_group",
    "identity militia": "communal_militia",
    "identity militias": "communal_militia",
    "rioters": "other",
    "protesters": "other",
    "civilians": "civilians",
    "external/other forces": "foreign_state_forces",
}
"""ACLED ``inter1``/``inter2`` codes (numeric, or the labels of newer exports) -> fallback actor class.
Political militias (3) mix pro-government, party and anonymous armed groups: alignment unknown."""


def classify_acled_inter(codes: pd.Series) -> pd.Series:
    """Return the fallback class of ACLED interaction codes; <NA> for a missing code or 0 (no actor).

    Raises ValueError listing codes that are neither 0-8 nor an ACLED actor-type label.
    """
    text = codes.astype("string").str.strip().str.lower()
    text = text.str.replace(r"^(\d+)\.0+$", r"\1", regex=True)
    text = text.where(~text.isin(["", "0"]))
    known = text.isna() | text.isin(list(ACLED_INTER_CLASSES))
    if not known.all():
        bad = text[~known].value_counts().head(5).to_dict()
        raise ValueError(
            f"{int((~known).sum())} ACLED interaction codes are not 0-8 or an actor-type label: {bad}; "
            f"expected one of {sorted(ACLED_INTER_CLASSES)}"
        )
    return text.map(ACLED_INTER_CLASSES).astype("string")


UNCLASSIFIED_COLUMNS = (
    "source",
    "side_a",
    "side_b",
    "side_a_class",
    "side_b_class",
    "deaths_best",
    "deaths_civilians",
)


LISTED_CLASSES = ("unclassified", "placeholder")
"""Classes ``civrisk actors`` lists: names no rule matches, and UCDP placeholders not coded yet."""


def unclassified_actors(events: pd.DataFrame, classes: tuple[str, ...] = ("unclassified",)) -> pd.DataFrame:
    """Return actors whose class is one of ``classes`` (default ``unclassified``), most deaths first.

    Columns: actor, source, cls (the class), events (events naming the actor on either side, each counted
    once), deaths_best and deaths_civilians (summed over those events).
    """
    missing = [c for c in UNCLASSIFIED_COLUMNS if c not in events.columns]
    if missing:
        raise ValueError(
            f"events table lacks columns {missing} needed to list unclassified actors "
            "(expected the canonical events table, see civrisk/contracts.py EVENTS)"
        )
    rows = np.arange(len(events))
    sides = [
        pd.DataFrame(
            {
                "row": rows,
                "actor": events[f"side_{s}"].to_numpy(),
                "cls": events[f"side_{s}_class"].to_numpy(),
            }
        )
        for s in ("a", "b")
    ]
    long = pd.concat(sides, ignore_index=True)
    long = long[long["cls"].astype("string").isin(list(classes)).fillna(False).to_numpy()]
    long = long.drop_duplicates(["row", "actor"])
    pick = long["row"].to_numpy()
    long = long.assign(
        source=events["source"].to_numpy()[pick],
        deaths_best=events["deaths_best"].to_numpy()[pick],
        deaths_civilians=events["deaths_civilians"].to_numpy()[pick],
    )
    out = (
        long.groupby(["actor", "source", "cls"], dropna=False)
        .agg(
            events=("row", "size"),
            deaths_best=("deaths_best", "sum"),
            deaths_civilians=("deaths_civilians", "sum"),
        )
        .reset_index()
        .sort_values(["deaths_best", "events", "actor"], ascending=[False, False, True], ignore_index=True)
    )
    return out.astype(
        {
            "actor": "string",
            "source": "string",
            "cls": "string",
            "events": "int64",
            "deaths_best": "int64",
            "deaths_civilians": "int64",
        }
    )
