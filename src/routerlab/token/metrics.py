"""Token-level threshold metrics (R2R, docs/metrics.md section 4): recall/usage curve and the
threshold search on validation, applied to test."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from routerlab.core.arrays import TOL, as_binary, as_list, as_vector, same_length


def _probs_labels(p: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    p, y = as_vector("p (probabilities)", p), as_vector("y (labels)", y)
    same_length(p=p, y=y)
    if (p < 0).any() or (p > 1).any():
        raise ValueError("p must be probabilities in [0, 1]")
    return p, as_binary("y (labels)", y)


def _recall_usage(p: np.ndarray, y: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """(recall, positive rate, #positives, TP counts) of "predict positive iff p >= t" for each t."""
    n = p.size
    ps, pp = np.sort(p), np.sort(p[y == 1])
    P = pp.size
    pred = n - np.searchsorted(ps, t, side="left")  # count of p >= t
    tp = P - np.searchsorted(pp, t, side="left")
    recall = tp / P if P else np.full(t.size, np.nan)
    return recall, pred / n, P, tp


def recall_usage_curve(p: Any, y: Any, thresholds: Any) -> dict[str, Any]:
    """recall(t) = TP/(TP+FN) and positive rate(t) = mean(p >= t) for each threshold t."""
    p, y = _probs_labels(p, y)
    t = as_vector("thresholds", thresholds)
    recall, rate, P, _ = _recall_usage(p, y, t)
    return {"threshold": as_list(t), "recall": as_list(recall), "positive_rate": as_list(rate),
            "prevalence": float(y.mean()), "n": int(p.size), "n_positive": P}


def token_threshold_search(p_val: Any, y_val: Any, *, r_min: float = 0.95, mode: str = "grid") -> dict[str, Any]:
    """tau* = the candidate with the lowest positive rate subject to recall >= r_min (lowest tau among equals).

    Candidates: ``linspace(0.01, 0.99, 100)`` (``grid``) or every distinct p (``exact``).
    If none qualifies: ``qualified = False``, threshold/recall/positive_rate NaN, and the best
    recall reached (never a silent fallback). ``usage_floor = r_min * prevalence``: the
    positive rate can never be lower.
    """
    if mode not in ("grid", "exact"):
        raise ValueError(f"mode must be 'grid' or 'exact', got {mode!r}")
    if not 0 < r_min <= 1:
        raise ValueError(f"r_min must be in (0, 1], got {r_min}")
    p, y = _probs_labels(p_val, y_val)
    cands = np.linspace(0.01, 0.99, 100) if mode == "grid" else np.unique(p)
    recall, rate, P, tp = _recall_usage(p, y, cands)
    prev = float(y.mean())
    out: dict[str, Any] = {"n": int(p.size), "n_positive": P, "prevalence": prev, "usage_floor": r_min * prev,
                           "params": {"r_min": r_min, "mode": mode, "n_candidates": int(cands.size),
                                      "candidates": "linspace(0.01, 0.99, 100)" if mode == "grid" else "distinct p",
                                      "rule": "lowest positive rate with recall >= r_min; lowest tau among equals"}}
    nan3 = {"threshold": math.nan, "recall": math.nan, "positive_rate": math.nan}
    if P == 0:
        out.update(qualified=False, best_recall=math.nan, best_recall_threshold=math.nan,
                   reason="no positive labels: recall undefined", **nan3)
        return out
    ok = tp >= r_min * P - TOL
    best_i = int(np.lexsort((cands, rate, -recall))[0])  # best recall, then lowest rate, then lowest tau
    out["best_recall"], out["best_recall_threshold"] = float(recall[best_i]), float(cands[best_i])
    if not ok.any():
        out.update(qualified=False, reason=f"no candidate threshold reaches recall {r_min} "
                                           f"(best {recall[best_i]:.6g} at tau = {cands[best_i]:.6g})", **nan3)
        return out
    idx = np.flatnonzero(ok)
    i = int(idx[np.lexsort((cands[idx], rate[idx]))[0]])
    out.update(qualified=True, reason=None, threshold=float(cands[i]), recall=float(recall[i]),
               positive_rate=float(rate[i]))
    return out


def token_threshold_apply(search: Mapping[str, Any], p_test: Any, y_test: Any) -> dict[str, Any]:
    """Report the validation-chosen threshold on test: recall, positive rate, prevalence, usage floor.

    If the search did not qualify, nothing is applied: NaNs and ``qualified = False``.
    """
    p, y = _probs_labels(p_test, y_test)
    r_min = float(search["params"]["r_min"])
    prev = float(y.mean())
    out: dict[str, Any] = {"n": int(p.size), "n_positive": int(y.sum()), "prevalence": prev,
                           "usage_floor": r_min * prev, "qualified": bool(search["qualified"]),
                           "threshold": float(search["threshold"]), "params": dict(search["params"])}
    if not search["qualified"]:
        out.update(recall=math.nan, positive_rate=math.nan, meets_r_min=False,
                   reason="no threshold qualified on validation: " + str(search.get("reason")))
        return out
    recall, rate, _, _ = _recall_usage(p, y, np.array([out["threshold"]]))
    out.update(recall=float(recall[0]), positive_rate=float(rate[0]),
               meets_r_min=bool(recall[0] >= r_min - TOL), reason=None)
    return out
