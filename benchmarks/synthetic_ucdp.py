"""Seeded generator of synthetic UCDP GED events in the official 49-column layout, for benchmarks.

Default size is the full GED (~400,000 events, ~1,000 admin-1 regions, 1989-2023). Every value is made
up: coordinates fall inside real countries (see synthetic_world), ``adm_1`` names are plausible, deaths
satisfy low <= best <= high and deaths_a + deaths_b + deaths_civilians + deaths_unknown == best, ids are
unique, and actors carry UCDP-style names. Rows are written in chunks, so 10x the full size fits in
modest memory.

    python -m benchmarks.synthetic_ucdp benchmarks/out/ged_synth_1x.csv.gz --events 400000
"""

from __future__ import annotations

import argparse
import gzip
import io
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.synthetic_world import World, build_world
from civrisk.atomic import atomic_path

_HEADER = (
    "id relid year active_year code_status type_of_violence conflict_dset_id conflict_new_id "
    "conflict_name dyad_dset_id dyad_new_id dyad_name side_a_dset_id side_a_new_id side_a side_b_dset_id "
    "side_b_new_id side_b number_of_sources source_article source_office source_date source_headline "
    "source_original where_prec where_coordinates where_description adm_1 adm_2 latitude longitude "
    "geom_wkt priogrid_gid country country_id region event_clarity date_prec date_start date_end "
    "deaths_a deaths_b deaths_civilians deaths_unknown best high low gwnoa gwnob"
)
GED_COLUMNS = tuple(_HEADER.split())
"""The official UCDP GED CSV header, in order (GED 23.1 and later)."""

FULL_SIZE = 400_000
CHUNK = 100_000

_WHERE_PREC = ([1, 2, 3, 4, 5, 6, 7], [0.48, 0.23, 0.14, 0.1, 0.035, 0.012, 0.003])
_DATE_PREC = ([1, 2, 3, 4, 5], [0.85, 0.1, 0.01, 0.025, 0.015])
_DATE_SPAN = {2: (1, 6), 3: (7, 30), 4: (28, 90), 5: (90, 364)}  # days date_end may trail date_start
_SOURCES = (["-1", "1", "2", "3", "4"], [0.33, 0.46, 0.16, 0.03, 0.02])


