"""Paper tables from per-run metric files: seed aggregation, domains, operating points, calibration."""

import math

import numpy as np
import pandas as pd
import pytest

from routerlab.binary.metrics import expected_calibration_error, reliability_bins
from routerlab.binary.tables import (
    RUN_DIR,
    ablation_table,
    aggregate_seeds,
    collect_runs,
    domain_of,
    fusion_label,
    operating_points_table,
    run_key,
    xbench_main_table,
)
from routerlab.core.io import write_frame, write_json
from routerlab.core.report import to_latex


def _metrics(tmp, router, seed, test, auroc, lpm=0.5, train="all"):
    path = tmp / f"results/metrics/{router}/{train}/seed{seed}/{test}.json"
    write_json(path, {"n": 10, "auroc": auroc, "lpm": lpm, "mpm": 0.6, "hcr": 0.1, "apgr": 0.2,
                      "auroc_ci95": [auroc - 0.1, auroc + 0.1], "weak_mean": 0.3, "strong_mean": 0.7})
    return str(path)


def test_run_key_reads_the_layout_and_rejects_others(tmp_path):
    assert run_key("results/metrics/mean_probe/all/seed3/choice.curve.parquet") == ("mean_probe", "all", 3, "choice")
    # the layout the workflow builds (common.smk formats RUN_DIR) is the one run_key parses
    built = "results/thresholds/" + RUN_DIR.format(router="dirichlet_probe", train="math_mc", seed=12) + "/gsm8k.json"
    assert run_key(built) == ("dirichlet_probe", "math_mc", 12, "gsm8k")
    with pytest.raises(ValueError, match=r"seed\{seed\}"):
        run_key("results/metrics/mean_probe/all/choice.json")


def test_seed_mean_and_sample_std(tmp_path):
    paths = [_metrics(tmp_path, "dirichlet_probe", 0, "choice", 0.6), _metrics(tmp_path, "dirichlet_probe", 1, "choice", 0.8),
             _metrics(tmp_path, "max_prob", 0, "choice", 0.55)]
    agg = aggregate_seeds(collect_runs(paths)).set_index("router")
    assert agg.loc["dirichlet_probe", "auroc"] == pytest.approx(0.7)
    assert agg.loc["dirichlet_probe", "auroc_std"] == pytest.approx(math.sqrt(0.02))
    assert agg.loc["dirichlet_probe", "seeds"] == 2
    assert agg.loc["max_prob", "seeds"] == 1 and math.isnan(agg.loc["max_prob", "auroc_std"])


def test_xbench_main_marks_domains_and_averages_them(tmp_path):
    paths = [_metrics(tmp_path, "p", 0, "arith", 0.9, train="arith_only"),
             _metrics(tmp_path, "p", 0, "choice", 0.6, train="arith_only"),
             _metrics(tmp_path, "p", 0, "mc2", 0.5, train="arith_only")]
    long, wide = xbench_main_table(collect_runs(paths), {"arith_only": ["arith"]})
    assert dict(zip(long.test, long.domain)) == {"arith": "ID", "choice": "OOD", "mc2": "OOD"}
    row = wide.iloc[0]
    assert row["arith (ID) AUROC"] == "0.900" and row["choice (OOD) AUROC"] == "0.600"
    assert row["AUROC avg ID"] == "0.900" and row["AUROC avg OOD"] == "0.550"
    assert domain_of(["a", "b"], "b") == "ID" and domain_of(["a"], "b") == "OOD"


def test_ablation_keeps_probe_family_and_labels_variants(tmp_path):
    paths = [_metrics(tmp_path, r, 0, "choice", a) for r, a in
             [("mean_probe", 0.7), ("probe_last", 0.65), ("dirichlet_probe", 0.72), ("entropy", 0.6)]]
    routers = {"mean_probe": {"kind": "mean_probe", "params": {}},
               "probe_last": {"kind": "layer_probe", "params": {"layer": -1}},
               "dirichlet_probe": {"kind": "dirichlet_probe", "params": {"layers": [2, 3]}},
               "entropy": {"kind": "entropy", "params": {}}}
    table = ablation_table(collect_runs(paths), routers).set_index("router")
    assert set(table.index) == {"mean_probe", "probe_last", "dirichlet_probe"}
    assert table.loc["probe_last", "variant"] == "single layer -1 (mean pooling)"
    assert table.loc["dirichlet_probe", "variant"] == "Dirichlet fusion, layers [2, 3] (mean pooling)"
    assert fusion_label("mean_probe", {"pooling": "last"}) == "mean fusion, all layers (last pooling)"


