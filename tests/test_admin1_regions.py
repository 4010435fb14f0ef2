"""Regions that stay one region: admin-1 aliases for renames, the warning for name-matched regions that
look renamed, countries by date across South Sudan's independence, and grid cells of today's Sudan
(issue 8). No Sudan file is in ../shared/data: the events are synthetic, in the UCDP GED explorer layout."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from civrisk.settings import Settings
from ingest.admin1_names import Admin1Aliases, AliasError, load_aliases, packaged_aliases
from ingest.event_store import add_files, events_dir, load_store
from ingest.grid import gid_centroid
from ingest.locations import admin1_slugs
from ingest.pipeline import ingest_files
from ingest.regions import region_table
from tests.test_ingest_layouts import EXPLORER
from tests.test_ingest_quarantine import write_ucdp_csv

# (published adm_1 before 2013, after 2013, latitude, longitude): the same state under two spellings
RENAMED = [
    ("Northern Darfur state", "North Darfur state", 13.63, 25.35),
    ("Southern Darfur state", "South Darfur state", 12.05, 24.88),
    ("Western Darfur state", "West Darfur state", 13.45, 22.45),
    ("Southern Kordofan state", "South Kordofan state", 11.01, 29.72),
    ("Gedaref state", "Gedarif state", 14.03, 35.38),
]
STEADY = [("Khartoum state", 15.50, 32.56)]
# today's South Sudan: UCDP codes events there before 9 July 2011 as Sudan
SOUTH = [
    ("Central Equatoria state", 4.85, 31.58),
    ("Unity state", 9.23, 29.80),
    ("Upper Nile state", 9.53, 31.65),
]


def explorer_row(adm_1: str, lat: float, lon: float, day: pd.Timestamp, country: str = "Sudan") -> dict:
    date = f"{day:%m/%d/%Y} 00:00:00"
    return {
        "country": country,
        "country_id": "625" if country == "Sudan" else "626",
        "adm_1": adm_1,
        "latitude": f"{lat:.4f}",
        "longitude": f"{lon:.4f}",
        "date_start": date,
        "date_end": date,
        "best_est": "3",
        "high_est": "4",
        "low_est": "2",
    }


def sudan_rows(rng: np.random.Generator) -> list[dict]:
    """Return 1995-2020 Sudan events: renamed states, a steady one, and the south until 2011 (seeded)."""
    rows = []
    for year in range(1995, 2021):
        for month in (2, 8):
            day = pd.Timestamp(year=year, month=month, day=int(rng.integers(1, 28)))
            for old, new, lat, lon in RENAMED:
                rows.append(explorer_row(old if year < 2013 else new, lat, lon, day))
            for name, lat, lon in STEADY:
                rows.append(explorer_row(name, lat, lon, day))
            if day < pd.Timestamp("2011-07-09"):
                rows += [explorer_row(name, lat, lon, day) for name, lat, lon in SOUTH]
    return [r | {"id": str(i)} for i, r in enumerate(rows, start=1)]


@pytest.fixture()
def sudan_file(tmp_path, rng) -> Path:
    return write_ucdp_csv(tmp_path / "ged_explorer_sdn.csv", sudan_rows(rng), columns=EXPLORER)


# ----------------------------------------------------------------------------------------------
# The alias table
# ----------------------------------------------------------------------------------------------


def test_packaged_aliases_map_published_spellings_to_one_key() -> None:
    aliases = packaged_aliases()
    names = pd.Series(["Northern Darfur state", "North Darfur", "Gedarif state", "Al Qadarif", "Timbuktu"])
    iso3 = ["SDN", "SDN", "SDN", "SDN", "MLI"]
    keys = aliases.canonical(iso3, admin1_slugs(names)).tolist()
    assert keys == ["north-darfur", "north-darfur", "gedaref", "gedaref", "tombouctou"]
    # aliases are per country: another country's "Northern Darfur" is left alone
    assert aliases.canonical(["TCD"], admin1_slugs(pd.Series(["Northern Darfur"]))).tolist() == [
        "northern-darfur"
    ]


def test_user_aliases_come_first_and_chains_resolve(tmp_path) -> None:
    user = tmp_path / "aliases.csv"
    user.write_text(
        "iso3,alias,name\nSDN,North Darfur,Shamal Darfur\nNGA,Abuja FCT,Federal Capital Territory\n"
    )
    aliases = load_aliases(user)
    names = pd.Series(["Northern Darfur", "Abuja FCT"])
    assert aliases.canonical(["SDN", "NGA"], admin1_slugs(names)).tolist() == [
        "shamal-darfur",
        "federal-capital-territory",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("iso3,alias\nSDN,x\n", "lacks columns ['name']; expected iso3, alias, name"),
        ("iso3,alias,name\nSUDAN,a,b\n", "line 2: needs an ISO3 code, an alias and a name; got 'SUDAN'"),
        ("iso3,alias,name\nSDN,a,b\nSDN,a,c\n", "line 3: 'a' in SDN is already an alias of 'b'"),
        ("iso3,alias,name\nSDN,a,b\nSDN,b,a\n", "admin-1 aliases of SDN loop"),
    ],
)
def test_a_bad_alias_file_is_named(tmp_path, text, message) -> None:
    path = tmp_path / "aliases.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AliasError, match=re.escape(message)):
        load_aliases(path)


# ----------------------------------------------------------------------------------------------
# Sudan: renames, the warning, South Sudan by date, grid cells
# ----------------------------------------------------------------------------------------------


@pytest.mark.shared_data
def test_renamed_sudan_states_stay_one_region(sudan_file) -> None:
    result = ingest_files([sudan_file])
    events = result.events
    sdn = events[events["iso3"] == "SDN"]
    assert set(sdn["admin1_id"]) == {
        "SDN-north-darfur",
        "SDN-south-darfur",
        "SDN-west-darfur",
        "SDN-south-kordofan",
        "SDN-gedaref",
        "SDN-khartoum",
        # the south before independence counts for Sudan, in the regions of the country holding it today
        "SSD-central-equatoria",
        "SSD-unity",
        "SSD-upper-nile",
    }
    assert result.region_changes.empty
    # without the aliases each renamed state splits in two, and the warning names every pair
    bare = ingest_files([sudan_file], aliases=Admin1Aliases({}))
    pairs = bare.region_changes[["old_id", "new_id"]].values.tolist()
    assert sorted(pairs) == [
        ["SDN-gedaref", "SDN-gedarif"],
        ["SDN-northern-darfur", "SDN-north-darfur"],
        ["SDN-southern-darfur", "SDN-south-darfur"],
        ["SDN-southern-kordofan", "SDN-south-kordofan"],
        ["SDN-western-darfur", "SDN-west-darfur"],
    ]
    assert (bare.region_changes["last"] < pd.Timestamp("2013-01-01")).all()


@pytest.mark.shared_data
def test_sudan_admin1_panel_regions_leave_out_south_sudan(sudan_file) -> None:
    events = ingest_files([sudan_file]).events
    assert set(events["iso3"]) == {"SDN"}
    regions = region_table(events, None, "admin1")
    assert set(regions["iso3"]) == {"SDN"}
    assert len(regions) == 6  # was 14: each renamed state twice, and three southern states zero after 2011
    assert not regions["region_id"].str.startswith("SSD-").any()


@pytest.mark.shared_data
def test_country_follows_the_place_at_the_events_date_both_ways(tmp_path) -> None:
    juba = (4.85, 31.58)
    rows = [
        explorer_row("Central Equatoria state", *juba, pd.Timestamp("2005-03-01"), country="Sudan"),
        explorer_row("Central Equatoria state", *juba, pd.Timestamp("2005-03-02"), country="South Sudan"),
        explorer_row("Central Equatoria state", *juba, pd.Timestamp("2014-03-01"), country="Sudan"),
        explorer_row("Central Equatoria state", *juba, pd.Timestamp("2014-03-02"), country="South Sudan"),
        explorer_row("Khartoum state", 15.5, 32.56, pd.Timestamp("2014-03-03"), country="Sudan"),
    ]
    rows = [r | {"id": str(i)} for i, r in enumerate(rows, start=1)]
    result = ingest_files([write_ucdp_csv(tmp_path / "ged_explorer_x.csv", rows, columns=EXPLORER)])
    assert result.quarantine.empty
    assert result.events["iso3"].tolist() == ["SDN", "SDN", "SSD", "SSD", "SDN"]
    assert result.events["country"].tolist()[:2] == ["Sudan", "South Sudan"]  # as published
    assert result.events["admin1_id"].tolist()[:4] == ["SSD-central-equatoria"] * 4


@pytest.mark.shared_data
def test_the_sudan_grid_has_no_cells_of_south_sudan(sudan_file) -> None:
    from ingest.boundaries import load_countries

    events = ingest_files([sudan_file]).events
    cells = region_table(events, None, "grid")
    sdn = cells[cells["iso3"] == "SDN"]
    south = sdn[sdn["lat"] < 9.5]
    # only the Kafia Kingi cells, which Natural Earth (and Sudan's administration) draws inside Sudan
    countries = load_countries()
    sudan = countries.geometries[countries.positions_for(["SDN"])[0]]
    assert shapely.contains_xy(sudan, south["lon"].to_numpy(), south["lat"].to_numpy()).all()
    assert len(south) <= 3
    juba_cell = events.loc[events["admin1_id"] == "SSD-central-equatoria", "grid_id"].iloc[0]
    assert str(juba_cell) not in set(cells["region_id"])
    lat, _ = gid_centroid(events["grid_id"].dropna().astype("int64"))
    assert (lat < 9.5).any()  # the south's events do have cells: they are South Sudan's, not in this run


@pytest.mark.shared_data
def test_a_user_alias_file_reaches_the_store(tmp_path, rng) -> None:
    rows = sudan_rows(rng)
    path = write_ucdp_csv(tmp_path / "ged_explorer_sdn.csv", rows, columns=EXPLORER)
    user = tmp_path / "aliases.csv"
    user.write_text("iso3,alias,name\nSDN,Khartoum,Al Khartum\n", encoding="utf-8")
    settings = Settings(home=tmp_path / "home", admin1_aliases=user)
    delta = add_files([path], settings)
    assert delta.region_changes is not None and delta.region_changes.empty
    ids = set(load_store(events_dir(settings)).events["admin1_id"])
    assert "SDN-al-khartum" in ids and "SDN-khartoum" not in ids
