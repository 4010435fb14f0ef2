"""Actor classes: named actors, normalisation, joint sides, countries, user rules, fallbacks, CLI, data."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from civrisk.contracts import ACTOR_CLASSES, CLASS_TO_GROUP
from civrisk.settings import get_settings
from cli.main import app
from ingest.actor_list import ORG_LABELS, read_actor_list
from ingest.actors import (
    classify_acled_inter,
    classify_actors,
    default_rules,
    load_rules,
    normalise_name,
    unclassified_actors,
)
from tests.synth import _ACTORS, make_events


@pytest.fixture(autouse=True)
def _no_user_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Keep a developer's CIVRISK_ACTOR_RULES / CIVRISK_UCDP_ACTOR_LIST out of these tests."""
    monkeypatch.delenv("CIVRISK_ACTOR_RULES", raising=False)
    monkeypatch.delenv("CIVRISK_UCDP_ACTOR_LIST", raising=False)
    get_settings.cache_clear()
    default_rules.cache_clear()
    yield
    get_settings.cache_clear()
    default_rules.cache_clear()


@pytest.fixture(scope="module")
def rules():
    """The packaged rules alone (no UCDP actor-list fallback), so each assertion tests a rule."""
    return load_rules(use_actor_list=False)


def one(name: str, source: str, rules, country: str | None = None) -> str:
    countries = None if country is None else pd.Series([country])
    return str(classify_actors(pd.Series([name]), source, rules, countries=countries).iloc[0])


