"""Readable plots: at most six curves a panel (best router per family, random, oracle), legends
outside the data, K-model point labels that do not overlap."""

import numpy as np
import pandas as pd
import pytest

from routerlab.binary import tables as binary_tables
from routerlab.core.io import write_frame, write_json
from routerlab.kmodel import tables as kmodel_tables

ROUTERS = {  # config name -> kind
    "max_prob": "max_prob", "entropy": "entropy", "coe": "coe", "mean_probe": "mean_probe",
    "probe_last": "layer_probe", "embedding_mlp": "embedding_mlp", "encoder_classifier": "encoder_classifier",
    "semantic_entropy": "semantic_entropy", "random": "random",
}
AUROC = {"max_prob": 0.61, "entropy": 0.66, "coe": 0.70, "mean_probe": 0.81, "probe_last": 0.84,
         "embedding_mlp": 0.58, "encoder_classifier": 0.55, "semantic_entropy": 0.73, "random": 0.50}


def _labels(path, w, s):
    n = len(w)
    write_frame(path, pd.DataFrame({"id": [f"q{i}" for i in range(n)], "split": ["test"] * n, "task": ["mc"] * n,
                                    "weak_score": w, "strong_score": s, "label": w, "usable": [True] * n}))


def _runs(root, tests=("alpha", "beta"), seeds=None):
    curves, metrics = [], []
    grid = np.linspace(0, 1, 101)
    for router in ROUTERS:
        for seed in (seeds or {}).get(router, [0]):
            for test in tests:
                d = root / "metrics" / router / "all" / f"seed{seed}"
                d.mkdir(parents=True, exist_ok=True)
                perf = 0.4 + 0.2 * grid + 0.01 * seed
                write_frame(d / f"{test}.curve.parquet", pd.DataFrame(
                    {"call_rate": grid, "performance": perf, "recovery": grid}))
                write_json(d / f"{test}.json", {"auroc": AUROC[router], "auroc_ci95": [AUROC[router] - 0.1, 1.0]})
                curves.append(str(d / f"{test}.curve.parquet"))
                metrics.append(str(d / f"{test}.json"))
    return curves, metrics


def test_select_curves_keeps_best_router_per_family():
    runs = {f"{r} (all)": {"family": "random" if k == "random" else binary_tables.router_family(k),
                           "auroc": AUROC[r]} for r, k in ROUTERS.items()}
    chosen = binary_tables.select_curves(runs, max_curves=6)
    # random first, then the family winners by AUROC: hidden states, self-based, logits, query text
    assert chosen == ["random (all)", "probe_last (all)", "semantic_entropy (all)", "entropy (all)",
                      "embedding_mlp (all)"]
    assert binary_tables.select_curves(runs, max_curves=3) == ["random (all)", "probe_last (all)"]


def test_oracle_curve_escalates_the_gains_first(tmp_path):
    # w, s per query: gain +1 on q1, 0 on q0 and q2, -1 on q3; W = S = 0.5
    _labels(tmp_path / "t.parquet", [1.0, 0.0, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0])
    c = binary_tables.oracle_curve(tmp_path / "t.parquet").set_index("call_rate")["performance"]
    assert c.loc[0.0] == pytest.approx(0.5)
    assert c.loc[0.25] == pytest.approx(0.75)  # q1 escalated: 3 of 4 right
    assert c.loc[0.75] == pytest.approx(0.75)  # the no-gain queries change nothing
    assert c.loc[1.0] == pytest.approx(0.5)  # q3 escalated too: the strong model alone


