"""Thresholds for a deployment target, and the realised call rate over a sliding window.

A binary router's score is the weak model's confidence; the proxy **escalates to the strong
model iff score <= threshold**, the rule of the workflow's operating points
(``binary.operating_points``). A threshold comes from one of

- ``--threshold t``: used as is;
- ``--call-rate c``: the share of requests sent to the strong model. ``t`` is the
  ``ceil(c * n)``-th smallest calibration score, so that share of the calibration scores is
  ``<= t`` (exactly, without ties);
- ``--recall r``: the smallest ``t`` that escalates a share ``r`` of the queries the weak
  model gets wrong (labels needed: the workflow's validation predictions), chosen by
  ``OperatingPointPolicy`` as the workflow does.

Calibration scores are the router's validation predictions (``results/predictions/<run>/
*.parquet``, split ``validation``; found next to ``results/routers/<run>/router.joblib``) or
recorded traffic (a decision log, re-scored by the served router).
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from routerlab.core.io import read_frame

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Threshold:
    """The threshold and how it was chosen (reported in /metrics and the startup log)."""

    value: float
    kind: str  # threshold | call_rate | recall
    target: float
    expected_call_rate: float  # on the calibration scores (NaN for a bare --threshold)
    n_calibration: int
    source: str

    def escalate(self, score: float) -> bool:
        return bool(score <= self.value)


def call_rate_threshold(scores: Sequence[float], call_rate: float) -> float:
    """The threshold that escalates ``ceil(call_rate * n)`` of ``scores`` (``-inf`` for 0)."""
    if not 0.0 <= call_rate <= 1.0:
        raise ValueError(f"--call-rate must be in [0, 1], got {call_rate}")
    s = np.sort(np.asarray(scores, dtype=float))
    if s.size == 0:
        raise ValueError("no calibration scores: cannot choose a threshold for a call rate")
    k = math.ceil(call_rate * s.size - 1e-9)
    return -math.inf if k == 0 else float(s[k - 1])


def recall_threshold(val: pd.DataFrame, recall: float) -> float:
    """The smallest threshold with validation recall of weak-model errors >= ``recall``."""
    from routerlab.binary.operating_points import OperatingPointPolicy  # lazy: a binary-branch import

    need = {"weak_score", "strong_score", "router_score", "label"}
    if not need <= set(val.columns):
        raise ValueError(f"--recall needs labelled calibration rows ({sorted(need)}): the workflow's validation "
                         "predictions have them, a decision log does not (use --call-rate with recorded traffic)")
    judged = bool(val["judge_scored"].all()) if "judge_scored" in val else False
    policy = OperatingPointPolicy(recall_targets=(recall,), budgets=(), judge_scored=judged)
    policy.fit(*(val[c].to_numpy(float) for c in ("weak_score", "strong_score", "router_score")),
               labels=val["label"].to_numpy(float))
    return float(policy.points_[0]["threshold"])


def predictions_for(router_path: str | Path) -> list[Path]:
    """The workflow's prediction tables of a trained router: results/routers/R/T/seedS/router.joblib ->
    results/predictions/R/T/seedS/*.parquet."""
    p = Path(router_path).resolve()
    parts = p.parts
    if "routers" not in parts:
        return []
    i = len(parts) - 1 - parts[::-1].index("routers")
    run = Path(*parts[:i]) / "predictions" / Path(*parts[i + 1:-1])
    return sorted(run.glob("*.parquet")) if run.is_dir() else []


def validation_rows(paths: Sequence[str | Path]) -> pd.DataFrame:
    """Usable validation rows of prediction tables (one per id: test sets may share queries)."""
    frames = []
    for path in paths:
        df = read_frame(path)
        if "router_score" not in df or "split" not in df:
            raise ValueError(f"{path}: not a prediction table (needs router_score and split; the `predict` rule "
                             "writes them under results/predictions/)")
        frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    df = df[df["split"] == "validation"]
    if "usable" in df:
        df = df[df["usable"].astype(bool)]
    df = df.drop_duplicates("id", keep="first") if "id" in df else df
    if df.empty:
        raise ValueError(f"{[str(p) for p in paths]}: no usable validation rows to calibrate on")
    return df.reset_index(drop=True)


def choose_threshold(*, threshold: float | None = None, call_rate: float | None = None, recall: float | None = None,
                     calibration: pd.DataFrame | None = None, source: str = "") -> Threshold:
    """Exactly one of ``threshold``, ``call_rate``, ``recall``; ``calibration`` has ``router_score``
    (and labels for ``recall``)."""
    given = {k: v for k, v in (("threshold", threshold), ("call_rate", call_rate), ("recall", recall)) if v is not None}
    if len(given) != 1:
        raise ValueError(f"give exactly one of --threshold, --call-rate, --recall (got {sorted(given) or 'none'})")
    (kind, target), = given.items()
    if kind == "threshold":
        return Threshold(float(target), kind, float(target), math.nan, 0, "command line")
    if calibration is None or calibration.empty:
        raise ValueError(f"--{kind.replace('_', '-')} needs calibration scores: the router's validation predictions "
                         "(results/predictions/<run>/, found next to results/routers/<run>/ or given with "
                         "--calibration) or a decision log (--calibration <log dir>)")
    scores = calibration["router_score"].to_numpy(float)
    if kind == "call_rate":
        value = call_rate_threshold(scores, float(target))
    else:
        if not 0.0 < float(target) <= 1.0:
            raise ValueError(f"--recall must be in (0, 1], got {target}")
        value = recall_threshold(calibration, float(target))
    return Threshold(value, kind, float(target), float(np.mean(scores <= value)), len(scores), source)


class CallRateWindow:
    """The share of the last ``size`` binary decisions sent to the strong model; warns on drift.

    A warning is logged when the window is full and the realised rate is more than
    ``tolerance`` away from the target, at most once per ``size`` decisions.
    """

    def __init__(self, target: float | None, size: int = 500, tolerance: float = 0.05):
        self.target, self.size, self.tolerance = target, size, tolerance
        self._window: deque[bool] = deque(maxlen=size)
        self._since_warning = 0
        self._lock = threading.Lock()
        self.warnings = 0

    def add(self, escalated: bool) -> None:
        with self._lock:
            self._window.append(bool(escalated))
            self._since_warning += 1
            rate = self._rate()
            full = len(self._window) == self.size
            drifted = self.target is not None and full and abs(rate - self.target) > self.tolerance
            warn = drifted and self._since_warning >= self.size
            if warn:
                self._since_warning = 0
                self.warnings += 1
        if warn:
            log.warning("realised call rate %.3f over the last %d requests drifts from the target %.3f "
                        "(tolerance %.3f): traffic differs from the calibration data; re-calibrate on recorded "
                        "traffic (--calibration <decision log>)", rate, self.size, self.target, self.tolerance)

    def _rate(self) -> float:
        return sum(self._window) / len(self._window) if self._window else math.nan

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"call_rate": self._rate(), "n": len(self._window), "target": self.target,
                    "warnings": self.warnings}
