"""K-model routing metrics (RouterEval, docs/metrics.md section 2): mu, VB, V_R (with RouterEval's
per-benchmark reference accuracies built in), entropy, oracle, and RouterEval's seeded split."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from routerlab.core.arrays import as_list, as_vector, non_finite_message

#: RouterEval's reference accuracy per benchmark, the denominator of V_R = mu / acc_ref: the
#: ``acc_ref_dict`` of RouterEval's ``get_router_dataset.py`` and ``test_router.py``
#: (MilkThink-Lab/RouterEval @2edf54d; the paper's V_R, *RouterEval: A Comprehensive Benchmark for
#: Routing LLMs to Explore Model-level Scaling Up in LLMs*). Keys are RouterEval's benchmark names.
ROUTEREVAL_REFERENCE_ACCURACY: dict[str, float] = {
    "arc": 0.852, "hellaswag": 0.953, "mmlu": 0.864, "harness_truthfulqa_mc_0": 0.669, "winogrande": 0.875,
    "gsm8k": 0.92, "ifeval": 0.7689, "bbh": 0.8303, "gpqa": 0.397, "math": 0.4, "musr": 0.699, "mmlu_pro": 0.637,
}
#: RouterEval's sub-benchmark (``scenarios_*`` of its ``utils.py``) -> benchmark: whole names, then prefixes.
ROUTEREVAL_SUBSCENARIOS: dict[str, str] = {
    "harness_gsm8k_5": "gsm8k", "harness_winogrande_5": "winogrande", "harness_arc_challenge_25": "arc",
    "harness_hellaswag_10": "hellaswag",
}
ROUTEREVAL_SUBSCENARIO_PREFIXES: tuple[tuple[str, str], ...] = (
    ("harness_hendrycksTest_", "mmlu"), ("bbh_", "bbh"), ("gpqa_", "gpqa"), ("math_", "math"), ("musr_", "musr"),
)


def routereval_benchmark(dataset: str) -> str | None:
    """RouterEval's benchmark of a (sub-)benchmark name (``mmlu``, ``harness_hendrycksTest_anatomy_5``,
    ``bbh_navigate`` ...), or None for a name RouterEval does not use."""
    name = str(dataset)
    if name in ROUTEREVAL_REFERENCE_ACCURACY:
        return name
    if name in ROUTEREVAL_SUBSCENARIOS:
        return ROUTEREVAL_SUBSCENARIOS[name]
    for prefix, bench in ROUTEREVAL_SUBSCENARIO_PREFIXES:
        if name.startswith(prefix):
            return bench
    return None


def reference_accuracies(datasets: Sequence[Any], reference: float | Mapping[str, float] | None = None,
                         ) -> tuple[np.ndarray, dict[str, str]]:
    """The reference accuracy of V_R for each query from its (sub-)benchmark name, and where each came from.

    ``reference``: a number overrides every query's; a mapping overrides by dataset name first,
    then by RouterEval benchmark name; the rest come from :data:`ROUTEREVAL_REFERENCE_ACCURACY`
    through :func:`routereval_benchmark`. A dataset with none is NaN (its source: ``"none"``).
    Returns (per-query references, dataset name -> ``"user"`` / ``"RouterEval:<benchmark>"`` / ``"none"``).
    """
    names = np.asarray([str(d) for d in datasets], dtype=object)
    over = _check_references(reference)
    ref_of: dict[str, float] = {}
    source: dict[str, str] = {}
    for name in dict.fromkeys(names.tolist()):
        bench = routereval_benchmark(name)
        if isinstance(over, float):
            ref_of[name], source[name] = over, "user"
        elif name in over:
            ref_of[name], source[name] = over[name], "user"
        elif bench is not None and bench in over:
            ref_of[name], source[name] = over[bench], "user"
        elif bench is not None:
            ref_of[name], source[name] = ROUTEREVAL_REFERENCE_ACCURACY[bench], f"RouterEval:{bench}"
        else:
            ref_of[name], source[name] = math.nan, "none"
    return np.array([ref_of[n] for n in names], dtype=np.float64), source


def _check_references(reference: float | Mapping[str, float] | None) -> float | dict[str, float]:
    if reference is None:
        return {}
    items = reference.items() if isinstance(reference, Mapping) else [("reference", reference)]
    out = {}
    for key, value in items:
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"reference accuracy {key!r} must be a number, got {value!r}") from None
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"reference accuracy {key!r} must be a finite number > 0, got {value!r}")
        out[str(key)] = v
    return out if isinstance(reference, Mapping) else out["reference"]


def as_outcome_matrix(name: str, x: Any) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D [n_queries, n_models], got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty (shape {a.shape})")
    a = a.astype(np.float64, copy=False)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} {non_finite_message(a)}")
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


def kmodel_report(Y: Any, q: Any, *, costs: Any = None, val_means: Any = None,
                  reference: float | Mapping[str, float] | None = None, datasets: Sequence[Any] | None = None,
                  q_is_scores: bool = False) -> dict[str, Any]:
    """RouterEval metrics of one router on the test split.

    ``Y`` [N, M] per-query scores; ``q`` [N, M] a distribution per query (``q_is_scores``:
    raw scores turned into one by a row softmax) or [N] chosen column indices (one-hot).
    mu = mean_i Y[i, sel_i]; vb = mu / max_j mean_i Y_ij (test); vb_val = mu / test mean of
    the best model on validation (``val_means``); ep = mean_i H(q_i) in bits (q <= 1e-10
    dropped); selection_entropy = H(share of queries per model); oracle = mean_i max_j Y_ij.

    Vr = mu / acc_ref (RouterEval's V_R). With ``datasets`` (each test query's sub-benchmark)
    acc_ref comes per query from :func:`reference_accuracies` (RouterEval's constants, which
    ``reference`` overrides: a number for all, or a mapping by dataset / benchmark name), and
    Vr = (1/N) sum_b sum_{i in b} Y[i, sel_i] / acc_ref_b, which is mu / acc_ref on one
    benchmark. Without ``datasets`` only a number ``reference`` gives Vr. Otherwise Vr is NaN
    with ``Vr_reason`` naming what is missing.
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
    rep["Vr"], rep["Vr_reason"], ref_params = _vr(Y[np.arange(N), sel], mu, reference, datasets)
    rep["ep"] = float(entropy_bits(Q, axis=1).mean())
    counts = np.bincount(sel, minlength=M)
    rep["selection_counts"] = counts.tolist()
    rep["selection_entropy"] = float(entropy_bits(counts / N))
    rep["oracle"] = float(Y.max(axis=1).mean())
    rep["model_means"] = as_list(means)
    rep["ties"] = info
    rep["params"] = {"q_kind": q_kind, "reference": ref_params,
                     "tie_rule": "argmax q; ties -> cheaper model, then higher validation mean, then lower index "
                                 "(counted in 'ties')", "entropy": "bits, terms q <= 1e-10 dropped",
                     "costs_given": costs is not None, "val_means_given": val_means is not None}
    return rep


