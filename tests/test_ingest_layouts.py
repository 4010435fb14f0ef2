"""Layouts: detection from headers, the readers, each real file's layout, and the ACLED mapping."""

from __future__ import annotations

import csv
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from ingest.identity import content_ids
from ingest.layouts import LAYOUTS, LayoutError, detect_layout, source_version
from ingest.pipeline import ingest_files
from ingest.readers import ReadError, read_table
from tests.test_ingest_quarantine import UCDP_COLUMNS, write_ucdp_csv

# ----------------------------------------------------------------------------------------------
# Detection from the header
# ----------------------------------------------------------------------------------------------

EXPLORER = [{"best": "best_est", "high": "high_est", "low": "low_est"}.get(c, c) for c in UCDP_COLUMNS]
EXPLORER = [c for c in EXPLORER if c not in ("gwnoa", "gwnob")]
HDX = [*UCDP_COLUMNS, "start_year", "end_year", "iso3"]
REDUCED = ["id", "conflict_new_id", "conflict_name", "country", "best", "type_of_violence", "date"]
ACLED = [
    "event_id_cnty",
    "event_date",
    "year",
    "time_precision",
    "disorder_type",
    "event_type",
    "sub_event_type",
    "actor1",
    "assoc_actor_1",
    "inter1",
    "actor2",
    "assoc_actor_2",
    "inter2",
    "interaction",
    "civilian_targeting",
    "iso",
    "region",
    "country",
    "admin1",
    "admin2",
    "admin3",
    "location",
    "latitude",
    "longitude",
    "geo_precision",
    "source",
    "source_scale",
    "notes",
    "fatalities",
    "timestamp",
]


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (list(UCDP_COLUMNS), "ucdp_ged"),
        ([c for c in UCDP_COLUMNS if c != "geom_wkt"], "ucdp_ged"),
        (EXPLORER, "ucdp_explorer"),
        (HDX, "ucdp_hdx"),
        (REDUCED, "ucdp_candidate_reduced"),
        (ACLED, "acled"),
    ],
)
def test_layout_is_detected_from_the_header(columns, expected) -> None:
    assert detect_layout(columns, "x.csv").name == expected


def test_missing_columns_name_the_file_the_nearest_layout_and_what_is_missing() -> None:
    columns = [c for c in UCDP_COLUMNS if c not in ("date_start", "best")]
    msg = (
        "events file x.csv lacks columns ['date_start', 'best'] (looked like UCDP GED official, "
        "49 columns expected; got 47 columns). Pass --format to force a layout."
    )
    with pytest.raises(LayoutError, match=re.escape(msg)):
        detect_layout(columns, Path("/data/x.csv"))


def test_a_semicolon_separated_export_gets_a_hint() -> None:
    with pytest.raises(LayoutError, match=re.escape("The header looks separated by semicolons: save")):
        detect_layout([";".join(ACLED)], "acled.csv")


def test_a_forced_layout_names_the_columns_it_lacks() -> None:
    msg = (
        "events file ged.csv lacks columns ['best_est', 'high_est', 'low_est'] required by --format "
        "ucdp_explorer (UCDP GED web-explorer export, 47 columns expected; got 49 columns)."
    )
    with pytest.raises(LayoutError, match=re.escape(msg)):
        detect_layout(list(UCDP_COLUMNS), "ged.csv", forced="ucdp_explorer")


def test_an_unknown_format_lists_the_known_ones() -> None:
    with pytest.raises(
        LayoutError, match=re.escape(f"unknown --format 'ged' for a.csv; expected one of {sorted(LAYOUTS)}")
    ):
        detect_layout(list(UCDP_COLUMNS), "a.csv", forced="ged")


@pytest.mark.parametrize(
    ("name", "layout", "version"),
    [
        ("ged231_caf.csv.gz", "ucdp_ged", "23.1"),
        ("ged201_hdx_nga.csv.gz", "ucdp_hdx", "20.1"),
        ("GEDEvent_v23_1.csv", "ucdp_ged", "23.1"),
        ("GEDEvent_v23_0_10.csv.gz", "ucdp_candidate", "v23_0_10"),
        ("GEDEvent_v26_01_26_06_sahel.csv.gz", "ucdp_candidate", "v26_01_26_06"),
        ("ged_explorer_bfa_2016_2022h1.csv.gz", "ucdp_explorer", "ucdp-explorer-export"),
        ("candidate_2025_reduced_7cols.csv.gz", "ucdp_candidate_reduced", "ucdp-candidate-reduced"),
        ("acled_africa_1997_2022.csv.gz", "acled", "acled-export"),
    ],
)
def test_source_version_comes_from_the_file_name_or_the_layout(name, layout, version) -> None:
    assert source_version(name, LAYOUTS[layout]) == version


