"""Plain-loop reference implementations of the binary routing metrics (docs/metrics.md §1).

Written from the definitions, one query and one grid point at a time, sharing no code with
``routerlab.metrics``: the workflow tests recompute the tables' numbers with these, so a bug
in the vectorised module cannot agree with itself. Slow by design; for test-sized inputs.
"""

from __future__ import annotations

import math


def exact_curve(w, s, r) -> list[float]:
    """P(k), k = 0..n: the k lowest-scored queries go to the strong model; a tied group that
    k cuts into contributes the escalated fraction of its summed gain (s - w)."""
    n = len(w)
    groups: dict[float, list[int]] = {}
    for i, score in enumerate(r):
        groups.setdefault(float(score), []).append(i)
    ordered = [groups[key] for key in sorted(groups)]
    curve = []
    for k in range(n + 1):
        total, left = 0.0, k
        for members in ordered:
            take = min(left, len(members))
            left -= take
            frac = take / len(members)
            for i in members:
                total += w[i] + frac * (s[i] - w[i])
        curve.append(total / n)
    return curve


def grid_curve(P: list[float], points: int = 101) -> tuple[list[float], list[float]]:
    """(c_i, A_i) with c_i = i/100 and A_i = P(floor(i n / 100)) in integer arithmetic."""
    n = len(P) - 1
    steps = points - 1
    return [i / steps for i in range(points)], [P[(i * n) // steps] for i in range(points)]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def binary_metrics(w, s, r, lpm_band=(0.25, 0.30), recovery_band=(0.85, 0.95)) -> dict[str, float]:
    """LPM, MPM, HCR, APGR and CPT(20/50/80 %) of one router on one test set, each from its definition."""
    n = len(w)
    W, S = sum(w) / n, sum(s) / n
    D = S - W
    P = exact_curve(w, s, r)
    c, A = grid_curve(P)
    tol = 1e-9
    band = [i for i in range(len(c)) if lpm_band[0] - tol <= c[i] <= lpm_band[1] + tol]
    lpm = _mean([A[i] for i in band])
    anchor = A[band[-1]]
    if D <= 0:  # recovery undefined: MPM, HCR, APGR and CPT are NaN
        undefined = ("mpm", "hcr", "apgr", "cpt_20", "cpt_50", "cpt_80")
        return {"lpm": lpm, "weak": W, "strong": S, **{k: math.nan for k in undefined}}
    lo, hi = W + recovery_band[0] * D, W + recovery_band[1] * D
    ptol = tol * max(1.0, abs(W), abs(S))
    hcr_rates = [c[i] for i in range(len(c)) if lo - ptol <= A[i] <= hi + ptol]
    hcr = 1 - _mean(hcr_rates) if hcr_rates else math.nan
    mpm = _mean([a for a in A if anchor + ptol < a < lo - ptol])
    pgr = [(p - W) / D for p in P]
    apgr = sum((pgr[k] + pgr[k + 1]) / 2 / n for k in range(n))
    cpts = {}
    for x in (20, 50, 80):  # the first call rate k/n whose PGR reaches x %
        hits = [k / n for k in range(n + 1) if pgr[k] >= x / 100 - tol]
        cpts[f"cpt_{x}"] = hits[0] if hits else math.nan
    return {"lpm": lpm, "mpm": mpm, "hcr": hcr, "apgr": apgr, "weak": W, "strong": S, **cpts}


def auroc(y, r) -> float:
    """P(score of a positive > score of a negative) + half the ties, over every pair."""
    pos = [ri for yi, ri in zip(y, r) if yi == 1]
    neg = [ri for yi, ri in zip(y, r) if yi == 0]
    if not pos or not neg:
        return math.nan
    wins = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def nanmean(values: list[float]) -> float:
    """Mean over seeds as the tables take it: NaN runs skipped, all-NaN -> NaN."""
    finite = [v for v in values if not math.isnan(v)]
    return _mean(finite)
