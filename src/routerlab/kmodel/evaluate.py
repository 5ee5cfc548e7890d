"""Evaluate K-model routers on one outcome source: RouterEval pools, and cost-aware routing.

:func:`evaluate_routereval` fits every configured router on each pool's train split and
reports RouterEval's metrics (mu, vb, vb_val, ep, selection entropy, oracle) on its test
split, per candidate group and averaged over the groups, with the best single model
(on test, and chosen on validation) as reference rows.

:func:`evaluate_cost` routes over all of the source's models with their costs: single
models, the oracle (cheapest correct model), RouterEval's routers and R2-Router at each
lambda (plus the lambda chosen on validation), each with accuracy, USD per 1,000 queries,
RouterArena's arena score and optimality scores; and the accuracy-cost frontier (upper
convex hull) with its AIQ over the single models' cost range.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from routerlab.core.io import read_json
from routerlab.core.router import RoutingData
from routerlab.kmodel import features
from routerlab.kmodel.cost import aiq, frontier, normalised_cost, optimality, price_of, query_cost, router_cost_accuracy
from routerlab.kmodel.metrics import kmodel_report, kmodel_summary, select_models
from routerlab.kmodel.outcomes import Outcomes
from routerlab.kmodel.pools import DIFFICULTIES, GROUPS, describe, given_pools, leaderboard, pools_for
from routerlab.kmodel.r2router import Candidate, R2Router
from routerlab.kmodel.routers import make_router, unit_hash

EVAL_VERSION = 1


@dataclass
class Source:
    """An outcome table with its split and per-query features (rows in queries-table order)."""

    name: str
    outcomes: Outcomes
    X: np.ndarray

    def positions(self, split: str) -> np.ndarray:
        return np.flatnonzero((self.outcomes.queries["split"] == split).to_numpy())

    @property
    def ids(self) -> list[str]:
        return self.outcomes.queries["query_id"].astype(str).tolist()

    def data(self, rows: np.ndarray):
        """Routing inputs of ``rows``: the features as embeddings and the prompts as texts (text routers: bert)."""
        ids = self.ids
        texts = self.outcomes.queries["prompt"].astype(str).to_numpy()[rows].tolist()
        return RoutingData(ids=[ids[i] for i in rows], embeddings=self.X[rows], texts=texts,
                           source={"embeddings": f"kmodel source {self.name}"})


def load_source(name: str, outcomes_dir: str | Path, features_dir: str | Path) -> Source:
    out = Outcomes.load(outcomes_dir)
    if out.queries["split"].isna().any():
        raise ValueError(f"{outcomes_dir}: queries without a split; re-run the kmodel_outcomes rule")
    return Source(name, out, features.load(features_dir, out.queries["query_id"].astype(str).tolist()))


def _train_costs(C: np.ndarray, rows: np.ndarray) -> np.ndarray | None:
    """Mean cost per model on the train rows (tie-breaking); None when the source has no costs."""
    c = C[rows]
    return None if np.isnan(c).all() else np.nan_to_num(np.nanmean(c, axis=0), nan=0.0)


def _nan(x: Any) -> Any:
    return None if isinstance(x, float) and math.isnan(x) else x


def _router_entries(routers: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(name, e.get("kind", name), dict(e.get("params", {}))) for name, e in sorted(routers.items())]


def _fit_predict(kind: str, params: dict[str, Any], src: Source, tr: np.ndarray, te: np.ndarray, Y: np.ndarray,
                 costs: np.ndarray | None) -> tuple[np.ndarray, Any, float]:
    t0 = time.perf_counter()
    r = make_router(kind, **params).fit(src.data(tr), Y[tr], costs=costs)
    q = r.predict_proba(src.data(te), Y[te] if r.needs_true_scores else None)
    return q, r, time.perf_counter() - t0


def evaluate_routereval(src: Source, difficulty: str, routers: Mapping[str, Mapping[str, Any]], *,
                        sizes: Sequence[int] | None = None, groups: Sequence[str] = GROUPS,
                        reference: float | Mapping[str, float] | None = None) -> tuple[dict[str, Any], pd.DataFrame]:
    """RouterEval metrics for every (pool, group, router) of one difficulty; and the test selections."""
    out = src.outcomes
    tr, va, te = (src.positions(s) for s in ("train", "validation", "test"))
    sizes = list(sizes if sizes is not None else DIFFICULTIES[difficulty])
    if out.pools:
        models_of = {p: sorted(out.table.loc[out.table["pool"] == p, "model"].unique()) for p in out.pools}
        pools, notes = given_pools(out.pools, models_of, difficulty, sizes, groups)
        board = None
    else:
        models = out.models
        Yall = out.matrix("score", models=models)
        board = leaderboard(Yall[np.r_[tr, va]], models)
        pools, notes = pools_for(board["model"].tolist(), difficulty, sizes, groups)
    rows, sel_frames, summaries = [], [], []
    ids = np.asarray(src.ids)
    # V_R: each test query's reference accuracy from its (sub-)benchmark (RouterEval's constants, overridable)
    test_datasets = out.queries["dataset"].astype(str).to_numpy()[te]
    done: dict[tuple[str, ...], tuple[list[dict[str, Any]], list[pd.DataFrame]]] = {}
    for pool in pools:
        pname = pool.name if out.pools else None
        if pname is None and pool.models in done:  # groups that coincide (pool = all models): same routing
            prev_rows, prev_sel = done[pool.models]
            rows += [{**r, "pool": pool.name, "group": pool.group} for r in prev_rows]
            sel_frames += [f.assign(pool=pool.name) for f in prev_sel]
            continue
        first_row, first_sel = len(rows), len(sel_frames)
        Y = out.matrix("score", models=pool.models, pool=pname)
        costs = _train_costs(out.matrix("cost", models=pool.models, pool=pname), tr)
        C_te = out.matrix("cost", models=pool.models, pool=pname)[te]
        val_means = Y[va].mean(axis=0) if va.size else None
        for rname, kind, params in _router_entries(routers):
            q, router, seconds = _fit_predict(kind, params, src, tr, te, Y, costs)
            rep = kmodel_report(Y[te], q, costs=costs, val_means=val_means, reference=reference,
                                datasets=test_datasets)
            val = rep["best_single_val"]
            sel = select_models(q, costs, val_means)
            picked_cost = C_te[np.arange(te.size), sel]
            rows.append({
                "pool": pool.name, "size": pool.size, "group": pool.group, "router": rname, "kind": kind,
                "n_test": int(te.size), **{k: _nan(rep[k]) for k in ("mu", "vb", "vb_val", "Vr", "ep",
                                                                    "selection_entropy", "oracle")},
                "best_single_test": pool.models[rep["best_single_test"]["model"]],
                "best_single_test_mean": rep["best_single_test"]["mean"],
                "best_single_val": None if val is None else pool.models[val["model"]],
                "best_single_val_test_mean": None if val is None else val["test_mean"],
                "cost_per_1k": _nan(float(picked_cost.mean() * 1000)) if not np.isnan(picked_cost).any() else None,
                "ties": rep["ties"], "selection_counts": rep["selection_counts"], "q_kind": router.q_kind,
                "fit_predict_s": seconds})
            sel_frames.append(pd.DataFrame({"query_id": ids[te], "pool": pool.name, "router": rname,
                                            "model": np.asarray(pool.models, dtype=object)[sel]}))
        done[pool.models] = (rows[first_row:], sel_frames[first_sel:])
    by_size_router: dict[tuple[int, str], dict[str, Any]] = {}
    for r in rows:
        by_size_router.setdefault((r["size"], r["router"]), {})[r["group"]] = {
            k: (math.nan if r[k] is None else r[k]) for k in ("mu", "vb", "vb_val", "Vr", "ep", "selection_entropy",
                                                            "oracle")}
    for (size, rname), reps in sorted(by_size_router.items()):
        s = kmodel_summary(reps)
        summaries.append({"size": size, "router": rname, "groups": list(reps),
                          **{k: _nan(v) for k, v in s["mean"].items()}})
    result = {"version": EVAL_VERSION, "source": src.name, "difficulty": difficulty, "sizes": sizes,
              "groups": list(groups), "n_models": len(out.models) if not out.pools else None,
              "pools": describe(pools), "notes": notes, "rows": rows, "summary": summaries,
              "leaderboard": None if board is None else board.to_dict("records"),
              "split": {"train": int(tr.size), "validation": int(va.size), "test": int(te.size)},
              "routers": {n: {"kind": k, "params": p} for n, k, p in _router_entries(routers)}}
    sel = pd.concat(sel_frames, ignore_index=True) if sel_frames else pd.DataFrame(
        columns=["query_id", "pool", "router", "model"])
    return result, sel


# --- cost-aware routing (RouterArena, R2-Router) ----------------------------------------------


def candidates(out: Outcomes) -> list:
    """R2-Router candidates of an outcome table (budget and base model per candidate)."""
    t = out.table
    cands = []
    for m in out.models:
        rows = t[t["model"] == m]
        budget, base = math.nan, m
        if "budget" in t:
            b = rows["budget"].dropna().unique()
            if len(b) > 1:
                raise ValueError(f"model {m!r} has several budgets {sorted(b)[:5]}; one budget per candidate "
                                 "(name each model@budget its own model)")
            budget = float(b[0]) if len(b) else math.nan
        if "base_model" in t:
            bm = rows["base_model"].dropna().unique()
            base = str(bm[0]) if len(bm) else m
        cands.append(Candidate(m, base, budget))
    return cands


def usage_mode(out: Outcomes, prices: Mapping[str, Any]) -> tuple[str | None, str]:
    """``tokens`` (token counts and output prices known), ``cost`` (per-query costs only) or None, and why."""
    if out.pools:
        return None, "the source defines RouterEval pools without costs"
    cands = candidates(out)
    T = out.matrix("completion_tokens")
    C = out.matrix("cost")
    unpriced = sorted({c.model for c in cands} - set(prices))
    if np.isfinite(T).all() and not unpriced:
        return "tokens", "completion tokens x output price"
    if np.isfinite(C).all():
        why = "no token counts" if not np.isfinite(T).all() else f"no output price for {unpriced}"
        return "cost", f"per-query cost predicted directly ({why})"
    return None, "the source has neither token counts with prices nor per-query costs"


def price_out(prices: Mapping[str, Any]) -> dict[str, float]:
    return {m: price_of(m, prices)[1] for m in prices}


def r2_training_arrays(src: Source, usage_kind: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    out = src.outcomes
    Y = out.matrix("score")[rows]
    U = out.matrix("completion_tokens" if usage_kind == "tokens" else "cost")[rows]
    cats = out.queries["category"].astype(str).to_numpy()[rows]
    return Y, U, cats


def train_r2(src: Source, prices: Mapping[str, Any], params: Mapping[str, Any], lambdas: Sequence[float],
             beta: float = 0.1):
    """Fit R2-Router on the train split; returns the router, the split ids and validation routing results."""
    kind, why = usage_mode(src.outcomes, prices)
    if kind is None:
        raise ValueError(f"source {src.name!r}: R2-Router cannot run: {why}")
    tr, va = src.positions("train"), src.positions("validation")
    Y, U, cats = r2_training_arrays(src, kind, tr)
    router = R2Router(**params).fit(src.X[tr], cats, Y, U, candidates(src.outcomes), usage_kind=kind,
                                    price_out=price_out(prices) if kind == "tokens" else None)
    ids = np.asarray(src.ids)
    split = {s: ids[src.positions(s)].tolist() for s in ("train", "validation", "test")}
    val = _r2_sweep(router, src, va, lambdas, beta, _per_query_cost(src, prices)) if va.size else []
    return router, split, {"split": "validation", "usage": kind, "usage_reason": why, "sweep": val}


def _per_query_cost(src: Source, prices: Mapping[str, Any]) -> np.ndarray:
    """Actual USD per (query, candidate): the table's cost, else tokens x prices."""
    out = src.outcomes
    C = out.matrix("cost")
    if np.isnan(C).any():
        P, T = out.matrix("prompt_tokens"), out.matrix("completion_tokens")
        for j, c in enumerate(candidates(out)):
            miss = np.isnan(C[:, j])
            if miss.any():
                C[miss, j] = query_cost(P[miss, j], T[miss, j], c.model, prices)
    return C


