"""Unit tests for routerlab.metrics against hand-computed values (docs/metrics.md)."""

import itertools
import json
import math

import numpy as np
import pytest

from routerlab.binary import metrics as BM
from routerlab.binary import operating_points as OP
from routerlab.kmodel import cost as KC
from routerlab.kmodel import metrics as KM
from routerlab.metric_index import METRICS, get_metric
from routerlab.token import metrics as TM


def approx(x):
    return pytest.approx(x, abs=1e-12, rel=0)


# ---------------------------------------------------------------------------
# section 1: the curve
# ---------------------------------------------------------------------------

def test_exact_curve_no_ties_by_hand():
    # sorted by r ascending: q1 (w0 s1), q3 (w0 s1), q2 (w1 s0), q0 (w1 s1); sum w = 2, n = 4
    # P(0) = 2/4, P(1) = (1 + 2)/4... written out: escalate q1 -> 3/4; + q3 -> 4/4; + q2 -> 3/4; + q0 -> 3/4
    w, s, r = [1, 0, 1, 0], [1, 1, 0, 1], [0.9, 0.1, 0.5, 0.3]
    assert BM.exact_curve(w, s, r).tolist() == [0.5, 0.75, 1.0, 0.75, 0.75]


def test_exact_curve_tied_group_partially_escalated():
    # r ties q0,q1,q2 at 0.2 (gains s - w = 1, 1, 0: summed gain 2), q3 alone (gain 0).
    # sum w = 1. P(1) = (1 + 2*1/3)/4 = 5/12, P(2) = (1 + 2*2/3)/4 = 7/12, P(3) = 3/4, P(4) = 3/4
    w, s, r = [0, 0, 0, 1], [1, 1, 0, 1], [0.2, 0.2, 0.2, 0.9]
    assert BM.exact_curve(w, s, r) == pytest.approx([0.25, 5 / 12, 7 / 12, 0.75, 0.75], abs=1e-15)
    # the gain-0 member first or last makes no difference
    assert BM.exact_curve([0, 0, 0, 1], [0, 1, 1, 1], r) == pytest.approx([0.25, 5 / 12, 7 / 12, 0.75, 0.75],
                                                                          abs=1e-15)


def test_exact_curve_equals_average_over_all_tie_orders():
    # "escalated as a block in expectation": the mean over every order of the tied members
    rng = np.random.default_rng(1)
    for _ in range(15):
        n = int(rng.integers(2, 7))
        w, s = rng.integers(0, 2, n).astype(float), rng.integers(0, 2, n).astype(float)
        r = rng.integers(0, 3, n).astype(float)
        ref = np.zeros(n + 1)
        perms = list(itertools.permutations(range(n)))
        for perm in perms:
            order = np.array(perm)[np.argsort(r[list(perm)], kind="stable")]
            ref += [(s[order[:k]].sum() + w[order[k:]].sum()) / n for k in range(n + 1)]
        assert np.abs(BM.exact_curve(w, s, r) - ref / len(perms)).max() < 1e-12


def test_order_independence_with_ties_and_judge_scores():
    rng = np.random.default_rng(2)
    n = 500
    w, s = rng.integers(1, 11, n).astype(float), rng.integers(1, 11, n).astype(float)  # 1-10 ratings
    r = rng.integers(0, 7, n).astype(float)  # heavy ties
    perm = rng.permutation(n)
    a, b = BM.exact_curve(w, s, r), BM.exact_curve(w[perm], s[perm], r[perm])
    assert np.array_equal(a, b)
    ra = BM.binary_report(w, s, r, judge_scored=True)
    rb = BM.binary_report(w[perm], s[perm], r[perm], judge_scored=True)
    assert json.dumps(ra, sort_keys=True) == json.dumps(rb, sort_keys=True)


def test_curve_endpoints_are_W_and_S():
    rng = np.random.default_rng(3)
    w, s, r = rng.integers(0, 2, 37), rng.integers(0, 2, 37), rng.random(37)
    P = BM.exact_curve(w, s, r)
    assert P[0] == w.sum() / 37 and P[-1] == s.sum() / 37


def test_grid_n100_i29_clean_vs_compat():
    # w = 0, s = 1, r distinct: P(k) = k/100. Clean k_29 = 29*100//100 = 29; compat int(0.29*100) = 28
    n = 100
    w, s, r = np.zeros(n), np.ones(n), np.arange(n, dtype=float)
    clean = BM.performance_curve(w, s, r)
    compat = BM.performance_curve(w, s, r, mode="compat")
    assert clean["k"][29] == 29 and compat["k"][29] == 28
    assert clean["performance"][29] == 0.29 and compat["performance"][29] == 0.28
    assert clean["call_rate"][29] == compat["call_rate"][29] == 0.29
    assert clean["recovery"][29] == 0.29
    diff = [i for i in range(101) if clean["k"][i] != compat["k"][i]]
    assert diff == [29, 58]  # the two float-truncation losses at n = 100
    assert clean["params"]["mode"] == "clean" and "floor" in clean["params"]["grid_rule"]


def _routerxbench_reference(small, large, router):
    """The original AdaptiveMetrics accuracy curve (RouterXBench src/metric.py), loop form."""
    idx = np.argsort(router)
    ss, sl, n = small[idx], large[idx], len(router)
    pl, ps = np.cumsum(sl), np.cumsum(ss)
    out = []
    for rate in np.linspace(0, 1, 101):
        k = int(rate * n)
        if k == 0:
            out.append(ps[-1] / n)
        elif k >= n:
            out.append(np.mean(sl))
        else:
            out.append((pl[k - 1] + ps[-1] - ps[k - 1]) / n)
    return np.array(out)


def test_compat_curve_reproduces_routerxbench_code():
    rng = np.random.default_rng(4)
    for n in (1, 7, 50, 100, 233):
        w, s = rng.integers(0, 2, n).astype(float), rng.integers(0, 2, n).astype(float)
        r = rng.random(n).round(1)  # ties, broken by numpy's default argsort
        got = BM.performance_curve(w, s, r, mode="compat")["performance"]
        assert np.array_equal(np.array(got), _routerxbench_reference(w, s, r))


