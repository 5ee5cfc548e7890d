"""The peers' headline metrics beyond §2-§3 (docs/metrics.md §9): LLMRouterBench's, and RouterBench's
AIQ as its own code computes it.

LLMRouterBench (ynulihao/LLMRouterBench @0e267fb; Li et al., *LLMRouterBench: A Massive Benchmark
and Unified Framework for LLM Routing*, arXiv:2601.07206). Its code defines only the baselines
(``baselines/aggregators.py``: ``BaselineAggregator``); the headline metrics are README one-liners:

- "AvgAcc: Average accuracy across all datasets";
- "Gain@R / Gain@B: Relative improvement over Random / Best Single";
- "Gap@O: Gap to Oracle (lower is better)";
- "PerfGain: Best achievable performance improvement over Best Single (at highest-accuracy
  configuration)";
- "CostSave: Maximal cost reduction while maintaining Best Single's accuracy";
- "ParetoDist: Average distance to Pareto frontier (smaller is better)".

The formulas below are routerlab's reading of those lines (the relative forms follow the
paper's §3.2 as cited secondarily); ParetoDist's distance is not defined by the source and is
**routerlab's definition**. Every result records its rules under ``params``; an undefined value
is NaN with a ``*_reason``.

RouterBench (withmartian/routerbench @cc67d10, ``evaluation/AIQ.py``: ``calc_AIQ``): see
:func:`aiq_routerbench`; the clean common-range AIQ is ``kmodel.cost.aiq``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from routerlab.core.arrays import as_vector, same_length, trapezoid
from routerlab.kmodel.cost import frontier
from routerlab.kmodel.metrics import as_outcome_matrix

RANDOM_RULES = {
    "clean": "expectation of a uniform pick: per dataset, the mean of the pool's model accuracies",
    "compat": "one uniform draw per query with Python's random.Random(seed).choice over the models, in row order "
              "(LLMRouterBench's BaselineAggregator._sample_random_router_once; its record order may differ)",
}
ORACLE_RULES = {
    "clean": "per query, the best score of any model (max_j Y_ij)",
    "compat": "per query, 1 if any model scores > 0 (LLMRouterBench's BaselineAggregator._compute_oracle_stats)",
}


def _macro(x: np.ndarray, codes: np.ndarray, n_groups: int) -> tuple[float, np.ndarray]:
    """Mean over datasets of the per-dataset mean of ``x`` (and the per-dataset means)."""
    per = np.bincount(codes, weights=x, minlength=n_groups) / np.bincount(codes, minlength=n_groups)
    return float(per.mean()), per


def _relative(value: float, base: float, what: str) -> tuple[float, str | None]:
    if base == 0:
        return math.nan, f"{what} has AvgAcc 0: relative gain undefined"
    return value / base - 1.0, None


def llmrouterbench_performance(Y: Any, routed: Any, datasets: Sequence[Any] | None = None, *,
                               models: Sequence[str] | None = None, mode: str = "clean",
                               seed: int = 42) -> dict[str, Any]:
    """LLMRouterBench's performance-oriented metrics of one router on the test queries.

    ``Y`` [N, M]: every candidate's score per query; ``routed`` [N]: the score the router got on
    each query (``Y[i, sel_i]`` for a one-model router); ``datasets`` [N]: each query's dataset
    (None: one dataset).

    - **avg_acc** (AvgAcc) = (1/D) sum_d mean_{i in d} routed_i: the macro mean over datasets
      ("Dataset-Avg" of ``BaselineAggregator``; the micro "Sample-Avg" is ``sample_avg``).
    - **random_avg_acc**: AvgAcc of the random router. clean: its expectation, the per-dataset
      mean of the model accuracies; compat: one seeded uniform draw per query (seed 42).
    - **best_single**: the model with the highest AvgAcc (ties: lower column index) - the Best
      Single of the README, not the per-dataset "Max Expert" (a dataset oracle).
    - **oracle_avg_acc**: AvgAcc of max_j Y_ij per query (compat: 1[any Y_ij > 0], as
      ``_compute_oracle_stats``; the two agree on 0/1 scores).
    - **gain_random** (Gain@R) = AvgAcc / AvgAcc_Random - 1; **gain_best** (Gain@B) =
      AvgAcc / AvgAcc_Best - 1; NaN with a reason when the base is 0.
    - **gap_oracle** (Gap@O) = 1 - AvgAcc / AvgAcc_Oracle (lower is better); NaN when the oracle is 0.
    """
    if mode not in RANDOM_RULES:
        raise ValueError(f"mode must be one of {tuple(RANDOM_RULES)}, got {mode!r}")
    Y = as_outcome_matrix("Y", Y)
    N, M = Y.shape
    r = as_vector("routed (the router's score per query)", routed, metric="llmrouterbench_performance")
    if r.size != N:
        raise ValueError(f"llmrouterbench_performance: length mismatch: Y has {N} rows, routed has {r.size}")
    names = np.zeros(N, dtype=object) if datasets is None else np.asarray([str(d) for d in datasets], dtype=object)
    if names.size != N:
        raise ValueError(f"llmrouterbench_performance: length mismatch: Y has {N} rows, datasets has {names.size}")
    if models is not None and len(models) != M:
        raise ValueError(f"llmrouterbench_performance: {len(models)} model names for {M} columns of Y")
    labels, codes = np.unique(names, return_inverse=True)
    D = labels.size
    avg, per_dataset = _macro(r, codes, D)
    model_avg = np.array([_macro(Y[:, j], codes, D)[0] for j in range(M)])
    best = int(np.argmax(model_avg))  # first maximum: lower column index
    if mode == "clean":
        random_avg = float(model_avg.mean())  # the macro mean is linear: E[uniform pick] = mean over models
        oracle_avg = _macro(Y.max(axis=1), codes, D)[0]
    else:
        rng = random.Random(seed)
        picks = np.array([rng.choice(range(M)) for _ in range(N)])
        random_avg = _macro(Y[np.arange(N), picks], codes, D)[0]
        oracle_avg = _macro((Y > 0).any(axis=1).astype(np.float64), codes, D)[0]
    gain_r, gain_r_reason = _relative(avg, random_avg, "the random router")
    gain_b, gain_b_reason = _relative(avg, float(model_avg[best]), "the best single model")
    if oracle_avg == 0:
        gap_o, gap_o_reason = math.nan, "the oracle has AvgAcc 0: gap undefined"
    else:
        gap_o, gap_o_reason = 1.0 - avg / oracle_avg, None
    return {
        "n": N, "n_datasets": D, "avg_acc": avg, "sample_avg": float(r.mean()),
        "per_dataset": {str(k): float(v) for k, v in zip(labels, per_dataset)},
        "random_avg_acc": random_avg, "oracle_avg_acc": oracle_avg,
        "best_single": {"model": best if models is None else models[best], "avg_acc": float(model_avg[best])},
        "gain_random": gain_r, "gain_random_reason": gain_r_reason,
        "gain_best": gain_b, "gain_best_reason": gain_b_reason,
        "gap_oracle": gap_o, "gap_oracle_reason": gap_o_reason,
        "params": {"mode": mode, "seed": seed, "average": "macro over datasets (Dataset-Avg)",
                   "random": RANDOM_RULES[mode], "oracle": ORACLE_RULES[mode],
                   "best_single": "highest AvgAcc over the pool, ties to the lower column index",
                   "source": "LLMRouterBench README (ynulihao/LLMRouterBench @0e267fb), arXiv:2601.07206 §3.2"},
    }


def _point_arrays(points: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(accuracy, cost) arrays of ``[(cost, accuracy), ...]`` (as ``kmodel.cost.frontier``) or
    ``{"cost": [...], "accuracy": [...]}``."""
    if isinstance(points, Mapping):
        acc, cost = points["accuracy"], points["cost"]
    else:
        a = np.asarray(points, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] != 2:
            raise ValueError(f"llmrouterbench_cost: {what} must be [(cost, accuracy), ...], got shape {a.shape}")
        cost, acc = a[:, 0], a[:, 1]
    acc = as_vector(f"{what} accuracy", acc, metric="llmrouterbench_cost")
    cost = as_vector(f"{what} cost", cost, metric="llmrouterbench_cost")
    same_length(**{f"{what} accuracy": acc, f"{what} cost": cost})
    if (cost < 0).any():
        raise ValueError(f"llmrouterbench_cost: {what} cost must be >= 0, got {cost.min()}")
    return acc, cost


