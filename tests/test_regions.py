"""Geography: PRIO-GRID ids, TopoJSON, boundary files, region assignment, region tables, neighbours."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from ingest.boundaries import Boundaries, decode_topojson, load_boundaries, load_countries
from ingest.countries import to_iso3
from ingest.grid import gid_centroid, priogrid_gid, queen_neighbours
from ingest.locations import admin1_slug, precision_class
from ingest.regions import assign_regions, neighbours, points_in_country, region_table

# ----------------------------------------------------------------------------------------------
# Hand-built geography: country XAA = two unit squares (Alpha west of Béta), XBB = one square east of them.
# ----------------------------------------------------------------------------------------------


def _square(x0: float, y0: float, size: float = 1.0) -> shapely.Polygon:
    return shapely.box(x0, y0, x0 + size, y0 + size)


@pytest.fixture()
def toy() -> Boundaries:
    regions = pd.DataFrame(
        {"region_id": ["A1", "A2", "B1"], "iso3": ["XAA", "XAA", "XBB"], "name": ["Alpha", "Béta", "Gamma"]}
    )
    return Boundaries.from_frame(regions, [_square(0, 0), _square(1, 0), _square(2, 0)], source="toy")


def _events(rows: list[dict]) -> pd.DataFrame:
    base = {"source": "ucdp_ged", "iso3": "XAA", "admin1": None, "latitude": np.nan, "longitude": np.nan}
    frame = pd.DataFrame([{**base, **r} for r in rows])
    frame["admin1"] = frame["admin1"].astype("string")
    frame["geo_precision"] = pd.array(
        frame.get("geo_precision", pd.Series([pd.NA] * len(frame))), dtype="Int64"
    )
    return frame


# ----------------------------------------------------------------------------------------------
# PRIO-GRID
# ----------------------------------------------------------------------------------------------


def test_priogrid_gid_formula_edges_and_missing() -> None:
    gid = priogrid_gid(
        [-89.9, -89.9, 0.1, 13.2, 90.0, None, 91.0], [-179.9, -179.4, 0.1, -1.5, 180.0, 3.0, 0.0]
    )
    assert gid[:5].tolist() == [1, 2, 180 * 720 + 360 + 1, 206 * 720 + 357 + 1, 360 * 720]
    assert gid[5:].isna().all()
    lat, lon = gid_centroid([1, 259200, 148678])
    assert lat.tolist() == [-89.75, 89.75, 13.25] and lon.tolist() == [-179.75, 179.75, -1.25]
    assert priogrid_gid(lat, lon).tolist() == [1, 259200, 148678]


def test_queen_neighbours_wrap_the_antimeridian_not_the_poles() -> None:
    pairs = queen_neighbours([1, 2, 720, 721, 1441, 259200])
    got = set(zip(pairs["gid"], pairs["neighbour_gid"], strict=True))
    assert {(1, 2), (1, 720), (1, 721), (720, 721), (721, 1441)} <= got
    assert all((b, a) in got for a, b in got)
    assert not any(259200 in p for p in got)  # no cell of the north row is near the south pole


@pytest.mark.shared_data
def test_priogrid_gid_reproduces_ucdp(shared_data: Path) -> None:
    checked = 0
    for path in sorted((shared_data / "ucdp").glob("*.csv.gz")):
        if "priogrid_gid" not in pd.read_csv(path, nrows=0).columns:
            continue
        ged = pd.read_csv(path, usecols=["latitude", "longitude", "priogrid_gid"])
        ours = priogrid_gid(ged["latitude"], ged["longitude"])
        assert (ours == ged["priogrid_gid"].astype("Int64").to_numpy()).all(), path.name
        checked += len(ged)
    assert checked > 10_000


# ----------------------------------------------------------------------------------------------
# TopoJSON and GeoJSON
# ----------------------------------------------------------------------------------------------

TOPOLOGY = {
    "type": "Topology",
    "transform": {"scale": [0.5, 0.5], "translate": [10, 20]},
    "arcs": [
        [[2, 0], [0, 2]],  # 0: shared edge (2,0)->(2,2)
        [[2, 2], [-2, 0], [0, -2], [2, 0]],  # 1: west square's other edges
        [[2, 0], [2, 0], [0, 2], [-2, 0]],  # 2: east square's other edges
        [[10, 10], [6, 0], [0, 6], [-6, 0], [0, -6]],  # 3: outer ring
        [[12, 12], [0, 2], [2, 0], [0, -2], [-2, 0]],  # 4: hole
    ],
    "objects": {
        "countries": {
            "type": "GeometryCollection",
            "geometries": [
                {"type": "Polygon", "id": "1", "properties": {"name": "West"}, "arcs": [[1, 0]]},
                {"type": "Polygon", "id": "2", "properties": {"name": "East"}, "arcs": [[-1, 2]]},
                {"type": "MultiPolygon", "id": "3", "arcs": [[[1, 0]], [[3], [4]]]},
                {"type": None, "id": "4"},
                {"type": "Point", "coordinates": [0, 0]},
            ],
        }
    },
}


def test_topojson_decoder_undoes_quantization_deltas_and_reversed_arcs() -> None:
    decoded = list(decode_topojson(TOPOLOGY, "countries"))
    assert [d[0] for d in decoded] == ["1", "2", "3", "4"]
    west, east, multi, empty = (d[2] for d in decoded)
    assert west.equals(shapely.box(10, 20, 11, 21)) and west.is_valid
    assert east.equals(shapely.box(11, 20, 12, 21)) and east.is_valid
    assert west.touches(east)
    assert multi.geom_type == "MultiPolygon" and multi.area == pytest.approx(1 + (36 - 4) * 0.25)
    assert not multi.contains(shapely.Point(16.5, 26.5))  # the hole at (12..14) * 0.5 + offset
    assert empty is None
    assert decoded[0][1] == {"name": "West"}


def test_topojson_decoder_names_a_missing_object() -> None:
    msg = "expected a TopoJSON Topology with object 'land'; got type 'Topology' with objects ['countries']"
    with pytest.raises(ValueError, match=re.escape(msg)):
        list(decode_topojson(TOPOLOGY, "land"))


def _write_geojson(path: Path, props: list[dict]) -> Path:
    features = [
        {"type": "Feature", "properties": p, "geometry": shapely.geometry.mapping(_square(i, 0))}
        for i, p in enumerate(props)
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


def test_load_boundaries_with_configured_properties(tmp_path: Path) -> None:
    path = _write_geojson(
        tmp_path / "b.geojson",
        [{"pc": "ML05", "nm": "Mopti", "cty": "Mali"}, {"pc": "ML06", "nm": "Tombouctou", "cty": "MLI"}],
    )
    b = load_boundaries(path, id_property="pc", name_property="nm", iso3_property="cty")
    assert b.regions.drop(columns="code").to_dict("list") == {
        "region_id": ["ML05", "ML06"],
        "iso3": ["MLI", "MLI"],
        "name": ["Mopti", "Tombouctou"],
    }
    assert b.regions["code"].isna().all()  # no standard-code property: none is invented
    assert b.iso3s == {"MLI"}
    coded = _write_geojson(
        tmp_path / "c.geojson",
        [
            {"pc": "h1", "nm": "Centre", "cty": "BFA", "source_attributes": {"shapeISO": "BF-03"}},
            {"pc": "ML05", "nm": "Mopti", "cty": "MLI", "ADM1_PCODE": "ML05"},
        ],
    )
    b = load_boundaries(coded, id_property="pc", name_property="nm", iso3_property="cty")
    assert list(b.regions["code"]) == ["BF-03", "ML05"]


def test_load_boundaries_errors_name_the_problem(tmp_path: Path) -> None:
    path = _write_geojson(tmp_path / "b.geojson", [{"pc": "X1", "nm": "A"}])
    msg = f"{path}: feature 0 lacks properties ['iso3']; it has ['nm', 'pc']."
    with pytest.raises(ValueError, match=re.escape(msg)):
        load_boundaries(path, id_property="pc", name_property="nm")
    dup = _write_geojson(tmp_path / "d.geojson", [{"pc": "X1", "nm": "A", "iso3": "MLI"}] * 2)
    with pytest.raises(ValueError, match=re.escape("duplicate region ids ['X1']")):
        load_boundaries(dup, id_property="pc", name_property="nm")
    topo = tmp_path / "t.json"
    topo.write_text(json.dumps(TOPOLOGY), encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape("(this looks like TopoJSON")):
        load_boundaries(topo)
    with pytest.raises(FileNotFoundError, match=re.escape("does not exist")):
        load_boundaries(tmp_path / "absent.geojson")


# ----------------------------------------------------------------------------------------------
# Names and precision
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "a, b",
    [
        ("Mopti region", "Mopti"),
        ("Tillabéri region", "Tillaberi"),
        ("Centre Nord region", "Centre-Nord"),
        ("Plateau-Central", "Plateau Central"),
        ("Nīnawá province", "NINAWA"),
        ("Kabardino-Balkaria republic", "Kabardino Balkaria"),
        ("Région du Sahel", "Sahel"),
    ],
)
def test_admin1_slug_matches_publisher_spellings(a: str, b: str) -> None:
    assert admin1_slug(a) == admin1_slug(b)


def test_admin1_slug_keeps_names_that_are_only_a_suffix_word() -> None:
    assert admin1_slug("Region") == "region"
    assert admin1_slug("  ") is None and admin1_slug(None) is None and admin1_slug(pd.NA) is None


def test_precision_class_by_source_scale() -> None:
    ev = _events(
        [{"geo_precision": p} for p in (1, 3, 4, 5, 6, 7)] + [{"source": "acled", "geo_precision": 3}, {}]
    )
    assert precision_class(ev).tolist() == [2, 2, 1, 1, 0, 0, 1, 2]
    bad = _events([{"source": "acled", "geo_precision": 5}])
    with pytest.raises(
        ValueError, match=re.escape("1 acled events have geo_precision outside [1, 2, 3]: [5.0]")
    ):
        precision_class(bad)
    alien = _events([{"source": "gdelt", "geo_precision": 1}])
    with pytest.raises(
        ValueError, match=re.escape("geo_precision given for sources ['gdelt'] whose scale is unknown")
    ):
        precision_class(alien)


# ----------------------------------------------------------------------------------------------
# Assignment
# ----------------------------------------------------------------------------------------------


def test_assign_regions_rules(toy: Boundaries) -> None:
    ev = _events(
        [
            {"latitude": 0.5, "longitude": 0.5, "geo_precision": 1, "admin1": "Béta region"},  # coords win
            # admin-1 precision: the name wins over the (centroid) coordinates
            {"latitude": 0.5, "longitude": 1.5, "geo_precision": 4, "admin1": "Alpha region"},
            {"latitude": 5.0, "longitude": 5.0, "geo_precision": 2, "admin1": "Beta"},  # far away: name
            {"latitude": 1.1, "longitude": 0.5, "geo_precision": 1},  # just outside: nearest polygon
            {"latitude": 0.5, "longitude": 2.5, "geo_precision": 1},  # in XBB's polygon: not XAA's
            {"latitude": 0.5, "longitude": 0.5, "geo_precision": 6, "admin1": "Alpha"},  # country only
            {"latitude": 0.5, "longitude": 0.5, "geo_precision": 5},  # vague, no name: country level
            {"latitude": 0.5, "longitude": 0.5, "geo_precision": 5, "admin1": "Nowhere"},  # named: coords
            {"admin1": "Alpha", "geo_precision": 1},  # name only
            {"latitude": 9.0, "longitude": 9.0, "geo_precision": 1, "admin1": "Atlantis"},  # nothing fits
            {"source": "acled", "latitude": 0.5, "longitude": 0.5, "geo_precision": 3, "admin1": "Alpha"},
            {"iso3": "XCC", "latitude": 0.5, "longitude": 0.5, "geo_precision": 1, "admin1": "Mopti région"},
            {"iso3": "XCC", "latitude": 0.5, "longitude": 0.5, "geo_precision": 6, "admin1": "Mopti"},
            {"source": "acled", "latitude": 0.5, "longitude": 0.5},  # unknown precision, coordinates
        ]
    )
    out = assign_regions(ev, toy)
    na = None
    expected = ["A1", "A1", "A2", "A1", na, na, na, "A1", "A1", na, "A1", "XCC-mopti", na, "A1"]
    assert [None if pd.isna(v) else v for v in out["admin1_id"]] == expected

    def cell(lat: float, lon: float) -> int:
        return int(priogrid_gid([lat], [lon])[0])

    grid = [cell(0.5, 0.5), na, cell(5, 5), cell(1.1, 0.5), cell(0.5, 2.5), na, na, na, na, cell(9, 9), na]
    grid += [cell(0.5, 0.5), na, cell(0.5, 0.5)]
    assert [None if pd.isna(v) else v for v in out["grid_id"]] == grid
    assert isinstance(out["admin1_id"].dtype, pd.StringDtype) and out["grid_id"].dtype == "Int64"
    assert "admin1_id" not in ev.columns  # input untouched


def test_assign_regions_without_boundaries_uses_names(toy: Boundaries) -> None:
    ev = _events(
        [{"admin1": "Tillabéri region", "geo_precision": 4}, {"admin1": "Tillaberi", "source": "acled"}]
    )
    assert assign_regions(ev, None)["admin1_id"].tolist() == ["XAA-tillaberi", "XAA-tillaberi"]


def test_assign_regions_names_missing_columns() -> None:
    msg = "assign_regions: events lack columns ['geo_precision'] (expected the canonical events table)"
    with pytest.raises(ValueError, match=re.escape(msg)):
        assign_regions(_events([{}]).drop(columns="geo_precision"), None)


def test_region_tables_and_neighbours_on_toy_polygons(toy: Boundaries) -> None:
    ev = _events(
        [
            {"latitude": 0.5, "longitude": 0.5, "geo_precision": 1},
            {
                "iso3": "XCC",
                "admin1": "Mopti region",
                "geo_precision": 4,
                "latitude": 30.2,
                "longitude": 40.2,
            },
            {"iso3": "XCC", "admin1": "Mopti", "source": "acled", "latitude": 30.4, "longitude": 40.4},
        ]
    )
    ev = assign_regions(ev, toy)
    admin1 = region_table(ev, toy, "admin1")
    assert admin1["region_id"].tolist() == ["A1", "A2", "XCC-mopti"]  # all XAA polygons, not XBB's
    assert admin1.columns.tolist() == ["region_id", "unit", "iso3", "name", "lat", "lon"]
    assert admin1.loc[2, ["lat", "lon"]].tolist() == pytest.approx([30.3, 40.3])
    assert admin1.loc[0, ["lat", "lon"]].tolist() == pytest.approx([0.5, 0.5])
    grid = region_table(ev, toy, "grid")  # no Natural Earth polygon for XAA/XCC: the event cells
    assert sorted(grid["region_id"]) == sorted({str(g) for g in ev["grid_id"].dropna()})
    country = region_table(ev, toy, "country")
    assert country[["region_id", "name"]].values.tolist() == [["XAA", "XAA"], ["XCC", "XCC"]]

    pairs = neighbours(pd.concat([admin1, region_table(ev.assign(iso3="XBB"), toy, "admin1")]), toy, "admin1")
    got = set(zip(pairs["region_id"], pairs["neighbour_id"], strict=True))
    assert got == {("A1", "A2"), ("A2", "A1"), ("A2", "B1"), ("B1", "A2")}  # touching, across countries
    with pytest.raises(ValueError, match=re.escape("unknown unit 'district'; expected one of")):
        region_table(ev, toy, "district")


# ----------------------------------------------------------------------------------------------
# Real data
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sahel(shared_data: Path) -> Boundaries:
    return load_boundaries(shared_data / "boundaries" / "sahel_adm1_mli_bfa_ner.geojson")


def _acled_events(shared_data: Path) -> pd.DataFrame:
    cols = ["event_date", "country", "admin1", "latitude", "longitude", "geo_precision"]
    raw = pd.read_csv(
        shared_data / "acled" / "acled_africa_1997_2022.csv.gz", usecols=cols, dtype={"geo_precision": str}
    )
    return pd.DataFrame(
        {
            "source": "acled",
            "date": pd.to_datetime(raw["event_date"]),
            "iso3": to_iso3(raw["country"]),
            "admin1": raw["admin1"].astype("string"),
            "latitude": raw["latitude"],
            "longitude": raw["longitude"],
            # one row carries a stray "'" here: unknown precision
            "geo_precision": pd.to_numeric(raw["geo_precision"], errors="coerce").astype("Int64"),
        }
    )


def _ucdp_events(shared_data: Path) -> pd.DataFrame:
    frames = []
    for path in sorted((shared_data / "ucdp").glob("*.csv.gz")):
        header = pd.read_csv(path, nrows=0).columns
        if not {"adm_1", "latitude", "where_prec"} <= set(header):
            continue
        ged = pd.read_csv(path, usecols=["country", "adm_1", "latitude", "longitude", "where_prec"])
        frames.append(
            pd.DataFrame(
                {
                    "source": "ucdp_ged",
                    "iso3": to_iso3(ged["country"]),
                    "admin1": ged["adm_1"].astype("string"),
                    "latitude": ged["latitude"],
                    "longitude": ged["longitude"],
                    "geo_precision": ged["where_prec"].astype("Int64"),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


@pytest.mark.shared_data
def test_acled_burkina_faso_from_2021_lands_in_admin1(shared_data: Path, sahel: Boundaries) -> None:
    acled = _acled_events(shared_data)
    bfa = acled[(acled["iso3"] == "BFA") & (acled["date"] >= "2021-01-01")]
    assert len(bfa) > 1000 and bfa["admin1"].isna().all()  # coordinates, no admin1 in this export
    rate = assign_regions(bfa, sahel)["admin1_id"].notna().mean()
    assert rate >= 0.95, f"only {rate:.1%} of ACLED BFA 2021+ events got an admin-1 region"


@pytest.mark.shared_data
def test_ucdp_and_acled_admin1_names_reach_the_same_mali_polygons(
    shared_data: Path, sahel: Boundaries
) -> None:
    ucdp = _ucdp_events(shared_data)
    acled = _acled_events(shared_data)
    names = (
        pd.concat(
            [
                ucdp.loc[ucdp["iso3"] == "MLI", ["source", "admin1"]].assign(geo_precision=4),
                acled.loc[acled["iso3"] == "MLI", ["source", "admin1"]].assign(geo_precision=3),
            ]
        )
        .dropna(subset=["admin1"])
        .drop_duplicates()
    )
    by_name = assign_regions(names.assign(iso3="MLI", latitude=np.nan, longitude=np.nan), sahel)
    assert by_name["admin1_id"].notna().all(), by_name.loc[by_name["admin1_id"].isna(), "admin1"].tolist()
    slug_to_ids = by_name.groupby(by_name["admin1"].map(admin1_slug))["admin1_id"].nunique()
    assert (slug_to_ids == 1).all()  # "Mopti region" (UCDP) and "Mopti" (ACLED) -> one polygon
    assert set(by_name.loc[by_name["source"] == "acled", "admin1_id"]) == set(
        sahel.regions.loc[sahel.regions["iso3"] == "MLI", "region_id"]
    )
    # Where UCDP located an event precisely, its coordinates fall in the polygon its adm_1 names.
    precise = ucdp[(ucdp["iso3"] == "MLI") & (ucdp["geo_precision"] <= 2) & ucdp["admin1"].notna()]
    by_point = assign_regions(precise, sahel)["admin1_id"]
    by_label = assign_regions(precise.assign(latitude=np.nan, longitude=np.nan), sahel)["admin1_id"]
    assert (by_point == by_label).mean() > 0.9


@pytest.mark.shared_data
def test_points_in_country_flags_a_moved_point(shared_data: Path) -> None:
    iso3 = pd.Series(["MLI", "MLI", "SEN", "SOM", "MLI", "XXX", "MLI"])
    lat = pd.Series([12.64, 12.64, 14.69, 9.56, 12.64, 12.0, np.nan])
    # Bamako; Bamako with the longitude's sign flipped; just off Dakar; Hargeisa (Somaliland); mid-Atlantic
    lon = pd.Series([-8.00, 8.00, -17.60, 44.06, -30.0, 1.0, -8.0])
    got = points_in_country(iso3, lat, lon)
    assert got.dtype == "boolean"
    assert got.tolist()[:5] == [True, False, True, True, False]
    assert got.iloc[5:].isna().all()
    ucdp = _ucdp_events(shared_data)
    inside = points_in_country(ucdp["iso3"], ucdp["latitude"], ucdp["longitude"])
    assert inside.notna().mean() > 0.99 and inside.mean() > 0.99


@pytest.mark.shared_data
def test_real_region_tables_and_symmetric_neighbours(shared_data: Path, sahel: Boundaries) -> None:
    ev = _events([{"iso3": c, "latitude": np.nan} for c in ("MLI", "BFA", "NER")])
    admin1 = region_table(ev, sahel, "admin1")
    assert len(admin1) == 31 and admin1["region_id"].is_unique
    grid = region_table(ev, sahel, "grid")
    assert 850 < len(grid) < 1000  # ~2.78 M km2 / ~3,000 km2 per cell at 15N
    countries = load_countries()
    lat, lon = gid_centroid(grid["region_id"].astype(int))
    assert all(
        shapely.contains_xy(
            countries.geometries[countries.positions_for([c])[0]],
            lon[grid["iso3"] == c],
            lat[grid["iso3"] == c],
        ).all()
        for c in ("MLI", "BFA", "NER")
    )
    for unit, table in (("admin1", admin1), ("grid", grid), ("country", region_table(ev, sahel, "country"))):
        pairs = neighbours(table, sahel, unit)
        forward = set(zip(pairs["region_id"], pairs["neighbour_id"], strict=True))
        assert forward and forward == {(b, a) for a, b in forward}, unit
        assert not any(a == b for a, b in forward)
    names = dict(zip(admin1["region_id"], admin1["name"], strict=True))
    pairs = neighbours(admin1, sahel, "admin1")
    mopti = {names[n] for n in pairs.loc[pairs["region_id"] == "ML05", "neighbour_id"]}
    assert mopti == {"Ségou", "Tombouctou", "Boucle du Mouhoun", "Nord", "Sahel"}


@pytest.mark.slow
@pytest.mark.shared_data
def test_assignment_of_400k_points_takes_seconds(sahel: Boundaries) -> None:
    rng = np.random.default_rng(5)
    countries = load_countries()
    codes = rng.choice(["MLI", "BFA", "NER"], 400_000)
    lat, lon = np.empty(len(codes)), np.empty(len(codes))
    for code in ("MLI", "BFA", "NER"):
        x0, y0, x1, y1 = countries.geometries[countries.positions_for([code])[0]].bounds
        rows = codes == code
        lon[rows], lat[rows] = rng.uniform(x0, x1, rows.sum()), rng.uniform(y0, y1, rows.sum())
    ev = _events([{}]).iloc[[0] * len(codes)].assign(iso3=codes, latitude=lat, longitude=lon)
    out = assign_regions(ev, sahel)  # speed: benchmarks/bench_pipeline.py (not a timed test)
    inside = points_in_country(ev["iso3"], ev["latitude"], ev["longitude"]).to_numpy(
        dtype=bool, na_value=False
    )
    assert out["admin1_id"][inside].notna().mean() > 0.99
