"""Exact routing metrics, vectorised with numpy (``docs/metrics.md`` sections 1-4).

Orientation: a binary router gives a *weak-confidence* score ``r`` (higher = keep the
weak model); sorting by ``r`` ascending, the ``k`` lowest queries go to the strong model.
Routers whose natural output is "needs the strong model" are negated before they get here.

Two modes for the binary-routing metrics:

``clean`` (default)
    the definitions of docs/metrics.md: tied router scores are escalated as a block in
    expectation (fractional escalation, independent of input order), grid indices
    ``k_i = floor(i*n/(grid-1))`` in integer arithmetic, undefined metrics are NaN with a
    reason string. Comparisons against band edges use an absolute tolerance of
    ``TOL = 1e-9`` (scaled by the score magnitude for performance bands) so float
    round-off never decides band membership.
``compat``
    reproduces the original RouterXBench code: numpy's default (unstable) argsort with no
    tie handling, ``call_rates = np.linspace(0, 1, grid)`` and ``k = int(c * n)`` on
    floats, ``searchsorted`` LPM band, HCR/MPM of an empty band = 0.0, AUROC with one
    class = 0.5 (threshold 0.5, accuracy 0.5). Use it only to compare with published numbers.

Every function that returns a dict returns plain Python scalars/lists (NaN and +-inf
allowed, as ``json.dumps`` writes them) and records its parameters under ``params``.
Bad input raises ``ValueError`` naming the array (and lengths on a mismatch).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "MODES", "REGISTRY", "TOL", "Metric", "MetricValue", "OperatingPointPolicy", "UnknownModelError", "aiq",
    "apgr", "apgr_deciles", "apply_operating_points", "arena_score", "auroc", "band_metrics", "binary_labels",
    "binary_report", "cpt", "entropy_bits", "exact_curve", "fit_operating_points", "frontier", "get_metric",
    "kmodel_report", "kmodel_summary", "normalised_cost", "optimality", "performance_curve",
    "performance_curves_batch", "query_cost", "r2_router_choice", "recall_usage_curve", "router_cost_accuracy",
    "routereval_split", "select_models", "token_threshold_apply", "token_threshold_search", "youden",
]

TOL = 1e-9
MODES = ("clean", "compat")
TIE_RULE = {
    "clean": "fractional block escalation: a tied group cut by k contributes (escalated/size) of its "
             "summed gain s - w (expected value over tie orders; order-independent)",
    "compat": "numpy default argsort (unstable quicksort), ties broken by sort order (RouterXBench)",
}
GRID_RULE = {
    "clean": "c_i = i/(grid-1), k_i = floor(i*n/(grid-1)) in integer arithmetic",
    "compat": "c_i = np.linspace(0, 1, grid), k_i = int(c_i * n) on floats (RouterXBench)",
}


class MetricValue(NamedTuple):
    """A metric value with the reason it is NaN (or was replaced in compat mode); unpacks as ``(value, reason)``."""

    value: float
    reason: str | None = None


class UnknownModelError(KeyError):
    """A model name missing from the price table (never priced as $0)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "unknown model"


# ---------------------------------------------------------------------------
# input validation
# ---------------------------------------------------------------------------

def _check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return mode


def _vec(name: str, x: Any, *, allow_inf: bool = False) -> np.ndarray:
    """1-D float64 array, non-empty, no NaN (and finite unless ``allow_inf``)."""
    a = np.asarray(x)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty")
    try:
        a = a.astype(np.float64, copy=False)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numeric, got dtype {a.dtype}") from None
    bad = np.isnan(a) if allow_inf else ~np.isfinite(a)
    if bad.any():
        rows = np.flatnonzero(bad)
        what = "NaN" if allow_inf else "NaN/inf"
        raise ValueError(f"{name} has {rows.size} {what} value(s), first at rows {rows[:5].tolist()}")
    return a


def _same_length(**arrays: np.ndarray) -> int:
    lens = {k: len(v) for k, v in arrays.items()}
    if len(set(lens.values())) > 1:
        raise ValueError("length mismatch: " + ", ".join(f"{k} has {n}" for k, n in lens.items()))
    return next(iter(lens.values()))


def _binary(name: str, y: np.ndarray) -> np.ndarray:
    if not np.isin(y, (0.0, 1.0)).all():
        bad = np.flatnonzero(~np.isin(y, (0.0, 1.0)))
        raise ValueError(f"{name} must be 0/1, got {y[bad[0]]!r} at row {bad[0]} ({bad.size} such rows); "
                         "for real-valued (judge) scores pass judge_scored=True or explicit labels")
    return y