def test_operating_points_from_thresholds_and_curve(tmp_path):
    th = tmp_path / "results/thresholds/r/all/seed0/choice.json"
    point = {"kind": "recall", "target": 0.9, "threshold": 0.4, "call_rate": 0.5, "recall": 0.95, "performance": 0.7,
             "validation": {"recall": 0.92, "call_rate": 0.45}}
    never = dict(point, kind="budget", target=0.1, threshold=-math.inf, call_rate=0.0, recall=0.0, performance=0.3)
    write_json(th, {"test": [point, never]})
    curve = tmp_path / "results/metrics/r/all/seed0/choice.curve.parquet"
    write_frame(curve, pd.DataFrame({"call_rate": np.linspace(0, 1, 11), "performance": np.linspace(0.3, 0.8, 11),
                                     "recovery": np.linspace(0, 1, 11)}))
    ops = operating_points_table([str(th)], [str(curve)], [0.2, 0.5])
    assert list(ops.kind) == ["recall", "budget", "call_rate", "call_rate"]
    rec = ops.iloc[0]
    assert (rec.threshold, rec.call_rate, rec.recall, rec.accuracy, rec.validation_recall) == (0.4, 0.5, 0.95, 0.7, 0.92)
    assert math.isnan(ops.iloc[1].threshold)  # -inf: escalate none
    assert ops.iloc[2].accuracy == pytest.approx(0.4) and ops.iloc[3].accuracy == pytest.approx(0.55)


def test_reliability_bins_and_ece_by_hand():
    bins = reliability_bins([0.05, 0.15, 0.95, 0.95], [0, 1, 1, 0], n_bins=10)
    used = bins[bins.n > 0]
    assert list(used.bin) == [0, 1, 9] and list(used.n) == [1, 1, 2]
    assert list(used.observed) == [0.0, 1.0, 0.5]
    # ECE = (1*|0.05-0| + 1*|0.15-1| + 2*|0.95-0.5|) / 4
    assert expected_calibration_error(bins) == pytest.approx((0.05 + 0.85 + 0.9) / 4)
    assert reliability_bins([1.0], [1], n_bins=4).n.tolist() == [0, 0, 0, 1]  # p = 1 lands in the last bin


def test_latex_escapes_and_aligns():
    tex = to_latex(pd.DataFrame({"router": ["a_b & c"], "auroc": [0.5], "cell": ["0.5 ± 0.1"]}))
    assert "\\begin{tabular}{lrl}" in tex
    assert "a\\_b \\& c" in tex and "$\\pm$" in tex and "0.500" in tex


def test_vectorised_bootstrap_equals_the_resample_loop_with_ties():
    from sklearn.metrics import roc_auc_score

    from routerlab.binary.metrics import bootstrap_auroc

    rng = np.random.default_rng(1)
    y = (rng.random(40) < 0.3).astype(float)
    r = np.round(rng.random(40), 1)  # many ties
    loop_rng, vals = np.random.default_rng(7), []
    for _ in range(300):  # the definition: same draws, one resample at a time
        idx = loop_rng.integers(0, 40, 40)
        if y[idx].min() != y[idx].max():
            vals.append(roc_auc_score(y[idx], r[idx]))
    assert bootstrap_auroc(y, r, 300, seed=7) == pytest.approx(tuple(np.percentile(vals, [2.5, 97.5])), abs=1e-12)
    assert all(math.isnan(v) for v in bootstrap_auroc(np.ones(5), r[:5], 100))


def test_paired_bootstrap_equals_the_resample_loop():
    from sklearn.metrics import roc_auc_score

    from routerlab.binary.metrics import paired_bootstrap_auroc

    rng = np.random.default_rng(2)
    y = (rng.random(50) < 0.4).astype(float)
    a = y + rng.normal(0, 1.0, 50)  # informative
    b = np.round(rng.random(50), 1)  # noise with ties
    loop_rng, diffs = np.random.default_rng(3), []
    for _ in range(300):  # the definition: both routers on the same draw, one resample at a time
        idx = loop_rng.integers(0, 50, 50)
        if y[idx].min() != y[idx].max():
            diffs.append(roc_auc_score(y[idx], a[idx]) - roc_auc_score(y[idx], b[idx]))
    diff, lo, hi = paired_bootstrap_auroc(y, a, b, 300, seed=3)
    assert diff == pytest.approx(roc_auc_score(y, a) - roc_auc_score(y, b), abs=1e-12)
    assert (lo, hi) == pytest.approx(tuple(np.percentile(diffs, [2.5, 97.5])), abs=1e-12)
    assert lo > 0  # the informative router wins on paired resamples
    same = paired_bootstrap_auroc(y, a, a, 200)
    assert same == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="equal lengths"):
        paired_bootstrap_auroc(y, a, b[:10], 10)


def test_table_csv_round_trips_at_the_written_precision(tmp_path):
    """Every table CSV goes through io.write_csv; conftest.written compares read-backs at its precision."""
    from conftest import written

    from routerlab.core.report import write_csv

    values = [1 / 6, 2 / 3, 1e-7 / 3, 12345.678901234]
    write_csv(tmp_path / "t.csv", pd.DataFrame({"x": values}))
    back = pd.read_csv(tmp_path / "t.csv")["x"].tolist()
    assert back == [written(v) for v in values]
    assert back[0] != 1 / 6  # rounded: an exact comparison would depend on the data