def arena_scale(Y: np.ndarray) -> tuple[bool, str | None]:
    """Whether the arena score applies to scores ``Y``, and the note that says what was done.

    The arena score needs an accuracy A in [0, 1] (docs/metrics.md section 3). Scores at most 1
    are a [0, 1] scale: a score below 0 (RouterArena's NarrativeQA METEOR of -0.033) is clipped to
    0 for the arena score's A only (``accuracy`` keeps the raw mean) and counted per row
    (``arena_clipped``) and here. Scores above 1 (judge ratings such as MT-bench's 1-10) are no
    accuracy: no arena score, and this note says why.
    """
    Y = np.asarray(Y, dtype=float)
    if Y.size == 0 or ((Y >= 0) & (Y <= 1)).all():
        return True, None
    if Y.max() > 1:
        n_over = int((Y > 1).sum())
        return False, (f"arena score not computed: {n_over} of {Y.size} test scores (query x model) exceed 1 "
                       f"(max {Y.max():g}), so the scores are not an accuracy in [0, 1]")
    n_under = int((Y < 0).sum())
    return True, (f"{n_under} of {Y.size} test scores (query x model) are below 0 (min {Y.min():g}): clipped to 0 "
                  "for the arena score's accuracy only ('accuracy' keeps the raw mean; per row: arena_clipped)")