def _vr(picked: np.ndarray, mu: float, reference: float | Mapping[str, float] | None,
        datasets: Sequence[Any] | None) -> tuple[float, str | None, Any]:
    """(Vr, its reason, the references used) for the scores ``picked`` of the selected models."""
    if datasets is None:
        if reference is None:
            return math.nan, "no reference accuracy given (and no datasets to look RouterEval's up by)", None
        if isinstance(reference, Mapping):
            return math.nan, "reference is per benchmark, but the queries' datasets were not given", None
        ref = _check_references(reference)
        return mu / ref, None, ref
    names = np.asarray([str(d) for d in datasets], dtype=object)
    if names.size != picked.size:
        raise ValueError(f"length mismatch: Y has {picked.size} rows, datasets has {names.size}")
    ref, source = reference_accuracies(names, reference)
    used = {name: {"reference": None if math.isnan(r) else float(r), "source": source[name]}
            for name, r in zip(names.tolist(), ref.tolist())}
    missing = [name for name, s in source.items() if s == "none"]
    if missing:
        return math.nan, (f"no reference accuracy for dataset(s) {missing[:5]}: not a RouterEval benchmark; "
                          "give one (kmodel.reference: a number, or a mapping by dataset name)"), used
    refs = np.unique(ref)
    if refs.size == 1:
        return mu / float(refs[0]), None, used
    vr = sum(float(picked[ref == r].sum()) / float(r) for r in refs) / picked.size
    return vr, None, used


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
                     benchmarks: Sequence[Any] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RouterEval's split: one seeded random stream, one shuffle per sub-benchmark, 80/10/10 cuts.

    As RouterEval's ``get_router_dataset.py`` (``__main__``, MilkThink-Lab/RouterEval @2edf54d):
    ``np.random.seed(42)`` **once** per benchmark, then for each sub-benchmark in order
    ``np.random.shuffle(positions)`` and train / validation / test = ``[:int(0.8m)]``,
    ``[int(0.8m):int(0.9m)]``, ``[int(0.9m):]``, concatenated over the sub-benchmarks (no final
    shuffle). The sub-benchmarks share the stream: the second one's shuffle continues where the
    first one's stopped, so re-seeding each would give other test sets than RouterEval's.

    ``groups``: one sub-benchmark label per item, taken in order of first appearance (RouterEval
    iterates the ``scenarios_*`` lists of its ``utils.py``; rows in that order reproduce it).
    ``benchmarks``: one benchmark label per item; the stream is re-seeded at each benchmark (in
    order of first appearance), as RouterEval runs its script once per benchmark. Without it all
    items form one benchmark. Returns integer positions into the input.
    """
    m = int(ids_or_n) if isinstance(ids_or_n, (int, np.integer)) else len(ids_or_n)
    if m <= 0:
        raise ValueError(f"nothing to split (m = {m})")
    g = np.zeros(m, dtype=np.int64) if groups is None else np.asarray(groups)
    b = np.zeros(m, dtype=np.int64) if benchmarks is None else np.asarray(benchmarks)
    for name, labels in (("groups", g), ("benchmarks", b)):
        if labels.shape != (m,):
            raise ValueError(f"length mismatch: ids has {m}, {name} has {labels.size}")
    tr, va, te = [], [], []
    for bench in _first_appearance(b):
        rng = np.random.RandomState(seed)  # = np.random.seed(seed): one stream per benchmark
        in_bench = b == bench
        for group in _first_appearance(g[in_bench]):
            pos = np.flatnonzero(in_bench & (g == group))
            rng.shuffle(pos)
            k = pos.size
            cut1, cut2 = int(0.8 * k), int(0.9 * k)
            tr.append(pos[:cut1]), va.append(pos[cut1:cut2]), te.append(pos[cut2:])
    return np.concatenate(tr), np.concatenate(va), np.concatenate(te)


def _first_appearance(labels: np.ndarray) -> np.ndarray:
    _, first = np.unique(labels, return_index=True)
    return labels[np.sort(first)]