def _wsr(w: Any, s: Any, r: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    w, s, r = _vec("w (weak scores)", w), _vec("s (strong scores)", s), _vec("r (router scores)", r, allow_inf=True)
    _same_length(**{"w (weak scores)": w, "s (strong scores)": s, "r (router scores)": r})
    return w, s, r


_trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy >= 2.0 / 1.x


def _fl(a: np.ndarray) -> list:
    return np.asarray(a, dtype=np.float64).tolist()


# ---------------------------------------------------------------------------
# section 1: the binary routing curve
# ---------------------------------------------------------------------------

def _tie_gain(rs: np.ndarray, C: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """Escalated gain for k escalations with tied groups escalated fractionally.

    ``rs`` sorted router scores, ``C[j]`` = summed gain (s - w) of the first j sorted queries.
    When k cuts into the tied group [b, e): gain = C[b] + (k - b)/(e - b) * (C[e] - C[b]).
    """
    n = rs.size
    kk = np.minimum(ks, n - 1)
    if ks.size > 1024:  # many k (the exact curve): group bounds of every position in O(n)
        new = np.empty(n, dtype=bool)
        new[0] = True
        np.not_equal(rs[1:], rs[:-1], out=new[1:])
        starts = np.flatnonzero(new)
        gid = np.cumsum(new) - 1
        b, e = starts[gid][kk], np.r_[starts[1:], n][gid][kk]
    else:  # a few grid points: two binary searches each
        v = rs[kk]
        b = np.searchsorted(rs, v, side="left")
        e = np.searchsorted(rs, v, side="right")
    gain = C[b] + (ks - b) * (C[e] - C[b]) / (e - b)  # exact C[k] when k == b (group boundary)
    return np.where(ks >= n, C[n], gain)


def _curve_rows(w: np.ndarray, s: np.ndarray, R: np.ndarray, ks: np.ndarray, mode: str,
                max_elems: int = 4_000_000) -> np.ndarray:
    """P(k) for every row of R (shape [m, n]) at integer ks -> array [m, len(ks)]."""
    m, n = R.shape
    out = np.empty((m, ks.size))
    if mode == "compat":
        for j in range(m):  # loop over routers only; each row is vectorised
            order = np.argsort(R[j])
            ps, pw = np.cumsum(s[order]), np.cumsum(w[order])
            total_small = pw[-1]
            km1 = np.clip(ks - 1, 0, n - 1)
            row = (ps[km1] + (total_small - pw[km1])) / n
            row = np.where(ks <= 0, total_small / n, row)
            out[j] = np.where(ks >= n, np.mean(s[order]), row)
        return out
    g = s - w
    sum_w = w.sum()
    chunk = max(1, max_elems // n)
    for start in range(0, m, chunk):
        Rc = R[start:start + chunk]
        order = np.argsort(Rc, axis=1)  # order within ties is irrelevant (block escalation)
        rs = np.take_along_axis(Rc, order, axis=1)
        C = np.zeros((Rc.shape[0], n + 1))
        np.cumsum(g[order], axis=1, out=C[:, 1:])
        for j in range(Rc.shape[0]):
            out[start + j] = (sum_w + _tie_gain(rs[j], C[j], ks)) / n
    return out


def _grid(n: int, grid: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """(call rates c_i, integer escalation counts k_i) for a grid of ``grid`` points."""
    if int(grid) != grid or grid < 2:
        raise ValueError(f"grid must be an integer >= 2, got {grid!r}")
    grid = int(grid)
    i = np.arange(grid, dtype=np.int64)
    if mode == "clean":
        return i / (grid - 1), (i * n) // (grid - 1)
    c = np.linspace(0, 1, grid)
    return c, (c * n).astype(np.int64)


def exact_curve(w: Any, s: Any, r: Any, mode: str = "clean") -> np.ndarray:
    """Exact curve P(k), k = 0..n (array of n + 1 floats).

    P(k) = (1/n)[sum_{j<=k} s_(j) + sum_{j>k} w_(j)] with queries sorted by r ascending;
    P(0) = W, P(n) = S. Clean mode averages tied groups (fractional block escalation).
    """
    _check_mode(mode)
    w, s, r = _wsr(w, s, r)
    n = w.size
    return _curve_rows(w, s, r[None, :], np.arange(n + 1), mode)[0]


def _means(w: np.ndarray, s: np.ndarray) -> tuple[float, float, float]:
    n = w.size
    sw, ss = w.sum(), s.sum()
    return float(sw / n), float(ss / n), float((ss - sw) / n)


def performance_curves_batch(w: Any, s: Any, R: Any, grid: int = 101, mode: str = "clean",
                             as_arrays: bool = False) -> dict[str, Any]:
    """Grid curves A_i = P(k_i) for many routers at once (R: [n_routers, n] or [n]).

    One sort per router, a cumulative sum of gains and a binary search per grid point;
    exact tie handling as in :func:`exact_curve`. Returns ``call_rate`` [G], ``k`` [G],
    ``performance`` and ``recovery`` ([n_routers, G], or [G] for a 1-D R); lists unless
    ``as_arrays``. RR = (A - W)/Delta, NaN when Delta <= 0.
    """
    _check_mode(mode)
    w, s = _vec("w (weak scores)", w), _vec("s (strong scores)", s)
    R = np.asarray(R)
    single = R.ndim == 1
    R2 = np.atleast_2d(R).astype(np.float64, copy=False)
    if R2.ndim != 2:
        raise ValueError(f"R must be 1-D or 2-D [n_routers, n], got shape {R.shape}")
    if R2.shape[1] == 0 or R2.shape[0] == 0:
        raise ValueError(f"R is empty (shape {R.shape})")
    _same_length(**{"w (weak scores)": w, "s (strong scores)": s, "R (per router)": R2[0]})
    nan_rows = np.flatnonzero(np.isnan(R2).any(axis=1))
    if nan_rows.size:
        raise ValueError(f"R has NaN scores in router row(s) {nan_rows[:5].tolist()}")
    n = w.size
    c, ks = _grid(n, grid, mode)
    perf = _curve_rows(w, s, R2, ks, mode)
    W, S, delta = _means(w, s)
    rec = (perf - W) / delta if delta > 0 else np.full_like(perf, np.nan)
    if single:
        perf, rec = perf[0], rec[0]
    conv = (lambda a: a) if as_arrays else _fl
    return {
        "call_rate": conv(c), "k": ks if as_arrays else ks.tolist(),
        "performance": conv(perf), "recovery": conv(rec),
        "weak_mean": W, "strong_mean": S, "delta": delta, "n": n,
        "params": {"grid": int(grid), "mode": mode, "tie_rule": TIE_RULE[mode], "grid_rule": GRID_RULE[mode]},
    }


def performance_curve(w: Any, s: Any, r: Any, grid: int = 101, mode: str = "clean") -> dict[str, Any]:
    """Performance curve of one router on the call-rate grid.

    Returns ``call_rate`` c_i, ``k`` k_i, ``performance`` A_i = P(k_i), ``recovery``
    RR_i = (A_i - W)/Delta (NaN when Delta <= 0), W, S, Delta, n and params.
    """
    _check_mode(mode)
    w, s, r = _wsr(w, s, r)
    return performance_curves_batch(w, s, r, grid=grid, mode=mode)


# -- AUROC / Youden ---------------------------------------------------------

def _roc(y: np.ndarray, r: np.ndarray) -> dict[str, Any]:
    """AUROC (Mann-Whitney with average ranks) and Youden's J point, from one sort of r."""
    n = y.size
    order = np.argsort(r)
    rs, ys = r[order], y[order].astype(np.int64)
    P = int(ys.sum())
    N = n - P
    if P == 0 or N == 0:
        return {"one_class": True, "n_pos": P, "n_neg": N}
    starts = np.flatnonzero(np.r_[True, rs[1:] != rs[:-1]])
    ends = np.r_[starts[1:], n]
    cy = np.r_[0, np.cumsum(ys)]
    pos_g = cy[ends] - cy[starts]
    # 2 x (average 1-based rank of a group [b, e)) = b + e + 1; integer arithmetic throughout
    s2 = int((pos_g * (starts + ends + 1)).sum())
    auc = (s2 - P * (P + 1)) / (2 * P * N)
    # Youden: predict y = 1 when r >= t; thresholds descending, led by +inf (nothing predicted)
    tp = np.r_[0, (P - cy[starts])[::-1]]
    pred = np.r_[0, (n - starts)[::-1]]
    fp = pred - tp
    j = tp / P - fp / N
    best = int(np.argmax(j))  # first (highest-threshold) maximum, as sklearn's roc_curve + argmax
    thr = math.inf if best == 0 else float(rs[starts[::-1][best - 1]])
    acc = (tp[best] + (N - fp[best])) / n
    return {"one_class": False, "auroc": float(auc), "youden_threshold": thr, "youden_accuracy": float(acc),
            "youden_j": float(j[best]), "n_pos": P, "n_neg": N}


def _yr(y: Any, r: Any) -> tuple[np.ndarray, np.ndarray]:
    y, r = _vec("y (labels)", y), _vec("r (router scores)", r, allow_inf=True)
    _same_length(y=y, r=r)
    return _binary("y (labels)", y), r


def _one_class_reason(P: int, N: int) -> str:
    return f"one class present in labels ({P} positive, {N} negative): AUROC undefined"


def auroc(y: Any, r: Any, *, mode: str = "clean") -> MetricValue:
    """AUROC of r against 0/1 labels y (ties count half), equal to sklearn's ``roc_auc_score``.

    AUROC = (R_pos - P(P+1)/2) / (P N) with average ranks R. One class present: NaN with a
    reason (compat: 0.5, reason still given).
    """
    _check_mode(mode)
    y, r = _yr(y, r)
    st = _roc(y, r)
    if st["one_class"]:
        reason = _one_class_reason(st["n_pos"], st["n_neg"])
        return MetricValue(0.5, reason + " (compat: 0.5)") if mode == "compat" else MetricValue(math.nan, reason)
    return MetricValue(st["auroc"], None)


def youden(y: Any, r: Any, *, mode: str = "clean") -> dict[str, Any]:
    """Youden's J point: threshold t maximising TPR - FPR for "y = 1 iff r >= t", and its accuracy.

    Thresholds are the distinct r values plus +inf (predict nothing); ties in J go to the
    highest threshold, as ``sklearn.metrics.roc_curve`` followed by ``argmax``. One class:
    NaN (compat: threshold 0.5, accuracy 0.5).
    """
    _check_mode(mode)
    y, r = _yr(y, r)
    st = _roc(y, r)
    if st["one_class"]:
        reason = _one_class_reason(st["n_pos"], st["n_neg"])
        if mode == "compat":
            return {"threshold": 0.5, "accuracy": 0.5, "j": math.nan, "reason": reason + " (compat: 0.5)"}
        return {"threshold": math.nan, "accuracy": math.nan, "j": math.nan, "reason": reason}
    return {"threshold": st["youden_threshold"], "accuracy": st["youden_accuracy"], "j": st["youden_j"],
            "reason": None}


# -- band metrics -------------------------------------------------------------

def band_metrics(call_rate: Any, performance: Any, weak_mean: float, strong_mean: float, *,
                 lpm_band: tuple[float, float] = (0.25, 0.30),
                 recovery_band: tuple[float, float] = (0.85, 0.95),
                 mode: str = "clean") -> dict[str, Any]:
    """LPM, its anchor, MPM and HCR of a grid curve (A_i at call rates c_i).

    LPM = mean{A_i : c_i in [l0, l1]} (1e-9 tolerance), anchor a = A at the last grid point
    in the band; HCR = 1 - mean{c_i : W + rho0 D <= A_i <= W + rho1 D}; MPM = mean{A_i :
    a < A_i < W + rho0 D}. Empty sets / D <= 0 give NaN (HCR and MPM) with a reason (compat: 0.0, and the
    LPM band by ``searchsorted`` as RouterXBench).
    """
    _check_mode(mode)
    c = _vec("call_rate", call_rate)
    A = _vec("performance", performance)
    _same_length(call_rate=c, performance=A)
    l0, l1 = map(float, lpm_band)
    p0, p1 = map(float, recovery_band)
    if not (l0 <= l1 and p0 <= p1):
        raise ValueError(f"bands must be (low, high) with low <= high, got lpm_band={lpm_band}, "
                         f"recovery_band={recovery_band}")
    W, S = float(weak_mean), float(strong_mean)
    D = S - W
    out: dict[str, Any] = {}
    if mode == "compat":
        G = c.size
        lo_ = max(0.0, min(1.0, l0))
        hi_ = max(lo_, min(1.0, l1))
        start, end = int(np.searchsorted(c, lo_, "left")), int(np.searchsorted(c, hi_, "right"))
        if end <= start:
            end = min(start + 1, G)
        start = min(start, G - 1)
        out["lpm"], out["lpm_reason"] = float(np.mean(A[start:end])), None
        anchor = float(A[min(end - 1, G - 1)])
        out["lpm_anchor"] = anchor
        low_acc, high_acc = W + D * p0, W + D * p1
        mask = (A >= low_acc) & (A <= high_acc)
        if mask.any():
            out["hcr"], out["hcr_reason"] = float(1 - np.mean(c[mask])), None
        else:
            out["hcr"], out["hcr_reason"] = 0.0, "no grid point in the recovery band (compat: 0.0)"
        mmask = (A > anchor) & (A < low_acc)
        if mmask.any():
            out["mpm"], out["mpm_reason"] = float(np.mean(A[mmask])), None
        else:
            out["mpm"], out["mpm_reason"] = 0.0, "no grid point between the LPM anchor and the recovery band (compat: 0.0)"
        return out
    in_band = (c >= l0 - TOL) & (c <= l1 + TOL)
    if in_band.any():
        out["lpm"], out["lpm_reason"] = float(np.mean(A[in_band])), None
        out["lpm_anchor"] = float(A[np.flatnonzero(in_band)[-1]])
    else:
        out["lpm"] = out["lpm_anchor"] = math.nan
        out["lpm_reason"] = f"no grid call rate in the LPM band [{l0}, {l1}]"
    ptol = TOL * max(1.0, abs(W), abs(S))
    lo = W + p0 * D
    if D <= 0:
        out["hcr"], out["hcr_reason"] = math.nan, f"delta = S - W = {D:.6g} <= 0: recovery band undefined"
    else:
        hi = W + p1 * D
        mask = (A >= lo - ptol) & (A <= hi + ptol)
        if mask.any():
            out["hcr"], out["hcr_reason"] = float(1 - np.mean(c[mask])), None
        else:
            out["hcr"], out["hcr_reason"] = math.nan, f"no grid point with recovery in [{p0}, {p1}]"
    a = out["lpm_anchor"]
    if D <= 0:  # the band's upper edge W + rho0 D is a recovery level: undefined, as for HCR and RR
        out["mpm"], out["mpm_reason"] = math.nan, f"delta = S - W = {D:.6g} <= 0: recovery band undefined"
    elif math.isnan(a):
        out["mpm"], out["mpm_reason"] = math.nan, "LPM anchor undefined (" + out["lpm_reason"] + ")"
    else:
        mmask = (A > a + ptol) & (A < lo - ptol)
        if mmask.any():
            out["mpm"], out["mpm_reason"] = float(np.mean(A[mmask])), None
        else:
            out["mpm"], out["mpm_reason"] = math.nan, (
                f"no grid point with LPM anchor {a:.6g} < A < W + {p0} delta = {lo:.6g}")
    return out


# -- PGR / APGR / CPT ---------------------------------------------------------

def _pgr_reason(delta: float) -> str:
    return f"delta = S - W = {delta:.6g} <= 0: PGR/recovery undefined"


def apgr(P: Any, weak_mean: float, strong_mean: float) -> MetricValue:
    """APGR = integral_0^1 PGR(c) dc by the trapezoid rule over the exact curve P(k), c = k/n."""
    P = _vec("P (exact curve)", P)
    D = float(strong_mean) - float(weak_mean)
    if D <= 0:
        return MetricValue(math.nan, _pgr_reason(D))
    n = P.size - 1
    if n < 1:
        raise ValueError("exact curve needs n + 1 >= 2 points")
    pgr = (P - weak_mean) / D
    return MetricValue(float(_trapezoid(pgr, dx=1.0 / n)), None)


def cpt(P: Any, weak_mean: float, strong_mean: float, x: float) -> MetricValue:
    """CPT(x) = smallest call rate k/n on the exact curve with PGR(k) >= x (first crossing)."""
    P = _vec("P (exact curve)", P)
    D = float(strong_mean) - float(weak_mean)
    if D <= 0:
        return MetricValue(math.nan, _pgr_reason(D))
    n = P.size - 1
    hit = np.flatnonzero((P - weak_mean) / D >= x - TOL)
    if hit.size == 0:
        return MetricValue(math.nan, f"PGR never reaches {x}")
    return MetricValue(float(hit[0] / n), None)


def apgr_deciles(w: Any, s: Any, r: Any, n_bins: int = 10) -> MetricValue:
    """APGR as the RouteLLM code prints it: trapezoid over the 11 points at deciles of the scores.

    With u = -r (strong win rate), edges t_0..t_10 = quantiles of u (linear, as pandas'
    ``qcut``); point i escalates u >= t_i (the last: u > t_10, i.e. none); points are ordered
    by call rate and APGR = trapz(PGR, call rate). Duplicate edges are kept (zero width).
    """
    w, s, r = _wsr(w, s, r)
    W, _, D = _means(w, s)
    if D <= 0:
        return MetricValue(math.nan, _pgr_reason(D))
    u = -r
    edges = np.quantile(u, np.linspace(0, 1, n_bins + 1))
    order = np.argsort(r)
    rs = r[order]
    C = np.r_[0.0, np.cumsum((s - w)[order])]
    k = np.searchsorted(rs, -edges, side="right")  # #{u >= t} = #{r <= -t} (negation is exact)
    k[-1] = np.searchsorted(rs, -edges[-1], side="left")  # last edge: u > t
    calls = k / w.size
    perf = (w.sum() + C[k]) / w.size
    order = np.argsort(calls, kind="stable")
    pgr = (perf[order] - W) / D
    return MetricValue(float(_trapezoid(pgr, calls[order])), None)


# -- labels and the report ----------------------------------------------------

def binary_labels(w: Any, s: Any, *, judge_scored: bool = False) -> tuple[np.ndarray, str]:
    """AUROC labels: y = w (0/1 correctness) or y = 1[w >= s] for judge-scored sets; returns (y, rule)."""
    w, s = _vec("w (weak scores)", w), _vec("s (strong scores)", s)
    _same_length(w=w, s=s)
    if judge_scored:
        return (w >= s).astype(np.float64), "y = 1[w >= s] (judge-scored)"
    return _binary("w (weak scores, used as labels y = w)", w), "y = w (correctness-scored)"


def binary_report(w: Any, s: Any, r: Any, *, labels: Any = None, judge_scored: bool = False,
                  unparsed: Any = None, lpm_band: tuple[float, float] = (0.25, 0.30),
                  recovery_band: tuple[float, float] = (0.85, 0.95), grid: int = 101,
                  mode: str = "clean") -> dict[str, Any]:
    """Every section-1 metric of one router on one test set.

    Keys: n, n_unparsed_excluded, weak_mean W, strong_mean S, delta, label_rule, n_label_pos,
    auroc, youden_threshold, youden_accuracy, lpm, lpm_anchor, mpm, hcr, apgr, apgr_deciles,
    cpt_20/50/80, a ``*_reason`` string beside each that can be NaN (None when defined),
    and ``params``. ``unparsed``: boolean mask of rows (e.g. unparsable judge outputs)
    excluded before anything is computed, and counted.
    """
    _check_mode(mode)
    w = _vec("w (weak scores)", w) if unparsed is None else np.asarray(w, dtype=np.float64)
    s = _vec("s (strong scores)", s) if unparsed is None else np.asarray(s, dtype=np.float64)
    r = np.asarray(r, dtype=np.float64)
    n_excl = 0
    if unparsed is not None:
        mask = np.asarray(unparsed)
        if mask.dtype != bool:
            raise ValueError(f"unparsed must be a boolean mask, got dtype {mask.dtype}")
        arrays = {"w": w, "s": s, "r": r, "unparsed": mask}
        if labels is not None:
            arrays["labels"] = np.asarray(labels)
        _same_length(**arrays)
        n_excl = int(mask.sum())
        if n_excl == mask.size:
            raise ValueError(f"all {n_excl} rows are marked unparsed: nothing left to score")
        keep = ~mask
        w, s, r = w[keep], s[keep], r[keep]
        if labels is not None:
            labels = np.asarray(labels)[keep]
    w, s, r = _wsr(w, s, r)
    if labels is not None:
        y = _binary("labels", _vec("labels", labels))
        _same_length(w=w, labels=y)
        label_rule = "explicit labels"
    else:
        y, label_rule = binary_labels(w, s, judge_scored=judge_scored)
    n = w.size
    W, S, D = _means(w, s)
    rep: dict[str, Any] = {"n": n, "n_unparsed_excluded": n_excl, "weak_mean": W, "strong_mean": S,
                           "delta": D, "label_rule": label_rule, "n_label_pos": int(y.sum())}
    st = _roc(y, r)
    if st["one_class"]:
        reason = _one_class_reason(st["n_pos"], st["n_neg"])
        if mode == "compat":
            rep.update(auroc=0.5, auroc_reason=reason + " (compat: 0.5)", youden_threshold=0.5, youden_accuracy=0.5)
        else:
            rep.update(auroc=math.nan, auroc_reason=reason, youden_threshold=math.nan, youden_accuracy=math.nan)
    else:
        rep.update(auroc=st["auroc"], auroc_reason=None, youden_threshold=st["youden_threshold"],
                   youden_accuracy=st["youden_accuracy"])
    c, ks = _grid(n, grid, mode)
    exact = _curve_rows(w, s, r[None, :], np.arange(n + 1), mode)[0]
    A = exact[ks]  # the grid curve is the exact curve sampled at k_i
    if mode == "compat":  # HCR bounds from np.mean, as the original
        Wc, Sc = float(np.mean(w)), float(np.mean(s))
    else:
        Wc, Sc = W, S
    rep.update(band_metrics(c, A, Wc, Sc, lpm_band=lpm_band, recovery_band=recovery_band, mode=mode))
    ap = apgr(exact, W, S)
    rep["apgr"], rep["apgr_reason"] = ap
    rep["apgr_deciles"] = apgr_deciles(w, s, r).value
    for x in (20, 50, 80):
        rep[f"cpt_{x}"] = cpt(exact, W, S, x / 100).value
    rep["cpt_reason"] = ap.reason
    rep["params"] = {
        "lpm_band": [float(v) for v in lpm_band], "recovery_band": [float(v) for v in recovery_band],
        "grid": int(grid), "mode": mode, "tie_rule": TIE_RULE[mode], "grid_rule": GRID_RULE[mode],
        "band_tolerance": TOL if mode == "clean" else 0.0, "label_rule": label_rule,
        "orientation": "r = weak-confidence; the k lowest r go to the strong model",
        "apgr": "trapezoid over the exact curve k = 0..n", "cpt": "first k/n with PGR >= x on the exact curve",
        "apgr_deciles": "trapezoid over 11 decile thresholds of -r (RouteLLM)",
    }
    return rep


# -- operating points ---------------------------------------------------------

def _op_stats(w: np.ndarray, s: np.ndarray, pos: np.ndarray, esc: np.ndarray) -> dict[str, Any]:
    """Call rate, recall, precision, performance, recovery of an escalation mask."""
    n = w.size
    W, _, D = _means(w, s)
    k, P, tp = int(esc.sum()), int(pos.sum()), int((esc & pos).sum())
    perf = float(np.where(esc, s, w).sum() / n)
    return {"call_rate": k / n, "recall": tp / P if P else math.nan, "precision": tp / k if k else math.nan,
            "performance": perf, "recovery": (perf - W) / D if D > 0 else math.nan,
            "n": n, "n_positive": P, "n_escalated": k}


class OperatingPointPolicy:
    """Operating points chosen on validation and reported on test (docs/metrics.md §1.10).

    A positive is a query the weak model gets wrong (label y = 0: y = w, or 1[w >= s] when
    ``judge_scored``). A point is a threshold t: **escalate iff r <= t** - always a prefix
    of the curve's "k lowest go to strong", made of whole tie groups. Candidate thresholds
    are -inf (escalate nothing) and every distinct validation score.

    * ``recall`` targets: the smallest t (min call rate) with validation recall >= target;
    * ``budgets`` b: the t with validation call rate <= b maximising validation
      performance (ties -> lower call rate);
    * ``thresholds``: fixed t, nothing fitted.

    Hyper-parameters only in ``__init__``; ``fit`` sets ``points_`` and ``n_validation_``.
    """

    def __init__(self, recall_targets: Sequence[float] = (0.8, 0.9, 0.95),
                 budgets: Sequence[float] = (0.1, 0.2, 0.3, 0.5), thresholds: Sequence[float] = (),
                 judge_scored: bool = False):
        self.recall_targets = tuple(recall_targets)
        self.budgets = tuple(budgets)
        self.thresholds = tuple(thresholds)
        self.judge_scored = judge_scored

    def get_params(self) -> dict[str, Any]:
        return {"recall_targets": [float(x) for x in self.recall_targets], "budgets": [float(x) for x in self.budgets],
                "thresholds": [float(x) for x in self.thresholds], "judge_scored": bool(self.judge_scored)}

    def _data(self, w: Any, s: Any, r: Any, labels: Any) -> tuple[np.ndarray, ...]:
        w, s, r = _wsr(w, s, r)
        if labels is None:
            y, _ = binary_labels(w, s, judge_scored=self.judge_scored)
        else:
            y = _binary("labels", _vec("labels", labels))
            _same_length(w=w, labels=y)
        return w, s, r, y == 0

    def fit(self, w: Any, s: Any, r: Any, labels: Any = None) -> OperatingPointPolicy:
        """Choose every point's threshold on validation data."""
        for t in self.recall_targets:
            if not 0 < t <= 1:
                raise ValueError(f"recall targets must be in (0, 1], got {t}")
        for b in self.budgets:
            if not 0 <= b <= 1:
                raise ValueError(f"budgets must be call rates in [0, 1], got {b}")
        w, s, r, pos = self._data(w, s, r, labels)
        n = w.size
        order = np.argsort(r)
        rs = r[order]
        ends = np.r_[np.flatnonzero(rs[1:] != rs[:-1]) + 1, n]  # k at each group end
        ks = np.r_[0, ends]
        thr = np.r_[-np.inf, rs[ends - 1]]
        cpos = np.r_[0, np.cumsum(pos[order])]
        cgain = np.r_[0.0, np.cumsum((s - w)[order])]
        P = int(pos.sum())
        recall = cpos[ks] / P if P else np.full(ks.size, np.nan)
        perf = (w.sum() + cgain[ks]) / n
        calls = ks / n
        points: list[dict[str, Any]] = []

        def add(kind: str, target: float, t: float, reason: str | None = None) -> None:
            val = _op_stats(w, s, pos, r <= t)
            points.append({"kind": kind, "target": float(target), "threshold": float(t), "reason": reason,
                           "validation": val})

        for tgt in self.recall_targets:
            if P == 0:
                add("recall", tgt, -np.inf, "no positives on validation (weak model never wrong): escalate nothing")
                continue
            ok = np.flatnonzero(cpos[ks] >= tgt * P - TOL)
            add("recall", tgt, thr[ok[0]])
        for b in self.budgets:
            ok = np.flatnonzero(calls <= b + TOL)
            best = ok[np.argmax(perf[ok])]  # first maximum = lowest call rate
            add("budget", b, thr[best])
        for t in self.thresholds:
            add("threshold", t, float(t))
        self.points_ = points
        self.n_validation_ = n
        self.validation_recall_curve_ = {"threshold": _fl(thr), "call_rate": _fl(calls), "recall": _fl(recall)}
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "points_"):
            raise RuntimeError("OperatingPointPolicy is not fitted: call fit(w_val, s_val, r_val) or from_dict()")

    def predict(self, r: Any) -> np.ndarray:
        """Escalation masks [n_points, n]: True where r <= the point's threshold."""
        self._check_fitted()
        r = _vec("r (router scores)", r, allow_inf=True)
        return r[None, :] <= np.array([p["threshold"] for p in self.points_])[:, None]

    def apply(self, w: Any, s: Any, r: Any, labels: Any = None) -> list[dict[str, Any]]:
        """Report every fitted point on (test) data: kind, target, threshold, call_rate, recall,
        precision, performance, recovery (+ counts and the validation numbers)."""
        self._check_fitted()
        w, s, r, pos = self._data(w, s, r, labels)
        out = []
        for p, esc in zip(self.points_, self.predict(r)):
            row = {"kind": p["kind"], "target": p["target"], "threshold": p["threshold"]}
            row.update(_op_stats(w, s, pos, esc))
            row["reason"] = p.get("reason")
            row["validation"] = dict(p["validation"])
            out.append(row)
        return out

    transform = apply

    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {"class": "OperatingPointPolicy", "params": self.get_params(),
                "rule": "escalate iff r <= threshold", "n_validation": self.n_validation_,
                "points": [dict(p) for p in self.points_]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> OperatingPointPolicy:
        if d.get("class") != "OperatingPointPolicy":
            raise ValueError(f"not an OperatingPointPolicy dict (class={d.get('class')!r})")
        obj = cls(**d["params"])
        obj.points_ = [dict(p) for p in d["points"]]
        obj.n_validation_ = int(d["n_validation"])
        return obj


def fit_operating_points(w_val: Any, s_val: Any, r_val: Any, *, recall_targets: Sequence[float] = (0.8, 0.9, 0.95),
                         budgets: Sequence[float] = (0.1, 0.2, 0.3, 0.5), thresholds: Sequence[float] = (),
                         judge_scored: bool = False, labels: Any = None) -> dict[str, Any]:
    """Fit an :class:`OperatingPointPolicy` on validation data; returns its JSON-able dict."""
    pol = OperatingPointPolicy(recall_targets, budgets, thresholds, judge_scored)
    return pol.fit(w_val, s_val, r_val, labels).to_dict()


def apply_operating_points(points: Mapping[str, Any] | OperatingPointPolicy, w_test: Any, s_test: Any,
                           r_test: Any, labels: Any = None) -> list[dict[str, Any]]:
    """Report fitted operating points (a policy or its dict) on test data."""
    pol = points if isinstance(points, OperatingPointPolicy) else OperatingPointPolicy.from_dict(points)
    return pol.apply(w_test, s_test, r_test, labels)


# ---------------------------------------------------------------------------
# section 2: K-model routing (RouterEval)
# ---------------------------------------------------------------------------

def _mat(name: str, x: Any) -> np.ndarray:
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


def _model_vec(name: str, x: Any, M: int) -> np.ndarray:
    a = _vec(name, x)
    if a.size != M:
        raise ValueError(f"length mismatch: {name} has {a.size}, but there are {M} models (columns)")
    return a


def select_models(q: Any, costs: Any = None, val_means: Any = None, *,
                  return_info: bool = False) -> np.ndarray | tuple[np.ndarray, dict[str, int]]:
    """sel_i = argmax_j q_ij; ties -> cheaper model, then higher validation mean, then lower index.

    ``info`` counts rows with a tie at the maximum and how each was resolved
    (``by_cost``, ``by_val_mean``, ``by_index`` - the last is reported, never silent).
    """
    q = _mat("q", q)
    M = q.shape[1]
    cost = np.zeros(M) if costs is None else _model_vec("costs", costs, M)
    val = np.zeros(M) if val_means is None else _model_vec("val_means", val_means, M)
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
    Y = _mat("Y", Y)
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
        Q = _mat("q", qa)
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
        vm = _model_vec("val_means", val_means, M)
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
    rep["model_means"] = _fl(means)
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


# ---------------------------------------------------------------------------
# section 3: cost-aware scores (RouterArena, R2-Router, RouterBench)
# ---------------------------------------------------------------------------

COST_MIN, COST_MAX = 0.0044, 200.0


def _price(model: str, prices: Mapping[str, Any]) -> tuple[float, float]:
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
        pin, pout = _price(model, prices)
    else:
        names = list(model)
        if len(names) != pt.size:
            raise ValueError(f"length mismatch: model has {len(names)}, prompt_tokens has {pt.size}")
        uniq, inv = np.unique(np.asarray(names, dtype=object).astype(str), return_inverse=True)
        table = np.array([_price(str(u), prices) for u in uniq])
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
    y, c = _vec("correct", correct), _vec("cost (USD per query)", cost)
    _same_length(correct=y, cost=c)
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
    Yc = _mat("Y_correct", Y_correct)
    N, M = Yc.shape
    if not np.isin(Yc, (0.0, 1.0)).all():
        raise ValueError("Y_correct must be 0/1")
    C = np.asarray(costs_per_query, dtype=np.float64)
    C = np.broadcast_to(C, (N, M)) if C.ndim == 1 and C.size == M else _mat("costs_per_query", C)
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
    Q, T = _mat("q_hat", q_hat), _mat("t_hat", t_hat)
    if Q.shape != T.shape:
        raise ValueError(f"shape mismatch: q_hat {Q.shape}, t_hat {T.shape}")
    p = _model_vec("price_out", price_out, Q.shape[1])
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
    cost, acc = _vec("cost", cost), _vec("accuracy", acc)
    _same_length(cost=cost, accuracy=acc)
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
    return {"cost": _fl(cost[hull]), "accuracy": _fl(acc[hull]), "index": hull,
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
    area = float(_trapezoid(ys, xs))
    return {"aiq": area / (c1 - c0), "area": area, "cost_range": [c0, c1],
            "extrapolated_low": bool(c0 < hc[0]), "extrapolated_high": bool(c1 > hc[-1]),
            "frontier": h, "params": {"nondecreasing": nondecreasing, "normalised_by": "c1 - c0"}}


# ---------------------------------------------------------------------------
# section 4: token-level threshold (R2R)
# ---------------------------------------------------------------------------

def _py(p: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    p, y = _vec("p (probabilities)", p), _vec("y (labels)", y)
    _same_length(p=p, y=y)
    if (p < 0).any() or (p > 1).any():
        raise ValueError("p must be probabilities in [0, 1]")
    return p, _binary("y (labels)", y)


def _recall_usage(p: np.ndarray, y: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """(recall, positive rate, #positives, TP counts) of "predict positive iff p >= t" for each t."""
    n = p.size
    ps, pp = np.sort(p), np.sort(p[y == 1])
    P = pp.size
    pred = n - np.searchsorted(ps, t, side="left")  # count of p >= t
    tp = P - np.searchsorted(pp, t, side="left")
    recall = tp / P if P else np.full(t.size, np.nan)
    return recall, pred / n, P, tp


def recall_usage_curve(p: Any, y: Any, thresholds: Any) -> dict[str, Any]:
    """recall(t) = TP/(TP+FN) and positive rate(t) = mean(p >= t) for each threshold t."""
    p, y = _py(p, y)
    t = _vec("thresholds", thresholds)
    recall, rate, P, _ = _recall_usage(p, y, t)
    return {"threshold": _fl(t), "recall": _fl(recall), "positive_rate": _fl(rate),
            "prevalence": float(y.mean()), "n": int(p.size), "n_positive": P}


def token_threshold_search(p_val: Any, y_val: Any, *, r_min: float = 0.95, mode: str = "grid") -> dict[str, Any]:
    """tau* = the candidate with the lowest positive rate subject to recall >= r_min (lowest tau among equals).

    Candidates: ``linspace(0.01, 0.99, 100)`` (``grid``) or every distinct p (``exact``).
    If none qualifies: ``qualified = False``, threshold/recall/positive_rate NaN, and the best
    recall reached (never a silent fallback). ``usage_floor = r_min * prevalence``: the
    positive rate can never be lower.
    """
    if mode not in ("grid", "exact"):
        raise ValueError(f"mode must be 'grid' or 'exact', got {mode!r}")
    if not 0 < r_min <= 1:
        raise ValueError(f"r_min must be in (0, 1], got {r_min}")
    p, y = _py(p_val, y_val)
    cands = np.linspace(0.01, 0.99, 100) if mode == "grid" else np.unique(p)
    recall, rate, P, tp = _recall_usage(p, y, cands)
    prev = float(y.mean())
    out: dict[str, Any] = {"n": int(p.size), "n_positive": P, "prevalence": prev, "usage_floor": r_min * prev,
                           "params": {"r_min": r_min, "mode": mode, "n_candidates": int(cands.size),
                                      "candidates": "linspace(0.01, 0.99, 100)" if mode == "grid" else "distinct p",
                                      "rule": "lowest positive rate with recall >= r_min; lowest tau among equals"}}
    nan3 = {"threshold": math.nan, "recall": math.nan, "positive_rate": math.nan}
    if P == 0:
        out.update(qualified=False, best_recall=math.nan, best_recall_threshold=math.nan,
                   reason="no positive labels: recall undefined", **nan3)
        return out
    ok = tp >= r_min * P - TOL
    best_i = int(np.lexsort((cands, rate, -recall))[0])  # best recall, then lowest rate, then lowest tau
    out["best_recall"], out["best_recall_threshold"] = float(recall[best_i]), float(cands[best_i])
    if not ok.any():
        out.update(qualified=False, reason=f"no candidate threshold reaches recall {r_min} "
                                           f"(best {recall[best_i]:.6g} at tau = {cands[best_i]:.6g})", **nan3)
        return out
    idx = np.flatnonzero(ok)
    i = int(idx[np.lexsort((cands[idx], rate[idx]))[0]])
    out.update(qualified=True, reason=None, threshold=float(cands[i]), recall=float(recall[i]),
               positive_rate=float(rate[i]))
    return out


def token_threshold_apply(search: Mapping[str, Any], p_test: Any, y_test: Any) -> dict[str, Any]:
    """Report the validation-chosen threshold on test: recall, positive rate, prevalence, usage floor.

    If the search did not qualify, nothing is applied: NaNs and ``qualified = False``.
    """
    p, y = _py(p_test, y_test)
    r_min = float(search["params"]["r_min"])
    prev = float(y.mean())
    out: dict[str, Any] = {"n": int(p.size), "n_positive": int(y.sum()), "prevalence": prev,
                           "usage_floor": r_min * prev, "qualified": bool(search["qualified"]),
                           "threshold": float(search["threshold"]), "params": dict(search["params"])}
    if not search["qualified"]:
        out.update(recall=math.nan, positive_rate=math.nan, meets_r_min=False,
                   reason="no threshold qualified on validation: " + str(search.get("reason")))
        return out
    recall, rate, _, _ = _recall_usage(p, y, np.array([out["threshold"]]))
    out.update(recall=float(recall[0]), positive_rate=float(rate[0]),
               meets_r_min=bool(recall[0] >= r_min - TOL), reason=None)
    return out


# ---------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Metric:
    """A named metric: where it comes from (``fn`` and the key of its result) and its direction."""

    name: str
    fn: Callable[..., Any]
    key: str
    higher_is_better: bool
    section: str
    description: str


REGISTRY: dict[str, Metric] = {m.name: m for m in [
    Metric("auroc", binary_report, "auroc", True, "binary", "AUROC of r against the weak-model label"),
    Metric("youden_accuracy", binary_report, "youden_accuracy", True, "binary", "accuracy at Youden's J threshold"),
    Metric("lpm", binary_report, "lpm", True, "binary", "mean performance in the low call-rate band"),
    Metric("mpm", binary_report, "mpm", True, "binary", "mean performance between LPM anchor and recovery band"),
    Metric("hcr", binary_report, "hcr", True, "binary", "1 - mean call rate in the recovery band"),
    Metric("apgr", binary_report, "apgr", True, "binary", "area under PGR over the exact curve"),
    Metric("apgr_deciles", binary_report, "apgr_deciles", True, "binary", "RouteLLM's 11-point APGR"),
    Metric("cpt_20", binary_report, "cpt_20", False, "binary", "smallest call rate with PGR >= 20%"),
    Metric("cpt_50", binary_report, "cpt_50", False, "binary", "smallest call rate with PGR >= 50%"),
    Metric("cpt_80", binary_report, "cpt_80", False, "binary", "smallest call rate with PGR >= 80%"),
    Metric("mu", kmodel_report, "mu", True, "kmodel", "mean score of the selected models"),
    Metric("vb", kmodel_report, "vb", True, "kmodel", "mu / best single model on test"),
    Metric("vb_val", kmodel_report, "vb_val", True, "kmodel", "mu / validation-chosen single model"),
    Metric("Vr", kmodel_report, "Vr", True, "kmodel", "mu / reference accuracy"),
    Metric("ep", kmodel_report, "ep", True, "kmodel", "mean entropy (bits) of the router's distributions"),
    Metric("selection_entropy", kmodel_report, "selection_entropy", True, "kmodel",
           "entropy (bits) of the share of queries per model"),
    Metric("oracle", kmodel_report, "oracle", True, "kmodel", "mean best score per query"),
    Metric("arena_score", router_cost_accuracy, "arena_score", True, "cost", "RouterArena accuracy-cost score"),
    Metric("cost_per_1k", router_cost_accuracy, "cost_per_1k", False, "cost", "USD per 1,000 queries"),
    Metric("opt_sel", optimality, "opt_sel", True, "cost", "share of picks of the cheapest correct model"),
    Metric("opt_acc", optimality, "opt_acc", True, "cost", "router accuracy / oracle accuracy"),
    Metric("opt_cost", optimality, "opt_cost", True, "cost", "optimal cost / router cost on solved queries"),
    Metric("aiq", aiq, "aiq", True, "cost", "mean frontier accuracy over a cost range"),
    Metric("token_recall", token_threshold_apply, "recall", True, "token", "recall at the chosen threshold"),
    Metric("token_positive_rate", token_threshold_apply, "positive_rate", False, "token",
           "LLM usage at the chosen threshold"),
]}


def get_metric(name: str) -> Metric:
    """Look a metric up by name (``REGISTRY``); unknown names list the registered ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; registered: {sorted(REGISTRY)}") from None
