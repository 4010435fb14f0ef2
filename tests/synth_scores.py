"""Seeded synthetic score frames (one publication week) for the publish tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from forecasting.targets import ALL_TARGETS, TARGET_KINDS


def make_scores(
    n_regions: int = 12,
    week: str = "2020-06-01",
    horizons: Sequence[int] = (1, 4),
    targets: Sequence[str] = ALL_TARGETS,
    seed: int = 0,
    iso3: Sequence[str] = ("MLI", "BFA", "NER"),
) -> pd.DataFrame:
    """Return scores for ``n_regions`` regions x horizons x targets: probabilities and count quantiles."""
    rng = np.random.default_rng(seed)
    regions = pd.DataFrame(
        {
            "region_id": [f"{iso3[i % len(iso3)]}-R{i:03d}" for i in range(n_regions)],
            "iso3": [iso3[i % len(iso3)] for i in range(n_regions)],
            "region_name": [f"Région {i}" for i in range(n_regions)],
        }
    )
    grid = pd.MultiIndex.from_product(
        [regions["region_id"], list(horizons), list(targets)], names=["region_id", "horizon", "target"]
    ).to_frame(index=False)
    df = grid.merge(regions, on="region_id")
    df["week"] = pd.Timestamp(week)
    df["horizon"] = df["horizon"].astype("int64")
    is_count = df["target"].map(TARGET_KINDS).eq("count").to_numpy()
    p = rng.beta(0.8, 2.0, len(df))
    mu = rng.gamma(1.0, 3.0, len(df))
    df["p"] = np.where(is_count, mu, p)
    df["expected"] = np.where(is_count, mu, np.nan)
    df["q10"] = np.where(is_count, np.floor(mu * 0.2), np.nan)
    df["q50"] = np.where(is_count, np.round(mu), np.nan)
    df["q90"] = np.where(is_count, np.ceil(mu * 2.5), np.nan)
    return df
