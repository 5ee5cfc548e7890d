"""Validated numeric inputs and the metric value type every branch's metrics share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

TOL = 1e-9
MODES = ("clean", "compat")

class MetricValue(NamedTuple):
    """A metric value with the reason it is NaN (or was replaced in compat mode); unpacks as ``(value, reason)``."""

    value: float
    reason: str | None = None

def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return mode


def as_vector(name: str, x: Any, *, metric: str | None = None) -> np.ndarray:
    """1-D float64 array, non-empty, every value finite.

    The one validation every metric's inputs go through. NaN and +-inf are rejected alike:
    a router score of +-inf has no place on a quantile grid (``apgr_deciles`` would cut at
    NaN edges) and no finite threshold, so the error names the metric (``metric``), the
    array, how many values are bad and where, and the fix.
    """
    where = f"{metric}: " if metric else ""
    a = np.asarray(x)
    if a.ndim != 1:
        raise ValueError(f"{where}{name} must be 1-D, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{where}{name} is empty")
    try:
        a = a.astype(np.float64, copy=False)
    except (TypeError, ValueError):
        raise ValueError(f"{where}{name} must be numeric, got dtype {a.dtype}") from None
    if not np.isfinite(a).all():
        raise ValueError(f"{where}{name} {non_finite_message(a)}")
    return a


def non_finite_message(a: np.ndarray) -> str:
    """'has k NaN/inf value(s) (i NaN, j +-inf), first at rows [...]; <the fix>' for an array with non-finite values.

    Rows are the first axis (queries of a vector, routers of a [n_routers, n] matrix).
    """
    bad = ~np.isfinite(a)
    rows = np.flatnonzero(bad.reshape(a.shape[0], -1).any(axis=1))
    n_nan, n_inf = int(np.isnan(a).sum()), int(np.isinf(a).sum())
    return (f"has {n_nan + n_inf} NaN/inf value(s) ({n_nan} NaN, {n_inf} +-inf), first at rows {rows[:5].tolist()}; "
            "metrics need finite values: map +-inf to finite scores (e.g. clip to the finite range) or drop "
            "those rows before computing metrics")


def same_length(**arrays: np.ndarray) -> int:
    lens = {k: len(v) for k, v in arrays.items()}
    if len(set(lens.values())) > 1:
        raise ValueError("length mismatch: " + ", ".join(f"{k} has {n}" for k, n in lens.items()))
    return next(iter(lens.values()))


def as_binary(name: str, y: np.ndarray) -> np.ndarray:
    if not np.isin(y, (0.0, 1.0)).all():
        bad = np.flatnonzero(~np.isin(y, (0.0, 1.0)))
        raise ValueError(f"{name} must be 0/1, got {y[bad[0]]!r} at row {bad[0]} ({bad.size} such rows); "
                         "for real-valued (judge) scores pass judge_scored=True or explicit labels")
    return y

trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy >= 2.0 / 1.x

def as_list(a: np.ndarray) -> list:
    return np.asarray(a, dtype=np.float64).tolist()

@dataclass(frozen=True)
class Metric:
    """A named metric: where it comes from (``fn`` and the key of its result) and its direction."""

    name: str
    fn: Callable[..., Any]
    key: str
    higher_is_better: bool
    section: str
    description: str
