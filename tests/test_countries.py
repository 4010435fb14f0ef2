"""Country crosswalk: publisher names and Gleditsch-Ward codes -> ISO3, on quirks and on every real name."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from ingest.countries import gw_table, gw_to_iso3, iso3_name, iso_numeric_to_iso3, normalise_name, to_iso3

UCDP_QUIRKS = {
    "DR Congo (Zaire)": "COD",
    "Myanmar (Burma)": "MMR",
    "Russia (Soviet Union)": "RUS",
    "Yemen (North Yemen)": "YEM",
    "Yemen (South Yemen)": "YMD",
    "Cambodia (Kampuchea)": "KHM",
    "Zimbabwe (Rhodesia)": "ZWE",
    "Madagascar (Malagasy)": "MDG",
    "Serbia (Yugoslavia)": "SRB",
    "Bosnia-Herzegovina": "BIH",
    "Ivory Coast": "CIV",
    "Kingdom of eSwatini (Swaziland)": "SWZ",
    "Vietnam (North Vietnam)": "VNM",
    "Samoa (Western Samoa)": "WSM",
    "Macedonia, FYR": "MKD",
    "Antigua & Barbuda": "ATG",
    "East Timor": "TLS",
    "Congo": "COG",
    "Kosovo": "XKX",
    "Czechoslovakia": "CSK",
    "German Democratic Republic": "DDR",
}
ACLED_QUIRKS = {
    "Democratic Republic of Congo": "COD",
    "Republic of Congo": "COG",
    "eSwatini": "SWZ",
    "Cote d'Ivoire": "CIV",
    "Côte d'Ivoire": "CIV",
    "Palestine": "PSE",
}
ISO_NAMES = {"Mali": "MLI", "burkina faso": "BFA", "NIGER": "NER", "Türkiye": "TUR", "MLI": "MLI"}


@pytest.mark.parametrize("name, iso3", sorted({**UCDP_QUIRKS, **ACLED_QUIRKS, **ISO_NAMES}.items()))
def test_publisher_names_map_to_iso3(name: str, iso3: str) -> None:
    assert to_iso3(pd.Series([name])).iloc[0] == iso3


def test_unknown_and_missing_names_are_na_and_index_is_kept() -> None:
    names = pd.Series(["Mali", "Atlantis", None, ""], index=[10, 11, 12, 13])
    out = to_iso3(names)
    assert list(out.index) == [10, 11, 12, 13]
    assert out.iloc[0] == "MLI"
    assert out.iloc[1:].isna().all()
    assert isinstance(out.dtype, pd.StringDtype)


def test_gw_codes_fill_unknown_names_only() -> None:
    names = pd.Series(["Atlantis", "Mali", None])
    gw = pd.Series(["439", 436.0, 475])  # strings and floats as the files write them
    assert to_iso3(names, gw).tolist() == ["BFA", "MLI", "NGA"]  # the name wins where it maps


def test_gw_codes_must_align_with_names() -> None:
    msg = "to_iso3: gw_codes has 1 values but names has 2; pass them row-aligned"
    with pytest.raises(ValueError, match=re.escape(msg)):
        to_iso3(pd.Series(["Mali", "Niger"]), pd.Series([432]))


def test_gw_table_follows_ucdp_successor_conventions() -> None:
    assert gw_table()["gw_code"].is_unique
    assert gw_to_iso3(pd.Series([345, 365, 678, 680])).tolist() == ["SRB", "RUS", "YEM", "YMD"]
    assert gw_to_iso3(pd.Series([751, "x", None, 475.5])).isna().all()


def test_iso_numeric_and_names() -> None:
    numeric = iso_numeric_to_iso3(pd.Series(["466", 854.0, "076", None, 999]))
    assert numeric.iloc[:3].tolist() == ["MLI", "BFA", "BRA"]
    assert numeric.iloc[3:].isna().all()
    assert iso3_name(pd.Series(["MLI", "XKX", "CSK"])).tolist() == ["Mali", "Kosovo", "Czechoslovakia"]
    assert normalise_name("  Côte d'Ivoire ") == "cote d ivoire"
    assert normalise_name("The Gambia") == "gambia"


def _country_columns(path: Path) -> list[tuple[str, str | None]]:
    header = pd.read_csv(path, nrows=0).columns
    pairs = [("country", "country_id"), ("country_cy", "country_id_cy")]
    return [(n, g if g in header else None) for n, g in pairs if n in header]


@pytest.mark.shared_data
def test_every_country_name_in_the_shared_files_maps(shared_data: Path) -> None:
    files = sorted((shared_data / "ucdp").glob("*.csv.gz")) + sorted((shared_data / "acled").glob("*.csv.gz"))
    checked = 0
    for path in files:
        for name_col, gw_col in _country_columns(path):
            cols = [name_col] + ([gw_col] if gw_col else [])
            frame = pd.read_csv(path, usecols=cols).drop_duplicates()
            iso3 = to_iso3(frame[name_col])
            assert iso3.notna().all(), f"{path.name}: unmapped {sorted(frame.loc[iso3.isna(), name_col])}"
            if gw_col:  # names and Gleditsch-Ward codes must agree
                by_gw = gw_to_iso3(frame[gw_col])
                clash = frame[by_gw.ne(iso3).fillna(True).to_numpy()]
                assert clash.empty, (
                    f"{path.name}: names and GW codes disagree: {clash.head().values.tolist()}"
                )
            checked += len(frame)
    assert checked > 300


@pytest.mark.shared_data
def test_actor_list_gw_codes_map_except_pre_1989_states(shared_data: Path) -> None:
    actors = pd.read_csv(shared_data / "ucdp" / "ucdp-actor-221.csv.gz", usecols=["GWNOLoc"])
    codes = actors["GWNOLoc"].dropna().astype(str).str.split(r"[,;]\s*").explode().str.strip()
    codes = codes[codes != ""].drop_duplicates().reset_index(drop=True)
    unmapped = set(codes[gw_to_iso3(codes).isna().to_numpy()])
    # 751 Hyderabad (1947-48) and 817 Republic of Vietnam (to 1975): no ISO code, outside GED's 1989+ span.
    assert unmapped == {"751", "817"}