# ----------------------------------------------------------------------------------------------
# Readers
# ----------------------------------------------------------------------------------------------


def test_zip_with_one_csv_reads_like_the_csv(tmp_path) -> None:
    path = write_ucdp_csv(tmp_path / "ged231_x.csv", [{}, {"id": "9"}])
    archive = tmp_path / "ged231_x.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(path, "inner/ged231_x.csv")
    pd.testing.assert_frame_equal(read_table(archive).frame, read_table(path).frame)
    result = ingest_files([archive])
    assert result.events["event_id"].tolist() == ["ucdp_ged:1", "ucdp_ged:9"]
    assert result.events["source_file"].tolist() == ["ged231_x.zip"] * 2


def test_zip_with_two_csvs_is_refused(tmp_path) -> None:
    archive = tmp_path / "two.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.csv", "id\n1\n")
        zf.writestr("b.csv", "id\n2\n")
    with pytest.raises(ReadError, match=re.escape("zip file two.zip must hold exactly one .csv; found 2")):
        read_table(archive)


def test_parquet_with_typed_columns_reads_as_text(tmp_path) -> None:
    csv_path = write_ucdp_csv(tmp_path / "ged231_p.csv", [{"id": "15960"}, {"id": "17"}])
    frame = pd.read_csv(csv_path)  # ints, floats and dates as pandas infers them
    frame["id"] = frame["id"].astype("float64")  # as in the HDX copy
    frame["date_start"] = pd.to_datetime(frame["date_start"])
    frame.to_parquet(tmp_path / "ged231_p.parquet")
    result = ingest_files([tmp_path / "ged231_p.parquet"])
    assert result.events["event_id"].tolist() == ["ucdp_ged:15960", "ucdp_ged:17"]
    assert result.events["date_start"].dt.strftime("%Y-%m-%d").tolist() == ["2020-03-02"] * 2
    assert result.events["deaths_best"].tolist() == [2, 2]


def test_hxl_hashtag_row_is_skipped_and_rows_keep_their_file_numbers(tmp_path) -> None:
    path = tmp_path / "ged231_hxl.csv"  # GED 23.1: data to 2022, so the 2020 rows are plausible
    write_ucdp_csv(path, [{"id": "1"}, {"id": "2"}], columns=HDX)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    tags = ["#event+id" if c == "id" else ("#country+code" if c == "iso3" else "") for c in HDX]
    tags[HDX.index("date_start")] = "#date +start"
    hxl_line = ",".join(tags) + "\r\n"
    path.write_text(lines[0] + hxl_line + "".join(lines[1:]), encoding="utf-8")
    raw = read_table(path)
    assert raw.hxl_row_skipped
    assert raw.source_row.tolist() == [2, 3]
    result = ingest_files([path])
    assert result.rows_read == 2
    assert result.events["source_row"].tolist() == [2, 3]


def test_a_first_row_that_only_starts_with_a_hash_is_data(tmp_path) -> None:
    path = write_ucdp_csv(tmp_path / "ged231_h.csv", [{"side_a": "#JNIM", "side_b": "#Civilians"}])
    assert not read_table(path).hxl_row_skipped


def test_byte_order_mark_and_header_case_are_ignored(tmp_path) -> None:
    path = write_ucdp_csv(tmp_path / "ged231_bom.csv", [{}])
    text = path.read_text(encoding="utf-8").replace(",best,high,low,", ", BEST ,high,Low,", 1)
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    result = ingest_files([path])
    assert result.events["event_id"].tolist() == ["ucdp_ged:1"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "x.txt",
            b"id\n",
            "cannot read events file x.txt: expected one of ['.csv', '.csv.gz', '.zip', '.parquet']",
        ),
        ("empty.csv", b"", "events file empty.csv is empty: expected a header row"),
    ],
)
def test_unreadable_files_are_named(tmp_path, name, content, message) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ReadError, match=re.escape(message)):
        ingest_files([path])