NAMED = [
    ("Wagner Group", "acled", "private_military"),
    ("Africa Corps", "acled", "private_military"),
    ("Private Security Forces (Mali)", "acled", "private_military"),
    ("JNIM", "ucdp_candidate", "jihadist"),
    ("JNIM: Group for Support of Islam and Muslims", "acled", "jihadist"),
    ("Islamic State (Greater Sahara)", "acled", "jihadist"),
    ("ISGS", "acled", "jihadist"),
    ("Islamic State (Sahel)", "acled", "jihadist"),
    ("IS Sahel", "ucdp_ged", "jihadist"),
    ("IS", "ucdp_ged", "jihadist"),
    ("Islamic State (West Africa)", "acled", "jihadist"),
    ("ISWAP", "acled", "jihadist"),
    ("Ansaroul Islam", "ucdp_ged", "jihadist"),
    ("Katiba Macina", "acled", "jihadist"),
    ("FLM", "ucdp_ged", "jihadist"),
    ("AQIM: Al Qaeda in the Islamic Maghreb", "acled", "jihadist"),
    ("Al Mourabitoune Battalion", "acled", "jihadist"),
    ("Boko Haram - Jamatu Ahli is-Sunnah lid-Dawatai wal-Jihad", "acled", "jihadist"),
    ("Jama'atu Ahlis Sunna Lidda'awati wal-Jihad", "ucdp_ged", "jihadist"),
    ("JAS", "ucdp_candidate", "jihadist"),
    ("Al Shabaab", "acled", "jihadist"),
    ("Al-Shabaab", "ucdp_ged", "jihadist"),
    ("ADF", "ucdp_ged", "jihadist"),
    ("Islamist Militia (Mali)", "acled", "jihadist"),
    ("VDP: Volunteer for Defense of Homeland", "acled", "pro_government_militia"),
    ("Volunteers for the Defense of the Homeland", "acled", "pro_government_militia"),
    ("Dan Na Ambassagou", "acled", "pro_government_militia"),
    ("Dan na Ambassagou", "ucdp_candidate", "pro_government_militia"),
    ("Dozo Militia", "acled", "pro_government_militia"),
    ("Dozo Communal Militia (Burkina Faso)", "acled", "pro_government_militia"),
    ("Dozos (Mali)", "ucdp_candidate", "pro_government_militia"),
    ("Koglweogo Militia", "acled", "pro_government_militia"),
    ("Civilian JTF: Civilian Joint Task Force", "acled", "pro_government_militia"),
    ("CJTF", "acled", "pro_government_militia"),
    ("GATIA: Imghad Tuareg and Allies Self-Defense Group", "acled", "pro_government_militia"),
    ("MAA: Arab Movement of the Azawad (Platform)", "acled", "pro_government_militia"),
    ("MNLA: National Movement for the Liberation of Azawad", "acled", "rebel_separatist"),
    ("CMA: Coordination of Movements of the Azawad", "acled", "rebel_separatist"),
    ("CMA", "ucdp_ged", "rebel_separatist"),
    ("HCUA: High Council for the Unity of Azawad", "acled", "rebel_separatist"),
    ("FLA", "ucdp_candidate", "rebel_separatist"),
    ("MPLJ", "ucdp_candidate", "rebel_separatist"),
    ("Seleka", "ucdp_ged", "rebel_separatist"),
    ("UPC", "ucdp_ged", "rebel_separatist"),
    ("3R", "ucdp_ged", "rebel_separatist"),
    ("FPRC", "ucdp_ged", "rebel_separatist"),
    ("LRA: Lord's Resistance Army", "acled", "rebel_separatist"),
    ("M23: March 23 Movement", "acled", "rebel_separatist"),
    (
        "SPLA/M-In Opposition: Sudanese Peoples Liberation Army/Movement-In Opposition",
        "acled",
        "rebel_separatist",
    ),
    ("anti-Balaka", "ucdp_ged", "communal_militia"),
    ("Fulani Ethnic Militia (Mali)", "acled", "communal_militia"),
    ("Dogon Ethnic Militia (Mali)", "acled", "communal_militia"),
    ("Communal Militia (Mali)", "acled", "communal_militia"),
    ("Daoussak (Tuareg)", "ucdp_ged", "communal_militia"),
    ("Dawsahak Ethnic Militia (Niger)", "acled", "communal_militia"),
    (
        "MINUSMA: United Nations Multidimensional Integrated Stabilization Mission in Mali (2013-)",
        "acled",
        "peacekeepers",
    ),
    ("MINUSCA", "acled", "peacekeepers"),
    ("AMISOM: African Union Mission in Somalia (2007-) (Kenya)", "acled", "peacekeepers"),
    ("ATMIS", "acled", "peacekeepers"),
    ("Military Forces of France (2017-)", "acled", "foreign_state_forces"),
    ("Operation Barkhane", "acled", "foreign_state_forces"),
    ("Government of France", "ucdp_ged", "foreign_state_forces"),
    ("Government of Russia (Soviet Union)", "ucdp_candidate", "foreign_state_forces"),
    ("G5S: G5 Sahel Force (2017-)", "acled", "foreign_state_forces"),
    ("Government of Mali", "ucdp_candidate", "state_forces"),
    ("Military Forces of Mali (2021-)", "acled", "state_forces"),
    ("Military Forces of Burkina Faso (2015-2022) Special Forces", "acled", "state_forces"),
    ("Police Forces of Burkina Faso (2015-) Gendarmerie", "acled", "state_forces"),
    ("Civilians", "ucdp_ged", "civilians"),
    ("Civilians (Mali)", "acled", "civilians"),
    ("Unidentified Armed Group (Mali)", "acled", "unidentified_armed_group"),
    ("XXX436", "ucdp_candidate", "placeholder"),
    ("Protesters (Mali)", "acled", "other"),
    ("Rioters (Burkina Faso)", "acled", "other"),
]


@pytest.mark.parametrize(("name", "source", "expected"), NAMED)
def test_named_actors_get_their_class(name: str, source: str, expected: str, rules) -> None:
    assert one(name, source, rules) == expected


def test_synthetic_generator_actors_agree_with_the_rules(rules) -> None:
    for name, expected in _ACTORS:
        assert one(name, "ucdp_ged", rules) == expected


def test_source_restricted_rules_apply_only_to_their_source(rules) -> None:
    assert one("XXX436", "ucdp_candidate", rules) == "placeholder"
    assert one("XXX436", "acled", rules) == "unclassified"