def test_recovery_nan_when_strong_not_better():
    w, s, r = [1, 1, 1, 0], [0, 1, 0, 0], [0.1, 0.2, 0.3, 0.4]
    c = BM.performance_curve(w, s, r, grid=5)
    assert all(math.isnan(x) for x in c["recovery"])
    assert c["delta"] == -0.5
    # performance itself is defined: k_i = 0,1,2,3,4 -> 3/4, 2/4, 2/4, 1/4, 1/4
    assert c["performance"] == [0.75, 0.5, 0.5, 0.25, 0.25]


def test_batch_equals_single_and_is_2d():
    rng = np.random.default_rng(5)
    n = 300
    w, s = rng.integers(0, 2, n), rng.integers(0, 2, n)
    R = rng.integers(0, 30, (4, n)).astype(float)
    b = BM.performance_curves_batch(w, s, R, as_arrays=True)
    assert b["performance"].shape == (4, 101)
    for j in range(4):
        single = BM.performance_curve(w, s, R[j])
        assert np.array_equal(b["performance"][j], np.array(single["performance"]))
        # the grid curve is the exact curve sampled at k_i
        assert np.array_equal(b["performance"][j], BM.exact_curve(w, s, R[j])[b["k"]])
    one = BM.performance_curves_batch(w, s, R[0])
    assert isinstance(one["performance"], list) and len(one["performance"]) == 101
    json.dumps(one)


# ---------------------------------------------------------------------------
# AUROC / Youden
# ---------------------------------------------------------------------------

def test_auroc_by_hand_with_tie():
    # positives r {.9, .5}, negatives {.1, .5}: pairs 1 + 1 + 1 + 0.5 (tie) = 3.5 of 4
    y, r = [1, 0, 1, 0], [0.9, 0.1, 0.5, 0.5]
    v = BM.auroc(y, r)
    assert v.value == 0.875 and v.reason is None
    # Youden: t=inf J=0; t=.9 tpr .5 fpr 0 J=.5; t=.5 tpr 1 fpr .5 J=.5; first max t=.9
    # predictions r >= .9 -> [1,0,0,0] vs y [1,0,1,0]: accuracy 3/4
    yd = BM.youden(y, r)
    assert yd["threshold"] == 0.9 and yd["accuracy"] == 0.75 and yd["j"] == 0.5


def test_auroc_and_youden_equal_sklearn_random_and_ties():
    from sklearn.metrics import roc_auc_score, roc_curve

    rng = np.random.default_rng(6)
    for trial in range(40):
        n = int(rng.integers(2, 500))
        y = rng.integers(0, 2, n)
        if y.min() == y.max():
            continue
        r = rng.random(n) if trial % 2 else rng.integers(0, 8, n) / 3  # continuous / heavy ties
        assert abs(BM.auroc(y, r).value - roc_auc_score(y, r)) < 1e-12
        fpr, tpr, thr = roc_curve(y, r)
        best = int(np.argmax(tpr - fpr))
        yd = BM.youden(y, r)
        assert yd["threshold"] == thr[best]
        assert yd["accuracy"] == np.mean((r >= thr[best]).astype(int) == y)


def test_auroc_one_class_nan_vs_compat():
    v = BM.auroc([1, 1, 1], [0.2, 0.5, 0.1])
    assert math.isnan(v.value) and "one class" in v.reason
    c = BM.auroc([1, 1, 1], [0.2, 0.5, 0.1], mode="compat")
    assert c.value == 0.5 and "compat" in c.reason
    value, reason = c  # unpacks as (value, reason)
    assert value == 0.5 and reason == c.reason
    assert BM.youden([0, 0], [1, 2], mode="compat")["threshold"] == 0.5


# ---------------------------------------------------------------------------
# LPM / MPM / HCR, APGR, CPT
# ---------------------------------------------------------------------------

C11 = [i / 10 for i in range(11)]
A11 = [0.50, 0.56, 0.62, 0.68, 0.74, 0.80, 0.84, 0.86, 0.88, 0.90, 0.90]


def test_band_metrics_hand_made_curve():
    # W = .5, S = .9, D = .4; recovery band [.85, .95] -> performance [.84, .88]
    # LPM band [.2, .3]: c = .2, .3 -> (0.62 + 0.68)/2 = 0.65; anchor = A(.3) = 0.68
    # HCR: A in [.84, .88] at c = .6, .7, .8 -> 1 - 0.7 = 0.3
    # MPM: .68 < A < .84 -> .74, .80 -> 0.77
    b = BM.band_metrics(C11, A11, 0.5, 0.9, lpm_band=(0.2, 0.3))
    assert b["lpm"] == approx(0.65) and b["lpm_anchor"] == 0.68
    assert b["hcr"] == approx(0.3) and b["mpm"] == approx(0.77)
    assert b["hcr_reason"] is None and b["mpm_reason"] is None


def test_band_metrics_mpm_nan_when_strong_not_better():
    # W = .5, S = .4, D = -.1: W + 0.85 D = 0.415. The curve dips to the anchor A(.3) = .30 and
    # climbs back, so .40 and .41 lie between the anchor and that level: a number would come out
    # (0.405), but MPM's upper edge is a recovery level, undefined for D <= 0 (as HCR and RR).
    dipping = [0.5, 0.45, 0.30, 0.30, 0.40, 0.41, 0.45, 0.5, 0.45, 0.42, 0.40]
    b = BM.band_metrics(C11, dipping, 0.5, 0.4, lpm_band=(0.2, 0.3))
    assert math.isnan(b["mpm"]) and "delta" in b["mpm_reason"]
    assert math.isnan(b["hcr"]) and b["lpm"] == approx(0.30)
    assert math.isnan(BM.band_metrics(C11, [0.5] * 11, 0.5, 0.5)["mpm"])  # D = 0 too


