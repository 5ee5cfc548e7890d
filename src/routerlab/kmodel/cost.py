"""Cost-aware routing scores (docs/metrics.md section 3): prices, RouterArena's score, optimality,
R2-Router's choice, the cost-accuracy frontier and AIQ."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from routerlab.core.arrays import as_list, as_vector, same_length, trapezoid
from routerlab.kmodel.metrics import as_model_vector, as_outcome_matrix


class UnknownModelError(KeyError):
    """A model name missing from the price table (never priced as $0)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "unknown model"

COST_MIN, COST_MAX = 0.0044, 200.0


def price_of(model: str, prices: Mapping[str, Any]) -> tuple[float, float]:
    if model not in prices:
        raise UnknownModelError(f"no price for model {model!r} (exact name lookup; known models: "
                                f"{sorted(prices)[:20]}{' ...' if len(prices) > 20 else ''}); never priced as $0")
    p = prices[model]
    if isinstance(p, Mapping):
        for a, b in (("input", "output"), ("price_in", "price_out")):
            if a in p and b in p:
                return float(p[a]), float(p[b])
        raise ValueError(f"price entry of {model!r} needs keys input/output (USD per 1M tokens), got {sorted(p)}")
    pin, pout = p
    return float(pin), float(pout)


def query_cost(prompt_tokens: Any, completion_tokens: Any, model: str | Sequence[str],
               prices: Mapping[str, Any]) -> float | np.ndarray:
    """Cost in USD = prompt_tokens/1e6 * price_in + completion_tokens/1e6 * price_out.

    ``prices[model]`` is ``{"input": ..., "output": ...}`` or ``(price_in, price_out)`` in USD
    per 1M tokens; ``model`` one name or one per query. Unknown model: ``UnknownModelError``.
    """
    pt, ct = np.asarray(prompt_tokens, dtype=np.float64), np.asarray(completion_tokens, dtype=np.float64)
    if pt.shape != ct.shape:
        raise ValueError(f"shape mismatch: prompt_tokens {pt.shape}, completion_tokens {ct.shape}")
    if not (np.isfinite(pt).all() and np.isfinite(ct).all()) or (pt < 0).any() or (ct < 0).any():
        raise ValueError("token counts must be finite and non-negative")
    if isinstance(model, str):
        pin, pout = price_of(model, prices)
    else:
        names = list(model)
        if len(names) != pt.size:
            raise ValueError(f"length mismatch: model has {len(names)}, prompt_tokens has {pt.size}")
        uniq, inv = np.unique(np.asarray(names, dtype=object).astype(str), return_inverse=True)
        table = np.array([price_of(str(u), prices) for u in uniq])
        pin, pout = table[inv, 0].reshape(pt.shape), table[inv, 1].reshape(pt.shape)
    cost = pt / 1e6 * pin + ct / 1e6 * pout
    return float(cost) if np.ndim(cost) == 0 else cost


def normalised_cost(c: Any) -> float | np.ndarray:
    """C = (log2 200 - log2 c) / (log2 200 - log2 0.0044), c in $/1k queries clamped to [0.0044, 200]."""
    a = np.asarray(c, dtype=np.float64)
    if np.isnan(a).any() or (a < 0).any():
        raise ValueError("cost must be non-negative and not NaN")
    cc = np.clip(a, COST_MIN, COST_MAX)
    out = (np.log2(COST_MAX) - np.log2(cc)) / (np.log2(COST_MAX) - np.log2(COST_MIN))
    return float(out) if out.ndim == 0 else out


def arena_score(acc: Any, cost_per_1k: Any, beta: float = 0.1) -> float | np.ndarray:
    """RouterArena score S = (1 + beta) A C / (beta A + C), A accuracy in [0, 1], C = normalised_cost.

    S = 0 when A = C = 0 (the limit of this weighted harmonic mean).
    """
    A = np.asarray(acc, dtype=np.float64)
    if np.isnan(A).any() or (A < 0).any() or (A > 1).any():
        raise ValueError("accuracy must be a fraction in [0, 1] (not a percentage)")
    C = np.asarray(normalised_cost(cost_per_1k))
    den = beta * A + C
    S = np.where(den > 0, (1 + beta) * A * C / np.where(den > 0, den, 1.0), 0.0)
    return float(S) if S.ndim == 0 else S