def test_lookalike_letters_emoji_accents_and_spacing_are_normalised(rules) -> None:
    cyrillic_o = "G\u043evernment of Mali"  # Cyrillic small o
    assert cyrillic_o != "Government of Mali"
    assert normalise_name(cyrillic_o) == "government of mali"
    assert normalise_name("  JNIM \U0001f1f2\U0001f1f1  ") == "jnim"
    assert normalise_name("Jama\u2019atu  Ahlis\u00a0Sunna") == "jama'atu ahlis sunna"
    assert (
        normalise_name("Volontaires pour la Défense de la Patrie")
        == "volontaires pour la defense de la patrie"
    )
    assert normalise_name("\u0392oko \u0397aram") == "boko haram"  # Greek capital beta and eta
    names = pd.Series([cyrillic_o, "Dozos (Mali) \u2705", "Ans\u0430roul Isl\u0430m"])  # Cyrillic a
    assert classify_actors(names, "ucdp_candidate", rules).tolist() == [
        "state_forces",
        "pro_government_militia",
        "jihadist",
    ]


def test_empty_and_missing_names_give_na_and_keep_the_index(rules) -> None:
    names = pd.Series(["JNIM", None, "", "  ", "Nobody We Know"], index=[10, 11, 12, 13, 14])
    out = classify_actors(names, "acled", rules)
    assert out.index.tolist() == [10, 11, 12, 13, 14]
    assert isinstance(out.dtype, pd.StringDtype)
    assert out.iloc[0] == "jihadist"
    assert out.iloc[1:4].isna().all()
    assert out.iloc[4] == "unclassified"


def test_unknown_source_is_rejected(rules) -> None:
    with pytest.raises(ValueError, match=re.escape("unknown source 'gdelt'; expected one of ['ucdp_ged'")):
        classify_actors(pd.Series(["JNIM"]), "gdelt", rules)


def test_joint_mali_russia_side_is_private_military_in_the_state_allied_group(rules) -> None:
    side = "Government of Mali, Government of Russia (Soviet Union)"
    cls = one(side, "ucdp_candidate", rules)
    assert cls == "private_military"
    assert CLASS_TO_GROUP[cls] == "state_allied"
    assert one(side, "ucdp_candidate", rules, country="Mali") == "private_military"


def test_joint_sides_take_their_most_external_member(rules) -> None:
    assert one("Government of Mali, Wagner Group", "ucdp_candidate", rules) == "private_military"
    assert one("FPRC, MPC", "ucdp_ged", rules) == "rebel_separatist"
    assert one("Anti-Balaka - Mokom, FPRC, MPC, RPRC", "ucdp_ged", rules) == "rebel_separatist"
    acled = "JNIM: Group for Support of Islam and Muslims and/or Islamic State (Greater Sahara)"
    assert one(acled, "acled", rules) == "jihadist"
    # a side with a member no rule knows stays unclassified, so `civrisk actors` shows it
    assert one("Government of Mali, Nobody We Know", "ucdp_ged", rules) == "unclassified"
    # ACLED names hold commas of their own and are split on ' and/or ' only
    assert one("Protesters (Democratic Republic of Congo), ", "acled", rules) == "other"


def test_event_country_separates_own_from_foreign_state_forces(rules) -> None:
    names = pd.Series(
        ["Military Forces of Niger (2011-)"] * 3 + ["Government of France", "Government of Mali"]
    )
    countries = pd.Series(["Niger", "Mali", None, "France", "Mali"])
    out = classify_actors(names, "acled", rules, countries=countries).tolist()
    assert out == ["state_forces", "foreign_state_forces", "state_forces", "state_forces", "state_forces"]
    joint = pd.Series(["Government of Chad, Government of Niger"] * 2)
    assert classify_actors(joint, "ucdp_ged", rules, countries=pd.Series(["Niger", "Chad"])).tolist() == [
        "foreign_state_forces",
        "foreign_state_forces",
    ]
    assert one("Government of Russia (Soviet Union)", "ucdp_ged", rules, country="Russia (Soviet Union)") == (
        "state_forces"
    )
    with pytest.raises(ValueError, match=re.escape("countries has 1 rows but names has 5")):
        classify_actors(names, "acled", rules, countries=pd.Series(["Mali"]))