def test_plain_loop_reference_agrees_with_binary_report():
    """tests/reference_metrics.py (used by the workflow tests) against the vectorised module, ties included."""
    import reference_metrics as ref

    rng = np.random.default_rng(7)
    for trial in range(40):
        n = int(rng.integers(3, 60))
        w = rng.integers(0, 2, n).astype(float)
        s = rng.integers(0, 2, n).astype(float) if trial % 3 else rng.random(n)
        r = np.round(rng.random(n), 1)  # many ties
        rep = BM.binary_report(w, s, r)
        exp = ref.binary_metrics(w.tolist(), s.tolist(), r.tolist())
        for key in ("lpm", "mpm", "hcr", "apgr", "cpt_20", "cpt_50", "cpt_80"):
            assert rep[key] == pytest.approx(exp[key], abs=1e-12, nan_ok=True), (trial, key)
        assert rep["auroc"] == pytest.approx(ref.auroc(w.tolist(), r.tolist()), abs=1e-12, nan_ok=True)


def test_band_metrics_compat_float_edges():
    # W + 0.85*D evaluates to 0.8400000000000001 in floats, so the original code drops A = 0.84:
    # HCR = 1 - mean(.7, .8) = 0.25, and MPM takes .74, .80, .84 -> 0.79333...
    b = BM.band_metrics(C11, A11, 0.5, 0.9, lpm_band=(0.2, 0.3), mode="compat")
    assert b["hcr"] == approx(0.25) and b["mpm"] == approx((0.74 + 0.80 + 0.84) / 3)
    assert b["lpm"] == approx(0.65)


def test_band_metrics_empty_sets():
    # a flat curve at W never reaches the recovery band; nothing between anchor and band
    flat = [0.5] * 11
    b = BM.band_metrics(C11, flat, 0.5, 0.9)
    assert math.isnan(b["hcr"]) and "recovery" in b["hcr_reason"]
    assert math.isnan(b["mpm"]) and b["mpm_reason"]
    bc = BM.band_metrics(C11, flat, 0.5, 0.9, mode="compat")
    assert bc["hcr"] == 0.0 and bc["mpm"] == 0.0
    # no grid point in the LPM band
    b3 = BM.band_metrics([0, 0.5, 1], [0.5, 0.7, 0.9], 0.5, 0.9)
    assert math.isnan(b3["lpm"]) and math.isnan(b3["lpm_anchor"]) and "LPM band" in b3["lpm_reason"]


def test_binary_report_linear_router_by_hand():
    # w = 0, s = 1, r distinct -> P(k) = k/100, W = 0, S = 1, A_i = i/100 (clean grid)
    # LPM = mean(.25..., .30) = .275, anchor .30; HCR = 1 - mean(.85...,.95) = .1;
    # MPM = mean(.31 ... .84) = .575; APGR = trapezoid of PGR = c over [0, 1] = .5;
    # deciles: call rates 1, .9, ..., .1, 0 with PGR = call rate -> .5; CPT(x) = x
    n = 100
    w, s, r = np.zeros(n), np.ones(n), np.arange(n, dtype=float)
    rep = BM.binary_report(w, s, r)
    assert rep["lpm"] == approx(0.275) and rep["lpm_anchor"] == 0.30
    assert rep["hcr"] == approx(0.1) and rep["mpm"] == approx(0.575)
    assert rep["apgr"] == approx(0.5) and rep["apgr_deciles"] == approx(0.5)
    assert (rep["cpt_20"], rep["cpt_50"], rep["cpt_80"]) == (0.2, 0.5, 0.8)
    assert (rep["weak_mean"], rep["strong_mean"], rep["delta"], rep["n"]) == (0.0, 1.0, 1.0, 100)
    # labels y = w are all 0: one class
    assert math.isnan(rep["auroc"]) and "one class" in rep["auroc_reason"]
    assert rep["params"]["lpm_band"] == [0.25, 0.30] and rep["params"]["recovery_band"] == [0.85, 0.95]
    # compat: k = 25, 26, 27, 28, 28 (i = 29), 30 in the LPM band -> 1.64/6
    cp = BM.binary_report(w, s, r, mode="compat")
    assert cp["lpm"] == approx(1.64 / 6) and cp["auroc"] == 0.5
    json.dumps(rep), json.dumps(cp)


def test_apgr_and_cpt_by_hand():
    # exact curve [.5, .75, 1, .75, .75], W = .5, S = .75: PGR = [0, 1, 2, 1, 1]
    # APGR = (0/2 + 1 + 2 + 1 + 1/2)/4 = 1.125; CPT(x <= 1) = first k/n with PGR >= x = 1/4
    w, s, r = [1, 0, 1, 0], [1, 1, 0, 1], [0.9, 0.1, 0.5, 0.3]
    P = BM.exact_curve(w, s, r)
    assert BM.apgr(P, 0.5, 0.75).value == 1.125
    assert BM.cpt(P, 0.5, 0.75, 0.8).value == 0.25
    rep = BM.binary_report(w, s, r)
    assert rep["apgr"] == 1.125 and rep["cpt_80"] == 0.25
    # first crossing, not interpolated: PGR = [0, .4, .8, 1] needs k = 2 for x = .5
    assert BM.cpt([0.0, 0.4, 0.8, 1.0], 0.0, 1.0, 0.5).value == 2 / 3


def test_apgr_deciles_matches_routellm_loop():
    # RouteLLM: thresholds = deciles of the strong win rate u = -r; escalate u >= t (last: u > t)
    import pandas as pd

    rng = np.random.default_rng(7)
    n = 400
    w, s, r = rng.integers(0, 2, n), (rng.random(n) < 0.7).astype(int), rng.random(n)
    assert s.mean() > w.mean()
    u = pd.Series(-r)
    _, thr = pd.qcut(u, 10, retbins=True)
    pts = []
    for i, t in enumerate(thr):
        sel = (u >= t) if i != len(thr) - 1 else (u > t)
        pts.append((sel.mean(), np.where(sel, s, w).mean()))
    pts.sort()
    x, acc = np.array(pts).T
    W, S = w.mean(), s.mean()
    auc = float(np.sum(np.diff(x) * (acc[1:] + acc[:-1]) / 2))  # trapezoid, as RouteLLM's np.trapz
    ref = (auc - W) / (S - W)
    assert abs(BM.apgr_deciles(w, s, r).value - ref) < 1e-12