def test_ragged_rows_fail_with_the_file_name(tmp_path) -> None:
    path = write_ucdp_csv(tmp_path / "ged231_r.csv", [{}])
    path.write_text(path.read_text(encoding="utf-8") + "1,2,3\n" + "x," * 60 + "\n", encoding="utf-8")
    msg = (
        "cannot parse events file ged231_r.csv as CSV with 49 columns: line 3 has 3 fields: '1,2,3'; "
        "line 4 has 61 fields"
    )
    with pytest.raises(ReadError, match=re.escape(msg)):
        ingest_files([path])


# ----------------------------------------------------------------------------------------------
# ACLED mapping (hand-built rows)
# ----------------------------------------------------------------------------------------------

_ACLED_DEFAULTS = {
    "event_date": "2021-05-03",
    "time_precision": "1",
    "country": "Burkina Faso",
    "admin1": "Sahel",
    "admin2": "Soum",
    "latitude": "14.1",
    "longitude": "-1.6",
    "geo_precision": "1",
    "fatalities": "3",
    "inter1": "2",
    "inter2": "7",
}


def write_acled_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=ACLED)
        writer.writeheader()
        for i, row in enumerate(rows, start=1):
            writer.writerow({c: "" for c in ACLED} | _ACLED_DEFAULTS | {"event_id_cnty": f"BFO{i}"} | row)
    return path


def test_acled_event_types_map_to_violence_types_and_civilian_deaths(tmp_path) -> None:
    army, jihadists, militia = (
        "Military Forces of Burkina Faso (2015-2022)",
        "JNIM: Group for Support of Islam and Muslims",
        "Dozo Communal Militia (Burkina Faso)",
    )
    civilians = "Civilians (Burkina Faso)"
    rows = [
        {"event_type": "Violence against civilians", "actor1": jihadists, "actor2": civilians},
        {"event_type": "Battles", "actor1": army, "inter1": "1", "actor2": jihadists, "inter2": "2"},
        {"event_type": "Battles", "actor1": militia, "inter1": "4", "actor2": jihadists, "inter2": "2"},
        {
            "event_type": "Battle-No change of territory",
            "actor1": jihadists,
            "inter1": "2",
            "actor2": army,
            "inter2": "1",
        },
        {"event_type": "Explosions/Remote violence", "actor1": jihadists, "actor2": army, "inter2": "1"},
        {
            "event_type": "Explosions/Remote violence",
            "actor1": jihadists,
            "actor2": "",
            "inter2": "0",
            "civilian_targeting": "Civilian targeting",
        },
        {"event_type": "Remote violence", "actor1": jihadists, "actor2": civilians, "inter2": "7"},
        {
            "event_type": "Protests",
            "actor1": "Protesters (Burkina Faso)",
            "inter1": "6",
            "actor2": "",
            "inter2": "0",
            "fatalities": "0",
        },
        {
            "event_type": "Riots",
            "actor1": "Rioters (Burkina Faso)",
            "inter1": "5",
            "actor2": civilians,
            "fatalities": "1",
        },
        {
            "event_type": "Strategic developments",
            "actor1": army,
            "inter1": "1",
            "actor2": "",
            "inter2": "0",
            "fatalities": "0",
        },
    ]
    result = ingest_files([write_acled_csv(tmp_path / "acled.csv", rows)])
    ev = result.events.set_index("event_id")
    assert ev["violence_type"].tolist() == [
        "one_sided",
        "state_based",
        "non_state",
        "state_based",
        "state_based",
        "one_sided",
        "one_sided",
        "other",
        "other",
        "other",
    ]
    assert ev["deaths_civilians"].tolist() == [3, 0, 0, 0, 0, 3, 3, 0, 1, 0]
    assert ev["civilian_harm"].tolist() == [True, False, False, False, False, True, True, False, True, False]
    assert (ev["deaths_best"] == ev["deaths_low"]).all() and (ev["deaths_best"] == ev["deaths_high"]).all()
    one_sided = ev["violence_type"] == "one_sided"
    assert (ev.loc[one_sided, "perpetrator"] == jihadists).all()
    assert ev.loc[~one_sided, "perpetrator"].isna().all()
    assert (ev.loc[~one_sided, "perpetrator_class"] == "other").all()
    assert ev.loc["acled:BFO2", "side_a_class"] == "state_forces"