def test_plot_curves_six_curves_legend_outside_and_seed_band(tmp_path, monkeypatch):
    curves, metrics = _runs(tmp_path, seeds={"probe_last": [0, 1]})
    labels = []
    for test in ("alpha", "beta"):
        _labels(tmp_path / f"{test}.parquet", [1.0, 0.0, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, 0.0, 0.0])
        labels.append(str(tmp_path / f"{test}.parquet"))
    captured = {}

    def keep(plt, fig, out_png):
        fig.tight_layout()
        fig.canvas.draw()
        captured["fig"] = fig

    monkeypatch.setattr(binary_tables, "save_figure", keep)
    binary_tables.plot_curves(curves, str(tmp_path / "p.png"), "performance", metrics, labels,
                              {r: {"kind": k} for r, k in ROUTERS.items()})
    fig = captured["fig"]
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        texts = [t.get_text() for t in ax.get_legend().get_texts()]
        assert len(texts) == 6
        assert texts[0].startswith("random (all) AUROC 0.50")
        assert texts[1].startswith("hidden states: probe_last (all) AUROC 0.84")
        assert "2 seeds (band: min-max)" in texts[1]
        assert texts[-1] == "oracle"
        assert len(ax.collections) == 1  # the one seed band
        legend_box, axes_box = ax.get_legend().get_window_extent(renderer), ax.get_window_extent(renderer)
        assert legend_box.y1 <= axes_box.y0  # below the axes, not over the data
    # max_curves=None: every router, plus the oracle
    binary_tables.plot_curves(curves, str(tmp_path / "p.png"), "performance", metrics, labels,
                              {r: {"kind": k} for r, k in ROUTERS.items()}, max_curves=None)
    assert len(captured["fig"].axes[0].get_legend().get_texts()) == len(ROUTERS) + 1


def test_point_labels_do_not_overlap():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    xs = list(rng.uniform(0, 1, 25)) + [0.5, 0.5, 0.5005]
    ys = list(rng.uniform(0, 1, 25)) + [0.5, 0.5, 0.5]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.scatter(xs, ys)
    ax.set(xlim=(-0.05, 1.05), ylim=(-0.05, 1.05))
    boxes = kmodel_tables.place_point_labels(ax, xs, ys, [str(i) for i in range(1, len(xs) + 1)])
    texts = [t.get_text() for t in ax.texts]
    assert "26,27,28" in texts  # coinciding points share one label
    assert len(boxes) == len(texts) == 26
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            assert kmodel_tables._overlap(boxes[i], boxes[j], pad=0) == 0, (texts[i], texts[j])
    plt.close(fig)


def test_accuracy_cost_plot_numbers_points_and_lists_them(tmp_path, monkeypatch):
    rows = [{"router": "weak", "kind": "single", "cost_per_1k": 0.003, "accuracy": 0.3},
            {"router": "strong", "kind": "single", "cost_per_1k": 0.01, "accuracy": 0.5},
            {"router": "oracle", "kind": "reference", "cost_per_1k": 0.004, "accuracy": 0.55},
            {"router": "knn", "kind": "routereval", "cost_per_1k": 0.006, "accuracy": 0.45},
            {"router": "mlp", "kind": "routereval", "cost_per_1k": 0.006, "accuracy": 0.45},
            {"router": "r2router λ=0", "kind": "r2router", "cost_per_1k": 0.006, "accuracy": 0.45}]
    write_json(tmp_path / "r.json", {"available": True, "source": "pipeline", "rows": rows,
                                     "frontier": {"cost": [0.003, 0.004, 0.01], "accuracy": [0.3, 0.55, 0.5]}})
    captured = {}
    monkeypatch.setattr(kmodel_tables, "save_figure", lambda plt, fig, out: captured.setdefault("fig", fig))
    kmodel_tables.plot_accuracy_cost([tmp_path / "r.json"], tmp_path / "k.png")
    ax = captured["fig"].axes[0]
    texts = [t.get_text() for t in ax.texts]
    table = next(t for t in texts if t.startswith(" #"))
    assert " 4  knn" in table and " 5  mlp" in table and "r2router λ=0" not in table  # sweep points: the line only
    assert sorted(t for t in texts if t != table) == ["1", "2", "3", "4,5"]