def test_names_are_classified_once_and_cached(rules) -> None:
    fresh = load_rules(use_actor_list=False)
    names = pd.Series(["JNIM", "Civilians", "JNIM", "Civilians"] * 1000)
    classify_actors(names, "ucdp_ged", fresh)
    assert set(fresh._cache) == {("ucdp_ged", "JNIM"), ("ucdp_ged", "Civilians")}


def test_400k_names_classify_the_same_cold_and_cached() -> None:
    fresh = load_rules(use_actor_list=False)
    rng = np.random.default_rng(3)
    pool = [name for name, _, _ in NAMED] + [f"Unknown Group {i}" for i in range(2000)]
    names = pd.Series(rng.choice(np.array(pool, dtype=object), 400_000), dtype="string")
    out = classify_actors(names, "acled", fresh)
    again = classify_actors(names, "acled", fresh)  # from the per-name cache
    assert out.notna().all() and out.equals(again)
    # each distinct name gets one class wherever it occurs (names are classified once, then mapped)
    assert (out.groupby(names.to_numpy()).nunique() == 1).all()


# ------------------------------------------------------------------------------------------------
# User rules
# ------------------------------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "my_rules.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_user_rules_are_tried_first(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[[rule]]\npattern = '^jnim$'\nclass = \"rebel_separatist\"\n"
        '[[rule]]\npattern = \'mystery brigade\'\nclass = "communal_militia"\nsources = ["acled"]\n',
    )
    mine = load_rules(path, use_actor_list=False)
    assert one("JNIM", "ucdp_ged", mine) == "rebel_separatist"
    assert one("Mystery Brigade (Mali)", "acled", mine) == "communal_militia"
    assert one("Mystery Brigade (Mali)", "ucdp_ged", mine) == "unclassified"
    assert one("Islamic State (Sahel)", "acled", mine) == "jihadist"  # packaged rules still apply
    assert mine.rules[0].origin == f"{path}, rule 1"


def test_user_rules_come_from_the_settings_when_not_passed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "[[rule]]\npattern = 'wagner'\nclass = \"foreign_state_forces\"\n")
    monkeypatch.setenv("CIVRISK_ACTOR_RULES", str(path))
    get_settings.cache_clear()
    default_rules.cache_clear()
    assert classify_actors(pd.Series(["Wagner Group"]), "acled").iloc[0] == "foreign_state_forces"


def test_user_file_can_replace_the_joint_precedence(tmp_path: Path) -> None:
    order = [c for c in ACTOR_CLASSES if c != "unclassified"]
    order.remove("state_forces")
    order.insert(0, "state_forces")
    path = write(tmp_path, f"[joint]\nprecedence = {order!r}\n".replace("'", '"'))
    mine = load_rules(path, use_actor_list=False)
    assert one("Government of Mali, Wagner Group", "ucdp_ged", mine) == "state_forces"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[[rule]]\npattern = 'x'\nclass = \"ninja\"\n",
            "rule 1 (pattern 'x'): class 'ninja' is not one of ['state_forces'",
        ),
        (
            "[[rule]]\npattern = '(x'\nclass = \"other\"\n",
            "rule 1: pattern '(x' is not a valid regular expression",
        ),
        ("[[rule]]\npattern = 'x'\nclas = \"other\"\n", "rule 1: a [[rule]] needs 'pattern' and 'class'"),
        (
            "[[rule]]\npattern = 'x'\nclass = \"other\"\nsauce = 1\n",
            "rule 1 (pattern 'x'): unknown keys ['sauce']",
        ),
        (
            '[[rule]]\npattern = \'x\'\nclass = "other"\nsources = ["gdelt"]\n',
            "sources ['gdelt'] must be some of",
        ),
        (
            "[rules]\npattern = 'x'\n",
            "unknown top-level keys ['rules']; expected ['joint', 'rule', 'ucdp_org', 'version']",
        ),
        ('[joint]\nprecedence = ["jihadist"]\n', "[joint] precedence must list each of ['state_forces'"),
        ('[ucdp_org]\n5 = "other"\n', "[ucdp_org] entries {'5': 'other'} must map Org 1-4"),
        ("[[rule]\n", "is not valid TOML"),
    ],
)
def test_bad_user_rules_are_rejected_with_the_file_and_rule_named(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match=re.escape(message)) as err:
        load_rules(path, use_actor_list=False)
    assert str(path) in str(err.value)


