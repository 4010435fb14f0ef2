"""A synthetic world whose regions are the 0.5 degree land cells of Africa, for the grid benchmark.

``benchmarks.synthetic_ucdp`` draws events over admin-1 regions of 56 countries; the grid benchmark needs
events over every land cell of a continent. This world has one "region" per PRIO-GRID cell whose centre
lies in an African country (Natural Earth 50m; Gleditsch-Ward codes 400-626 and Egypt, 54 countries,
~10,200 cells): each cell has three named locations within 0.16 degrees of its centre (inside the cell,
and within the ingest's 0.25 degree border tolerance of the country), and an ``adm_1`` name shared by the
cells nearest to one of the country's ISO 3166-2 subdivision seeds (as UCDP names the admin-1 of a point).
Countries UCDP often codes reuse ``synthetic_countries.csv`` (names, actors, event shares); the others get
their Gleditsch-Ward name, generic actors and a small share. Events are drawn by
``synthetic_ucdp.generate_events``, so the file has the official 49-column GED layout.

    python -m benchmarks.synthetic_grid benchmarks/out/grid.csv.gz --events 400000 --end-year 2025
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.synthetic_countries import CountrySpec, countries
from benchmarks.synthetic_ucdp import FULL_SIZE, write_ged_csv
from benchmarks.synthetic_world import World, _adm1_name, _nearest, _place_names, _subdivision_names

GW_TABLE = Path(__file__).resolve().parents[1] / "ingest" / "gw_codes.csv"
JITTER_DEG = 0.16
"""Locations lie within this of their cell's centre: inside the cell, and within the ingest's 0.25 degree
tolerance of the country whose polygon holds the centre."""


def africa_iso3() -> list[str]:
    """Return the ISO3 codes of Africa's countries (Gleditsch-Ward 400-626, and Egypt, 651)."""
    gw = pd.read_csv(GW_TABLE)
    keep = gw["gw_code"].between(400, 626) | (gw["gw_code"] == 651)
    return sorted(gw.loc[keep, "iso3"].astype(str))


def grid_cells(iso3s: list[str]) -> pd.DataFrame:
    """Return the grid's region table for ``iso3s``: every cell whose centre lies in one of them."""
    from ingest.regions import region_table

    n = len(iso3s)
    stub = pd.DataFrame(
        {
            "iso3": pd.array(iso3s, dtype="string"),
            "admin1_id": pd.array([pd.NA] * n, dtype="string"),
            "grid_id": pd.array([pd.NA] * n, dtype="Int64"),
        }
    )
    return region_table(stub, None, "grid")


def subset_countries(cells: pd.DataFrame, target_cells: int) -> list[str]:
    """Return whole countries with about ``target_cells`` cells: West to East, skipping any that overshoot."""
    per = cells.groupby("iso3").agg(n=("region_id", "size"), lon=("lon", "mean")).sort_values("lon")
    chosen, total = [], 0
    for iso3, row in per.iterrows():
        if total + int(row["n"]) <= 1.05 * target_cells:
            chosen.append(str(iso3))
            total += int(row["n"])
    return sorted(chosen)


def build_grid_world(iso3s: list[str], seed: int = 1989, locations_per_cell: int = 3) -> World:
    """Return a World of one region per land cell of ``iso3s`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    cells = grid_cells(iso3s).sort_values(["iso3", "region_id"], ignore_index=True)
    gw = pd.read_csv(GW_TABLE).drop_duplicates("iso3").set_index("iso3")
    known = {c.iso3: c for c in countries()}
    specs = []
    for iso3 in sorted(set(cells["iso3"].astype(str))):
        if iso3 in known:
            specs.append(known[iso3])
            continue
        name = str(gw.loc[iso3, "name"])
        specs.append(
            CountrySpec(
                name=name,
                gw=int(gw.loc[iso3, "gw_code"]),
                iso3=iso3,
                region="Africa",
                weight=0.3,
                suffix="region",
                rebels=(f"{name} Liberation Front", f"People's Army of {name}"),
                militias=(f"{name} Self-Defence Militia", f"{name} Liberation Front"),
                foreign=(),
            )
        )
    index = {s.iso3: i for i, s in enumerate(specs)}
    country = cells["iso3"].astype(str).map(index).to_numpy()
    centre = cells[["lon", "lat"]].to_numpy()
    names = np.empty(len(cells), dtype=object)
    for ci, spec in enumerate(specs):
        rows = np.flatnonzero(country == ci)
        subs = _subdivision_names(spec.iso3) or [spec.name]
        k = min(len(subs), len(rows))
        seeds = centre[rng.choice(rows, size=k, replace=False)]
        owner = _nearest(centre[rows], seeds)
        names[rows] = [_adm1_name(subs[j], spec.suffix) for j in owner]
    n_loc = locations_per_cell * len(cells)
    loc_cell = np.repeat(np.arange(len(cells)), locations_per_cell)
    loc_point = centre[loc_cell] + rng.uniform(-JITTER_DEG, JITTER_DEG, size=(n_loc, 2))
    place = _place_names(n_loc, rng)
    kinds = rng.choice(["village", "town", "village", "area"], size=n_loc)
    country_point = np.asarray(
        [centre[np.flatnonzero(country == ci)].mean(axis=0) for ci in range(len(specs))]
    )
    # the country-level point: the cell centre nearest the mean of its cells (inside the country)
    for ci in range(len(specs)):
        rows = np.flatnonzero(country == ci)
        country_point[ci] = centre[rows[_nearest(country_point[ci : ci + 1], centre[rows])[0]]]
    return World(
        countries=tuple(specs),
        country_point=np.round(country_point, 6),
        region_country=country,
        region_name=names,
        region_point=np.round(centre, 6),
        region_weight=rng.gamma(0.25, 1.0, size=len(cells)) + 0.002,  # most cells quiet, a few hot
        loc_start=np.arange(len(cells)) * locations_per_cell,
        loc_count=np.full(len(cells), locations_per_cell),
        loc_point=np.round(loc_point, 6),
        loc_name=np.char.add(np.char.add(place, " "), kinds).astype(object),
        loc_adm2=np.char.add(place, " district").astype(object),
    )


def main(argv: list[str] | None = None) -> None:
    """Command line: write a synthetic GED file over Africa's grid cells."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="output file, .csv or .csv.gz")
    parser.add_argument("--events", type=int, default=FULL_SIZE)
    parser.add_argument("--cells", type=int, default=None, help="about this many cells (whole countries)")
    parser.add_argument("--start-year", type=int, default=1989)
    parser.add_argument("--end-year", type=int, default=2025)
    parser.add_argument("--seed", type=int, default=2025)
    args = parser.parse_args(argv)
    iso3s = africa_iso3()
    if args.cells:
        iso3s = subset_countries(grid_cells(iso3s), args.cells)
    world = build_grid_world(iso3s, seed=args.seed)
    write_ged_csv(args.out, None, args.events, start_year=args.start_year, end_year=args.end_year,
                  seed=args.seed, world=world)  # fmt: skip
    print(args.out, f"{world.n_regions} cells, {len(world.countries)} countries")


if __name__ == "__main__":
    main()