def test_strong_worse_than_weak_report():
    w, s, r = [1, 1, 1, 0], [0, 1, 0, 0], [0.1, 0.2, 0.3, 0.4]
    rep = BM.binary_report(w, s, r)
    assert rep["delta"] == -0.5
    assert math.isnan(rep["hcr"]) and "<= 0" in rep["hcr_reason"]
    assert math.isnan(rep["apgr"]) and math.isnan(rep["cpt_50"]) and rep["cpt_reason"]
    assert math.isnan(rep["apgr_deciles"])
    # AUROC is still defined: y = w = [1,1,1,0]; the negative has the highest r -> 0
    assert rep["auroc"] == 0.0
    assert BM.binary_report(w, s, r, mode="compat")["hcr"] == 0.0


def test_all_correct_weak_model():
    w, s, r = [1, 1, 1, 1], [1, 0, 1, 1], [0.3, 0.1, 0.2, 0.4]
    rep = BM.binary_report(w, s, r)
    assert math.isnan(rep["auroc"]) and math.isnan(rep["youden_threshold"])
    assert rep["weak_mean"] == 1.0 and math.isnan(rep["hcr"]) and math.isnan(rep["apgr"])
    # LPM is still defined: grid k_i for n = 4 in [.25, .30] are all 1 -> P(1) = (4 - 1)/4
    assert rep["lpm"] == 0.75
    pol = OP.OperatingPointPolicy(recall_targets=(0.9,), budgets=()).fit(w, s, r)
    assert pol.points_[0]["threshold"] == -math.inf and "no positives" in pol.points_[0]["reason"]


def test_judge_scored_labels_and_unparsed():
    # y = 1[w >= s] = [1, 0, 1]; positives r {.2, .9} above the negative .1 -> AUROC 1
    rep = BM.binary_report([7, 3, 5], [6, 8, 5], [0.2, 0.1, 0.9], judge_scored=True)
    assert rep["auroc"] == 1.0 and rep["label_rule"].startswith("y = 1[w >= s]")
    # unparsed rows are excluded (even with NaN scores) and counted
    w, s, r = [7, np.nan, 3, 5], [6, 4, 8, 5], [0.2, 0.5, 0.1, 0.9]
    ex = BM.binary_report(w, s, r, judge_scored=True, unparsed=[False, True, False, False])
    assert ex["n"] == 3 and ex["n_unparsed_excluded"] == 1
    assert ex["auroc"] == 1.0 and ex["apgr"] == rep["apgr"]
    with pytest.raises(ValueError, match="0/1"):
        BM.binary_report([7, 3, 5], [6, 8, 5], [0.2, 0.1, 0.9])  # real scores without judge_scored


def test_input_errors():
    with pytest.raises(ValueError, match="empty"):
        BM.exact_curve([], [], [])
    with pytest.raises(ValueError, match=r"r \(router scores\) has 1 NaN/inf value\(s\) \(1 NaN, 0 \+-inf\), first at rows \[1\]"):
        BM.performance_curve([1, 0], [1, 1], [0.5, np.nan])
    with pytest.raises(ValueError, match=r"w \(weak scores\) has 1 NaN/inf"):
        BM.binary_report([np.nan, 1], [1, 1], [0.5, 0.2])
    with pytest.raises(ValueError, match="mode"):
        BM.performance_curve([1], [1], [1], mode="fast")
    with pytest.raises(ValueError, match="grid"):
        BM.performance_curve([1], [1], [1], grid=1)
    with pytest.raises(ValueError, match=r"R \(router scores, one row per router\) has 1 NaN/inf value\(s\) .*rows \[1\]"):
        BM.performance_curves_batch([1, 0], [1, 1], [[0.1, 0.2], [np.nan, 0.3]])


def test_infinite_router_scores_rejected_by_every_metric():
    # +-inf scores used to pass: apgr_deciles then cut at NaN quantile edges and returned a number
    w, s, r = [1, 0, 1, 0, 1], [1, 1, 1, 1, 0], [0.1, np.inf, 0.3, -np.inf, 0.5]
    msg = r"r \(router scores\) has 2 NaN/inf value\(s\) \(0 NaN, 2 \+-inf\), first at rows \[1, 3\]"
    for metric, call in [
        ("apgr_deciles", lambda: BM.apgr_deciles(w, s, r)),
        ("binary_report", lambda: BM.binary_report(w, s, r)),
        ("exact_curve", lambda: BM.exact_curve(w, s, r)),
        ("performance_curve", lambda: BM.performance_curve(w, s, r)),
        ("auroc", lambda: BM.auroc(w, r)),
        ("youden", lambda: BM.youden(w, r)),
        ("operating_points", lambda: OP.OperatingPointPolicy().fit(w, s, r)),
    ]:
        with pytest.raises(ValueError, match=metric + ": " + msg):
            call()
    with pytest.raises(ValueError, match=r"performance_curves_batch: R .* \(0 NaN, 1 \+-inf\), first at rows \[1\]"):
        BM.performance_curves_batch(w, s, [[0.1] * 5, [0.2, 0.3, np.inf, 0.1, 0.0]])
    pol = OP.OperatingPointPolicy(recall_targets=(0.5,), budgets=()).fit(w, s, [0.1, 0.2, 0.3, 0.4, 0.5])
    with pytest.raises(ValueError, match="operating_points: r"):
        pol.predict([np.inf] * 5)


