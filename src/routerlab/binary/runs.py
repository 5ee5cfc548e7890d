"""One router run of the binary branch: train on a union's train split, score validation and test
splits, evaluate on test (metrics, bootstrap CI, curve, operating points chosen on validation).

The rules train / predict / evaluate call one function each."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import pandas as pd

from routerlab.binary.data import load_routing_data
from routerlab.binary.metrics import binary_report, bootstrap_auroc, performance_curve
from routerlab.binary.operating_points import OperatingPointPolicy
from routerlab.binary.routers import describe, make_router
from routerlab.core.router import Router


def routing_inputs(inputs: Mapping[str, Any], splits: Sequence[str]):
    """``(RoutingData, labels)`` of ``splits`` from a rule's named inputs (labels, features, embeddings,
    samples, self_check, data; all but labels optional)."""
    labels = inputs.get("labels")
    labels = [labels] if isinstance(labels, str) else list(labels)
    return load_routing_data(labels, inputs.get("features"), inputs.get("embeddings"), splits=splits,
                             cluster_paths=inputs.get("samples"), self_check_paths=inputs.get("self_check"),
                             dataset_paths=inputs.get("data"))


def train_router(entry: Mapping[str, Any], inputs: Mapping[str, Any], train: str,
                 members: Sequence[str]) -> tuple[Router, dict[str, Any]]:
    """Fit the router ``entry`` (``{kind, params}``) on the usable train rows; the router and its info record."""
    data, labels = routing_inputs(inputs, ["train"])
    usable = labels["usable"].to_numpy()
    router = make_router(entry["kind"], **entry["params"]).fit(data.take(usable.nonzero()[0]), labels["label"][usable])
    info = {"router": describe(router), "train": train, "members": list(members),
            "n_train": int(usable.sum()), "n_excluded_unparsed": int((~usable).sum()),
            "positive_rate": float(labels["label"][usable].mean())}
    return router, info


def predict_router(router_path: str, inputs: Mapping[str, Any]) -> pd.DataFrame:
    """The labels of a test set's validation and test splits with the trained router's ``router_score``."""
    router = Router.load(router_path)
    data, labels = routing_inputs(inputs, ["validation", "test"])
    labels["router_score"] = router.score(data)
    return labels


def evaluate_predictions(df: pd.DataFrame, evaluation: dict[str, Any], recall_targets: Sequence[float],
                         budgets: Sequence[float]) -> tuple[dict, dict, pd.DataFrame]:
    """Operating points chosen on validation and reported on test, and the test metrics.

    Rows whose scores could not be parsed (``usable`` False) are excluded and counted.
    """
    judged = bool(df["judge_scored"].all())
    usable = df[df["usable"]]
    val, test = usable[usable["split"] == "validation"], usable[usable["split"] == "test"]
    cols = ("weak_score", "strong_score", "router_score")
    policy = OperatingPointPolicy(recall_targets=tuple(recall_targets), budgets=tuple(budgets), judge_scored=judged)
    policy.fit(*(val[c].to_numpy(float) for c in cols))
    points = policy.apply(*(test[c].to_numpy(float) for c in cols))
    thresholds = {"policy": policy.to_dict(), "test": points, "n_validation": len(val), "n_test": len(test)}

    w, s, r = (test[c].to_numpy(float) for c in cols)
    ev = evaluation
    metrics = binary_report(w, s, r, judge_scored=judged, lpm_band=tuple(ev["lpm_band"]),
                            recovery_band=tuple(ev["recovery_band"]), grid=ev["grid"], mode=ev["mode"])
    n_test_all = int((df["split"] == "test").sum())
    metrics["n_unparsed_excluded"] = n_test_all - len(test)
    metrics["auroc_ci95"] = bootstrap_auroc(test["label"].to_numpy(), r, ev["bootstrap"])
    curve = performance_curve(w, s, r, grid=ev["grid"], mode=ev["mode"])
    return thresholds, metrics, pd.DataFrame({k: curve[k] for k in ("call_rate", "performance", "recovery")})
