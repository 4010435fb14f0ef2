"""An ingested events folder read back: ``events.parquet`` and ``coverage.csv`` as ``civrisk ingest``
wrote them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from civrisk.contracts import COVERAGE, validate, validate_events


def read_events_dir(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (events, coverage) from FOLDER/events.parquet and FOLDER/coverage.csv (written by ingest)."""
    events_path, coverage_path = folder / "events.parquet", folder / "coverage.csv"
    missing = [str(p) for p in (events_path, coverage_path) if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"{missing} not found; --events must be the folder civrisk ingest wrote (events.parquet and "
            "coverage.csv)"
        )
    events = validate_events(pd.read_parquet(events_path), str(events_path))
    coverage = pd.read_csv(
        coverage_path,
        dtype={"source": "string", "iso3": "string"},
        parse_dates=["first_date", "last_date"],
    )
    if "declared" in coverage.columns and not pd.api.types.is_bool_dtype(coverage["declared"]):
        text = coverage["declared"].astype("string").str.strip().str.lower()
        unknown = sorted(set(text.dropna()) - {"true", "false", "1", "0"})
        if unknown:
            raise ValueError(f"{coverage_path}: column 'declared' holds {unknown}; expected true/false")
        coverage["declared"] = text.isin(["true", "1"])
    return events, validate(coverage, COVERAGE, str(coverage_path))