def test_missing_user_rules_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(
        FileNotFoundError, match=re.escape(f"actor rules file {tmp_path / 'nope.toml'} does not exist")
    ):
        load_rules(tmp_path / "nope.toml", use_actor_list=False)


# ------------------------------------------------------------------------------------------------
# UCDP actor list fallback
# ------------------------------------------------------------------------------------------------


def test_actor_list_org_codes_are_a_fallback_for_ucdp_names(tmp_path: Path) -> None:
    path = tmp_path / "actors.csv"
    frame = pd.DataFrame(
        {
            "ActorId": ["1", "2", "3", "4", ""],
            "NameData": [
                "Zorgan Front",
                "Kel Tamasheq Ouest",
                "Supporters of Party Q",
                "Alpha, Beta Front",
                "",
            ],
            "Org": ["1", "3", "2", "1", ""],
        }
    )
    frame.to_csv(path, index=False, encoding="cp1252")
    listed = read_actor_list(path)
    assert listed["org"].tolist() == [1, 3, 2, 1]  # the blank padding row is dropped
    mine = load_rules(actor_list=path)
    assert mine.actor_list == path
    assert one("Zorgan Front", "ucdp_ged", mine) == "rebel_separatist"
    assert one("Kel Tamasheq Ouest", "ucdp_candidate", mine) == "communal_militia"
    assert one("Zorgan Front", "acled", mine) == "unclassified"  # the Org fallback is UCDP's vocabulary
    # a listed name that holds a comma is one actor, not a joint side
    assert one("Alpha, Beta Front", "ucdp_ged", mine) == "rebel_separatist"
    assert one("JNIM", "ucdp_ged", mine) == "jihadist"  # rules come first


