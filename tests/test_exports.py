"""Exports of a publication: HXL CSV read back with libhxl, GeoJSON (polygon, centroid or null), JSON."""

from __future__ import annotations

import json
import re
from datetime import datetime

import hxl
import pytest
from shapely.geometry import Polygon, shape

from publish.render.exports import (
    hxl_tags,
    scores_geojson,
    wide_scores,
    write_geojson,
    write_hxl_csv,
    write_json,
)
from publish.store.store import ScoreStore
from tests.synth_scores import make_scores


@pytest.fixture()
def published(tmp_path):
    """A store with one publication (two revisions of week 2020-W23); yields (store, publication, scores)."""
    with ScoreStore(f"sqlite:///{tmp_path / 's.db'}") as store:
        store.record_publication(
            "2020-06-01", make_scores(seed=1), "xgb-civ", "6", "fp-a", datetime(2020, 5, 31)
        )
        pub = store.record_publication(
            "2020-06-01", make_scores(seed=2), "xgb-civ", "7", "fp-b", datetime(2020, 5, 31)
        )
        yield store, pub, store.scores("2020-W23")


def read_hxl(path):
    return hxl.data(str(path), hxl.InputOptions(allow_local=True))


def test_hxl_csv_reads_back_with_libhxl(published, tmp_path):
    _, pub, scores = published
    path = write_hxl_csv(scores, pub, tmp_path / "out" / "scores.csv")
    source = read_hxl(path)
    tags = [c.display_tag for c in source.columns]
    assert tags[:4] == ["#adm1+code", "#country+code", "#country+name", "#adm1+name"]
    assert "#indicator+num+prob+civ_any+h1" in tags and "#affected+killed+expected+civ_deaths+h4" in tags
    assert {"#meta+model+version", "#date+start", "#meta+week", "#meta+revision", "#date+reported"} <= set(
        tags
    )
    rows = list(read_hxl(path))
    assert len(rows) == scores["region_id"].nunique()
    want = scores.query("target == 'civ_any' and horizon == 1").set_index("region_id")["p"]
    for row in rows:
        assert float(row.get("#indicator+prob+civ_any+h1")) == want[row.get("#adm1+code")]
        assert row.get("#meta+model+version") == "7" and row.get("#meta+revision") == "2"
        assert row.get("#date+start") == "2020-06-01" and row.get("#meta+week") == "2020-W23"
    mali = [r for r in rows if r.get("#country+code") == "MLI"]
    assert mali and {r.get("#country+name") for r in mali} == {"Mali"}
    report = hxl.validate(read_hxl(path))
    assert report["stats"]["error"] == 0 and report["stats"]["warning"] == 0
    assert [p.name for p in path.parent.iterdir()] == ["scores.csv"]  # no temporary files left behind


def test_hxl_tags_by_unit():
    cols = ["region_id", "region_name", "iso3", "p_civ_mass_h4", "q90_civ_deaths_h1"]
    assert hxl_tags(cols, unit="grid") == [
        "#loc+code+grid",
        "#loc+name+grid",
        "#country+code",
        "#indicator+num+prob+civ_mass+h4",
        "#affected+killed+q90+civ_deaths+h1",
    ]
    with pytest.raises(ValueError, match=re.escape("unknown region unit 'district'; expected one of")):
        hxl_tags(cols, unit="district")


def test_wide_layout_has_one_row_per_region(published):
    _, pub, scores = published
    wide = wide_scores(scores, pub)
    assert wide["region_id"].is_unique and len(wide) == 12
    assert {"p_civ_any_h1", "p_civ_any_militia_h4", "expected_civ_deaths_h1", "q10_civ_deaths_h4"} <= set(
        wide
    )
    assert "p_civ_deaths_h1" not in wide  # a count target has expected and quantiles, not a probability
    row = scores.query("region_id == 'NER-R002' and target == 'civ_deaths' and horizon == 4").iloc[0]
    w = wide.set_index("region_id").loc["NER-R002"]
    assert w["q90_civ_deaths_h4"] == row["q90"] and w["expected_civ_deaths_h4"] == row["expected"]


