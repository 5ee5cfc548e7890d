"""K-model tables (routereval_easy/hard, r2router) and the accuracy-cost plot."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from routerlab.core.io import read_json
from routerlab.core.report import figure, save_figure, write_table_files

ROUTEREVAL_COLUMNS = ["source", "pool", "group", "router", "n_test", "mu", "vb", "vb_val", "ep",
                      "selection_entropy", "oracle", "cost_per_1k"]
R2_COLUMNS = ["source", "router", "kind", "lambda", "accuracy", "cost_per_1k", "normalised_cost", "arena_score",
              "opt_sel", "opt_acc", "opt_cost", "on_frontier"]


def _num(x: Any) -> float:
    return math.nan if x is None else float(x) + 0.0  # + 0.0: no "-0.000" for an entropy of zero


def routereval_table(result_paths: Sequence[str | Path]) -> tuple[pd.DataFrame, list[str]]:
    """Per source and pool size: each group's rows, the mean over groups, reference rows, skip notes."""
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for path in result_paths:
        res = read_json(path)
        src, diff = res["source"], res["difficulty"]
        for note in res["notes"]:
            notes.append(f"- {src}: {note}")
            if "skipped" in note:
                size = note.split(" ")[0]
                rows.append({"source": src, "pool": size, "group": "–", "router": "skipped: " + note.split(": ", 1)[1],
                             "n_test": 0})
        notes.append(f"- {src}: split train/validation/test = {res['split']['train']}/{res['split']['validation']}/"
                     f"{res['split']['test']} queries")
        for r in res["rows"]:
            rows.append({"source": src, "pool": f"{diff}-{r['size']}", "group": r["group"], "router": r["router"],
                         "n_test": r["n_test"], **{k: _num(r[k]) for k in ("mu", "vb", "vb_val", "ep",
                                                                           "selection_entropy", "oracle")},
                         "cost_per_1k": _num(r["cost_per_1k"])})
        seen: set[tuple[int, str]] = set()
        for r in res["rows"]:  # reference rows once per (size, group)
            if (r["size"], r["group"]) in seen:
                continue
            seen.add((r["size"], r["group"]))
            base = {"source": src, "pool": f"{diff}-{r['size']}", "group": r["group"], "n_test": r["n_test"],
                    "oracle": _num(r["oracle"])}
            best = r["best_single_test_mean"]
            rows.append({**base, "router": f"best single (test): {r['best_single_test']}", "mu": best, "vb": 1.0})
            if r["best_single_val"] is not None:
                v = r["best_single_val_test_mean"]
                rows.append({**base, "router": f"best single (validation): {r['best_single_val']}", "mu": v,
                             "vb": v / best if best else math.nan, "vb_val": 1.0})
        for s in res["summary"]:
            rows.append({"source": src, "pool": f"{diff}-{s['size']}", "group": "mean", "router": s["router"],
                         "n_test": res["split"]["test"], **{k: _num(s[k]) for k in ("mu", "vb", "vb_val", "ep",
                                                                                 "selection_entropy", "oracle")}})
    df = pd.DataFrame(rows, columns=ROUTEREVAL_COLUMNS)
    df["n_test"] = df["n_test"].fillna(0).astype(int)
    group_order = {"mean": 0, "all_strong": 1, "all_weak": 2, "strong_to_weak": 3, "–": 4}
    df["_g"] = df["group"].map(group_order)
    df["_size"] = df["pool"].str.split("-").str[-1].astype(int)
    df = df.sort_values(["source", "_size", "_g", "router"], kind="stable").drop(columns=["_g", "_size"])
    notes.append("- mu: mean test score of the chosen models; vb = mu / best single model on test; vb_val = mu / the "
                 "validation-chosen single model; ep: mean entropy (bits) of the router's distribution; "
                 "selection_entropy: entropy of the share of queries per model; oracle = mean best score per query; "
                 "group `mean` averages the three candidate groups (RouterEval).")
    return df.reset_index(drop=True), notes