def generate_events(
    world: World,
    n_events: int,
    start_year: int = 1989,
    end_year: int = 2023,
    seed: int = 2025,
    chunk_size: int = CHUNK,
) -> Iterator[pd.DataFrame]:
    """Yield frames of synthetic GED events (GED_COLUMNS, ids 1..n_events) ``chunk_size`` rows at a time."""
    if n_events < 1 or end_year < start_year:
        raise ValueError(
            f"need n_events >= 1 and start_year <= end_year; got {n_events}, {start_year}-{end_year}"
        )
    root = np.random.SeedSequence(seed)
    years = np.arange(start_year, end_year + 1)
    trend_rng = np.random.default_rng(root.spawn(1)[0])
    # conflicts wax and wane: per country-year intensity, with a mild upward trend as in the real GED
    intensity = trend_rng.gamma(0.8, 1.0, size=(len(world.countries), len(years)))
    intensity *= np.linspace(1.0, 2.5, len(years))[None, :]
    weights = np.asarray([c.weight for c in world.countries])
    share = world.region_weight * weights[world.region_country]
    year_region = intensity[world.region_country].T * share[None, :]  # (years, regions)
    year_p = year_region.sum(axis=1) / year_region.sum()
    region_p = year_region / year_region.sum(axis=1, keepdims=True)
    chunk_seeds = root.spawn(1 + (n_events + chunk_size - 1) // chunk_size)[1:]
    for k, chunk_seed in enumerate(chunk_seeds):
        first = k * chunk_size + 1
        n = min(chunk_size, n_events - first + 1)
        rng = np.random.default_rng(chunk_seed)
        year_idx = rng.choice(len(years), size=n, p=year_p)
        region = np.empty(n, dtype=np.int64)
        for yi in np.unique(year_idx):
            rows = np.flatnonzero(year_idx == yi)
            region[rows] = rng.choice(world.n_regions, size=len(rows), p=region_p[yi])
        yield _frame(world, years[year_idx], region, first, rng)


def _frame(
    world: World, year: np.ndarray, region: np.ndarray, first: int, rng: np.random.Generator
) -> pd.DataFrame:
    """Return one chunk of events (already placed in a year and a region) as a GED-layout frame."""
    n = len(year)
    ids = np.arange(first, first + n)
    country_idx = world.region_country[region]
    specs = world.countries
    country = np.asarray([c.name for c in specs], dtype=object)[country_idx]
    gw = np.asarray([c.gw for c in specs])[country_idx]

    # where: a named location (prec 1-3), the region (4-5) or the country (6-7)
    where_prec = rng.choice(_WHERE_PREC[0], size=n, p=_WHERE_PREC[1])
    loc = world.loc_start[region] + (rng.random(n) ** 2 * world.loc_count[region]).astype(np.int64)
    point = world.loc_point[loc].copy()
    at_region = (where_prec >= 4) & (where_prec <= 5)
    at_country = where_prec >= 6
    point[at_region] = np.round(world.region_point[region[at_region]], 6)
    point[at_country] = np.round(world.country_point[country_idx[at_country]], 6)
    adm_1 = np.where(at_country, "", world.region_name[region]).astype(object)
    adm_2 = np.where(where_prec <= 3, world.loc_adm2[loc], "").astype(object)
    where_coord = np.where(where_prec <= 3, world.loc_name[loc], np.where(at_country, country, adm_1))
    lon, lat = point[:, 0], point[:, 1]

    # when
    start = np.asarray(year - 1970, dtype="datetime64[Y]").astype("datetime64[D]")
    year_len = np.where((year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0)), 366, 365)
    day = (rng.random(n) * year_len).astype(np.int64)
    date_start = start + day.astype("timedelta64[D]")
    date_prec = rng.choice(_DATE_PREC[0], size=n, p=_DATE_PREC[1])
    span = np.zeros(n, dtype=np.int64)
    for prec, (lo, hi) in _DATE_SPAN.items():
        rows = date_prec == prec
        span[rows] = rng.integers(lo, hi + 1, rows.sum())
    span = np.minimum(span, year_len - 1 - day)  # events end in the year they start
    date_end = date_start + span.astype("timedelta64[D]")

    # who
    tov = rng.choice([1, 2, 3], size=n, p=[0.55, 0.15, 0.30])
    side_a, side_b = _actors(specs, country_idx, tov, rng)
    state_a = pd.Series(side_a).str.startswith("Government of ").to_numpy()
    conflict = np.where(tov == 1, pd.Series(country) + ": Government", pd.Series(side_a) + " - " + side_b)
    dyad = pd.Series(side_a) + " - " + side_b

    # how many died
    best = 1 + rng.negative_binomial(0.5, 0.15, size=n)
    best[rng.random(n) < 0.02] = 0  # GED keeps a few events whose best estimate is 0
    mass = rng.random(n) < 0.004
    best[mass] += rng.lognormal(4.0, 1.0, mass.sum()).astype(np.int64)
    split_p = np.where((tov == 3)[:, None], [0.0, 0.0, 0.97, 0.03], [0.3, 0.4, 0.1, 0.2])
    parts = _multinomial_rows(best, split_p, rng)
    low = best - rng.binomial(best, 0.2)
    high = best + rng.poisson(0.3 * best + 0.2)

    iso3 = np.asarray([c.iso3 for c in specs], dtype=object)[country_idx]
    dyad_id = _stable_ids(dyad, 10_000)
    date_s = pd.Series(np.datetime_as_string(date_start, unit="D"))
    n_sources = rng.choice(_SOURCES[0], size=n, p=_SOURCES[1])
    has_office = rng.random(n) < 0.67
    frame = pd.DataFrame(
        {
            "id": ids,
            "relid": (
                pd.Series(iso3)
                + "-"
                + pd.Series(year).astype(str)
                + "-"
                + pd.Series(tov).astype(str)
                + "-"
                + pd.Series(dyad_id).astype(str)
                + "-"
                + pd.Series(ids).astype(str)
            ),
            "year": year,
            "active_year": (rng.random(n) < 0.97).astype(np.int64),
            "code_status": "Clear",
            "type_of_violence": tov,
            "conflict_dset_id": _stable_ids(conflict, 200),
            "conflict_new_id": _stable_ids(conflict, 200),
            "conflict_name": conflict,
            "dyad_dset_id": dyad_id,
            "dyad_new_id": dyad_id,
            "dyad_name": dyad,
            "side_a_dset_id": _stable_ids(side_a, 1),
            "side_a_new_id": _stable_ids(side_a, 1),
            "side_a": side_a,
            "side_b_dset_id": _stable_ids(side_b, 1),
            "side_b_new_id": _stable_ids(side_b, 1),
            "side_b": side_b,
            "number_of_sources": n_sources,
            "source_article": "Synthetic Wire "
            + date_s
            + ' "Synthetic report no. '
            + pd.Series(ids).astype(str)
            + '"',
            "source_office": np.where(has_office, "Synthetic Wire", ""),
            "source_date": np.where(has_office, date_s, ""),
            "source_headline": np.where(has_office, "Synthetic headline " + pd.Series(ids).astype(str), ""),
            "source_original": "Synthetic Wire",
            "where_prec": where_prec,
            "where_coordinates": where_coord,
            "where_description": "in " + pd.Series(where_coord),
            "adm_1": adm_1,
            "adm_2": adm_2,
            "latitude": lat,
            "longitude": lon,
            "geom_wkt": "POINT (" + pd.Series(lon).astype(str) + " " + pd.Series(lat).astype(str) + ")",
            "priogrid_gid": (np.floor((lat + 90) / 0.5) * 720 + np.floor((lon + 180) / 0.5) + 1).astype(
                np.int64
            ),
            "country": country,
            "country_id": gw,
            "region": np.asarray([c.region for c in specs], dtype=object)[country_idx],
            "event_clarity": np.where(rng.random(n) < 0.93, 1, 2),
            "date_prec": date_prec,
            "date_start": date_s,
            "date_end": np.datetime_as_string(date_end, unit="D"),
            "deaths_a": parts[:, 0],
            "deaths_b": parts[:, 1],
            "deaths_civilians": parts[:, 2],
            "deaths_unknown": parts[:, 3],
            "best": best,
            "high": high,
            "low": low,
            # gwnoa: the GW code of side_a when it is a government; gwnob only for interstate dyads
            "gwnoa": pd.Series(gw, dtype="Int64").where(state_a),
            "gwnob": pd.Series(pd.NA, index=range(n), dtype="Int64"),
        },
        columns=GED_COLUMNS,
    )
    return frame.iloc[rng.permutation(n)].reset_index(drop=True)