def test_geojson_geometry_is_polygon_centroid_or_null(published, tmp_path):
    _, pub, scores = published
    square = Polygon([(-4.123456789, 14.0), (-3.0, 14.0), (-3.0, 15.0), (-4.123456789, 15.0)])
    path = write_geojson(
        scores,
        pub,
        tmp_path / "scores.geojson",
        geometries={"MLI-R000": square},
        centroids={"BFA-R001": (-1.5, 12.25)},
    )
    doc = json.loads(path.read_text())
    assert doc["type"] == "FeatureCollection" and doc["civrisk"]["revision"] == 2
    features = {f["id"]: f for f in doc["features"]}
    assert len(features) == 12
    mli = features["MLI-R000"]
    assert mli["geometry"]["type"] == "Polygon" and mli["properties"]["geometry_source"] == "polygon"
    assert (
        shape(mli["geometry"]).equals_exact(square, 1e-5)
        and mli["geometry"]["coordinates"][0][0][0] == -4.12346
    )
    assert features["BFA-R001"]["geometry"] == {"type": "Point", "coordinates": [-1.5, 12.25]}
    assert features["BFA-R001"]["properties"]["geometry_source"] == "centroid"
    assert (
        features["NER-R002"]["geometry"] is None
        and features["NER-R002"]["properties"]["geometry_source"] == "none"
    )
    props = mli["properties"]
    want = scores.query("region_id == 'MLI-R000' and target == 'civ_any' and horizon == 4")["p"].iloc[0]
    assert (
        props["p_civ_any_h4"] == want and props["region_name"] == "Région 0" and props["week"] == "2020-06-01"
    )
    assert "Région 0" in path.read_text(encoding="utf-8")


def test_json_export_is_long_and_null_safe(published, tmp_path):
    _, pub, scores = published
    doc = json.loads(write_json(scores, pub, tmp_path / "scores.json").read_text())
    assert doc["publication"]["id"] == pub.id and doc["publication"]["week_label"] == "2020-W23"
    assert doc["publication"]["as_of"] == "2020-05-31T00:00:00+00:00"
    assert len(doc["scores"]) == len(scores)
    binary = next(r for r in doc["scores"] if r["target"] == "civ_any")
    count = next(r for r in doc["scores"] if r["target"] == "civ_deaths")
    assert binary["expected"] is None and binary["q10"] is None and isinstance(binary["rank"], int)
    assert count["expected"] == count["p"] and count["q90"] >= count["q50"]
    got = {(r["region_id"], r["horizon"], r["target"]): r["p"] for r in doc["scores"]}
    for rec in scores.to_dict("records"):
        assert got[(rec["region_id"], rec["horizon"], rec["target"])] == rec["p"]


def test_exports_refuse_scores_of_another_publication(published):
    store, pub, scores = published
    older = store.scores("2020-W23", revision=1)
    old_id = older["publication_id"].iloc[0]
    msg = f"export: scores belong to publications [{old_id}], not to publication {pub.id}"
    with pytest.raises(ValueError, match=re.escape(msg)):
        scores_geojson(older, pub)
    with pytest.raises(ValueError, match=re.escape(f"export: no scores to export for publication {pub.id}")):
        wide_scores(scores.iloc[0:0], pub)


def test_every_listed_region_gets_a_row_with_its_standard_code_and_status(published, tmp_path):
    import pandas as pd

    from publish.publication.region_status import Withheld, region_statuses

    _, pub, scores = published
    scored = sorted(set(scores["region_id"].astype(str)))
    regions = pd.DataFrame(
        {
            "region_id": [*scored, "92566538B14190085014946"],
            "iso3": [*scores.drop_duplicates("region_id")["iso3"].astype(str), "BFA"],
            "name": ["x"] * len(scored) + ["Centre"],
        }
    )
    why = Withheld(
        data_ends={"BFA": pd.Timestamp("2020-03-31")}, thin={}, last_week=pd.Timestamp("2020-05-25")
    )
    codes = {"92566538B14190085014946": "BF-03"}
    statuses = region_statuses(regions, set(scored), {"BFA"}, why, codes)
    path = write_hxl_csv(scores, pub, tmp_path / "scores.csv", statuses=statuses)
    rows = list(read_hxl(path))
    centre = [r for r in rows if r.get("#adm1+code+civrisk") == "92566538B14190085014946"]
    assert len(rows) == len(scored) + 1 and len(centre) == 1
    assert centre[0].get("#adm1+code") == "BF-03" and centre[0].get("#status") == "withheld"
    assert centre[0].get("#description+status") == (
        "stale data: the country's data end on 2020-03-31, before the last data week (2020-05-25)"
    )
    assert centre[0].get("#indicator+prob+civ_any+h1") in (None, "")
    assert {r.get("#status") for r in rows if r is not centre[0]} == {"scored"}
    assert hxl.validate(read_hxl(path))["stats"]["error"] == 0
    doc = scores_geojson(scores, pub, statuses=statuses)
    assert {f["properties"]["status"] for f in doc["features"]} == {"scored", "withheld"}


@pytest.mark.shared_data
def test_the_shared_boundaries_carry_iso_3166_2_codes_and_p_codes(shared_data):
    from ingest.boundaries import load_boundaries

    regions = load_boundaries(shared_data / "boundaries" / "sahel_adm1_mli_bfa_ner.geojson").regions
    code = dict(zip(regions["region_id"], regions["code"], strict=True))
    assert code["92566538B14190085014946"] == "BF-03"  # geoBoundaries id -> ISO 3166-2 (shapeISO)
    assert code["ML05"] == "ML05" and regions["code"].notna().all()  # OCHA COD-AB P-codes