def router_cost_accuracy(correct: Any, cost: Any, beta: float = 0.1) -> dict[str, Any]:
    """Accuracy A, cost in $ per 1,000 queries, normalised cost and arena score over the same queries."""
    y, c = as_vector("correct", correct), as_vector("cost (USD per query)", cost)
    same_length(correct=y, cost=c)
    A = float(y.mean())
    c1k = float(c.mean() * 1000)
    return {"accuracy": A, "cost_per_1k": c1k, "normalised_cost": normalised_cost(c1k),
            "arena_score": arena_score(A, c1k, beta), "n": int(y.size),
            "params": {"beta": beta, "cost_clamp": [COST_MIN, COST_MAX]}}


def optimality(Y_correct: Any, costs_per_query: Any, sel: Any) -> dict[str, Any]:
    """Opt.Sel / Opt.Acc / Opt.Cost (RouterArena) over the queries some model solves.

    The optimal model is the cheapest correct one (any model at that minimal cost counts);
    Opt.Sel = share of solvable queries where the router picked it; Opt.Acc = router
    accuracy / oracle accuracy; Opt.Cost = sum of optimal cost / sum of router cost over
    the queries the router got right (1.0 when both are 0).
    """
    Yc = as_outcome_matrix("Y_correct", Y_correct)
    N, M = Yc.shape
    if not np.isin(Yc, (0.0, 1.0)).all():
        raise ValueError("Y_correct must be 0/1")
    C = np.asarray(costs_per_query, dtype=np.float64)
    C = np.broadcast_to(C, (N, M)) if C.ndim == 1 and C.size == M else as_outcome_matrix("costs_per_query", C)
    if C.shape != (N, M):
        raise ValueError(f"shape mismatch: Y_correct {Yc.shape}, costs_per_query {C.shape}")
    sel = np.asarray(sel)
    if sel.shape != (N,) or not np.issubdtype(sel.dtype, np.integer) or sel.min() < 0 or sel.max() >= M:
        raise ValueError(f"sel must be {N} integer model indices in [0, {M})")
    ok = Yc.astype(bool)
    solvable = ok.any(axis=1)
    n_solv = int(solvable.sum())
    rows = np.arange(N)
    opt_cost = np.where(ok, C, np.inf).min(axis=1)
    r_ok = ok[rows, sel]
    r_cost = C[rows, sel]
    out: dict[str, Any] = {"n": N, "n_solvable": n_solv}
    if n_solv == 0:
        out.update(opt_sel=math.nan, opt_acc=math.nan, opt_cost=math.nan, reason="no query is solved by any model")
        return out
    picked = r_ok & (r_cost == opt_cost) & solvable
    out["opt_sel"] = float(picked[solvable].mean())
    out["opt_acc"] = float(r_ok.sum() / n_solv)
    got = r_ok & solvable
    num, den = float(opt_cost[got].sum()), float(r_cost[got].sum())
    out["opt_cost"] = (num / den if den > 0 else 1.0) if got.any() else math.nan
    out["reason"] = None if got.any() else "router solved no query: Opt.Cost undefined"
    return out


def r2_router_choice(q_hat: Any, t_hat: Any, price_out: Any, lam: float) -> np.ndarray:
    """R2-Router's choice argmax_m (1 - lam) q_hat_m - lam * t_hat_m * price_out_m / 1e6.

    ``q_hat``/``t_hat`` [N, M] predicted quality / output tokens, ``price_out`` [M] USD per 1M
    tokens. Ties go to the lower expected cost t_hat * price_out, then the lower index.
    """
    Q, T = as_outcome_matrix("q_hat", q_hat), as_outcome_matrix("t_hat", t_hat)
    if Q.shape != T.shape:
        raise ValueError(f"shape mismatch: q_hat {Q.shape}, t_hat {T.shape}")
    p = as_model_vector("price_out", price_out, Q.shape[1])
    if not 0 <= lam <= 1:
        raise ValueError(f"lam must be in [0, 1], got {lam}")
    cost = T * p[None, :] / 1e6
    score = (1 - lam) * Q - lam * cost
    cand = score == score.max(axis=1, keepdims=True)
    cmin = np.where(cand, cost, np.inf).min(axis=1, keepdims=True)
    return np.argmax(cand & (cost == cmin), axis=1)