def _actors(
    specs: tuple, country_idx: np.ndarray, tov: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Return (side_a, side_b): government vs rebels (1), two non-state groups (2), X vs civilians (3)."""
    n = len(tov)
    gov = np.asarray([c.government for c in specs], dtype=object)[country_idx]
    # sometimes foreign governments fight beside the government: "Government of Mali, Government of ..."
    foreign = _pick([c.foreign or ("",) for c in specs], country_idx, rng)
    allied = (rng.random(n) < 0.08) & (foreign != "")
    gov = np.where(allied, gov + ", " + foreign, gov)
    rebel = _pick([c.rebels for c in specs], country_idx, rng)
    pools = [tuple(dict.fromkeys(c.militias + c.rebels)) for c in specs]
    pools = [p if len(p) >= 2 else (*p, "Vigilantes") for p in pools]
    sizes = np.asarray([len(p) for p in pools])[country_idx]
    i = (rng.random(n) * sizes).astype(np.int64)
    j = (i + 1 + (rng.random(n) * (sizes - 1)).astype(np.int64)) % sizes  # j != i
    table = _padded(pools)
    group_a, group_b = table[country_idx, i], table[country_idx, j]
    by_state = rng.random(n) < 0.3
    side_a = np.select([tov == 1, tov == 2], [gov, group_a], np.where(by_state, gov, rebel))
    side_b = np.select([tov == 1, tov == 2], [rebel, group_b], "Civilians")
    return side_a.astype(object), side_b.astype(object)


def _padded(lists: list[tuple[str, ...]]) -> np.ndarray:
    width = max(len(x) for x in lists)
    return np.asarray([list(x) + [""] * (width - len(x)) for x in lists], dtype=object)


def _pick(lists: list[tuple[str, ...]], country_idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return one uniformly chosen entry of ``lists[country]`` per event."""
    sizes = np.asarray([len(x) for x in lists])[country_idx]
    return _padded(lists)[country_idx, (rng.random(len(country_idx)) * sizes).astype(np.int64)]


def _multinomial_rows(total: np.ndarray, p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return an (n, k) split of each ``total[i]`` by probabilities ``p[i]`` (rows sum to ``total``)."""
    return rng.multinomial(total, p)


def _stable_ids(names: object, base: int) -> np.ndarray:
    """Return an id per name, the same for the same name in every chunk (a CRC of the name)."""
    codes, uniques = pd.factorize(pd.Series(names, dtype=object))
    table = np.asarray(
        [1 if u == "Civilians" else base + zlib.crc32(str(u).encode()) % 20_000 for u in uniques],
        dtype=np.int64,
    )
    return table[codes]


def write_ged_csv(
    path: str | Path,
    shared_data: str | Path | None,
    n_events: int = FULL_SIZE,
    n_regions: int = 1000,
    start_year: int = 1989,
    end_year: int = 2023,
    seed: int = 2025,
    world: World | None = None,
) -> Path:
    """Write ``n_events`` synthetic GED events to ``path`` (.csv or .csv.gz) atomically; return the path.

    ``world``: where events happen (default: ``n_regions`` admin-1 regions built from ``shared_data``).
    """
    if world is None:
        if shared_data is None:
            raise ValueError("write_ged_csv needs shared_data (the boundaries) or a world")
        world = build_world(Path(shared_data), n_regions=n_regions, seed=seed)
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as raw:
        binary = (
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0)
            if path.suffix == ".gz"
            else raw
        )
        with io.TextIOWrapper(binary, encoding="utf-8", newline="") as text:
            for k, frame in enumerate(generate_events(world, n_events, start_year, end_year, seed)):
                frame.to_csv(text, header=k == 0, index=False, lineterminator="\n")
            text.flush()
            if binary is not raw:
                binary.close()
    return path


def main(argv: list[str] | None = None) -> None:
    """Command line: write a synthetic GED file."""
    from civrisk.settings import get_settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="output file, .csv or .csv.gz")
    parser.add_argument("--events", type=int, default=FULL_SIZE)
    parser.add_argument("--regions", type=int, default=1000)
    parser.add_argument("--start-year", type=int, default=1989)
    parser.add_argument("--end-year", type=int, default=2023)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--shared-data", type=Path, default=None, help="default: civrisk settings")
    args = parser.parse_args(argv)
    shared = args.shared_data or get_settings().shared_data
    write_ged_csv(args.out, shared, args.events, args.regions, args.start_year, args.end_year, args.seed)
    print(args.out)


if __name__ == "__main__":
    main()
