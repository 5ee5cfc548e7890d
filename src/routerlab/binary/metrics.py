"""Exact binary routing metrics, vectorised with numpy (``docs/metrics.md`` section 1).

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
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from routerlab.core.arrays import (
    TOL,
    MetricValue,
    as_binary,
    as_list,
    as_vector,
    check_mode,
    non_finite_message,
    same_length,
    trapezoid,
)

# auroc and youden are part of this module's API; they live in core.ranking because token routing reports AUROC too.
from routerlab.core.ranking import auroc, one_class_reason, roc_statistics, youden  # noqa: F401

TIE_RULE = {
    "clean": "fractional block escalation: a tied group cut by k contributes (escalated/size) of its "
             "summed gain s - w (expected value over tie orders; order-independent)",
    "compat": "numpy default argsort (unstable quicksort), ties broken by sort order (RouterXBench)",
}
GRID_RULE = {
    "clean": "c_i = i/(grid-1), k_i = floor(i*n/(grid-1)) in integer arithmetic",
    "compat": "c_i = np.linspace(0, 1, grid), k_i = int(c_i * n) on floats (RouterXBench)",
}

def as_routing_scores(w: Any, s: Any, r: Any, metric: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated weak, strong and router scores (finite, equal lengths); errors name ``metric``."""
    w, s = as_vector("w (weak scores)", w, metric=metric), as_vector("s (strong scores)", s, metric=metric)
    r = as_vector("r (router scores)", r, metric=metric)
    same_length(**{"w (weak scores)": w, "s (strong scores)": s, "r (router scores)": r})
    return w, s, r

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
    check_mode(mode)
    w, s, r = as_routing_scores(w, s, r, "exact_curve")
    n = w.size
    return _curve_rows(w, s, r[None, :], np.arange(n + 1), mode)[0]


def means(w: np.ndarray, s: np.ndarray) -> tuple[float, float, float]:
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
    check_mode(mode)
    w = as_vector("w (weak scores)", w, metric="performance_curves_batch")
    s = as_vector("s (strong scores)", s, metric="performance_curves_batch")
    R = np.asarray(R)
    single = R.ndim == 1
    R2 = np.atleast_2d(R).astype(np.float64, copy=False)
    if R2.ndim != 2:
        raise ValueError(f"R must be 1-D or 2-D [n_routers, n], got shape {R.shape}")
    if R2.shape[1] == 0 or R2.shape[0] == 0:
        raise ValueError(f"R is empty (shape {R.shape})")
    same_length(**{"w (weak scores)": w, "s (strong scores)": s, "R (per router)": R2[0]})
    if not np.isfinite(R2).all():
        raise ValueError(f"performance_curves_batch: R (router scores, one row per router) {non_finite_message(R2)}")
    n = w.size
    c, ks = _grid(n, grid, mode)
    perf = _curve_rows(w, s, R2, ks, mode)
    W, S, delta = means(w, s)
    rec = (perf - W) / delta if delta > 0 else np.full_like(perf, np.nan)
    if single:
        perf, rec = perf[0], rec[0]
    conv = (lambda a: a) if as_arrays else as_list
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
    check_mode(mode)
    w, s, r = as_routing_scores(w, s, r, "performance_curve")
    return performance_curves_batch(w, s, r, grid=grid, mode=mode)


# -- AUROC / Youden ---------------------------------------------------------

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
    check_mode(mode)
    c = as_vector("call_rate", call_rate, metric="band_metrics")
    A = as_vector("performance", performance, metric="band_metrics")
    same_length(call_rate=c, performance=A)
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
    P = as_vector("P (exact curve)", P, metric="apgr")
    D = float(strong_mean) - float(weak_mean)
    if D <= 0:
        return MetricValue(math.nan, _pgr_reason(D))
    n = P.size - 1
    if n < 1:
        raise ValueError("exact curve needs n + 1 >= 2 points")
    pgr = (P - weak_mean) / D
    return MetricValue(float(trapezoid(pgr, dx=1.0 / n)), None)


def cpt(P: Any, weak_mean: float, strong_mean: float, x: float) -> MetricValue:
    """CPT(x) = smallest call rate k/n on the exact curve with PGR(k) >= x (first crossing)."""
    P = as_vector("P (exact curve)", P, metric="cpt")
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
    w, s, r = as_routing_scores(w, s, r, "apgr_deciles")
    W, _, D = means(w, s)
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
    return MetricValue(float(trapezoid(pgr, calls[order])), None)


# -- labels and the report ----------------------------------------------------

