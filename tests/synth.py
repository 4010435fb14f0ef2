"""Seeded generators of small synthetic tables in the canonical contracts, for unit tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from civrisk.contracts import validate_events

_ACTORS = [
    ("Government of Mali", "state_forces"),
    ("Wagner Group", "private_military"),
    ("JNIM", "jihadist"),
    ("IS Sahel", "jihadist"),
    ("Dozo militia", "pro_government_militia"),
]


def make_events(
    n_events: int = 400,
    n_regions: int = 6,
    start: str = "2018-01-01",
    end: str = "2020-12-31",
    seed: int = 7,
    iso3: str = "MLI",
) -> pd.DataFrame:
    """Return a canonical events table with ``n_events`` random events over ``n_regions`` admin-1 units."""
    rng = np.random.default_rng(seed)
    days = (pd.Timestamp(end) - pd.Timestamp(start)).days
    date_start = pd.Timestamp(start) + pd.to_timedelta(rng.integers(0, days + 1, n_events), unit="D")
    vt = rng.choice(["state_based", "non_state", "one_sided"], n_events, p=[0.4, 0.2, 0.4])
    actor_idx = rng.integers(0, len(_ACTORS), n_events)
    side_a = [_ACTORS[i][0] for i in actor_idx]
    side_a_class = [_ACTORS[i][1] for i in actor_idx]
    best = rng.poisson(3, n_events).astype("int64")
    civ = np.where(vt == "one_sided", best, rng.binomial(best, 0.2)).astype("int64")
    regions = rng.integers(0, n_regions, n_events)
    lat = 12.0 + regions * 0.7 + rng.uniform(0, 0.4, n_events)
    lon = -4.0 + regions * 0.5 + rng.uniform(0, 0.4, n_events)
    side_b = np.where(vt == "one_sided", "Civilians", "JNIM")
    df = pd.DataFrame(
        {
            "event_id": [f"synthetic:{i}" for i in range(n_events)],
            "source": "ucdp_ged",
            "source_version": "synthetic",
            "source_file": "synthetic.csv",
            "source_row": np.arange(1, n_events + 1, dtype="int64"),
            "date_start": date_start,
            "date_end": date_start,
            "date_precision": pd.array(np.ones(n_events, dtype="int64"), dtype="Int64"),
            "country": "Mali",
            "iso3": iso3,
            "admin1": [f"Region {r}" for r in regions],
            "admin2": pd.array([pd.NA] * n_events, dtype="string"),
            "latitude": lat,
            "longitude": lon,
            "geo_precision": pd.array(np.ones(n_events, dtype="int64"), dtype="Int64"),
            "violence_type": vt,
            "side_a": side_a,
            "side_b": side_b,
            "perpetrator": np.where(vt == "one_sided", side_a, None),
            "side_a_class": side_a_class,
            "side_b_class": np.where(vt == "one_sided", "civilians", "jihadist"),
            "perpetrator_class": np.where(vt == "one_sided", side_a_class, "unclassified"),
            "deaths_best": best,
            "deaths_low": best,
            "deaths_high": best,
            "deaths_civilians": civ,
            "civilian_harm": (vt == "one_sided") | (civ > 0),
            "admin1_id": [f"{iso3}-R{r}" for r in regions],
            "grid_id": pd.array(
                (np.floor((lat + 90) / 0.5) * 720 + np.floor((lon + 180) / 0.5) + 1).astype("int64"),
                dtype="Int64",
            ),
        }
    )
    for c in ("admin1", "side_a", "side_b", "perpetrator", "side_a_class", "side_b_class"):
        df[c] = df[c].astype("string")
    return validate_events(df, "tests.synth.make_events")