def pareto_front(acc: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Mask of the Pareto-optimal points: no other point at most as costly and at least as accurate,
    strictly better in one (equal points are all optimal)."""
    acc, cost = np.asarray(acc, dtype=np.float64), np.asarray(cost, dtype=np.float64)
    dominated = ((cost[None, :] <= cost[:, None]) & (acc[None, :] >= acc[:, None])
                 & ((cost[None, :] < cost[:, None]) | (acc[None, :] > acc[:, None]))).any(axis=1)
    return ~dominated


def llmrouterbench_cost(router: Any, singles: Any, *, reference_points: Any = None) -> dict[str, Any]:
    """LLMRouterBench's performance-cost metrics of one router with configurations theta.

    ``router``: its (cost, accuracy) per configuration theta (e.g. per threshold or lambda);
    ``singles``: each candidate model's (cost, accuracy) on the same queries; accuracy is the
    AvgAcc of :func:`llmrouterbench_performance`, cost any one unit (USD per query, per 1k ...).
    The Best Single B is the most accurate model (ties: the cheaper one).

    - **perf_gain** (PerfGain) = max_theta Acc(theta) / Acc_B - 1.
    - **cost_save** (CostSave) = max over theta with Acc(theta) >= Acc_B of (C_B - C(theta)) / C_B;
      NaN with "never reaches best single" when no theta does (or C_B = 0).
    - **pareto_dist** (ParetoDist, *routerlab's definition*: the source gives no distance) = the
      mean over the router's configurations of the Euclidean distance, in the plane (accuracy,
      normalised log10 cost), to the nearest Pareto-optimal point (:func:`pareto_front`) of all
      points (``reference_points``: every configuration of every router and model; default the
      router's and the singles'); 0 on the frontier. The cost axis is
      (log10 c - min log10 c) / (max log10 c - min log10 c) over those points (0 when they all
      cost the same), so both axes span at most [0, 1]; it needs costs > 0.
    """
    acc, cost = _point_arrays(router, "router")
    s_acc, s_cost = _point_arrays(singles, "singles")
    if reference_points is None:
        ref_acc, ref_cost = np.r_[acc, s_acc], np.r_[cost, s_cost]
    else:
        ref_acc, ref_cost = _point_arrays(reference_points, "reference_points")
        ref_acc, ref_cost = np.r_[ref_acc, acc], np.r_[ref_cost, cost]  # the router's own points always count
    best = int(np.lexsort((s_cost, -s_acc))[0])  # most accurate, then cheaper
    acc_b, cost_b = float(s_acc[best]), float(s_cost[best])
    out: dict[str, Any] = {"best_single": {"index": best, "accuracy": acc_b, "cost": cost_b},
                           "n_configurations": int(acc.size)}
    out["perf_gain"], out["perf_gain_reason"] = _relative(float(acc.max()), acc_b, "the best single model")
    reach = acc >= acc_b
    if not reach.any():
        out["cost_save"], out["cost_save_reason"] = math.nan, "never reaches best single's accuracy"
    elif cost_b == 0:
        out["cost_save"], out["cost_save_reason"] = math.nan, "the best single model costs 0: saving undefined"
    else:
        out["cost_save"], out["cost_save_reason"] = float(((cost_b - cost[reach]) / cost_b).max()), None
    if (ref_cost <= 0).any():
        out["pareto_dist"], out["pareto_dist_reason"] = math.nan, "a point costs 0: log10 cost undefined"
    else:
        lc = np.log10(ref_cost)
        span = float(lc.max() - lc.min())
        x_ref = (lc - lc.min()) / span if span > 0 else np.zeros_like(lc)
        x = (np.log10(cost) - lc.min()) / span if span > 0 else np.zeros_like(cost)
        front = pareto_front(ref_acc, ref_cost)
        d = np.hypot(x[:, None] - x_ref[front][None, :], acc[:, None] - ref_acc[front][None, :]).min(axis=1)
        out["pareto_dist"], out["pareto_dist_reason"] = float(d.mean()), None
        out["pareto_front_size"] = int(front.sum())
    out["params"] = {
        "best_single": "most accurate model, ties to the cheaper", "perf_gain": "max_theta Acc / Acc_B - 1",
        "cost_save": "max over theta with Acc >= Acc_B of (C_B - C) / C_B",
        "pareto_dist": "routerlab's definition: mean Euclidean distance in (accuracy, log10 cost normalised to "
                       "[0, 1] over all points) to the nearest Pareto-optimal point of all points",
        "source": "LLMRouterBench README (ynulihao/LLMRouterBench @0e267fb), arXiv:2601.07206 §3.2"}
    return out


def aiq_routerbench(routers: Sequence[Any]) -> dict[str, Any]:
    """AIQ of several routers as RouterBench's ``calc_AIQ`` computes it (compat form).

    ``routers``: per router its (cost, performance) points (one per configuration). Each
    router's upper convex hull (``kmodel.cost.frontier``) up to the *last* point with its best
    performance (RouterBench's ``get_non_descreasing_convex_hull_of`` removes only strict
    decreases, so a flat top is kept), extended flat to x_max = the largest hull cost over all
    routers; AIQ = trapz(hull) / x_max, the integral starting at the router's own lowest cost
    (the area left of it counts 0). Differs from the clean ``kmodel.cost.aiq``: that one
    averages over a common range [c0, c1] with each hull held flat below its lowest cost too.

    Where RouterBench's code itself misbehaves this function does not follow it: points at
    equal cost keep the more accurate one (RouterBench's unstable sort may keep either, and
    can drop the router's most expensive point), and a router without interior points (two
    points) has a hull (RouterBench's raises IndexError).
    """
    if not routers:
        raise ValueError("aiq_routerbench: no routers given")
    hulls = []
    for p in routers:
        h = frontier(np.asarray(p, dtype=np.float64))
        acc = np.array(h["accuracy"])
        last_top = int(np.flatnonzero(acc == acc.max())[-1])  # RouterBench drops only strict decreases
        hulls.append((np.array(h["cost"][:last_top + 1]), acc[:last_top + 1]))
    x_max = max(float(c[-1]) for c, _ in hulls)
    if not x_max > 0:
        raise ValueError(f"aiq_routerbench: the largest hull cost must be > 0, got {x_max}")
    aiqs = []
    for cost, acc in hulls:
        xs, ys = np.r_[cost, x_max], np.r_[acc, acc[-1]]
        aiqs.append(float(trapezoid(ys, xs)) / x_max)
    return {"aiq": aiqs, "x_max": float(x_max),
            "params": {"form": "RouterBench calc_AIQ: trapz(non-decreasing hull extended flat to x_max) / x_max",
                       "source": "withmartian/routerbench @cc67d10 evaluation/AIQ.py"}}