def test_mpm_nan_when_strong_not_better_in_the_report():
    # S = W (D = 0) and S < W: MPM, HCR undefined; LPM still defined
    w, r = [1, 0, 1, 0], [0.4, 0.3, 0.2, 0.1]
    for s in ([1, 0, 1, 0], [0, 0, 1, 0]):
        rep = BM.binary_report(w, s, r)
        assert math.isnan(rep["mpm"]) and "delta" in rep["mpm_reason"] and math.isnan(rep["hcr"])
        assert not math.isnan(rep["lpm"])


def test_length_mismatch_message_names_arrays():
    with pytest.raises(ValueError) as e:
        BM.performance_curve([1, 0, 1], [1, 0], [1, 2, 3])
    msg = str(e.value)
    assert "w (weak scores) has 3" in msg and "s (strong scores) has 2" in msg and "r (router scores) has 3" in msg


# ---------------------------------------------------------------------------
# operating points
# ---------------------------------------------------------------------------

W_VAL, S_VAL, R_VAL = [0, 0, 1, 0, 1, 1], [1, 1, 1, 0, 1, 1], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]


def test_operating_points_fit_by_hand():
    # positives (w = 0): r .1, .2, .4 (P = 3). Escalate r <= t:
    # t=.1 recall 1/3, t=.2 2/3, t=.3 2/3, t=.4 1.  Gains 1,1,0,0,0,0 -> perf k=0 .5, k=1 4/6, k>=2 5/6
    pol = OP.OperatingPointPolicy(recall_targets=(0.6, 0.9), budgets=(0.2, 0.5), thresholds=(0.35,))
    pol.fit(W_VAL, S_VAL, R_VAL)
    thr = [(p["kind"], p["target"], p["threshold"]) for p in pol.points_]
    # budget .2 -> k <= 1 -> best k = 1 (t = .1); budget .5 -> k <= 3 -> first max 5/6 at k = 2 (t = .2)
    assert thr == [("recall", 0.6, 0.2), ("recall", 0.9, 0.4), ("budget", 0.2, 0.1), ("budget", 0.5, 0.2),
                   ("threshold", 0.35, 0.35)]
    assert pol.points_[1]["validation"]["call_rate"] == 4 / 6 and pol.points_[1]["validation"]["recall"] == 1.0


def test_operating_points_apply_on_test_by_hand():
    pol = OP.OperatingPointPolicy(recall_targets=(0.6,), budgets=(0.2,)).fit(W_VAL, S_VAL, R_VAL)
    # test: positives idx 0, 2 (P = 2); W = .5, S = .75, D = .25
    w, s, r = [0, 1, 0, 1], [1, 1, 1, 0], [0.05, 0.15, 0.35, 0.2]
    rec, bud = pol.apply(w, s, r)
    # t = .2 escalates idx 0, 1, 3: TP 1 -> recall .5, precision 1/3; perf (1 + 1 + 0 + 0)/4 = .5 -> RR 0
    assert (rec["kind"], rec["threshold"], rec["call_rate"], rec["recall"]) == ("recall", 0.2, 0.75, 0.5)
    assert rec["precision"] == 1 / 3 and rec["performance"] == 0.5 and rec["recovery"] == 0.0
    # t = .1 escalates idx 0 only: recall .5, precision 1, perf (s0 + w1 + w2 + w3)/4 = (1+1+0+1)/4 = .75 -> RR 1
    assert (bud["call_rate"], bud["recall"], bud["precision"], bud["performance"], bud["recovery"]) == \
        (0.25, 0.5, 1.0, 0.75, 1.0)
    # round trip through JSON, and the functional API agrees
    d = json.loads(json.dumps(pol.to_dict()))
    again = OP.OperatingPointPolicy.from_dict(d).apply(w, s, r)
    assert json.dumps(again) == json.dumps([rec, bud])
    fd = OP.fit_operating_points(W_VAL, S_VAL, R_VAL, recall_targets=(0.6,), budgets=(0.2,))
    assert json.dumps(OP.apply_operating_points(fd, w, s, r)) == json.dumps([rec, bud])


def test_operating_point_threshold_matches_curve_prefix():
    # escalating r <= t is exactly the curve's "k lowest" at a group boundary
    rng = np.random.default_rng(8)
    w, s, r = rng.integers(0, 2, 200), rng.integers(0, 2, 200), rng.integers(0, 20, 200) / 4
    pol = OP.OperatingPointPolicy(recall_targets=(0.9,), budgets=(0.3,)).fit(w, s, r)
    P = BM.exact_curve(w, s, r)
    for p in pol.apply(w, s, r):
        k = p["n_escalated"]
        assert p["performance"] == approx(P[k])
    with pytest.raises(RuntimeError, match="not fitted"):
        OP.OperatingPointPolicy().apply(w, s, r)


# ---------------------------------------------------------------------------
# section 2: K-model
# ---------------------------------------------------------------------------

Q4 = [[0.5, 0.5, 0.0], [0.4, 0.4, 0.2], [0.3, 0.3, 0.4], [1 / 3, 1 / 3, 1 / 3]]
Y4 = [[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 1]]


def test_select_models_tie_breaking():
    # row 0/1: tie {0, 1} -> cheaper 1; row 2: 2; row 3: tie all -> cheapest {1, 2} -> higher val mean: 2
    sel, info = KM.select_models(Q4, costs=[2, 1, 1], val_means=[0.9, 0.5, 0.6], return_info=True)
    assert sel.tolist() == [1, 1, 2, 2]
    assert info == {"n_tied": 3, "by_cost": 2, "by_val_mean": 1, "by_index": 0}
    # without costs the validation mean decides: rows 0, 1 -> 0 (.9), row 3 -> 0
    assert KM.select_models(Q4, val_means=[0.9, 0.5, 0.6]).tolist() == [0, 0, 2, 0]
    # with nothing to decide, the index fallback is counted, never silent
    _, info = KM.select_models(Q4, return_info=True)
    assert info["by_index"] == 3