def test_acled_rows_without_ids_get_stable_content_ids(tmp_path) -> None:
    base = {
        "event_type": "Violence against civilians",
        "actor1": "Unidentified Armed Group (Burkina Faso)",
        "actor2": "Civilians (Burkina Faso)",
        "event_id_cnty": "",
    }
    rows = [base, base | {"fatalities": "4"}, base | {"notes": "another attack"}, base]
    path = write_acled_csv(tmp_path / "acled_bfa.csv", rows)
    first, second = ingest_files([path]), ingest_files([path])
    ids = first.events["event_id"].tolist()
    assert ids == second.events["event_id"].tolist()
    # one day, place and event type: one identity key, told apart by content (ingest.identity)
    assert all(re.fullmatch(r"acled:syn-[0-9a-f]{16}(-[23])?", i) for i in ids)
    assert len(set(ids)) == 3
    # the fourth row repeats the first word for word: the same id, so it is a duplicate
    assert first.quarantine["reason"].tolist() == ["duplicate_id"]
    assert first.quarantine["source_row"].tolist() == [4]


def test_synthetic_ids_ignore_rows_that_have_an_id() -> None:
    frame = pd.DataFrame(
        {"event_id_cnty": ["BFO1", None], "event_date": ["2021-01-01", "2021-01-01"]}, dtype="string"
    )
    dates = pd.to_datetime(frame["event_date"])
    coords = pd.Series([float("nan")] * 2)
    ids = content_ids(frame, dates, coords, coords)
    assert pd.isna(ids.iloc[0]) and ids.iloc[1].startswith("syn-")


# ----------------------------------------------------------------------------------------------
# The real files (integration): each layout on its published file
# ----------------------------------------------------------------------------------------------

REAL_UCDP = {
    "ged_explorer_bfa_2016_2022h1.csv.gz": ("ucdp_explorer", "ucdp_ged"),
    "ged201_hdx_nga.csv.gz": ("ucdp_hdx", "ucdp_ged"),
    "ged231_caf.csv.gz": ("ucdp_ged", "ucdp_ged"),
    "ged231_sample1000.csv.gz": ("ucdp_ged", "ucdp_ged"),
    "GEDEvent_v23_0_10.csv.gz": ("ucdp_candidate", "ucdp_candidate"),
    "GEDEvent_v26_01_26_06_sahel.csv.gz": ("ucdp_candidate", "ucdp_candidate"),
    "candidate_2025_reduced_7cols.csv.gz": ("ucdp_candidate_reduced", "ucdp_candidate"),
}


@pytest.fixture(scope="module")
def boundaries(shared_data):
    from ingest.boundaries import load_boundaries

    return load_boundaries(shared_data / "boundaries" / "sahel_adm1_mli_bfa_ner.geojson")


@pytest.fixture(scope="module")
def real(shared_data, boundaries):
    """Return a function name -> (IngestResult, the file as pandas reads it), each file ingested once."""
    cache: dict[str, tuple] = {}

    def get(name: str):
        if name not in cache:
            path = shared_data / ("acled" if name.startswith("acled") else "ucdp") / name
            raw = pd.read_csv(path, dtype=str, keep_default_na=False)
            cache[name] = (ingest_files([path], boundaries=boundaries), raw)
        return cache[name]

    return get


@pytest.mark.shared_data
@pytest.mark.parametrize("name", sorted(REAL_UCDP))
def test_each_real_ucdp_file_is_read_whole(real, name) -> None:
    result, raw = real(name)
    layout, source = REAL_UCDP[name]
    (report,) = result.files
    assert (report.layout, report.source) == (layout, source)
    assert result.rows_read == len(raw)
    assert len(result.events) + len(result.quarantine) == len(raw)
    assert (result.events["source"] == source).all()
    kept_rows = set(result.events["source_row"]) | set(result.quarantine["source_row"])
    assert kept_rows == set(range(1, len(raw) + 1))
    # every kept event is the published row it says it is
    native = raw["id"].str.replace(r"\.0+$", "", regex=True)
    rows = result.events["source_row"].to_numpy() - 1
    assert (result.events["event_id"].to_numpy() == (source + ":" + native.iloc[rows]).to_numpy()).all()


@pytest.mark.shared_data
def test_explorer_export_columns_and_dates_are_mapped(real) -> None:
    result, raw = real("ged_explorer_bfa_2016_2022h1.csv.gz")
    ev = result.events
    src = raw.iloc[ev["source_row"].to_numpy() - 1]
    assert (ev["deaths_best"].to_numpy() == src["best_est"].astype(int).to_numpy()).all()
    assert (ev["deaths_low"].to_numpy() == src["low_est"].astype(int).to_numpy()).all()
    assert (ev["deaths_high"].to_numpy() == src["high_est"].astype(int).to_numpy()).all()
    published = pd.to_datetime(src["date_start"], format="%m/%d/%Y %H:%M:%S")
    assert (ev["date_start"].to_numpy() == published.to_numpy()).all()
    assert ev["iso3"].eq("BFA").all()