def binary_labels(w: Any, s: Any, *, judge_scored: bool = False) -> tuple[np.ndarray, str]:
    """AUROC labels: y = w (0/1 correctness) or y = 1[w >= s] for judge-scored sets; returns (y, rule)."""
    w, s = as_vector("w (weak scores)", w, metric="binary_labels"), as_vector("s (strong scores)", s, metric="binary_labels")
    same_length(w=w, s=s)
    if judge_scored:
        return (w >= s).astype(np.float64), "y = 1[w >= s] (judge-scored)"
    return as_binary("w (weak scores, used as labels y = w)", w), "y = w (correctness-scored)"


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
    check_mode(mode)
    w = as_vector("w (weak scores)", w, metric="binary_report") if unparsed is None else np.asarray(w, dtype=np.float64)
    s = as_vector("s (strong scores)", s, metric="binary_report") if unparsed is None else np.asarray(s, dtype=np.float64)
    r = np.asarray(r, dtype=np.float64)
    n_excl = 0
    if unparsed is not None:
        mask = np.asarray(unparsed)
        if mask.dtype != bool:
            raise ValueError(f"unparsed must be a boolean mask, got dtype {mask.dtype}")
        arrays = {"w": w, "s": s, "r": r, "unparsed": mask}
        if labels is not None:
            arrays["labels"] = np.asarray(labels)
        same_length(**arrays)
        n_excl = int(mask.sum())
        if n_excl == mask.size:
            raise ValueError(f"all {n_excl} rows are marked unparsed: nothing left to score")
        keep = ~mask
        w, s, r = w[keep], s[keep], r[keep]
        if labels is not None:
            labels = np.asarray(labels)[keep]
    w, s, r = as_routing_scores(w, s, r, "binary_report")
    if labels is not None:
        y = as_binary("labels", as_vector("labels", labels, metric="binary_report"))
        same_length(w=w, labels=y)
        label_rule = "explicit labels"
    else:
        y, label_rule = binary_labels(w, s, judge_scored=judge_scored)
    n = w.size
    W, S, D = means(w, s)
    rep: dict[str, Any] = {"n": n, "n_unparsed_excluded": n_excl, "weak_mean": W, "strong_mean": S,
                           "delta": D, "label_rule": label_rule, "n_label_pos": int(y.sum())}
    st = roc_statistics(y, r)
    if st["one_class"]:
        reason = one_class_reason(st["n_pos"], st["n_neg"])
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

def _resampled_aurocs(y: np.ndarray, scores: Sequence[np.ndarray], n_boot: int, seed: int) -> np.ndarray:
    """AUROC of every score vector on the same query resamples: shape (resamples kept, len(scores)).

    Vectorised: every resample's AUROC is the Mann-Whitney statistic with average ranks for
    ties (= ``roc_auc_score``), computed in blocks of resamples to bound memory; resamples
    with one class are skipped.
    """
    from scipy.stats import rankdata  # lazy: ~1 s at every Snakefile parse

    n = len(y)
    rng = np.random.default_rng(seed)
    block = max(1, 10_000_000 // n)
    vals = []
    for start in range(0, n_boot, block):
        idx = rng.integers(0, n, (min(block, n_boot - start), n))
        ys = y[idx]
        pos = ys.sum(axis=1)
        neg = n - pos
        ok = (pos > 0) & (neg > 0)
        cols = []
        for r in scores:
            ranks = rankdata(r[idx[ok]], axis=1)
            cols.append(((ranks * ys[ok]).sum(axis=1) - pos[ok] * (pos[ok] + 1) / 2) / (pos[ok] * neg[ok]))
        vals.append(np.column_stack(cols))
    return np.concatenate(vals)


def bootstrap_auroc(y: np.ndarray, r: np.ndarray, n_boot: int, seed: int = 0) -> tuple[float, float]:
    """Percentile 95 % interval of AUROC over query resamples (resamples with one class skipped)."""
    y = np.asarray(y, dtype=float)
    r = np.asarray(r, dtype=float)
    if n_boot <= 0 or len(np.unique(y)) < 2:
        return float("nan"), float("nan")
    vals = _resampled_aurocs(y, [r], n_boot, seed)[:, 0]
    if not len(vals):
        return float("nan"), float("nan")
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return float(lo), float(hi)


def paired_bootstrap_auroc(y: np.ndarray, r_a: np.ndarray, r_b: np.ndarray, n_boot: int,
                           seed: int = 0) -> tuple[float, float, float]:
    """AUROC(a) - AUROC(b) on the same queries, with the percentile 95 % interval of that
    difference over paired query resamples (both routers scored on each resample).

    Pairing removes the variance the two routers share (the same hard queries), so the
    interval is much narrower than two separate ones: a > b at 95 % when its lower end > 0.
    """
    from sklearn.metrics import roc_auc_score  # lazy: ~1 s at every Snakefile parse

    y = np.asarray(y, dtype=float)
    r_a, r_b = np.asarray(r_a, dtype=float), np.asarray(r_b, dtype=float)
    if not (len(y) == len(r_a) == len(r_b)):
        raise ValueError(f"paired AUROC needs equal lengths, got y {len(y)}, a {len(r_a)}, b {len(r_b)}")
    if len(np.unique(y)) < 2:
        return float("nan"), float("nan"), float("nan")
    diff = float(roc_auc_score(y, r_a) - roc_auc_score(y, r_b))
    vals = _resampled_aurocs(y, [r_a, r_b], n_boot, seed) if n_boot > 0 else np.empty((0, 2))
    if not len(vals):
        return diff, float("nan"), float("nan")
    lo, hi = np.percentile(vals[:, 0] - vals[:, 1], [2.5, 97.5])
    return diff, float(lo), float(hi)

# --- calibration ------------------------------------------------------------------------

def reliability_bins(p: np.ndarray, y: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Equal-width bins of predicted P(weak good enough): count, mean prediction, observed frequency."""
    p, y = np.asarray(p, float), np.asarray(y, float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        m = idx == b
        rows.append({"bin": b, "lo": edges[b], "hi": edges[b + 1], "n": int(m.sum()),
                     "mean_predicted": float(p[m].mean()) if m.any() else math.nan,
                     "observed": float(y[m].mean()) if m.any() else math.nan})
    return pd.DataFrame(rows)


def expected_calibration_error(bins: pd.DataFrame) -> float:
    used = bins[bins["n"] > 0]
    return float((used["n"] * (used["mean_predicted"] - used["observed"]).abs()).sum() / used["n"].sum())