def _points(points: Any) -> tuple[np.ndarray, np.ndarray, list | None]:
    names = None
    if isinstance(points, Mapping):
        cost, acc = np.asarray(points["cost"], float), np.asarray(points["accuracy"], float)
        names = list(points["name"]) if "name" in points else None
    elif len(points) and isinstance(points[0], Mapping):
        cost = np.array([p["cost"] for p in points], float)
        acc = np.array([p["accuracy"] for p in points], float)
        names = [p.get("name") for p in points]
    else:
        a = np.asarray(points, float)
        if a.ndim != 2 or a.shape[1] != 2:
            raise ValueError(f"points must be [(cost, accuracy), ...], got shape {a.shape}")
        cost, acc = a[:, 0], a[:, 1]
    cost, acc = as_vector("cost", cost), as_vector("accuracy", acc)
    same_length(cost=cost, accuracy=acc)
    return cost, acc, names


def frontier(points: Any, *, nondecreasing: bool = False) -> dict[str, Any]:
    """Upper convex hull of (cost, accuracy) points, ordered by cost (Andrew's monotone chain).

    ``points``: [(cost, acc), ...], a list of dicts with cost/accuracy(/name), or a dict of
    arrays. ``nondecreasing=True`` drops the part after the best accuracy (RouterBench's
    non-decreasing hull). Collinear middle points are dropped. Returns cost, accuracy,
    index (into the input) and name lists.
    """
    cost, acc, names = _points(points)
    order = np.lexsort((-acc, cost))  # by cost, best accuracy first among equal costs
    hull: list[int] = []
    for i in order:
        if hull and cost[hull[-1]] == cost[i]:
            continue  # same cost, lower accuracy
        while len(hull) >= 2:
            o, a = hull[-2], hull[-1]
            cross = (cost[a] - cost[o]) * (acc[i] - acc[o]) - (acc[a] - acc[o]) * (cost[i] - cost[o])
            if cross >= 0:  # a is not strictly above segment o-i
                hull.pop()
            else:
                break
        hull.append(int(i))
    if nondecreasing:
        top = int(np.argmax(acc[hull]))
        hull = hull[:top + 1]
    return {"cost": as_list(cost[hull]), "accuracy": as_list(acc[hull]), "index": hull,
            "name": None if names is None else [names[i] for i in hull],
            "params": {"hull": "upper convex hull" + (", non-decreasing part" if nondecreasing else "")}}


def aiq(points: Any, cost_range: tuple[float, float], *, nondecreasing: bool = False) -> dict[str, Any]:
    """AIQ (RouterBench): mean of the frontier's accuracy over ``cost_range`` = area / (c1 - c0).

    The hull is linear between its points and held constant beyond its ends (flagged in
    ``extrapolated_low``/``extrapolated_high``).
    """
    c0, c1 = map(float, cost_range)
    if not c1 > c0:
        raise ValueError(f"cost_range must be (low, high) with low < high, got {cost_range}")
    h = frontier(points, nondecreasing=nondecreasing)
    hc, ha = np.array(h["cost"]), np.array(h["accuracy"])
    inner = hc[(hc > c0) & (hc < c1)]
    xs = np.r_[c0, inner, c1]
    ys = np.interp(xs, hc, ha)
    area = float(trapezoid(ys, xs))
    return {"aiq": area / (c1 - c0), "area": area, "cost_range": [c0, c1],
            "extrapolated_low": bool(c0 < hc[0]), "extrapolated_high": bool(c1 > hc[-1]),
            "frontier": h, "params": {"nondecreasing": nondecreasing, "normalised_by": "c1 - c0"}}
