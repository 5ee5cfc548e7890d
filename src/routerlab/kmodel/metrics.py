"""K-model routing metrics (RouterEval, docs/metrics.md section 2): mu, VB, V_R, entropy, oracle,
and RouterEval's seeded split."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from routerlab.core.arrays import as_list, as_vector


def as_outcome_matrix(name: str, x: Any) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D [n_queries, n_models], got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty (shape {a.shape})")
    a = a.astype(np.float64, copy=False)
    if not np.isfinite(a).all():
        rows = np.flatnonzero(~np.isfinite(a).all(axis=1))
        raise ValueError(f"{name} has NaN/inf in rows {rows[:5].tolist()}")
    return a


def as_model_vector(name: str, x: Any, M: int) -> np.ndarray:
    a = as_vector(name, x)
    if a.size != M:
        raise ValueError(f"length mismatch: {name} has {a.size}, but there are {M} models (columns)")
    return a


def select_models(q: Any, costs: Any = None, val_means: Any = None, *,
                  return_info: bool = False) -> np.ndarray | tuple[np.ndarray, dict[str, int]]:
    """sel_i = argmax_j q_ij; ties -> cheaper model, then higher validation mean, then lower index.

    ``info`` counts rows with a tie at the maximum and how each was resolved
    (``by_cost``, ``by_val_mean``, ``by_index`` - the last is reported, never silent).
    """
    q = as_outcome_matrix("q", q)
    M = q.shape[1]
    cost = np.zeros(M) if costs is None else as_model_vector("costs", costs, M)
    val = np.zeros(M) if val_means is None else as_model_vector("val_means", val_means, M)
    cand = q == q.max(axis=1, keepdims=True)
    n_tied = cand.sum(axis=1) > 1
    cmin = np.where(cand, cost[None, :], np.inf).min(axis=1, keepdims=True)
    cand2 = cand & (cost[None, :] == cmin)
    vmax = np.where(cand2, val[None, :], -np.inf).max(axis=1, keepdims=True)
    cand3 = cand2 & (val[None, :] == vmax)
    sel = np.argmax(cand3, axis=1)
    by_cost = n_tied & (cand2.sum(axis=1) == 1)
    by_val = (cand2.sum(axis=1) > 1) & (cand3.sum(axis=1) == 1)
    by_index = cand3.sum(axis=1) > 1
    if not return_info:
        return sel
    return sel, {"n_tied": int(n_tied.sum()), "by_cost": int(by_cost.sum()), "by_val_mean": int(by_val.sum()),
                 "by_index": int(by_index.sum())}


def entropy_bits(p: Any, axis: int = -1, eps: float = 1e-10) -> np.ndarray:
    """Shannon entropy in bits along ``axis``, terms with p <= eps dropped."""
    p = np.asarray(p, dtype=np.float64)
    safe = np.where(p > eps, p, 1.0)
    return -(np.where(p > eps, p * np.log2(safe), 0.0)).sum(axis=axis)


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def kmodel_report(Y: Any, q: Any, *, costs: Any = None, val_means: Any = None, reference: float | None = None,
                  q_is_scores: bool = False) -> dict[str, Any]:
    """RouterEval metrics of one router on the test split.

    ``Y`` [N, M] per-query scores; ``q`` [N, M] a distribution per query (``q_is_scores``:
    raw scores turned into one by a row softmax) or [N] chosen column indices (one-hot).
    mu = mean_i Y[i, sel_i]; vb = mu / max_j mean_i Y_ij (test); vb_val = mu / test mean of
    the best model on validation (``val_means``); Vr = mu / ``reference``; ep = mean_i H(q_i)
    in bits (q <= 1e-10 dropped); selection_entropy = H(share of queries per model);
    oracle = mean_i max_j Y_ij.
    """
    Y = as_outcome_matrix("Y", Y)
    N, M = Y.shape
    qa = np.asarray(q)
    if qa.ndim == 1:
        if q_is_scores:
            raise ValueError("q_is_scores needs a 2-D q [n_queries, n_models]")
        if qa.size != N:
            raise ValueError(f"length mismatch: Y has {N} rows, q (selected indices) has {qa.size}")
        if not np.issubdtype(qa.dtype, np.integer) or qa.min() < 0 or qa.max() >= M:
            raise ValueError(f"1-D q must hold integer model indices in [0, {M})")
        Q = np.zeros((N, M))
        Q[np.arange(N), qa] = 1.0
        q_kind = "indices (one-hot)"
    else:
        Q = as_outcome_matrix("q", qa)
        if Q.shape != Y.shape:
            raise ValueError(f"shape mismatch: Y has {Y.shape}, q has {Q.shape}")
        if q_is_scores:
            Q = _softmax(Q)
            q_kind = "scores -> row softmax (temperature 1)"
        else:
            rows = np.flatnonzero((Q < -1e-12).any(axis=1) | (np.abs(Q.sum(axis=1) - 1) > 1e-6))
            if rows.size:
                raise ValueError(f"q rows {rows[:5].tolist()} are not distributions (non-negative, sum 1); "
                                 "pass q_is_scores=True to apply a softmax")
            q_kind = "distribution"
    sel, info = select_models(Q, costs, val_means, return_info=True)
    mu = float(Y[np.arange(N), sel].mean())
    means = Y.mean(axis=0)
    best_test = int(np.argmax(means))
    rep: dict[str, Any] = {"n": N, "n_models": M, "mu": mu}
    rep["vb"] = mu / float(means[best_test]) if means[best_test] != 0 else math.nan
    rep["best_single_test"] = {"model": best_test, "mean": float(means[best_test])}
    if val_means is None:
        rep["vb_val"], rep["vb_val_reason"] = math.nan, "val_means not given"
        rep["best_single_val"] = None
    else:
        vm = as_model_vector("val_means", val_means, M)
        j = int(select_models(vm[None, :], costs, None)[0])  # ties: cheaper, then lower index
        rep["best_single_val"] = {"model": j, "val_mean": float(vm[j]), "test_mean": float(means[j])}
        rep["vb_val"] = mu / float(means[j]) if means[j] != 0 else math.nan
        rep["vb_val_reason"] = None if means[j] != 0 else "validation-best model scores 0 on test"
    if reference is None:
        rep["Vr"], rep["Vr_reason"] = math.nan, "no reference accuracy given"
    else:
        rep["Vr"], rep["Vr_reason"] = mu / float(reference), None
    rep["ep"] = float(entropy_bits(Q, axis=1).mean())
    counts = np.bincount(sel, minlength=M)
    rep["selection_counts"] = counts.tolist()
    rep["selection_entropy"] = float(entropy_bits(counts / N))
    rep["oracle"] = float(Y.max(axis=1).mean())
    rep["model_means"] = as_list(means)
    rep["ties"] = info
    rep["params"] = {"q_kind": q_kind, "reference": None if reference is None else float(reference),
                     "tie_rule": "argmax q; ties -> cheaper model, then higher validation mean, then lower index "
                                 "(counted in 'ties')", "entropy": "bits, terms q <= 1e-10 dropped",
                     "costs_given": costs is not None, "val_means_given": val_means is not None}
    return rep


def kmodel_summary(reports: Mapping[str, Mapping[str, Any]],
                   keys: Sequence[str] = ("mu", "vb", "vb_val", "Vr", "ep", "selection_entropy", "oracle"),
                   ) -> dict[str, Any]:
    """RouterEval's reporting: each metric averaged over the candidate groups, plus each group.

    ``reports``: group name (all-strong / all-weak / strong-to-weak) -> :func:`kmodel_report`.
    A NaN in any group makes that mean NaN.
    """
    if not reports:
        raise ValueError("no group reports to summarise")
    mean = {k: float(np.mean([float(r[k]) for r in reports.values()])) for k in keys}
    return {"mean": mean, "groups": {g: {k: float(r[k]) for k in keys} for g, r in reports.items()},
            "params": {"groups": list(reports), "keys": list(keys), "aggregate": "unweighted mean over groups"}}


def routereval_split(ids_or_n: int | Sequence[Any], seed: int = 42, *, groups: Sequence[Any] | None = None,
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RouterEval's split: seeded shuffle, then train/val/test = [:int(0.8m)], [int(0.8m):int(0.9m)], [int(0.9m):].

    The shuffle is ``np.random.RandomState(seed).shuffle(arange(m))`` (= ``np.random.seed(seed);
    np.random.shuffle``). With ``groups`` (one sub-benchmark label per item) each group is
    split on its own, re-seeded, and positions are returned in input order of groups.
    Returns integer positions into the input.
    """
    m = int(ids_or_n) if isinstance(ids_or_n, (int, np.integer)) else len(ids_or_n)
    if m <= 0:
        raise ValueError(f"nothing to split (m = {m})")
    if groups is None:
        parts = [np.arange(m)]
    else:
        g = np.asarray(groups)
        if g.size != m:
            raise ValueError(f"length mismatch: ids has {m}, groups has {g.size}")
        _, first = np.unique(g, return_index=True)
        parts = [np.flatnonzero(g == g[i]) for i in np.sort(first)]
    tr, va, te = [], [], []
    for pos in parts:
        idx = np.arange(pos.size)
        np.random.RandomState(seed).shuffle(idx)
        k = pos.size
        a, b = int(0.8 * k), int(0.9 * k)
        tr.append(pos[idx[:a]]), va.append(pos[idx[a:b]]), te.append(pos[idx[b:]])
    return np.concatenate(tr), np.concatenate(va), np.concatenate(te)
