"""Window statistics of dense (week x region) arrays, read at chosen window ends, via cumulative sums.

Every function takes ``ends``: for each forecast origin, the index of the last panel week its data may
use (origin - k). A window of ``n`` weeks ending at ``e`` covers weeks ``e-n+1 .. e``; weeks before the
panel's first week count as uncovered. Nothing here reads a week after ``e``: that is what makes the
features leak-free (tests/test_features_leakage.py proves it).

Uncovered weeks hold NaN and are missing, not zero: sums run over covered weeks only, and a window
without any covered week gives NaN.
"""

from __future__ import annotations

import numpy as np


def prefix_sums(values: np.ndarray) -> np.ndarray:
    """Return (W+1, R) float64 cumulative sums down the weeks of a (W, R) array, NaN as 0 (row 0 is zeros)."""
    out = np.zeros((values.shape[0] + 1, values.shape[1]), dtype=np.float64)
    np.cumsum(np.nan_to_num(values, nan=0.0), axis=0, out=out[1:])
    return out


def block_sum(prefix: np.ndarray, ends: np.ndarray, n: int, skip: int = 0) -> np.ndarray:
    """Return (P, R) sums over weeks ``e-skip-n+1 .. e-skip`` for each window end ``e``."""
    hi = np.clip(ends + 1 - skip, 0, None)
    lo = np.clip(ends + 1 - skip - n, 0, None)
    return prefix[hi] - prefix[lo]


class Windows:
    """Window sums over covered weeks of a (W, R) panel at fixed window ends; coverage counts are cached."""

    def __init__(self, covered: np.ndarray, ends: np.ndarray) -> None:
        self.ends = np.asarray(ends, dtype=np.int64)
        self._covered_prefix = prefix_sums(covered.astype(np.float32))
        self._counts: dict[tuple[int, int], np.ndarray] = {}

    def covered_weeks(self, n: int, skip: int = 0) -> np.ndarray:
        """Return (P, R) numbers of covered weeks in each window."""
        key = (n, skip)
        if key not in self._counts:
            self._counts[key] = block_sum(self._covered_prefix, self.ends, n, skip)
        return self._counts[key]

    def covered_share(self, n: int) -> np.ndarray:
        """Return (P, R) float32 shares of covered weeks in the ``n``-week windows."""
        return (self.covered_weeks(n) / n).astype(np.float32)

    def sum(self, prefix: np.ndarray, n: int, skip: int = 0) -> np.ndarray:
        """Return (P, R) float32 sums over covered weeks; NaN where the window has no covered week."""
        total = block_sum(prefix, self.ends, n, skip)
        total[self.covered_weeks(n, skip) == 0] = np.nan
        return total.astype(np.float32)

    def trend(self, prefix: np.ndarray, recent: int, previous: int) -> np.ndarray:
        """Return log1p(recent weekly rate) - log1p(rate of the ``previous`` weeks before); NaN if unseen.

        Rates are per covered week, so partly covered windows compare fairly.
        """
        with np.errstate(invalid="ignore", divide="ignore"):
            rate_recent = block_sum(prefix, self.ends, recent) / self.covered_weeks(recent)
            rate_prev = block_sum(prefix, self.ends, previous, skip=recent) / self.covered_weeks(
                previous, skip=recent
            )
        return (np.log1p(rate_recent) - np.log1p(rate_prev)).astype(np.float32)


def weeks_since(values: np.ndarray, covered: np.ndarray, ends: np.ndarray, cap: int) -> np.ndarray:
    """Return (P, R) float32 weeks from each end back to the last week with ``values > 0``, capped at ``cap``.

    ``values`` and ``covered`` are (W, R). 0 means the end week itself had one. Where no such week was
    observed up to the end, the value is the number of weeks since the region's first covered week (a
    lower bound), capped; NaN where no week up to the end was covered. Uncovered weeks are never events.
    """
    n_w = values.shape[0]
    idx = np.arange(n_w, dtype=np.int32)[:, None]
    with np.errstate(invalid="ignore"):
        hit = values > 0  # NaN compares False: uncovered weeks are not events
    last = np.maximum.accumulate(np.where(hit, idx, np.int32(-1)), axis=0)[ends]
    any_cov = covered.any(axis=0)
    first_cov = np.where(any_cov, covered.argmax(axis=0), n_w)[None, :]
    e = ends[:, None]
    out = np.where(last >= 0, e - last, np.where(first_cov <= e, e - first_cov + 1, np.nan))
    return np.minimum(out, cap).astype(np.float32)
