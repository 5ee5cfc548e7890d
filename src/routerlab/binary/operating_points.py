"""Operating points chosen on validation and reported on test (docs/metrics.md §1.10)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from routerlab.binary.metrics import as_routing_scores, binary_labels, means
from routerlab.core.arrays import TOL, as_binary, as_list, as_vector, same_length


def _op_stats(w: np.ndarray, s: np.ndarray, pos: np.ndarray, esc: np.ndarray) -> dict[str, Any]:
    """Call rate, recall, precision, performance, recovery of an escalation mask."""
    n = w.size
    W, _, D = means(w, s)
    k, P, tp = int(esc.sum()), int(pos.sum()), int((esc & pos).sum())
    perf = float(np.where(esc, s, w).sum() / n)
    return {"call_rate": k / n, "recall": tp / P if P else math.nan, "precision": tp / k if k else math.nan,
            "performance": perf, "recovery": (perf - W) / D if D > 0 else math.nan,
            "n": n, "n_positive": P, "n_escalated": k}


class OperatingPointPolicy:
    """Operating points chosen on validation and reported on test (docs/metrics.md §1.10).

    A positive is a query the weak model gets wrong (label y = 0: y = w, or 1[w >= s] when
    ``judge_scored``). A point is a threshold t: **escalate iff r <= t** - always a prefix
    of the curve's "k lowest go to strong", made of whole tie groups. Candidate thresholds
    are -inf (escalate nothing) and every distinct validation score.

    * ``recall`` targets: the smallest t (min call rate) with validation recall >= target;
    * ``budgets`` b: the t with validation call rate <= b maximising validation
      performance (ties -> lower call rate);
    * ``thresholds``: fixed t, nothing fitted.

    Hyper-parameters only in ``__init__``; ``fit`` sets ``points_`` and ``n_validation_``.
    """

    def __init__(self, recall_targets: Sequence[float] = (0.8, 0.9, 0.95),
                 budgets: Sequence[float] = (0.1, 0.2, 0.3, 0.5), thresholds: Sequence[float] = (),
                 judge_scored: bool = False):
        self.recall_targets = tuple(recall_targets)
        self.budgets = tuple(budgets)
        self.thresholds = tuple(thresholds)
        self.judge_scored = judge_scored

    def get_params(self) -> dict[str, Any]:
        return {"recall_targets": [float(x) for x in self.recall_targets], "budgets": [float(x) for x in self.budgets],
                "thresholds": [float(x) for x in self.thresholds], "judge_scored": bool(self.judge_scored)}

    def _data(self, w: Any, s: Any, r: Any, labels: Any) -> tuple[np.ndarray, ...]:
        w, s, r = as_routing_scores(w, s, r, "operating_points")
        if labels is None:
            y, _ = binary_labels(w, s, judge_scored=self.judge_scored)
        else:
            y = as_binary("labels", as_vector("labels", labels, metric="operating_points"))
            same_length(w=w, labels=y)
        return w, s, r, y == 0

    def fit(self, w: Any, s: Any, r: Any, labels: Any = None) -> OperatingPointPolicy:
        """Choose every point's threshold on validation data."""
        for t in self.recall_targets:
            if not 0 < t <= 1:
                raise ValueError(f"recall targets must be in (0, 1], got {t}")
        for b in self.budgets:
            if not 0 <= b <= 1:
                raise ValueError(f"budgets must be call rates in [0, 1], got {b}")
        w, s, r, pos = self._data(w, s, r, labels)
        n = w.size
        order = np.argsort(r)
        rs = r[order]
        ends = np.r_[np.flatnonzero(rs[1:] != rs[:-1]) + 1, n]  # k at each group end
        ks = np.r_[0, ends]
        thr = np.r_[-np.inf, rs[ends - 1]]
        cpos = np.r_[0, np.cumsum(pos[order])]
        cgain = np.r_[0.0, np.cumsum((s - w)[order])]
        P = int(pos.sum())
        recall = cpos[ks] / P if P else np.full(ks.size, np.nan)
        perf = (w.sum() + cgain[ks]) / n
        calls = ks / n
        points: list[dict[str, Any]] = []

        def add(kind: str, target: float, t: float, reason: str | None = None) -> None:
            val = _op_stats(w, s, pos, r <= t)
            points.append({"kind": kind, "target": float(target), "threshold": float(t), "reason": reason,
                           "validation": val})

        for tgt in self.recall_targets:
            if P == 0:
                add("recall", tgt, -np.inf, "no positives on validation (weak model never wrong): escalate nothing")
                continue
            ok = np.flatnonzero(cpos[ks] >= tgt * P - TOL)
            add("recall", tgt, thr[ok[0]])
        for b in self.budgets:
            ok = np.flatnonzero(calls <= b + TOL)
            best = ok[np.argmax(perf[ok])]  # first maximum = lowest call rate
            add("budget", b, thr[best])
        for t in self.thresholds:
            add("threshold", t, float(t))
        self.points_ = points
        self.n_validation_ = n
        self.validation_recall_curve_ = {"threshold": as_list(thr), "call_rate": as_list(calls), "recall": as_list(recall)}
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "points_"):
            raise RuntimeError("OperatingPointPolicy is not fitted: call fit(w_val, s_val, r_val) or from_dict()")

    def predict(self, r: Any) -> np.ndarray:
        """Escalation masks [n_points, n]: True where r <= the point's threshold."""
        self._check_fitted()
        r = as_vector("r (router scores)", r, metric="operating_points")
        return r[None, :] <= np.array([p["threshold"] for p in self.points_])[:, None]

    def apply(self, w: Any, s: Any, r: Any, labels: Any = None) -> list[dict[str, Any]]:
        """Report every fitted point on (test) data: kind, target, threshold, call_rate, recall,
        precision, performance, recovery (+ counts and the validation numbers)."""
        self._check_fitted()
        w, s, r, pos = self._data(w, s, r, labels)
        out = []
        for p, esc in zip(self.points_, self.predict(r)):
            row = {"kind": p["kind"], "target": p["target"], "threshold": p["threshold"]}
            row.update(_op_stats(w, s, pos, esc))
            row["reason"] = p.get("reason")
            row["validation"] = dict(p["validation"])
            out.append(row)
        return out

    transform = apply

    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {"class": "OperatingPointPolicy", "params": self.get_params(),
                "rule": "escalate iff r <= threshold", "n_validation": self.n_validation_,
                "points": [dict(p) for p in self.points_]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> OperatingPointPolicy:
        if d.get("class") != "OperatingPointPolicy":
            raise ValueError(f"not an OperatingPointPolicy dict (class={d.get('class')!r})")
        obj = cls(**d["params"])
        obj.points_ = [dict(p) for p in d["points"]]
        obj.n_validation_ = int(d["n_validation"])
        return obj


def fit_operating_points(w_val: Any, s_val: Any, r_val: Any, *, recall_targets: Sequence[float] = (0.8, 0.9, 0.95),
                         budgets: Sequence[float] = (0.1, 0.2, 0.3, 0.5), thresholds: Sequence[float] = (),
                         judge_scored: bool = False, labels: Any = None) -> dict[str, Any]:
    """Fit an :class:`OperatingPointPolicy` on validation data; returns its JSON-able dict."""
    pol = OperatingPointPolicy(recall_targets, budgets, thresholds, judge_scored)
    return pol.fit(w_val, s_val, r_val, labels).to_dict()


def apply_operating_points(points: Mapping[str, Any] | OperatingPointPolicy, w_test: Any, s_test: Any,
                           r_test: Any, labels: Any = None) -> list[dict[str, Any]]:
    """Report fitted operating points (a policy or its dict) on test data."""
    pol = points if isinstance(points, OperatingPointPolicy) else OperatingPointPolicy.from_dict(points)
    return pol.apply(w_test, s_test, r_test, labels)