@pytest.mark.shared_data
def test_hdx_float_ids_become_integer_text(real) -> None:
    result, raw = real("ged201_hdx_nga.csv.gz")
    assert raw["id"].str.endswith(".0").all()  # as published
    assert result.events["event_id"].str.fullmatch(r"ucdp_ged:\d+").all()
    assert result.events["source_version"].eq("20.1").all()


@pytest.mark.shared_data
def test_candidate_placeholders_and_flags_are_kept(real) -> None:
    result, raw = real("GEDEvent_v23_0_10.csv.gz")
    ev = result.events
    assert ev["source_version"].eq("v23_0_10").all()
    placeholders = ev["side_a"].str.fullmatch(r"XXX\d+").fillna(False)
    assert placeholders.sum() == raw["side_a"].str.fullmatch(r"XXX\d+").sum() - _quarantined_with(
        result, raw, raw["side_a"].str.fullmatch(r"XXX\d+")
    )
    assert placeholders.sum() > 100
    flagged = raw["code_status"] != "Clear"
    assert (
        flagged.sum() - _quarantined_with(result, raw, flagged)
        == ev["source_row"].isin(flagged[flagged].index + 1).sum()
    )


def _quarantined_with(result, raw, mask: pd.Series) -> int:
    return int(result.quarantine["source_row"].isin(mask[mask].index + 1).sum())


@pytest.mark.shared_data
def test_sahel_candidate_file_has_six_rows_outside_low_high(real) -> None:
    result, raw = real("GEDEvent_v26_01_26_06_sahel.csv.gz")
    counts = result.quarantine["reason"].value_counts()
    assert counts["best_outside_low_high"] == 6
    assert set(result.events["iso3"]) == {"MLI", "BFA", "NER"}
    assert result.events["source_version"].eq("v26_01_26_06").all()
    assert result.events["admin1_id"].notna().mean() > 0.9


@pytest.mark.shared_data
def test_reduced_candidate_file_is_country_level_only(real) -> None:
    result, raw = real("candidate_2025_reduced_7cols.csv.gz")
    ev = result.events
    assert len(result.quarantine) == 0
    assert ev["latitude"].isna().all() and ev["longitude"].isna().all()
    assert ev["admin1_id"].isna().all() and ev["grid_id"].isna().all()
    one_sided = ev["violence_type"] == "one_sided"
    assert ev.loc[one_sided, "perpetrator"].notna().all()
    assert not ev.loc[one_sided, "perpetrator"].str.endswith("Civilians").any()
    assert (ev.loc[one_sided, "deaths_civilians"] == ev.loc[one_sided, "deaths_best"]).all()
    assert (ev.loc[~one_sided, "deaths_civilians"] == 0).all()


@pytest.mark.shared_data
def test_official_ged_without_geom_wkt_is_read(real) -> None:
    result, raw = real("ged231_caf.csv.gz")
    assert "geom_wkt" not in raw.columns
    assert result.files[0].source_version == "23.1"
    assert result.events["latitude"].notna().all()


@pytest.fixture(scope="module")
def acled(real):
    return real("acled_africa_1997_2022.csv.gz")


@pytest.mark.shared_data
def test_acled_export_is_read_whole(acled) -> None:
    result, raw = acled
    assert result.rows_read == len(raw) == len(result.events) + len(result.quarantine)
    assert set(result.events["violence_type"]) == {"state_based", "non_state", "one_sided", "other"}
    vac = result.events["violence_type"].eq("one_sided")
    assert (result.events.loc[vac, "deaths_civilians"] == result.events.loc[vac, "deaths_best"]).all()


@pytest.mark.shared_data
def test_acled_burkina_rows_without_ids_get_ids_and_regions(acled) -> None:
    result, raw = acled
    no_id = raw["event_id_cnty"] == ""
    assert (raw.loc[no_id, "country"] == "Burkina Faso").all()
    syn = result.events["event_id"].str.startswith("acled:syn-")
    kept_no_id = no_id.sum() - _quarantined_with(result, raw, no_id)
    assert syn.sum() == kept_no_id > 3000
    bfa = result.events[syn]
    assert bfa["admin1"].isna().all()
    assert bfa["admin1_id"].notna().mean() > 0.95  # placed from coordinates
    assert result.events["event_id"].is_unique