def test_kmodel_report_by_hand():
    rep = KM.kmodel_report(Y4, Q4, costs=[2, 1, 1], val_means=[0.9, 0.5, 0.6], reference=0.6)
    # sel [1, 1, 2, 2] -> Y = 0, 1, 1, 1 -> mu = .75; model means .5 each -> vb = 1.5
    assert rep["mu"] == 0.75 and rep["vb"] == 1.5 and rep["oracle"] == 1.0
    assert rep["vb_val"] == 1.5 and rep["best_single_val"]["model"] == 0 and rep["Vr"] == 1.25
    H = [1.0, -(2 * 0.4 * math.log2(0.4) + 0.2 * math.log2(0.2)),
         -(2 * 0.3 * math.log2(0.3) + 0.4 * math.log2(0.4)), math.log2(3)]
    assert rep["ep"] == approx(sum(H) / 4)
    assert rep["selection_counts"] == [0, 2, 2] and rep["selection_entropy"] == 1.0
    assert math.isnan(KM.kmodel_report(Y4, Q4)["Vr"])
    json.dumps(rep)


def test_kmodel_indices_and_scores():
    rep = KM.kmodel_report(Y4, np.array([0, 1, 2, 2]))
    assert rep["mu"] == 1.0 and rep["ep"] == 0.0 and rep["params"]["q_kind"].startswith("indices")
    # scores +-25 through a softmax: rows [1,0,0] -> q = (1, ~2e-22, ~2e-22) (tiny terms dropped) -> 0 bits;
    # rows [1,1,0] -> (.5, .5, ~0) -> 1 bit; ep = (0 + 1 + 0 + 1)/4; the two ties fall back to the index
    sc = KM.kmodel_report(Y4, np.array(Y4, float) * 50 - 25, q_is_scores=True)
    assert sc["params"]["q_kind"].startswith("scores") and sc["ep"] == 0.5
    assert sc["mu"] == 1.0 and sc["ties"]["by_index"] == 2
    with pytest.raises(ValueError, match="not distributions"):
        KM.kmodel_report(Y4, [[2, 0, 0]] * 4)


def test_kmodel_summary_means_over_groups():
    a = KM.kmodel_report(Y4, Q4, costs=[2, 1, 1])  # mu .75
    b = KM.kmodel_report(Y4, np.array([0, 0, 0, 0]))  # mu = mean(Y4[:, 0]) = .5
    summ = KM.kmodel_summary({"all-strong": a, "all-weak": b}, keys=("mu", "oracle"))
    assert summ["mean"] == {"mu": 0.625, "oracle": 1.0} and summ["groups"]["all-weak"]["mu"] == 0.5


def test_oracle_upper_bounds_every_router():
    rng = np.random.default_rng(9)
    Y = rng.random((200, 7)).round(1)
    for _ in range(20):
        rep = KM.kmodel_report(Y, rng.dirichlet(np.ones(7), 200))
        assert rep["oracle"] >= rep["mu"]
    assert KM.kmodel_report(Y, Y.argmax(axis=1))["mu"] == KM.kmodel_report(Y, Y.argmax(axis=1))["oracle"]


def test_routereval_split():
    tr, va, te = KM.routereval_split(10)
    assert (len(tr), len(va), len(te)) == (8, 1, 1)
    idx = np.arange(10)
    np.random.RandomState(42).shuffle(idx)
    assert tr.tolist() == idx[:8].tolist() and va.tolist() == [idx[8]] and te.tolist() == [idx[9]]
    tr, va, te = KM.routereval_split(list("abcdefg"))  # int(5.6) = 5, int(6.3) = 6
    assert (len(tr), len(va), len(te)) == (5, 1, 1)
    g = ["x"] * 10 + ["y"] * 20
    tr, va, te = KM.routereval_split(30, groups=g)
    assert (len(tr), len(va), len(te)) == (8 + 16, 1 + 2, 1 + 2)
    assert sorted(np.r_[tr, va, te].tolist()) == list(range(30))
    assert set(te[:1]) <= set(range(10)) and set(te[1:]) <= set(range(10, 30))


def test_routereval_split_one_stream_across_sub_benchmarks():
    # RouterEval's get_router_dataset.py: np.random.seed(42) once, then per sub-benchmark in order
    # np.random.shuffle(positions) -> the second sub-benchmark's shuffle continues the same stream.
    # Written out for groups x = positions 0..9, y = 10..29 (values of RandomState(42)'s stream):
    # x shuffled -> [8 1 5 0 7 2 9 4 | 3 | 6]; y shuffled (stream continued) -> test = [20, 28]
    g = ["x"] * 10 + ["y"] * 20
    tr, va, te = KM.routereval_split(30, groups=g)
    assert te.tolist() == [6, 20, 28] and va.tolist() == [3, 13, 29]
    assert tr[:8].tolist() == [8, 1, 5, 0, 7, 2, 9, 4]
    # the same as RouterEval's loop with the global stream
    np.random.seed(42)
    ref = ([], [], [])
    for lo, hi in ((0, 10), (10, 30)):
        idx = np.arange(lo, hi)
        np.random.shuffle(idx)
        a, b = int(0.8 * idx.size), int(0.9 * idx.size)
        ref[0].extend(idx[:a]), ref[1].extend(idx[a:b]), ref[2].extend(idx[b:])
    assert [x.tolist() for x in (tr, va, te)] == [[int(v) for v in r] for r in ref]
    # a re-seeded y (the old behaviour) would put other queries in test
    idx = np.arange(20)
    np.random.RandomState(42).shuffle(idx)
    assert te[1:].tolist() != (10 + idx[18:]).tolist()
    # benchmarks: the stream restarts at each benchmark (RouterEval runs its script once per benchmark)
    b = ["bbh"] * 30 + ["gsm8k"] * 10
    te2 = KM.routereval_split(40, groups=g + ["z"] * 10, benchmarks=b)[2]
    assert te2.tolist() == [6, 20, 28, 30 + 6]  # gsm8k alone: RandomState(42) on 10 items -> test [6]


