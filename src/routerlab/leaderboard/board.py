"""Every router on one outcome source, under each family's metrics, with bootstrap intervals.

Two families per source (``docs/metrics.md`` §5):

``kmodel``
    every K-model router of the registry (and the configured ones) fitted on the source's train
    split, picking one of its M models per test query. Headline: the **mean score of the picked
    answers** (accuracy for 0/1 scores). References: every single model, the best single model
    chosen on validation (train when there is no validation split), the random router (uniform
    pick; its per-query value is the expectation, the row mean) and the oracle (best score per
    query). Each router gets a 95 % percentile interval over query resamples, its rank, and
    paired bootstrap tests against the best single model and against random (difference with
    its interval and a one-sided p-value of "not better"); cost per 1,000 queries and RouterArena's
    arena score (β = 0.1) where the source has costs and scores in [0, 1]; LLMRouterBench's AvgAcc
    (macro over datasets), Gain@R, Gain@B, Gap@O and RouterEval's V_B.
``binary``
    the source's weak/strong pair (configured, or: strong = best train mean, weak = cheapest
    model by train cost, else the lowest train mean) as a weak/strong routing problem: K-model
    routers fitted on the two columns (weak confidence = q[weak]) and the binary routers that
    need only the query (its embedding, or its text). Headline: **APGR** (exact curve) with a
    bootstrap interval and a paired test against random (whose APGR is 0.5 on every resample:
    tied scores escalate as a block). Operating points (call-rate budgets 20 % / 50 %, recall 0.9)
    are chosen on validation and reported on test. A single model is one point of the call-performance curve,
    so the "vs best single" test does not apply to this family (written as n/a). Every binary
    metric (AUROC, APGR, CPT, LPM/MPM/HCR) goes to the family CSV.

All statistics of one source share one resample matrix (``n_boot`` × n_test, from ``seed``).
"""

from __future__ import annotations

import math
import time
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from routerlab.binary.metrics import apgr, binary_labels, binary_report, exact_curve, means
from routerlab.binary.operating_points import apply_operating_points, fit_operating_points
from routerlab.binary.routers import ROUTERS as BINARY_ROUTERS
from routerlab.kmodel.cost import router_cost_accuracy
from routerlab.kmodel.evaluate import Source, arena_scale
from routerlab.kmodel.metrics import entropy_bits, select_models
from routerlab.kmodel.peer_metrics import llmrouterbench_performance
from routerlab.kmodel.routers import ROUTERS as KMODEL_ROUTERS
from routerlab.kmodel.routers import make_router
from routerlab.leaderboard.stats import (
    Estimate,
    PairedTest,
    mean_estimate,
    paired_mean_test,
    paired_test_from,
    resample_indices,
    statistic_estimate,
)

# Routers that read the true scores (oracle, r_o) or pick at random are references, not entries.
REFERENCE_KINDS = ("oracle", "random", "r_o")
# Operating points of the binary family: chosen on validation, reported on test (RouteLLM reports
# call-rate budgets; RouterXBench a recall target).
OP_BUDGETS = (0.2, 0.5)
OP_RECALL = (0.9,)


def default_kmodel_routers() -> dict[str, dict[str, Any]]:
    """Every registered K-model router except the references, with its default parameters."""
    return {k: {"kind": k, "params": {}} for k in sorted(KMODEL_ROUTERS) if k not in REFERENCE_KINDS}


def default_binary_routers() -> dict[str, dict[str, Any]]:
    """The trainable binary routers that need only the query's embedding (no weak-model features)."""
    out = {}
    for k in sorted(BINARY_ROUTERS):
        req = set(getattr(BINARY_ROUTERS[k], "requires", ()) or ())
        if req and req <= {"embeddings"}:
            out[k] = {"kind": k, "params": {}}
    return out


def _estimate_cols(prefix: str, e: Estimate) -> dict[str, float]:
    return {prefix: e.value, f"{prefix}_lo": e.lo, f"{prefix}_hi": e.hi}


def _test_cols(prefix: str, t: PairedTest | None) -> dict[str, float]:
    if t is None:
        return {f"{prefix}_diff": math.nan, f"{prefix}_lo": math.nan, f"{prefix}_hi": math.nan, f"{prefix}_p": math.nan}
    return {f"{prefix}_diff": t.diff, f"{prefix}_lo": t.lo, f"{prefix}_hi": t.hi, f"{prefix}_p": t.p}


def _rank(values: Sequence[float]) -> list[float]:
    """Rank 1 = best (highest); ties share the average rank; NaN ranks last."""
    s = pd.Series(values, dtype=float)
    return s.rank(ascending=False, method="average", na_option="bottom").tolist()


def _val_rows(src: Source) -> np.ndarray:
    va = src.positions("validation")
    return va if va.size else src.positions("train")


# --- K-model family ---------------------------------------------------------------------------


