"""Building a proxy from its settings, and replaying recorded traffic through a router.

    scorer = RouterScorer("results/routers/mean_probe/all/seed0/router.joblib",
                          weak_model_dir="results/models/smollm2-135m")
    threshold = calibrate(scorer, call_rate=0.3)           # from the run's validation predictions
    proxy = RoutingProxy(scorer, [weak, strong], threshold, decision_log=DecisionLog("logs/decisions"))
    replay_scores("logs/decisions", scorer)                # the live scores, recomputed offline
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from routerlab.datasets.decision_logs import decision_log_files, read_decision_log
from routerlab.proxy.scoring import RouterScorer
from routerlab.proxy.thresholds import Threshold, choose_threshold, predictions_for, validation_rows

log = logging.getLogger(__name__)


def replay_scores(log_path: str | Path, scorer: RouterScorer, batch_size: int = 32) -> pd.DataFrame:
    """Every logged decision with ``replayed_score``: the router's score of the logged conversation."""
    df = read_decision_log(log_path)
    df = df[df["router_score"].notna()].reset_index(drop=True)
    convs = [json.loads(m) for m in df["messages"]]
    ids = df["request_hash"].astype(str).tolist()
    scores = []
    for lo in range(0, len(df), batch_size):
        scores += [d.score for d in scorer.decide(convs[lo:lo + batch_size], ids[lo:lo + batch_size])]
    df["replayed_score"] = np.asarray(scores, dtype=float)
    return df


def is_decision_log(path: str | Path) -> bool:
    p = Path(path)
    return (p.is_dir() and any(p.glob("decisions-*.parquet"))) or p.name.startswith("decisions-")


def calibration_frame(scorer: RouterScorer, paths: Sequence[str | Path] = ()) -> tuple[pd.DataFrame | None, str]:
    """Scores to calibrate on: the given prediction tables or decision logs, else the run's own
    validation predictions. A decision log is re-scored by ``scorer`` (its live scores may be
    another router's)."""
    if not paths:
        paths = predictions_for(scorer.path)
        if not paths:
            return None, ""
    logs = [p for p in paths if is_decision_log(p)]
    tables = [p for p in paths if not is_decision_log(p)]
    frames = []
    if tables:
        frames.append(validation_rows(tables))
    for p in logs:
        decision_log_files(p)  # a clear error for an empty log
        replayed = replay_scores(p, scorer).drop_duplicates("request_hash")
        frames.append(pd.DataFrame({"router_score": replayed["replayed_score"]}))
    return pd.concat(frames, ignore_index=True), ", ".join(map(str, paths))


def calibrate(scorer: RouterScorer, *, threshold: float | None = None, call_rate: float | None = None,
              recall: float | None = None, calibration: Sequence[str | Path] = ()) -> Threshold | None:
    """The serving threshold of a binary router (None for a K-model router, which picks by itself)."""
    if scorer.kind != "binary":
        if any(v is not None for v in (threshold, call_rate, recall)):
            raise ValueError(f"{scorer.path}: a K-model router picks the model itself; --threshold, --call-rate and "
                             "--recall apply to binary (weak/strong) routers only")
        return None
    frame, source = (None, "") if threshold is not None else calibration_frame(scorer, calibration)
    chosen = choose_threshold(threshold=threshold, call_rate=call_rate, recall=recall, calibration=frame,
                              source=source)
    log.info("threshold %.6g (%s %g) from %s: expected call rate %.3f on %d calibration rows", chosen.value,
             chosen.kind, chosen.target, chosen.source, chosen.expected_call_rate, chosen.n_calibration)
    return chosen