def _cost_row(name: str, kind: str, Y: np.ndarray, C: np.ndarray, sel: np.ndarray, beta: float,
              **extra: Any) -> dict[str, Any]:
    rows = np.arange(Y.shape[0])
    y, c = Y[rows, sel], C[rows, sel]
    c1k = float(c.mean() * 1000)
    rep = {"accuracy": float(y.mean()), "cost_per_1k": c1k, "normalised_cost": normalised_cost(c1k),
           "arena_score": None, "n": int(y.size)}
    unit, _ = arena_scale(Y)
    clipped = int(((y < 0) | (y > 1)).sum()) if unit else None
    if unit:  # the arena score's A over the clipped scores, the cost over the same queries
        rep["arena_score"] = router_cost_accuracy(np.clip(y, 0.0, 1.0), c, beta)["arena_score"]
    row = {"router": name, "kind": kind, "accuracy": rep["accuracy"], "cost_per_1k": rep["cost_per_1k"],
           "normalised_cost": rep["normalised_cost"], "arena_score": rep["arena_score"], "arena_clipped": clipped,
           "n": rep["n"], **extra}
    if np.isin(Y, (0.0, 1.0)).all():
        opt = optimality(Y, C, sel)
        row.update(opt_sel=_nan(opt["opt_sel"]), opt_acc=_nan(opt["opt_acc"]), opt_cost=_nan(opt["opt_cost"]))
    else:
        row.update(opt_sel=None, opt_acc=None, opt_cost=None)
    row["selection_counts"] = np.bincount(sel, minlength=Y.shape[1]).tolist()
    return row