def r2router_table(result_paths: Sequence[str | Path]) -> tuple[pd.DataFrame, list[str]]:
    rows, notes = [], []
    for path in result_paths:
        res = read_json(path)
        src = res["source"]
        if not res["available"]:
            rows.append({"source": src, "router": f"not run: {res['reason']}", "kind": "–"})
            notes.append(f"- {src}: R2-Router not run: {res['reason']}")
            continue
        for r in res["rows"]:
            rows.append({"source": src, "router": r["router"], "kind": r["kind"],
                         "lambda": "–" if r.get("lam") is None else f"{r['lam']:g}",
                         **{k: _num(r[k]) for k in ("accuracy", "cost_per_1k", "normalised_cost", "arena_score",
                                                    "opt_sel", "opt_acc", "opt_cost")},
                         "on_frontier": "yes" if r["on_frontier"] else ""})
        line = f"- {src}: {res['n_test']} test queries; R2-Router cost term: {res['usage_reason']}"
        if res.get("lambda_chosen"):
            line += f"; λ* = {res['lambda_chosen']['lam']:g} (best arena score on validation)"
        if "aiq_singles" in res:
            line += (f"; AIQ over the single models' cost range [{res['aiq_range'][0]:.4g}, {res['aiq_range'][1]:.4g}] "
                     f"$/1k: single models {res['aiq_singles']:.4f}, with routers {res['aiq_all']:.4f}")
        notes.append(line)
        notes += [f"- {src}: {note}" for note in res.get("notes", [])]  # arena-score inputs clipped or missing, λ*
    notes.append("- accuracy and cost (USD per 1,000 queries) on the test split; arena score S = (1 + β)·A·C / "
                 "(β·A + C), β = 0.1, C = normalised log cost clamped to [0.0044, 200] $/1k (RouterArena); "
                 "opt_*: RouterArena optimality against the cheapest correct model; oracle = cheapest best model "
                 "per query (an upper bound); on_frontier: on the upper convex hull of single models and routers.")
    return pd.DataFrame(rows, columns=R2_COLUMNS), notes


def write(df: pd.DataFrame, notes: Sequence[str], title: str, md: str | Path, csv: str | Path) -> None:
    """Markdown of the display view, CSV of the numbers (``core.report.write_table_files``)."""
    view = df.copy()
    if "cost_per_1k" in view:  # costs span orders of magnitude: significant digits, not 3 decimals
        view["cost_per_1k"] = [("–" if math.isnan(c) else f"{c:.4g}") for c in view["cost_per_1k"].astype(float)]
    write_table_files(view, md, csv, None, title, notes, data=df)


POINT_STYLES = {"single": {"marker": "o", "c": "tab:blue"}, "reference": {"marker": "*", "c": "black", "s": 120},
                "routereval": {"marker": "s", "c": "tab:green"}, "r2router*": {"marker": "D", "c": "tab:red", "s": 70}}
KIND_LABELS = {"single": "single model", "reference": "reference (oracle, random, ...)",
               "routereval": "RouterEval router", "r2router*": "R2-Router (λ* on validation)"}
# Where a point's number may go, in points from the point: right, above, below, left, then further out.
LABEL_OFFSETS = [(5, 3), (-2, 7), (-2, -13), (-13, 3), (5, -11), (-13, -11), (5, 13), (-13, 13), (12, 3), (-22, 3),
                 (-2, 17), (-2, -23)]


def _overlap(a, b, pad: float = 1.0) -> float:
    """Overlapping area of two display-space boxes (x0, y0, x1, y1), each grown by ``pad`` pixels."""
    w = min(a[2], b[2]) - max(a[0], b[0]) + 2 * pad
    h = min(a[3], b[3]) - max(a[1], b[1]) + 2 * pad
    return max(w, 0.0) * max(h, 0.0)


def place_point_labels(ax, xs: Sequence[float], ys: Sequence[float], texts: Sequence[str], fontsize: float = 7,
                       merge_px: float = 9.0) -> list[tuple[float, float, float, float]]:
    """Label points so that no two labels overlap each other or another point's marker.

    Points closer than ``merge_px`` pixels share one label ("3,5"); each label takes the first
    offset of ``LABEL_OFFSETS`` that is free (else the least crowded one). Returns the labels'
    display boxes (x0, y0, x1, y1). The axes' limits and scales must be final.
    """
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    pts = ax.transData.transform(list(zip(xs, ys)))
    groups: list[list[int]] = []
    for i, p in enumerate(pts):
        home = next((g for g in groups if math.dist(pts[g[0]], p) < merge_px), None)
        if home is None:
            groups.append([i])
        else:
            home.append(i)
    markers = [(p[0] - 4, p[1] - 4, p[0] + 4, p[1] + 4) for p in pts]
    placed: list[tuple[float, float, float, float]] = []
    for g in sorted(groups, key=lambda g: (-pts[g[0]][1], pts[g[0]][0])):  # top to bottom
        label = ",".join(texts[i] for i in g)
        best = None
        for dx, dy in LABEL_OFFSETS:
            t = ax.annotate(label, (xs[g[0]], ys[g[0]]), xytext=(dx, dy), textcoords="offset points",
                            fontsize=fontsize, zorder=4)
            e = t.get_window_extent(renderer)
            box = (e.x0, e.y0, e.x1, e.y1)
            crowd = sum(_overlap(box, o) for o in placed) + sum(
                _overlap(box, m, pad=0) for j, m in enumerate(markers) if j not in g)
            if best is None or crowd < best[0]:
                if best is not None:
                    best[1].remove()
                best = (crowd, t, box)
            else:
                t.remove()
            if crowd == 0:
                break
        placed.append(best[2])
    return placed