def test_assign_split_streams_by_routereval_benchmark():
    import pandas as pd

    from routerlab.kmodel.pools import assign_split

    ds = ["bbh_navigate"] * 10 + ["bbh_snarks"] * 20 + ["mine"] * 10
    q = pd.DataFrame({"query_id": [f"q{i}" for i in range(40)], "dataset": ds, "split": None})
    split = assign_split(q)["split"].to_numpy()
    assert np.flatnonzero(split == "test").tolist() == [6, 20, 28, 36]  # 'mine' is its own stream: 30 + 6
    assert (split == "train").sum() == 8 + 16 + 8


def test_reference_accuracies_routereval_constants():
    ref, src = KM.reference_accuracies(["harness_hendrycksTest_anatomy_5", "harness_gsm8k_5", "musr_team_allocation",
                                        "mmlu_pro", "mine"])
    assert ref[:4].tolist() == [0.864, 0.92, 0.699, 0.637] and math.isnan(ref[4])
    assert src["harness_gsm8k_5"] == "RouterEval:gsm8k" and src["mine"] == "none"
    # overrides: by dataset name, then by benchmark, or one number for all
    ref, src = KM.reference_accuracies(["bbh_navigate", "mine", "gsm8k"], {"bbh": 0.5, "mine": 0.25})
    assert ref.tolist() == [0.5, 0.25, 0.92] and src["bbh_navigate"] == "user"
    assert KM.reference_accuracies(["gsm8k", "x"], 0.8)[0].tolist() == [0.8, 0.8]
    with pytest.raises(ValueError, match="'mine'.*> 0"):
        KM.reference_accuracies(["mine"], {"mine": 0})


def test_kmodel_report_vr_from_builtin_references():
    # sel [1, 1, 2, 2] -> picked Y = 0, 1, 1, 1; mu = .75
    rep = KM.kmodel_report(Y4, Q4, costs=[2, 1, 1], datasets=["gsm8k"] * 4)
    assert rep["Vr"] == 0.75 / 0.92 and rep["Vr_reason"] is None
    assert rep["params"]["reference"]["gsm8k"] == {"reference": 0.92, "source": "RouterEval:gsm8k"}
    mixed = ["gsm8k", "gsm8k", "bbh_navigate", "mine"]
    rep = KM.kmodel_report(Y4, Q4, costs=[2, 1, 1], datasets=mixed)
    assert math.isnan(rep["Vr"]) and "mine" in rep["Vr_reason"]
    rep = KM.kmodel_report(Y4, Q4, costs=[2, 1, 1], datasets=mixed, reference={"mine": 0.5})
    # (1/N) sum_i Y[i, sel_i] / ref_i = ((0 + 1)/.92 + 1/.8303 + 1/.5) / 4
    assert rep["Vr"] == approx((1 / 0.92 + 1 / 0.8303 + 1 / 0.5) / 4)
    assert KM.kmodel_report(Y4, Q4, costs=[2, 1, 1], datasets=mixed, reference=0.6)["Vr"] == 1.25
    assert KM.kmodel_report(Y4, Q4, costs=[2, 1, 1], reference=0.6)["Vr"] == 1.25  # no datasets: the number


def test_oracle_router_equals_oracle_exactly():
    # scores 1.5e-11 apart tie in float32; the tie then goes to the cheaper model, below the oracle
    from routerlab.core.router import RoutingData
    from routerlab.kmodel.routers import make_router

    Y = np.array([[0.3, 0.3 + 3e-11, 0.1], [0.7, 0.2, 0.1]])
    data = RoutingData(ids=["a", "b"])
    router = make_router("oracle").fit(data, Y, costs=[1.0, 2.0, 3.0])
    q = router.predict_proba(data, Y)
    assert q.argmax(axis=1).tolist() == [1, 0]
    rep = KM.kmodel_report(Y, q, costs=[1.0, 2.0, 3.0])
    assert rep["mu"] == rep["oracle"]
    r_o = make_router("r_o", p=1.0).fit(data, Y, costs=[1.0, 2.0, 3.0])
    assert KM.kmodel_report(Y, r_o.predict_proba(data, Y))["mu"] == rep["oracle"]


# ---------------------------------------------------------------------------
# section 3: cost
# ---------------------------------------------------------------------------

PRICES = {"a": {"input": 3.0, "output": 15.0}, "b": (0.5, 1.0)}


def test_query_cost_and_unknown_model():
    # 1000/1e6 * 3 + 2000/1e6 * 15 = 0.003 + 0.03
    assert KC.query_cost(1000, 2000, "a", PRICES) == approx(0.033)
    v = KC.query_cost([1000, 1000], [2000, 2000], ["a", "b"], PRICES)
    assert v.tolist() == pytest.approx([0.033, 0.0025], abs=1e-15)
    with pytest.raises(KeyError) as e:
        KC.query_cost(10, 10, "gpt-unknown", PRICES)
    assert "gpt-unknown" in str(e.value) and isinstance(e.value, KC.UnknownModelError)


def test_normalised_cost_and_arena_score():
    assert KC.normalised_cost(200) == 0.0 and KC.normalised_cost(0.0044) == 1.0
    assert KC.normalised_cost(1000) == 0.0 and KC.normalised_cost(0.0001) == 1.0  # clamped
    mid = math.sqrt(200 * 0.0044)  # geometric midpoint -> C = 0.5
    assert KC.normalised_cost(mid) == approx(0.5)
    # S = 1.1 * 0.8 * 0.5 / (0.1 * 0.8 + 0.5) = 0.44 / 0.58
    assert KC.arena_score(0.8, mid) == approx(0.44 / 0.58)
    assert KC.arena_score(0.0, 500) == 0.0
    with pytest.raises(ValueError, match="fraction"):
        KC.arena_score(80, 1.0)
    rc = KC.router_cost_accuracy([1, 0, 1, 1], [0.001, 0.002, 0.001, 0.0])
    assert rc["accuracy"] == 0.75 and rc["cost_per_1k"] == 1.0


