"""Query-resampling bootstrap for per-query outcomes: percentile intervals and paired tests.

Every statistic on one source is computed on the *same* resamples (one index matrix drawn from
``seed``), so intervals of different routers and their paired differences are consistent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


def resample_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """``[n_boot, n]`` query indices drawn with replacement (empty when ``n_boot`` is 0)."""
    if n <= 0:
        raise ValueError("bootstrap needs at least one query")
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0, got {n_boot}")
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def percentile_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if not v.size:
        return float("nan"), float("nan")
    a = (1.0 - level) / 2 * 100
    lo, hi = np.percentile(v, [a, 100 - a])
    return float(lo), float(hi)


@dataclass(frozen=True)
class Estimate:
    """A statistic on the test queries with its percentile 95 % interval over query resamples."""

    value: float
    lo: float
    hi: float


@dataclass(frozen=True)
class PairedTest:
    """``a - b`` on the same queries; its 95 % interval and the one-sided bootstrap p-value of
    ``a <= b`` (share of resamples where the difference is <= 0, with the +1 correction)."""

    diff: float
    lo: float
    hi: float
    p: float


def mean_estimate(x: np.ndarray, idx: np.ndarray) -> Estimate:
    """Mean of per-query values ``x`` with its bootstrap interval on the resamples ``idx``."""
    x = np.asarray(x, dtype=np.float64)
    boots = x[idx].mean(axis=1) if idx.size else np.empty(0)
    return Estimate(float(x.mean()), *percentile_interval(boots))


def paired_mean_test(a: np.ndarray, b: np.ndarray, idx: np.ndarray) -> PairedTest:
    """Paired bootstrap of ``mean(a) - mean(b)`` (per-query values of two routers on the same queries)."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return paired_test_from(float(d.mean()), d[idx].mean(axis=1) if idx.size else np.empty(0))


def paired_test_from(diff: float, boots: np.ndarray) -> PairedTest:
    """A :class:`PairedTest` from the observed difference and its resampled values."""
    boots = np.asarray(boots, dtype=np.float64)
    boots = boots[np.isfinite(boots)]
    if not boots.size:
        return PairedTest(diff, float("nan"), float("nan"), float("nan"))
    p = (np.count_nonzero(boots <= 0) + 1) / (boots.size + 1)
    return PairedTest(diff, *percentile_interval(boots), float(p))


def statistic_estimate(stat: Callable[[np.ndarray], float], n: int, idx: np.ndarray) -> tuple[Estimate, np.ndarray]:
    """Any statistic of a row subset (``stat(rows)``) on all queries and on each resample; the
    resampled values are returned too, for paired differences."""
    value = float(stat(np.arange(n)))
    boots = np.array([stat(rows) for rows in idx], dtype=np.float64)
    return Estimate(value, *percentile_interval(boots)), boots