def _r2_sweep(router: Any, src: Source, rows: np.ndarray, lambdas: Sequence[float], beta: float,
              C: np.ndarray | None = None) -> list[dict[str, Any]]:
    Y = src.outcomes.matrix("score")[rows]
    C = (src.outcomes.matrix("cost") if C is None else C)[rows]
    pred = router.predict(src.X[rows])
    return [_cost_row(f"r2router λ={lam:g}", "r2router", Y, C, router.route(None, lam, predictions=pred), beta,
                      lam=float(lam)) for lam in lambdas]


def evaluate_cost(src: Source, routers: Mapping[str, Mapping[str, Any]], r2: Any, prices: Mapping[str, Any],
                  lambdas: Sequence[float], *, beta: float = 0.1, usage_reason: str = "") -> dict[str, Any]:
    """Accuracy, cost and arena score on the test split for single models, references, routers and R2."""
    out = src.outcomes
    models = out.models
    tr, va, te = (src.positions(s) for s in ("train", "validation", "test"))
    Y = out.matrix("score", models=models)
    C = _per_query_cost(src, prices)
    Yt, Ct = Y[te], C[te]
    rows: list[dict[str, Any]] = []
    for j, m in enumerate(models):
        rows.append(_cost_row(m, "single", Yt, Ct, np.full(te.size, j), beta))
    best = Yt == Yt.max(axis=1, keepdims=True)
    cheapest_best = np.argmin(np.where(best, Ct, np.inf), axis=1)  # per query: the cheapest best model
    rows.append(_cost_row("oracle", "reference", Yt, Ct, cheapest_best, beta))
    ids = np.asarray(src.ids)[te]
    random_pick = np.minimum((unit_hash("kmodel-random:0", ids) * len(models)).astype(int), len(models) - 1)
    rows.append(_cost_row("random", "reference", Yt, Ct, random_pick, beta))
    costs = _train_costs(C, tr)
    val_means = Y[va].mean(axis=0) if va.size else None
    for rname, kind, params in _router_entries(routers):
        if kind in ("oracle", "random"):
            continue  # the reference rows above
        q, router, _ = _fit_predict(kind, params, src, tr, te, Y, costs)
        # r_o reads the true scores: a reference, kept off the frontier of deployable routers
        row_kind = "reference" if router.needs_true_scores else "routereval"
        rows.append(_cost_row(rname, row_kind, Yt, Ct, select_models(q, costs, val_means), beta))
    # R2-Router: every lambda on test, and the lambda with the best arena score on validation.
    sweep = _r2_sweep(r2, src, te, lambdas, beta, C)
    rows += sweep
    chosen = None
    notes = [n for n in (arena_scale(Yt)[1],) if n]
    if va.size:
        val = _r2_sweep(r2, src, va, lambdas, beta, C)
        scored = [i for i, r in enumerate(val) if r["arena_score"] is not None]
        if scored:
            k = max(scored, key=lambda i: (val[i]["arena_score"], -i))  # ties: the smaller lambda
            chosen = {"lam": val[k]["lam"], "val_arena_score": val[k]["arena_score"]}
            rows.append({**sweep[k], "router": f"r2router (λ* on validation = {val[k]['lam']:g})",
                         "kind": "r2router*"})
        else:
            notes.append("λ* not chosen: no arena score on validation (" + (arena_scale(Y[va])[1] or "none") + ")")
    else:
        notes.append("λ* not chosen: the source has no validation split")
    single_pts = [{"cost": r["cost_per_1k"], "accuracy": r["accuracy"], "name": r["router"]}
                  for r in rows if r["kind"] == "single"]
    deploy_pts = [{"cost": r["cost_per_1k"], "accuracy": r["accuracy"], "name": r["router"]}
                  for r in rows if r["kind"] in ("single", "routereval", "r2router")]
    lo, hi = min(p["cost"] for p in single_pts), max(p["cost"] for p in single_pts)
    hull = frontier(deploy_pts)
    on_hull = set(hull["name"])
    for r in rows:
        r["on_frontier"] = r["router"] in on_hull
    result = {"version": EVAL_VERSION, "source": src.name, "available": True, "usage": r2.usage_kind_,
              "usage_reason": usage_reason, "models": models, "n_test": int(te.size), "rows": rows,
              "lambda_chosen": chosen, "frontier": hull, "beta": beta, "notes": notes,
              "r2_categories": r2.categories_, "r2_classifier_cv": r2.classifier_cv_}
    if hi > lo:
        result["aiq_singles"] = aiq(single_pts, (lo, hi))["aiq"]
        result["aiq_all"] = aiq(deploy_pts, (lo, hi))["aiq"]
        result["aiq_range"] = [lo, hi]
    return result


def unavailable(source: str, reason: str) -> dict[str, Any]:
    return {"version": EVAL_VERSION, "source": source, "available": False, "reason": reason, "rows": []}


def route_with_bundle(src: Source, bundle: str | Path, routers: Mapping[str, Mapping[str, Any]],
                      prices: Mapping[str, Any], lambdas: Sequence[float], *, beta: float,
                      retrain_target: str | None) -> dict[str, Any]:
    """Route the test split with an R2-Router bundle at every lambda, beside single models, the oracle and
    the RouterEval routers; ``unavailable`` when the source has no usage or the bundle could not be built."""
    bundle = Path(bundle)
    kind, why = usage_mode(src.outcomes, prices)
    if kind is None:
        return unavailable(src.name, why)
    if (bundle / "UNAVAILABLE.json").is_file():
        return unavailable(src.name, read_json(bundle / "UNAVAILABLE.json")["reason"])
    router = R2Router.load(bundle, retrain_target=retrain_target)
    router.check_compatible(candidates(src.outcomes), kind, src.X.shape[1], bundle, retrain_target)
    result = evaluate_cost(src, routers, router, prices, lambdas, beta=beta, usage_reason=why)
    result["bundle"] = str(bundle)
    return result