def test_optimality_by_hand():
    # solvable rows 0, 1, 3; optimal: row0 model 1 (cost 2), row1 model 2 (cost 1), row3 model 0 (cost 3)
    # router picks 0 (right, cost 3, not optimal), 2 (optimal), 1 (row 2: unsolvable), 1 (wrong)
    Yc = [[1, 1, 0], [0, 1, 1], [0, 0, 0], [1, 0, 0]]
    o = KC.optimality(Yc, [3, 2, 1], np.array([0, 2, 1, 1]))
    assert o["opt_sel"] == 1 / 3 and o["opt_acc"] == 2 / 3
    assert o["opt_cost"] == 0.75  # (2 + 1) / (3 + 1)
    assert o["n_solvable"] == 3


def test_r2_router_choice():
    # lam .5: m0 .45 - .5*1000*10/1e6 = .445, m1 .4 - .5*100*1/1e6 = .39995 -> 0
    # lam .99: m0 .009 - .0099 < m1 .008 - .000099 -> 1
    q, t, p = [[0.9, 0.8]], [[1000, 100]], [10, 1]
    assert KC.r2_router_choice(q, t, p, 0.5).tolist() == [0]
    assert KC.r2_router_choice(q, t, p, 0.99).tolist() == [1]
    assert KC.r2_router_choice([[0.5, 0.5]], [[100, 100]], [2, 1], 0.0).tolist() == [1]  # tie -> cheaper


def test_frontier_and_aiq():
    pts = [(1, 0.5), (2, 0.7), (3, 0.75), (4, 0.72), (2, 0.6), (1.5, 0.55)]
    # (1.5, .55) lies below the chord (1, .5)-(2, .7); (2, .6) is beaten at equal cost
    h = KC.frontier(pts)
    assert h["index"] == [0, 1, 2, 3] and h["cost"] == [1.0, 2.0, 3.0, 4.0]
    assert KC.frontier(pts, nondecreasing=True)["index"] == [0, 1, 2]
    # area over [1, 3]: (.5 + .7)/2 + (.7 + .75)/2 = 1.325 -> / 2
    assert KC.aiq(pts, (1, 3))["aiq"] == approx(0.6625)
    assert KC.aiq(pts, (1, 4))["aiq"] == approx((1.325 + (0.75 + 0.72) / 2) / 3)
    nd = KC.aiq(pts, (1, 4), nondecreasing=True)  # held at .75 beyond cost 3
    assert nd["aiq"] == approx((1.325 + 0.75) / 3) and nd["extrapolated_high"]
    named = KC.frontier([{"name": "x", "cost": 1, "accuracy": 0.5}, {"name": "y", "cost": 2, "accuracy": 0.9}])
    assert named["name"] == ["x", "y"]


# ---------------------------------------------------------------------------
# section 4: token threshold
# ---------------------------------------------------------------------------

P6, Y6 = [0.1, 0.2, 0.35, 0.6, 0.8, 0.9], [0, 1, 0, 1, 1, 0]


def test_token_threshold_known_answer():
    # r_min .95 needs all 3 positives: tau <= .2; positive rate 5/6 for tau in (.1, .2]
    ex = TM.token_threshold_search(P6, Y6, mode="exact")
    assert ex["qualified"] and ex["threshold"] == 0.2 and ex["recall"] == 1.0
    assert ex["positive_rate"] == 5 / 6 and ex["prevalence"] == 0.5 and ex["usage_floor"] == 0.475
    # grid: the lowest grid tau above .1 is linspace(.01, .99, 100)[10] = 0.10898989...
    gr = TM.token_threshold_search(P6, Y6)
    assert gr["threshold"] == np.linspace(0.01, 0.99, 100)[10] and gr["positive_rate"] == 5 / 6
    # r_min .6 needs 2 of 3: tau in (.35, .6] -> rate 3/6
    ex6 = TM.token_threshold_search(P6, Y6, r_min=0.6, mode="exact")
    assert (ex6["threshold"], ex6["recall"], ex6["positive_rate"]) == (0.6, 2 / 3, 0.5)
    gr6 = TM.token_threshold_search(P6, Y6, r_min=0.6)
    assert gr6["threshold"] == np.linspace(0.01, 0.99, 100)[35]
    # on test: p >= .2 -> idx 1, 2: rate .5, TP 1 of 2
    ap = TM.token_threshold_apply(ex, [0.15, 0.25, 0.5, 0.05], [1, 1, 0, 0])
    assert (ap["recall"], ap["positive_rate"], ap["prevalence"], ap["meets_r_min"]) == (0.5, 0.5, 0.5, False)
    json.dumps(ap)


def test_token_threshold_none_qualifies():
    # positives all below the smallest grid tau .01: recall 0 everywhere on the grid
    res = TM.token_threshold_search([0.005, 0.5, 0.002], [1, 0, 1])
    assert res["qualified"] is False and math.isnan(res["threshold"]) and math.isnan(res["positive_rate"])
    assert res["best_recall"] == 0.0 and "0.95" in res["reason"]
    ap = TM.token_threshold_apply(res, [0.5], [1])
    assert ap["qualified"] is False and math.isnan(ap["recall"]) and "no threshold qualified" in ap["reason"]
    # exact mode always has tau = min p, recall 1
    assert TM.token_threshold_search([0.005, 0.5, 0.002], [1, 0, 1], mode="exact")["threshold"] == 0.002


def test_recall_usage_curve():
    c = TM.recall_usage_curve(P6, Y6, [0.0, 0.5, 1.0])
    assert c["recall"] == [1.0, 2 / 3, 0.0] and c["positive_rate"] == [1.0, 0.5, 0.0]


def test_registry():
    assert get_metric("hcr").higher_is_better and not get_metric("cpt_50").higher_is_better
    assert get_metric("vb").fn is KM.kmodel_report and get_metric("aiq").fn is KC.aiq
    assert get_metric("token_recall").key == "recall"
    assert {m.section for m in METRICS.values()} == {"binary", "kmodel", "cost", "token"}
    with pytest.raises(ValueError, match="registered"):
        get_metric("nope")