def kmodel_board(src: Source, routers: Mapping[str, Mapping[str, Any]], *, n_boot: int = 1000,
                 seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per router/reference on the source's test split; and the per-query picks."""
    out = src.outcomes
    models = out.models
    tr, te = src.positions("train"), src.positions("test")
    if not tr.size or not te.size:
        raise ValueError(f"source {src.name!r}: the leaderboard needs train and test queries "
                         f"(train {tr.size}, test {te.size})")
    Y, C = out.matrix("score", models=models), out.matrix("cost", models=models)
    Yt, Ct = Y[te], C[te]
    n, M = Yt.shape
    train_cost = np.nanmean(C[tr], axis=0) if np.isfinite(C[tr]).any() else None
    costs = None if train_cost is None else np.nan_to_num(train_cost, nan=0.0)
    idx = resample_indices(n, n_boot, seed)
    rows_ = np.arange(n)
    unit_scale, _ = arena_scale(Yt)
    datasets = out.queries["dataset"].astype(str).to_numpy()[te]
    entries: list[tuple[str, str, np.ndarray, np.ndarray | None]] = []  # name, kind, per-query score, picks
    for j, m in enumerate(models):
        entries.append((m, "single", Yt[:, j], np.full(n, j)))
    val_means = Y[_val_rows(src)].mean(axis=0)
    best_j = int(select_models(val_means[None, :], costs, None)[0])
    best_y = Yt[:, best_j]
    entries.append((f"best single (validation: {models[best_j]})", "reference", best_y, np.full(n, best_j)))
    random_y = Yt.mean(axis=1)  # the expectation of a uniform pick, per query
    entries.append(("random", "reference", random_y, None))
    entries.append(("oracle", "reference", Yt.max(axis=1), np.argmax(Yt, axis=1)))
    data_tr, data_te = src.data(tr), src.data(te)
    seconds: dict[str, float] = {}
    called_cost: dict[str, np.ndarray] = {}
    for name, spec in sorted(routers.items()):
        kind = spec.get("kind", name)
        if kind in REFERENCE_KINDS:
            continue
        t0 = time.perf_counter()
        router = make_router(kind, **dict(spec.get("params", {}))).fit(data_tr, Y[tr], costs=costs)
        sel = router.predict(data_te)
        seconds[name] = time.perf_counter() - t0
        if hasattr(router, "cascade"):  # RouterBench's cascade pays for every model it called, not only the last
            called_cost[name] = (router.cascade(data_te)[1] * np.nan_to_num(Ct, nan=np.inf)).sum(axis=1)
        entries.append((name, kind, Yt[rows_, sel], sel))
    records, picks = [], []
    for name, kind, y, sel in entries:
        rec: dict[str, Any] = {"source": src.name, "family": "kmodel", "router": name, "kind": kind, "n_test": n}
        rec.update(_estimate_cols("score", mean_estimate(y, idx)))
        rec.update(_test_cols("vs_best_single", None if name.startswith("best single") else
                              paired_mean_test(y, best_y, idx)))
        rec.update(_test_cols("vs_random", None if name == "random" else paired_mean_test(y, random_y, idx)))
        rec["arena_score"] = math.nan
        if sel is None:
            cost = float(np.nanmean(Ct.mean(axis=1))) if np.isfinite(Ct).all() else math.nan
            rec["selection_entropy"] = math.log2(M)
        else:
            picked = called_cost.get(name, Ct[rows_, sel])
            cost = float(picked.mean()) if np.isfinite(picked).all() else math.nan
            if unit_scale and not math.isnan(cost):  # RouterArena's score (docs/metrics.md §3), beta 0.1
                rec["arena_score"] = router_cost_accuracy(np.clip(y, 0.0, 1.0), picked, 0.1)["arena_score"]
            rec["selection_entropy"] = float(entropy_bits(np.bincount(sel, minlength=M) / n))
            picks.append(pd.DataFrame({"query_id": np.asarray(src.ids)[te], "router": name,
                                       "model": np.asarray(models, dtype=object)[sel], "score": y}))
        rec["cost_per_1k"] = cost * 1000 if not math.isnan(cost) else math.nan
        lrb = llmrouterbench_performance(Yt, y, datasets)  # macro over the source's datasets
        rec.update({k: lrb[k] for k in ("avg_acc", "gain_random", "gain_best", "gap_oracle")})
        rec["vb"] = float(y.mean() / Yt.mean(axis=0).max()) if Yt.mean(axis=0).max() else math.nan  # RouterEval
        rec["oracle_score"] = float(Yt.max(axis=1).mean())
        rec["fit_predict_s"] = seconds.get(name, math.nan)
        rec["best_single_score"] = float(best_y.mean())
        records.append(rec)
    board = pd.DataFrame(records)
    board["rank"] = _rank(board["score"])
    return board, (pd.concat(picks, ignore_index=True) if picks else pd.DataFrame())


# --- binary family ----------------------------------------------------------------------------


def default_pair(src: Source) -> tuple[str, str]:
    """(weak, strong): strong = best train mean; weak = cheapest other model by train cost, else the lowest mean."""
    out = src.outcomes
    models = out.models
    tr = src.positions("train")
    means_ = out.matrix("score", models=models)[tr].mean(axis=0)
    strong = int(np.argmax(means_))
    others = [j for j in range(len(models)) if j != strong]
    C = out.matrix("cost", models=models)[tr]
    if np.isfinite(C).all():
        weak = min(others, key=lambda j: (C[:, j].mean(), j))
    else:
        weak = min(others, key=lambda j: (means_[j], j))
    return models[weak], models[strong]


def _apgr_of(w: np.ndarray, s: np.ndarray, r: np.ndarray) -> float:
    W, S, _ = means(w, s)
    return apgr(exact_curve(w, s, r), W, S).value


def _operating_points(Y_val: np.ndarray, r_val: np.ndarray, w: np.ndarray, s: np.ndarray,
                      r: np.ndarray, judged: bool) -> dict[str, float]:
    """Thresholds chosen on validation (call-rate budgets, a recall target), reported on test."""
    if not r_val.size:
        return {}
    policy = fit_operating_points(Y_val[:, 0], Y_val[:, 1], r_val, recall_targets=OP_RECALL, budgets=OP_BUDGETS,
                                  judge_scored=judged)
    out = {}
    for p in apply_operating_points(policy, w, s, r):
        for k in ("call_rate", "recall", "performance", "recovery"):
            out[f"op_{p['kind']}_{p['target']:g}_{k}"] = p[k]
    return out


def binary_board(src: Source, weak: str, strong: str, kmodel_routers: Mapping[str, Mapping[str, Any]],
                 binary_routers: Mapping[str, Mapping[str, Any]], *, n_boot: int = 200, seed: int = 0,
                 lpm_band: tuple[float, float] = (0.25, 0.30),
                 recovery_band: tuple[float, float] = (0.85, 0.95)) -> pd.DataFrame:
    """Every router as a weak/strong router on the (weak, strong) pair of ``src``; one row each."""
    out = src.outcomes
    for role, m in (("weak", weak), ("strong", strong)):
        if m not in out.models:
            raise ValueError(f"source {src.name!r}: {role} model {m!r} is not one of its models {out.models}")
    if weak == strong:
        raise ValueError(f"source {src.name!r}: weak and strong are the same model {weak!r}")
    tr, va, te = (src.positions(k) for k in ("train", "validation", "test"))
    Y2 = out.matrix("score", models=[weak, strong])
    w, s = Y2[te, 0], Y2[te, 1]
    # real-valued scores (judge ratings, RouterDC's averaged scores): §1.1's judge rule labels them
    judged = not np.isin(Y2, (0.0, 1.0)).all()
    y_train, label_rule = binary_labels(Y2[tr, 0], Y2[tr, 1], judge_scored=judged)
    n = te.size
    idx = resample_indices(n, n_boot, seed)
    # (name, kind, test scores, validation scores): weak confidence, the k lowest go to the strong model
    scores: list[tuple[str, str, np.ndarray, np.ndarray]] = [
        ("random", "reference", np.zeros(n), np.zeros(va.size)),
        ("oracle", "reference", w - s, Y2[va, 0] - Y2[va, 1])]
    data_tr, data_va, data_te = src.data(tr), src.data(va), src.data(te)
    for name, spec in sorted(kmodel_routers.items()):
        kind = spec.get("kind", name)
        if kind in REFERENCE_KINDS:
            continue
        r = make_router(kind, **dict(spec.get("params", {}))).fit(data_tr, Y2[tr])
        scores.append((name, kind, r.predict_proba(data_te)[:, 0],
                       r.predict_proba(data_va)[:, 0] if va.size else np.empty(0)))
    if len(np.unique(y_train)) == 2:  # a binary router needs both classes in training
        for name, spec in sorted(binary_routers.items()):
            kind = spec.get("kind", name)
            r = BINARY_ROUTERS[kind](**dict(spec.get("params", {}))).fit(data_tr, y_train)
            scores.append((f"{name} (binary)", kind, np.asarray(r.score(data_te), dtype=np.float64),
                           np.asarray(r.score(data_va), dtype=np.float64) if va.size else np.empty(0)))
    records = []
    for name, kind, r, r_val in scores:
        rep = binary_report(w, s, r, lpm_band=lpm_band, recovery_band=recovery_band, judge_scored=judged)
        est, boots = statistic_estimate(lambda rows, r=r: _apgr_of(w[rows], s[rows], r[rows]), n, idx)
        if name == "random":  # first in `scores`: its resampled APGRs are the paired tests' reference
            random_boot = boots
        rec = {"source": src.name, "family": "binary", "router": name, "kind": kind, "n_test": n,
               "weak": weak, "strong": strong, "label_rule": label_rule}
        rec.update(_estimate_cols("apgr", est))
        rec.update(_test_cols("vs_best_single", None))
        rec.update(_test_cols("vs_random", None if name == "random" else
                              paired_test_from(est.value - 0.5, boots - random_boot)))
        for k in ("auroc", "cpt_20", "cpt_50", "cpt_80", "lpm", "mpm", "hcr", "weak_mean", "strong_mean", "delta"):
            rec[k] = rep.get(k, math.nan)
        rec.update(_operating_points(Y2[va], r_val, w, s, r, judged))
        records.append(rec)
    board = pd.DataFrame(records)
    board["rank"] = _rank(board["apgr"])
    return board