def test_actor_list_with_bad_codes_or_columns_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "actors.csv"
    pd.DataFrame({"ActorId": ["1", "2"], "NameData": ["A", "B"], "Org": ["1", "7"]}).to_csv(path, index=False)
    with pytest.raises(
        ValueError,
        match=re.escape("1 rows have an Org code outside [1, 2, 3, 4] (data rows [2], values ['7'])"),
    ):
        read_actor_list(path)
    pd.DataFrame({"ActorId": ["1"], "Name": ["A"]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=re.escape("lacks columns ['NameData', 'Org']")):
        read_actor_list(path)
    with pytest.raises(FileNotFoundError, match=re.escape("UCDP actor list")):
        load_rules(actor_list=tmp_path / "absent.csv")


# ------------------------------------------------------------------------------------------------
# ACLED interaction codes
# ------------------------------------------------------------------------------------------------


def test_acled_inter_codes_map_to_fallback_classes() -> None:
    codes = pd.Series(
        [1, 2, 3, 4, 5, 6, 7, 8, 0, None, "8.0", "State forces", "Identity militia"], dtype=object
    )
    assert classify_acled_inter(codes).tolist() == [
        "state_forces",
        "rebel_separatist",
        "unidentified_armed_group",
        "communal_militia",
        "other",
        "other",
        "civilians",
        "foreign_state_forces",
        pd.NA,
        pd.NA,
        "foreign_state_forces",
        "state_forces",
        "communal_militia",
    ]
    floats = classify_acled_inter(pd.Series([1.0, np.nan, 7.0]))
    assert floats.isna().tolist() == [False, True, False]


def test_unknown_acled_inter_codes_are_an_error() -> None:
    with pytest.raises(
        ValueError, match=re.escape("2 ACLED interaction codes are not 0-8 or an actor-type label: {'9': 2}")
    ):
        classify_acled_inter(pd.Series([1, 9, 9]))


# ------------------------------------------------------------------------------------------------
# Unclassified actors and the CLI
# ------------------------------------------------------------------------------------------------


def events_with_unknowns() -> pd.DataFrame:
    events = make_events(n_events=60, seed=11)
    events.loc[0:4, "side_a"] = "Mystery Brigade"
    events.loc[0:4, "side_a_class"] = "unclassified"
    events.loc[5, ["side_a", "side_b"]] = "Shadow Group"
    events.loc[5, ["side_a_class", "side_b_class"]] = "unclassified"
    events.loc[6, "side_b"] = "Shadow Group"
    events.loc[6, "side_b_class"] = "unclassified"
    return events


def test_unclassified_actors_are_ranked_by_deaths_and_counted_once_per_event() -> None:
    events = events_with_unknowns()
    table = unclassified_actors(events)
    assert table.columns.tolist() == ["actor", "source", "cls", "events", "deaths_best", "deaths_civilians"]
    mystery = table.set_index("actor").loc["Mystery Brigade"]
    assert mystery["events"] == 5
    assert mystery["deaths_best"] == events.loc[0:4, "deaths_best"].sum()
    assert mystery["deaths_civilians"] == events.loc[0:4, "deaths_civilians"].sum()
    shadow = table.set_index("actor").loc["Shadow Group"]
    assert shadow["events"] == 2  # both sides of event 5 are one actor: one event
    assert shadow["deaths_best"] == events.loc[5:6, "deaths_best"].sum()
    assert table["deaths_best"].is_monotonic_decreasing
    assert unclassified_actors(make_events(n_events=20)).empty


def test_unclassified_actors_names_missing_columns() -> None:
    with pytest.raises(
        ValueError, match=re.escape("events table lacks columns ['side_b_class', 'deaths_civilians']")
    ):
        unclassified_actors(make_events(n_events=5).drop(columns=["side_b_class", "deaths_civilians"]))


def test_cli_lists_the_top_unclassified_actors(tmp_path: Path) -> None:
    events_with_unknowns().to_parquet(tmp_path / "events.parquet")
    result = CliRunner().invoke(app, ["actors", "--events", str(tmp_path), "--top", "1"], terminal_width=200)
    assert result.exit_code == 0, result.output
    top = unclassified_actors(events_with_unknowns())["actor"].iloc[0]
    other = ({"Mystery Brigade", "Shadow Group"} - {top}).pop()
    assert top in result.output and other not in result.output
    assert "2 unclassified actors" in result.output


def test_cli_lists_ucdp_placeholders_apart_from_unclassified_actors(tmp_path: Path) -> None:
    events = events_with_unknowns()
    events.loc[7, ["side_a", "side_a_class"]] = ["XXX436", "placeholder"]
    events.to_parquet(tmp_path / "events.parquet")
    result = CliRunner().invoke(app, ["actors", "--events", str(tmp_path)], terminal_width=200)
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "XXX436" in line)
    assert "placeholder" in row
    assert "1 placeholder actors; events naming them hold" in result.output
    assert "2 unclassified actors" in result.output


