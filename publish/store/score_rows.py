"""Checking and canonicalising one week's scores before they enter the store, and their digest.

:func:`prepare_scores` is what :meth:`publish.store.store.ScoreStore.record_publication` runs first: every
problem is reported before anything is written, naming the rows and how to fix them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import date

import numpy as np
import pandas as pd

from forecasting.targets import TARGET_KINDS
from publish.store.schema import FLOAT_COLUMNS, OPTIONAL_COLUMNS, REQUIRED_COLUMNS, SCORE_KEY, STORED_COLUMNS

_FLOATS = FLOAT_COLUMNS
_KEY = list(SCORE_KEY)


class ScoresInputError(ValueError):
    """The scores handed to the store are not publishable; the message says which rows and why."""


def prepare_scores(
    scores: pd.DataFrame, week: date, target_kinds: Mapping[str, str] = TARGET_KINDS
) -> pd.DataFrame:
    """Return ``scores`` checked and canonicalised for storage (columns :data:`STORED_COLUMNS`).

    Needs ``region_id, iso3, horizon, target, p``; may carry ``region_name, expected, q10, q50, q90,
    rank`` and ``week`` (which must then be ``week`` on every row). Other columns (``model``, ``cutoff``,
    ...) are not stored. ``p`` is a probability in [0, 1] for binary targets and the expected count for
    count targets (the FORECASTS contract); count rows get ``expected = p`` when ``expected`` is absent.
    ``rank`` (1 = highest ``p`` within target and horizon, ties share the best rank) is computed when
    absent. Rows come back sorted by ``region_id, horizon, target``.
    """
    if not isinstance(scores, pd.DataFrame):
        raise ScoresInputError(f"scores: expected a pandas DataFrame, got {type(scores).__name__}")
    missing = [c for c in REQUIRED_COLUMNS if c not in scores.columns]
    if missing:
        raise ScoresInputError(
            f"scores lack columns {missing}; expected at least {list(REQUIRED_COLUMNS)} "
            f"(optional: {list(OPTIONAL_COLUMNS)}), e.g. a FORECASTS frame of one origin week"
        )
    if scores.empty:
        raise ScoresInputError("scores are empty; a publication needs at least one score")
    nulls = {c: int(scores[c].isna().sum()) for c in REQUIRED_COLUMNS if scores[c].isna().any()}
    if nulls:
        raise ScoresInputError(f"scores have nulls in required columns {nulls}; every row needs all of them")
    if "week" in scores.columns:
        weeks = pd.to_datetime(scores["week"]).dt.date
        other = sorted({str(w) for w in weeks if w != week})
        if other:
            raise ScoresInputError(
                f"scores hold weeks {other[:5]} besides the publication week {week.isoformat()}; "
                "publish one origin week at a time"
            )

    out = pd.DataFrame(
        {
            "region_id": scores["region_id"].astype(str).to_numpy(dtype=object),
            "iso3": scores["iso3"].astype(str).to_numpy(dtype=object),
            "target": scores["target"].astype(str).to_numpy(dtype=object),
        }
    )
    horizon = pd.to_numeric(scores["horizon"], errors="coerce").to_numpy(dtype=float)
    bad_h = ~np.isfinite(horizon) | (horizon < 1) | (horizon != np.round(horizon))
    if bad_h.any():
        raise ScoresInputError(
            f"scores: {int(bad_h.sum())} rows have a horizon that is not a whole number of weeks >= 1, "
            f"e.g. {sorted(set(scores['horizon'][bad_h].astype(str)))[:5]}"
        )
    out["horizon"] = horizon.astype(np.int64)
    bad_iso = ~out["iso3"].str.fullmatch(r"[A-Z]{3}")
    if bad_iso.any():
        raise ScoresInputError(
            f"scores: {int(bad_iso.sum())} rows have an iso3 that is not three capital letters, "
            f"e.g. {sorted(set(out.loc[bad_iso, 'iso3']))[:5]}"
        )
    unknown = sorted(set(out["target"]) - set(target_kinds))
    if unknown:
        raise ScoresInputError(
            f"scores name unknown targets {unknown}; expected some of {sorted(target_kinds)} "
            "(forecasting.targets.TARGET_KINDS)"
        )
    name = scores["region_name"] if "region_name" in scores.columns else pd.Series(pd.NA, index=scores.index)
    out["region_name"] = [None if pd.isna(v) else str(v) for v in name]
    for col in _FLOATS:
        values = scores[col] if col in scores.columns else pd.Series(np.nan, index=scores.index)
        out[col] = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        unparsable = values.notna().to_numpy() & np.isnan(out[col].to_numpy())
        if unparsable.any():
            raise ScoresInputError(f"scores: {int(unparsable.sum())} values in {col} are not numbers")

    is_count = out["target"].map(lambda t: target_kinds[t] == "count").to_numpy(dtype=bool)
    _check_values(out, is_count)
    out.loc[is_count, "expected"] = out.loc[is_count, "expected"].fillna(out.loc[is_count, "p"])

    dup = out.duplicated(_KEY, keep=False)
    if dup.any():
        raise ScoresInputError(
            f"scores: {int(dup.sum())} rows share a (region_id, horizon, target), e.g. "
            f"{out.loc[dup, _KEY].head(3).to_dict('records')}; "
            "each region has one score per target and horizon"
        )
    out["rank"] = _ranks(scores, out)
    return out.sort_values(_KEY, kind="mergesort").reset_index(drop=True)[list(STORED_COLUMNS)]


def _examples(out: pd.DataFrame, mask: np.ndarray, cols: tuple[str, ...] = ("p",)) -> list[dict]:
    return out.loc[mask, [*_KEY, *cols]].head(3).to_dict("records")


def _check_values(out: pd.DataFrame, is_count: np.ndarray) -> None:
    p = out["p"].to_numpy()
    bad = ~np.isfinite(p)
    if bad.any():
        raise ScoresInputError(
            f"scores: {int(bad.sum())} rows have a non-finite p, e.g. {_examples(out, bad)}"
        )
    bad = ~is_count & ((p < 0) | (p > 1))
    if bad.any():
        raise ScoresInputError(
            f"scores: {int(bad.sum())} binary-target rows have p outside [0, 1], e.g. {_examples(out, bad)}; "
            "p must be a probability"
        )
    bad = is_count & (p < 0)
    if bad.any():
        raise ScoresInputError(
            f"scores: {int(bad.sum())} count-target rows have a negative expected count p, "
            f"e.g. {_examples(out, bad)}"
        )
    extras = out[["expected", "q10", "q50", "q90"]].notna().any(axis=1).to_numpy()
    bad = ~is_count & extras
    if bad.any():
        raise ScoresInputError(
            f"scores: {int(bad.sum())} binary-target rows carry expected/q10/q50/q90 values, e.g. "
            f"{_examples(out, bad, ('expected', 'q10', 'q50', 'q90'))}; those columns are for count targets"
        )
    q = out[["q10", "q50", "q90"]].to_numpy()
    with np.errstate(invalid="ignore"):
        disordered = (q[:, 0] > q[:, 1]) | (q[:, 1] > q[:, 2]) | (q < 0).any(axis=1)
    if disordered.any():
        raise ScoresInputError(
            f"scores: {int(disordered.sum())} rows have quantiles that are negative or not ordered "
            f"q10 <= q50 <= q90, e.g. {_examples(out, disordered, ('q10', 'q50', 'q90'))}"
        )


def _ranks(scores: pd.DataFrame, out: pd.DataFrame) -> np.ndarray:
    if "rank" not in scores.columns:
        ranks = out.groupby(["target", "horizon"])["p"].rank(method="min", ascending=False)
        return ranks.to_numpy(dtype=np.int64)
    given = pd.to_numeric(scores["rank"], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(given) | (given < 1) | (given != np.round(given))
    if bad.any():
        raise ScoresInputError(
            f"scores: {int(bad.sum())} rows have a rank that is not a whole number >= 1; "
            "leave the rank column out to have it computed"
        )
    return given.astype(np.int64)


def scores_digest(prepared: pd.DataFrame) -> str:
    """Return the sha256 of prepared scores in a canonical text form (floats written with ``repr``).

    Two frames with the same rows and exactly the same numbers have the same digest, whatever their
    dtypes or row order: the store uses it to recognise a re-publication of identical scores. Hashed
    column by column (rows are in the canonical order :func:`prepare_scores` gives them).
    """
    # Python int / float / str; str(float) is its exact repr
    return digest_columns({c: prepared[c].tolist() for c in STORED_COLUMNS})


def digest_columns(columns: Mapping[str, Sequence[object]]) -> str:
    """Return the scores digest of rows given column by column (:data:`STORED_COLUMNS`, canonical order).

    The store checks a recorded publication with it: rows read back from the database give the digest
    they were recorded with, or something changed them.
    """
    h = hashlib.sha256()
    for c in STORED_COLUMNS:
        h.update(c.encode() + b"\x1e")
        h.update("\x1f".join("\x00" if v is None or v != v else str(v) for v in columns[c]).encode())
        h.update(b"\x1d")
    return h.hexdigest()


def to_records(prepared: pd.DataFrame, publication_id: int) -> list[dict[str, object]]:
    """Return prepared scores as insert parameters (plain Python values, None for missing)."""
    cols: dict[str, list[object]] = {}
    for c in STORED_COLUMNS:
        values = prepared[c].tolist()
        cols[c] = [None if isinstance(v, float) and v != v else v for v in values]
    n = len(prepared)
    keys = ["publication_id", *STORED_COLUMNS]
    return [
        dict(zip(keys, row, strict=True)) for row in zip([publication_id] * n, *cols.values(), strict=True)
    ]
