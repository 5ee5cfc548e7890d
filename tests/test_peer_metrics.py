"""The peers' headline metrics (routerlab.kmodel.peer_metrics, docs/metrics.md §9) against hand-computed values."""

import math
import random

import numpy as np
import pytest

from routerlab.kmodel import cost as KC
from routerlab.kmodel import peer_metrics as PM
from routerlab.metric_index import get_metric


def approx(x):
    return pytest.approx(x, abs=1e-12, rel=0)


# 6 queries, 3 models; dataset a = rows 0-3, b = rows 4-5 (macro != micro)
Y6 = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 0, 0], [0, 1, 1], [0, 1, 0]], float)
D6 = ["a"] * 4 + ["b"] * 2
# per-dataset accuracies: m0 a .5 b 0 -> AvgAcc .25; m1 a .25 b 1 -> .625; m2 a .25 b .5 -> .375
# random (expectation) = (.25 + .625 + .375)/3 = 1.25/3; oracle a .75 b 1 -> .875; best single m1 (.625)


def test_llmrouterbench_performance_by_hand():
    routed = [1, 1, 1, 0, 0, 1]  # a .75, b .5 -> AvgAcc .625 (sample-average 4/6)
    rep = PM.llmrouterbench_performance(Y6, routed, D6, models=["m0", "m1", "m2"])
    assert rep["avg_acc"] == 0.625 and rep["sample_avg"] == approx(4 / 6)
    assert rep["per_dataset"] == {"a": 0.75, "b": 0.5} and rep["n_datasets"] == 2
    assert rep["random_avg_acc"] == approx(1.25 / 3) and rep["oracle_avg_acc"] == 0.875
    assert rep["best_single"] == {"model": "m1", "avg_acc": 0.625}
    assert rep["gain_random"] == approx(0.5)  # .625 / (1.25/3) - 1
    assert rep["gain_best"] == 0.0 and rep["gap_oracle"] == approx(2 / 7)  # 1 - .625/.875
    best = PM.llmrouterbench_performance(Y6, [1, 1, 1, 0, 1, 1], D6)  # a .75, b 1 -> .875
    assert best["gain_best"] == approx(0.4) and best["gap_oracle"] == 0.0 and best["gain_random"] == approx(1.1)
    # one dataset: macro = micro
    assert PM.llmrouterbench_performance(Y6, routed)["avg_acc"] == approx(4 / 6)


def test_llmrouterbench_performance_compat_and_undefined():
    Yg = np.array([[0.5, 0.2], [0.0, 0.0], [0.1, 0.4]])
    clean = PM.llmrouterbench_performance(Yg, [0.5, 0.0, 0.1])
    assert clean["oracle_avg_acc"] == approx((0.5 + 0.0 + 0.4) / 3)
    compat = PM.llmrouterbench_performance(Yg, [0.5, 0.0, 0.1], mode="compat")
    assert compat["oracle_avg_acc"] == approx(2 / 3)  # 1[any score > 0]
    rng = random.Random(42)  # one seeded draw per query, in row order
    picks = [rng.choice(range(2)) for _ in range(3)]
    assert compat["random_avg_acc"] == approx(float(np.mean(Yg[np.arange(3), picks])))
    zero = PM.llmrouterbench_performance(np.zeros((2, 2)), [0, 0])
    assert math.isnan(zero["gain_random"]) and "AvgAcc 0" in zero["gain_random_reason"]
    assert math.isnan(zero["gap_oracle"]) and zero["gap_oracle_reason"]
    with pytest.raises(ValueError, match="llmrouterbench_performance: length mismatch"):
        PM.llmrouterbench_performance(Y6, [1, 0])
    with pytest.raises(ValueError, match="mode"):
        PM.llmrouterbench_performance(Y6, [1] * 6, mode="fast")


SINGLES = [(1.0, 0.6), (10.0, 0.8), (20.0, 0.8)]  # (cost, accuracy)  # best single: accuracy .8, the cheaper -> cost 10


def test_llmrouterbench_cost_by_hand():
    router = [(2.0, 0.7), (5.0, 0.82), (12.0, 0.85), (8.0, 0.75)]
    rep = PM.llmrouterbench_cost(router, SINGLES)
    assert rep["best_single"] == {"index": 1, "accuracy": 0.8, "cost": 10.0}
    assert rep["perf_gain"] == approx(0.85 / 0.8 - 1)
    assert rep["cost_save"] == approx(0.5)  # (10 - 5)/10; (.85, 12) saves -.2
    # frontier of all 7 points: (1, .6), (2, .7), (5, .82), (12, .85); only (8, .75) is off it.
    # cost axis log10(c)/log10(20); its nearest frontier point is (12, .85):
    # hypot(log10(12/8)/log10(20), .10) = .1683 < (5, .82): hypot(log10(8/5)/log10(20), .07) = .1718
    d = math.hypot(math.log10(12 / 8) / math.log10(20), 0.10)
    assert rep["pareto_dist"] == approx(d / 4) and rep["pareto_front_size"] == 4
    never = PM.llmrouterbench_cost([(2.0, 0.7)], SINGLES)
    assert math.isnan(never["cost_save"]) and "never reaches" in never["cost_save_reason"]
    assert never["perf_gain"] == approx(0.7 / 0.8 - 1) and never["pareto_dist"] == 0.0
    # a wider reference set (another router's points) moves the frontier
    other = PM.llmrouterbench_cost([(2.0, 0.7)], SINGLES, reference_points=SINGLES + [(1.0, 0.9)])
    assert other["pareto_dist"] > 0
    with pytest.raises(ValueError, match="cost must be >= 0"):
        PM.llmrouterbench_cost([(-1.0, 0.7)], SINGLES)


def test_pareto_front():
    acc, cost = np.array([0.6, 0.7, 0.7, 0.5, 0.7]), np.array([1.0, 2.0, 3.0, 1.0, 2.0])
    assert PM.pareto_front(acc, cost).tolist() == [True, True, False, False, True]


def test_aiq_routerbench_compat_by_hand():
    r1 = [(1, 0.5), (2, 0.7), (3, 0.75)]
    r2 = [(2, 0.6), (4, 0.8), (3, 0.65)]  # (3, .65) lies below the chord (2, .6)-(4, .8)
    res = PM.aiq_routerbench([r1, r2])
    # x_max = 4; r1 extended flat to (4, .75): (.6 + .725 + .75)/4; r2 from its own lowest cost: 1.4/4
    assert res["x_max"] == 4.0 and res["aiq"] == [approx(2.075 / 4), approx(1.4 / 4)]
    # a flat top is kept (RouterBench removes only strict decreases): x_max = 3, (.7 + .9)/3
    assert PM.aiq_routerbench([[(1, 0.5), (2, 0.9), (3, 0.9)]])["aiq"] == [approx(1.6 / 3)]
    # the clean AIQ over the common range [1, 4] holds r2 flat below cost 2 instead of counting 0
    assert KC.aiq(r2, (1, 4), nondecreasing=True)["aiq"] == approx((0.6 + 1.4) / 3)


def test_peer_metrics_in_the_index():
    assert get_metric("gap_oracle").fn is PM.llmrouterbench_performance and not get_metric("gap_oracle").higher_is_better
    assert get_metric("cost_save").key == "cost_save" and not get_metric("pareto_dist").higher_is_better
    assert get_metric("aiq_routerbench").fn is PM.aiq_routerbench
