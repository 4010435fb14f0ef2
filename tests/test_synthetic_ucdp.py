"""The benchmark's synthetic GED generator: official header, valid rows, coordinates inside countries."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from benchmarks.synthetic_countries import SAHEL_ISO3, countries
from benchmarks.synthetic_ucdp import GED_COLUMNS, write_ged_csv

N = 2_000


@pytest.fixture(scope="module")
def synthetic(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    path = tmp_path_factory.mktemp("synth") / "ged_synth.csv.gz"
    write_ged_csv(path, shared_data, n_events=N, n_regions=300, seed=11)
    return path, pd.read_csv(path, keep_default_na=False, na_values=[""])


def test_header_is_the_official_ged_header(synthetic: tuple[Path, pd.DataFrame], shared_data: Path) -> None:
    path, df = synthetic
    with gzip.open(shared_data / "ucdp" / "ged231_sample1000.csv.gz", "rt", encoding="utf-8") as fh:
        official = fh.readline().strip().split(",")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        ours = fh.readline().strip().split(",")
    assert ours == official == list(GED_COLUMNS)
    assert len(df) == N


def test_rows_are_valid(synthetic: tuple[Path, pd.DataFrame]) -> None:
    _, df = synthetic
    assert df["id"].is_unique and df["relid"].is_unique
    assert set(df["type_of_violence"]) <= {1, 2, 3}
    assert (df["low"] <= df["best"]).all() and (df["best"] <= df["high"]).all() and (df["low"] >= 0).all()
    parts = df[["deaths_a", "deaths_b", "deaths_civilians", "deaths_unknown"]].sum(axis=1)
    assert (parts == df["best"]).all()
    start, end = pd.to_datetime(df["date_start"]), pd.to_datetime(df["date_end"])
    assert (end >= start).all() and (start.dt.year == df["year"]).all()
    assert start.min() >= pd.Timestamp("1989-01-01") and end.max() <= pd.Timestamp("2023-12-31")
    one_sided = df["type_of_violence"] == 3
    assert (df.loc[one_sided, "side_b"] == "Civilians").all()
    assert (df["side_a"] != df["side_b"]).all()
    state = df["side_a"].str.startswith("Government of ")
    assert (df.loc[state, "gwnoa"] == df.loc[state, "country_id"]).all()
    assert df.loc[~state, "gwnoa"].isna().all()
    assert df["adm_1"].notna().mean() > 0.9 and df["adm_1"].nunique() > 100
    gid = np.floor((df["latitude"] + 90) / 0.5) * 720 + np.floor((df["longitude"] + 180) / 0.5) + 1
    assert (gid == df["priogrid_gid"]).all()


def test_coordinates_fall_inside_their_country_and_sahel_region(
    synthetic: tuple[Path, pd.DataFrame], shared_data: Path
) -> None:
    from ingest.boundaries import load_boundaries, load_countries

    _, df = synthetic
    nat = load_countries(shared_data / "boundaries" / "countries-50m.json")
    geom = dict(zip(nat.regions["iso3"], nat.geometries, strict=True))
    iso3 = df["country"].map({c.name: c.iso3 for c in countries()})
    assert iso3.notna().all()
    polygons = np.asarray([geom[c] for c in iso3], dtype=object)
    inside = shapely.contains_xy(polygons, df["longitude"].to_numpy(), df["latitude"].to_numpy())
    assert inside.all(), df.loc[~inside, ["country", "latitude", "longitude"]].head()

    sahel = load_boundaries(
        shared_data / "boundaries" / "sahel_adm1_mli_bfa_ner.geojson",
        id_property="adm1_pcode",
        name_property="adm1_name",
        iso3_property="iso3",
    )
    by_name = {f"{n} region": g for n, g in zip(sahel.regions["name"], sahel.geometries, strict=True)}
    rows = df[iso3.isin(SAHEL_ISO3) & df["where_prec"].le(5)]
    assert len(rows) > 0
    region_poly = np.asarray([by_name[a] for a in rows["adm_1"]], dtype=object)
    assert shapely.contains_xy(region_poly, rows["longitude"].to_numpy(), rows["latitude"].to_numpy()).all()


def test_same_seed_gives_the_same_file(shared_data: Path, tmp_path: Path) -> None:
    a = write_ged_csv(tmp_path / "a.csv", shared_data, n_events=300, n_regions=100, seed=5)
    b = write_ged_csv(tmp_path / "b.csv", shared_data, n_events=300, n_regions=100, seed=5)
    c = write_ged_csv(tmp_path / "c.csv", shared_data, n_events=300, n_regions=100, seed=6)
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