def plot_accuracy_cost(result_paths: Sequence[str | Path], out_png: str | Path) -> None:
    """Accuracy vs USD per 1,000 queries (log scale) per source, with the frontier.

    Points carry numbers (points that coincide share one label), placed so that labels do not
    overlap; the table beside each panel names them with their cost and accuracy.
    """
    results = [r for r in (read_json(p) for p in result_paths) if r["available"]]
    plt, fig, axes = figure(max(1, len(results)), panel_size=(9.5, 4.8))
    for ax, res in zip(axes, results):
        rows = res["rows"]
        points = [r for r in rows if r["kind"] in POINT_STYLES]
        kinds_seen: set[str] = set()
        for r in points:
            kind_label = None if r["kind"] in kinds_seen else KIND_LABELS.get(r["kind"], r["kind"])
            kinds_seen.add(r["kind"])
            ax.scatter(r["cost_per_1k"], r["accuracy"], zorder=3, label=kind_label, **POINT_STYLES[r["kind"]])
        sweep = sorted((r for r in rows if r["kind"] == "r2router"), key=lambda r: r["cost_per_1k"])
        if sweep:
            ax.plot([r["cost_per_1k"] for r in sweep], [r["accuracy"] for r in sweep], "-.", c="tab:red", lw=1,
                    marker=".", label="R2-Router (λ sweep)")
        hull = res["frontier"]
        ax.plot(hull["cost"], hull["accuracy"], "--", c="grey", lw=1, label="frontier (convex hull)")
        costs = [r["cost_per_1k"] for r in rows if r["cost_per_1k"] and r["cost_per_1k"] > 0]
        if costs and min(costs) > 0 and max(costs) / min(costs) > 20:
            ax.set_xscale("log")
        ax.set(title=res["source"], xlabel="USD per 1,000 queries (test)", ylabel="accuracy")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3, frameon=False)
        lines = [f"{'#':>2}  {'router':<34} {'USD/1k':>8} {'acc':>6}"]
        lines += [f"{i:>2}  {r['router'][:34]:<34} {r['cost_per_1k']:>8.4f} {r['accuracy']:>6.3f}"
                  for i, r in enumerate(points, 1)]
        ax.text(1.03, 1.0, "\n".join(lines), transform=ax.transAxes, va="top", ha="left", fontsize=7,
                family="monospace")
        fig.tight_layout()
        place_point_labels(ax, [r["cost_per_1k"] for r in points], [r["accuracy"] for r in points],
                           [str(i) for i in range(1, len(points) + 1)])
    if not results:
        axes[0].text(0.5, 0.5, "no source with costs", ha="center", va="center")
    save_figure(plt, fig, out_png)
    plt.close(fig)


def write_routereval_table(result_paths: Sequence[str | Path], difficulty: str, md: str | Path,
                           csv: str | Path) -> pd.DataFrame:
    """RouterEval's table of one difficulty (every source's pools), md + csv."""
    df, notes = routereval_table(result_paths)
    write(df, notes, f"RouterEval, {difficulty} pools (test split)", md, csv)
    return df


def write_r2router_table(result_paths: Sequence[str | Path], md: str | Path, csv: str | Path,
                         plot: str | Path) -> pd.DataFrame:
    """The cost-aware table (R2-Router, RouterArena score, optimality, AIQ), md + csv, and its accuracy-cost plot."""
    df, notes = r2router_table(result_paths)
    plot_accuracy_cost(result_paths, plot)
    write(df, notes, "R2-Router and cost-aware routing (test split)", md, csv)
    return df