def test_cli_on_parts_and_on_fully_classified_events(tmp_path: Path) -> None:
    make_events(n_events=30).to_parquet(tmp_path / "part-0.parquet")
    pd.DataFrame({"source_file": ["x"], "reason": ["bad"]}).to_parquet(tmp_path / "quarantine.parquet")
    result = CliRunner().invoke(app, ["actors", "--events", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Every actor in 30 events is classified." in result.output
    assert "left out: ['quarantine.parquet']" in result.output


def test_cli_reports_a_missing_events_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["actors", "--events", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


# ------------------------------------------------------------------------------------------------
# Real data (../shared/data)
# ------------------------------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"^XXX\d+$")


def sahel_actor_deaths(shared: Path) -> pd.DataFrame:
    """Return actor, source, deaths (summed over the events naming the actor) for the shared Sahel data."""
    acled = pd.read_csv(
        shared / "acled" / "acled_africa_1997_2022.csv.gz",
        usecols=["country", "actor1", "actor2", "fatalities"],
        low_memory=False,
    )
    acled = acled[acled["country"].isin(["Mali", "Burkina Faso", "Niger"])]
    parts = [
        acled.rename(columns={s: "actor", "fatalities": "deaths"})[["actor", "deaths"]].assign(source="acled")
        for s in ("actor1", "actor2")
    ]
    for name, source, deaths in (
        ("ged_explorer_bfa_2016_2022h1.csv.gz", "ucdp_ged", "best_est"),
        ("GEDEvent_v26_01_26_06_sahel.csv.gz", "ucdp_candidate", "best"),
    ):
        ucdp = pd.read_csv(shared / "ucdp" / name, usecols=["side_a", "side_b", deaths])
        parts += [
            ucdp.rename(columns={s: "actor", deaths: "deaths"})[["actor", "deaths"]].assign(source=source)
            for s in ("side_a", "side_b")
        ]
    long = pd.concat(parts, ignore_index=True).dropna(subset=["actor"])
    return long.groupby(["actor", "source"], as_index=False)["deaths"].sum()


@pytest.mark.shared_data
def test_the_50_deadliest_sahel_actors_all_get_a_specific_class(shared_data: Path) -> None:
    actors = sahel_actor_deaths(shared_data)
    rules = load_rules()
    actors["cls"] = pd.concat(
        [classify_actors(g["actor"], src, rules) for src, g in actors.groupby("source")]
    )
    top = actors.sort_values("deaths", ascending=False).head(50)
    unclassified = top.loc[top["cls"] == "unclassified", "actor"].tolist()
    assert unclassified == []
    unidentified = top.loc[top["cls"] == "unidentified_armed_group", "actor"]
    # 'unidentified' only for actors named so; UCDP's XXX<GW code> placeholders are flagged as such
    assert all("unidentified" in a.lower() for a in unidentified), unidentified.tolist()
    placeholders = top.loc[top["cls"] == "placeholder", "actor"]
    assert all(PLACEHOLDER.match(a) for a in placeholders), placeholders.tolist()
    by_name = dict(zip(top["actor"], top["cls"], strict=False))
    assert by_name["JNIM: Group for Support of Islam and Muslims"] == "jihadist"
    assert by_name["Military Forces of France (2017-)"] == "foreign_state_forces"
    assert by_name["VDP: Volunteer for Defense of Homeland"] == "pro_government_militia"
    assert by_name["Government of Burkina Faso"] == "state_forces"
    assert set(top["cls"]) <= set(ACTOR_CLASSES)


@pytest.mark.shared_data
def test_real_ucdp_actor_list_codes(shared_data: Path) -> None:
    listed = read_actor_list(shared_data / "ucdp" / "ucdp-actor-221.csv.gz")
    assert set(listed["org"]) == set(ORG_LABELS)
    governments = listed[listed["org"] == 4]
    assert governments["name"].str.startswith("Government of").all()
    assert listed.loc[listed["org"] == 2, "name"].str.match("Supporters of|Opponents of").all()
    rules = load_rules(actor_list=shared_data / "ucdp" / "ucdp-actor-221.csv.gz")
    # names no rule knows fall back on their Org code
    assert one("Birom", "ucdp_ged", rules) == "communal_militia"
    assert one("Government of Hyderabad", "ucdp_ged", rules) == "state_forces"
    assert one("Interahamwe, ex-FAR", "ucdp_ged", rules) == "rebel_separatist"


def test_the_user_rules_example_in_the_docs_loads_and_works(tmp_path: Path) -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "ACTORS.md").read_text(encoding="utf-8")
    example = re.search(r"```toml\n(.*?)```", doc, re.DOTALL)
    assert example is not None
    mine = load_rules(write(tmp_path, example.group(1)), use_actor_list=False)
    assert one("Katiba Hanifa", "acled", mine) == "jihadist"
    assert one("Mystery Brigade", "acled", mine) == "communal_militia"
    assert (
        one("Government of Syria, Government of Russia (Soviet Union)", "ucdp_ged", mine)
        == "private_military"
    )
    assert one("Government of Russia (Soviet Union)", "ucdp_ged", mine) == "foreign_state_forces"
