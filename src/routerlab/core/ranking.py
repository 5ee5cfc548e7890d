"""Ranking metrics every branch shares: AUROC and Youden's J of scores against 0/1 labels
(docs/metrics.md §1.2; the binary router and the token router both report them)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from routerlab.core.arrays import MetricValue, as_binary, as_vector, check_mode, same_length


def roc_statistics(y: np.ndarray, r: np.ndarray) -> dict[str, Any]:
    """AUROC (Mann-Whitney with average ranks) and Youden's J point, from one sort of r."""
    n = y.size
    order = np.argsort(r)
    rs, ys = r[order], y[order].astype(np.int64)
    P = int(ys.sum())
    N = n - P
    if P == 0 or N == 0:
        return {"one_class": True, "n_pos": P, "n_neg": N}
    starts = np.flatnonzero(np.r_[True, rs[1:] != rs[:-1]])
    ends = np.r_[starts[1:], n]
    cy = np.r_[0, np.cumsum(ys)]
    pos_g = cy[ends] - cy[starts]
    # 2 x (average 1-based rank of a group [b, e)) = b + e + 1; integer arithmetic throughout
    s2 = int((pos_g * (starts + ends + 1)).sum())
    auc = (s2 - P * (P + 1)) / (2 * P * N)
    # Youden: predict y = 1 when r >= t; thresholds descending, led by +inf (nothing predicted)
    tp = np.r_[0, (P - cy[starts])[::-1]]
    pred = np.r_[0, (n - starts)[::-1]]
    fp = pred - tp
    j = tp / P - fp / N
    best = int(np.argmax(j))  # first (highest-threshold) maximum, as sklearn's roc_curve + argmax
    thr = math.inf if best == 0 else float(rs[starts[::-1][best - 1]])
    acc = (tp[best] + (N - fp[best])) / n
    return {"one_class": False, "auroc": float(auc), "youden_threshold": thr, "youden_accuracy": float(acc),
            "youden_j": float(j[best]), "n_pos": P, "n_neg": N}


def as_labels_scores(y: Any, r: Any, metric: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    y, r = as_vector("y (labels)", y, metric=metric), as_vector("r (router scores)", r, metric=metric)
    same_length(y=y, r=r)
    return as_binary("y (labels)", y), r


def one_class_reason(P: int, N: int) -> str:
    return f"one class present in labels ({P} positive, {N} negative): AUROC undefined"


def auroc(y: Any, r: Any, *, mode: str = "clean") -> MetricValue:
    """AUROC of r against 0/1 labels y (ties count half), equal to sklearn's ``roc_auc_score``.

    AUROC = (R_pos - P(P+1)/2) / (P N) with average ranks R. One class present: NaN with a
    reason (compat: 0.5, reason still given).
    """
    check_mode(mode)
    y, r = as_labels_scores(y, r, "auroc")
    st = roc_statistics(y, r)
    if st["one_class"]:
        reason = one_class_reason(st["n_pos"], st["n_neg"])
        return MetricValue(0.5, reason + " (compat: 0.5)") if mode == "compat" else MetricValue(math.nan, reason)
    return MetricValue(st["auroc"], None)


def youden(y: Any, r: Any, *, mode: str = "clean") -> dict[str, Any]:
    """Youden's J point: threshold t maximising TPR - FPR for "y = 1 iff r >= t", and its accuracy.

    Thresholds are the distinct r values plus +inf (predict nothing); ties in J go to the
    highest threshold, as ``sklearn.metrics.roc_curve`` followed by ``argmax``. One class:
    NaN (compat: threshold 0.5, accuracy 0.5).
    """
    check_mode(mode)
    y, r = as_labels_scores(y, r, "youden")
    st = roc_statistics(y, r)
    if st["one_class"]:
        reason = one_class_reason(st["n_pos"], st["n_neg"])
        if mode == "compat":
            return {"threshold": 0.5, "accuracy": 0.5, "j": math.nan, "reason": reason + " (compat: 0.5)"}
        return {"threshold": math.nan, "accuracy": math.nan, "j": math.nan, "reason": reason}
    return {"threshold": st["youden_threshold"], "accuracy": st["youden_accuracy"], "j": st["youden_j"],
            "reason": None}


# -- band metrics -------------------------------------------------------------
