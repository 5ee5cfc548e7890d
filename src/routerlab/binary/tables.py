"""The binary branch's paper tables and plots: main, RouterXBench main and ablation, operating
points, call-performance/recovery curves and reliability diagrams."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from routerlab.binary.metrics import expected_calibration_error, reliability_bins
from routerlab.core.io import read_frame, read_json
from routerlab.core.report import figure, plus_minus, save_figure, write_table_files

# One router run's files: results/<stage>/RUN_DIR/<test>.<ext>. The workflow's path helpers
# (workflow/rules/common.smk, PATHS) build them from this pattern; run_key parses them back.
RUN_DIR = "{router}/{train}/seed{seed}"


def run_key(path: str | Path) -> tuple[str, str, int, str]:
    """(router, train, seed, test) of results/<stage>/RUN_DIR/{test}.<ext>."""
    p = Path(path)
    test = p.name.split(".")[0]
    seed_dir, train_dir = p.parent, p.parent.parent
    if not seed_dir.name.startswith("seed"):
        raise ValueError(f"{path}: expected results/<stage>/{RUN_DIR}/<test>.<ext>")
    return train_dir.parent.name, train_dir.name, int(seed_dir.name[4:]), test


METRIC_COLUMNS = ("auroc", "lpm", "mpm", "hcr", "apgr")


def collect_runs(metric_paths: Sequence[str], threshold_paths: Sequence[str] = (),
                 recall_target: float = 0.95) -> pd.DataFrame:
    """One row per (router, train, seed, test) run: the test metrics and the recall operating point."""
    thresholds = {run_key(p): read_json(p) for p in threshold_paths}
    rows: list[dict[str, Any]] = []
    for p in metric_paths:
        key = run_key(p)
        m = read_json(p)
        lo, hi = m.get("auroc_ci95", (math.nan, math.nan))
        op = next((o for o in thresholds.get(key, {}).get("test", [])
                   if o.get("kind") == "recall" and abs(o.get("target", -1) - recall_target) < 1e-9), {})
        rows.append({
            "router": key[0], "train": key[1], "seed": key[2], "test": key[3], "n": m["n"],
            **{c: m[c] for c in METRIC_COLUMNS}, "auroc_lo": lo, "auroc_hi": hi,
            "call_rate@recall": op.get("call_rate", math.nan), "recall@recall": op.get("recall", math.nan),
            "weak": m["weak_mean"], "strong": m["strong_mean"],
        })
    return pd.DataFrame(rows)


def aggregate_seeds(runs: pd.DataFrame, by: Sequence[str] = ("router", "train", "test")) -> pd.DataFrame:
    """Mean over seeds of every numeric column, ``<col>_std`` (sample std, NaN for one seed) and ``seeds``."""
    by = list(by)
    num = [c for c in runs.columns if c not in by and c != "seed" and pd.api.types.is_numeric_dtype(runs[c])]
    g = runs.groupby(by, sort=False)
    out = g[num].mean()
    for c in num:  # counts (n) are the same for every seed: keep them integers
        if pd.api.types.is_integer_dtype(runs[c]) and (out[c] == out[c].round()).all():
            out[c] = out[c].astype(int)
    std = g[num].std(ddof=1).add_suffix("_std")
    out = pd.concat([out, std], axis=1)
    out["seeds"] = g["seed"].nunique()
    return out.reset_index()


def main_table(metric_paths: Sequence[str], threshold_paths: Sequence[str], recall_target: float = 0.95) -> pd.DataFrame:
    agg = aggregate_seeds(collect_runs(metric_paths, threshold_paths, recall_target))
    cols = ["router", "train", "test", "n", "auroc", "auroc_std", "auroc_lo", "auroc_hi",
            "lpm", "mpm", "hcr", "apgr", "call_rate@recall", "recall@recall", "weak", "strong", "seeds"]
    df = agg[cols].rename(columns={"call_rate@recall": f"call_rate@recall{recall_target:g}",
                                   "recall@recall": f"recall@recall{recall_target:g}"})
    return df.sort_values(["test", "train", "router"], kind="stable").reset_index(drop=True)

def domain_of(train_members: Sequence[str], test: str) -> str:
    """RouterXBench's split: a test set is in-domain when its dataset is part of the training union."""
    return "ID" if test in train_members else "OOD"


def xbench_main_table(runs: pd.DataFrame, train_members: dict[str, Sequence[str]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """RouterXBench's main table: routers × test sets × (AUROC, LPM, MPM, HCR), in- and out-of-domain.

    Returns (long numeric table for CSV, wide display table with ``mean ± std`` over seeds).
    """
    agg = aggregate_seeds(runs)
    agg["domain"] = [domain_of(train_members[t], x) for t, x in zip(agg["train"], agg["test"])]
    metrics = ["auroc", "lpm", "mpm", "hcr"]
    long = agg[["router", "train", "test", "domain", "seeds", "n"] + [c for m in metrics for c in (m, f"{m}_std")]]
    long = long.sort_values(["train", "router", "domain", "test"], kind="stable").reset_index(drop=True)
    tests = sorted(long["test"].unique(), key=lambda t: (long.loc[long.test == t, "domain"].iloc[0], t))
    rows = []
    for (router, train), g in long.groupby(["router", "train"], sort=True):
        row: dict[str, Any] = {"router": router, "train": train, "seeds": int(g["seeds"].max())}
        for test in tests:
            hit = g[g["test"] == test]
            dom = hit["domain"].iloc[0] if len(hit) else domain_of(train_members[train], test)
            for m in metrics:
                row[f"{test} ({dom}) {m.upper()}"] = (plus_minus(hit[m].iloc[0], hit[f"{m}_std"].iloc[0])
                                                      if len(hit) else "–")
        for dom in ("ID", "OOD"):
            sel = g[g["domain"] == dom]
            row[f"AUROC avg {dom}"] = f"{sel['auroc'].mean():.3f}" if len(sel) else "–"
        rows.append(row)
    return long, pd.DataFrame(rows)


PROBE_FAMILY = ("mean_probe", "layer_probe", "dirichlet_probe")


def fusion_label(kind: str, params: dict[str, Any]) -> str:
    pooling = params.get("pooling", "mean")
    if kind == "layer_probe":
        return f"single layer {params.get('layer', -1)} ({pooling} pooling)"
    layers = params.get("layers", "all")
    span = "all layers" if layers in (None, "all") else f"layers {list(layers)}"
    fusion = {"mean_probe": "mean fusion", "dirichlet_probe": "Dirichlet fusion"}[kind]
    return f"{fusion}, {span} ({pooling} pooling)"


def ablation_table(runs: pd.DataFrame, routers: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Probe fusion variants (RouterXBench's layer ablation): AUROC and LPM per test set, mean ± std over seeds."""
    probes = {r: e for r, e in routers.items() if e["kind"] in PROBE_FAMILY}
    agg = aggregate_seeds(runs[runs["router"].isin(list(probes))])
    rows = []
    for (router, train), g in agg.groupby(["router", "train"], sort=True):
        e = probes[router]
        row: dict[str, Any] = {"router": router, "variant": fusion_label(e["kind"], e["params"]), "train": train,
                               "seeds": int(g["seeds"].max())}
        for t in g.itertuples(index=False):
            row[f"{t.test} AUROC"] = plus_minus(t.auroc, t.auroc_std)
            row[f"{t.test} LPM"] = plus_minus(t.lpm, t.lpm_std)
        row["AUROC avg"] = f"{g['auroc'].mean():.3f}"
        rows.append(row)
    return pd.DataFrame(rows)


def operating_points_table(threshold_paths: Sequence[str], curve_paths: Sequence[str],
                           call_rates: Sequence[float]) -> pd.DataFrame:
    """Per run: each operating point chosen on validation (recall target, budget), reported on test,
    plus fixed call rates read off the exact test curve; mean over seeds (``seeds`` counts them)."""
    rows: list[dict[str, Any]] = []
    for p in threshold_paths:
        router, train, seed, test = run_key(p)
        for o in read_json(p)["test"]:
            rows.append({"router": router, "train": train, "seed": seed, "test": test, "kind": o["kind"],
                         "target": o["target"], "threshold": o["threshold"], "call_rate": o["call_rate"],
                         "recall": o["recall"], "accuracy": o["performance"],
                         "validation_recall": o["validation"]["recall"],
                         "validation_call_rate": o["validation"]["call_rate"]})
    for p in curve_paths:
        router, train, seed, test = run_key(p)
        c = read_frame(p)
        for x in call_rates:
            i = int((c["call_rate"] - x).abs().idxmin())
            rows.append({"router": router, "train": train, "seed": seed, "test": test, "kind": "call_rate",
                         "target": float(x), "threshold": math.nan, "call_rate": float(c["call_rate"].iloc[i]),
                         "recall": math.nan, "accuracy": float(c["performance"].iloc[i]),
                         "validation_recall": math.nan, "validation_call_rate": math.nan})
    df = pd.DataFrame(rows)
    df["threshold"] = df["threshold"].replace([math.inf, -math.inf], math.nan)  # +-inf: escalate all / none
    agg = aggregate_seeds(df, by=("router", "train", "test", "kind", "target"))
    cols = ["router", "train", "test", "kind", "target", "seeds", "threshold", "validation_recall",
            "validation_call_rate", "call_rate", "recall", "accuracy", "accuracy_std"]
    order = {"recall": 0, "budget": 1, "call_rate": 2}
    agg = agg[cols].sort_values(["test", "train", "router", "kind", "target"],
                                key=lambda s: s.map(order) if s.name == "kind" else s, kind="stable")
    return agg.reset_index(drop=True)

CURVE_AXES = {
    "performance": "performance (mean correctness of routed answers)",
    "recovery": "recovery rate (share of the weak-strong gap)",
}


# Router kinds by the signal they read; a plot keeps the best router of each family (by test AUROC).
ROUTER_FAMILIES = {
    "logits": ("max_prob", "entropy", "confidence_margin"),
    "hidden states": ("coe", "mean_probe", "layer_probe", "dirichlet_probe"),
    "query text": ("embedding_mlp", "encoder_classifier"),
    "self-based": ("semantic_entropy", "self_questioning"),
}
FAMILY_COLOURS = {"logits": "tab:orange", "hidden states": "tab:blue", "query text": "tab:green",
                  "self-based": "tab:purple"}
MAX_CURVES = 6  # per panel: the best router of each family, random and the oracle


def router_family(kind: str) -> str:
    return next((family for family, kinds in ROUTER_FAMILIES.items() if kind in kinds), kind)


def oracle_curve(label_path: str | Path) -> pd.DataFrame:
    """The oracle's curve on a test set: queries the strong model gains most on go to it first."""
    from routerlab.binary.metrics import performance_curve

    lab = read_frame(label_path)
    t = lab[(lab["split"] == "test") & lab["usable"]]
    w, s = t["weak_score"].to_numpy(float), t["strong_score"].to_numpy(float)
    c = performance_curve(w, s, w - s)  # the k lowest scores (largest gain s - w) are escalated
    return pd.DataFrame({"call_rate": c["call_rate"], "performance": c["performance"], "recovery": c["recovery"]})


def select_curves(runs: dict[str, dict[str, Any]], max_curves: int = MAX_CURVES) -> list[str]:
    """Labels of the runs one panel shows: random, then the best run (highest mean AUROC, ties by
    name) of each router family, the families in order of their best AUROC, up to ``max_curves - 1``
    (one place is the oracle's)."""
    def auroc(label: str) -> float:
        v = runs[label]["auroc"]
        return -math.inf if v is None or (isinstance(v, float) and math.isnan(v)) else v

    best: dict[str, str] = {}
    for label in sorted(runs):
        family = runs[label]["family"]
        if family == "random":
            continue
        if family not in best or auroc(label) > auroc(best[family]):
            best[family] = label
    chosen = [label for label in sorted(runs) if runs[label]["family"] == "random"][:1]
    ranked = sorted(best.values(), key=lambda label: (-auroc(label), label))
    return chosen + ranked[: max(0, max_curves - 1 - len(chosen))]


def plot_curves(curve_paths: Sequence[str], out_png: str, y: str = "performance",
                metric_paths: Sequence[str] = (), label_paths: Sequence[str] = (),
                routers: dict[str, dict[str, Any]] | None = None, max_curves: int | None = MAX_CURVES) -> None:
    """One panel per test set: the best router of each family (by test AUROC), random and the oracle.

    ``routers`` (config name -> {kind, ...}) gives each router's family (a name that is not in it
    is its own kind); ``max_curves=None`` draws every router. A router with several seeds is drawn
    as the seeds' mean with their min-max band; its legend entry carries the test AUROC with its
    95 % bootstrap interval (``metric_paths``). The oracle curve comes from ``label_paths``. The
    legend sits below each panel, outside the data.
    """
    routers = routers or {}
    metrics = {(run_key(p)[0], run_key(p)[1], run_key(p)[2], run_key(p)[3]): read_json(p) for p in metric_paths}
    labels = {Path(p).name.split(".")[0]: p for p in label_paths}
    by_test: dict[str, dict[str, dict[str, Any]]] = {}
    for p in curve_paths:
        router, train, seed, test = run_key(p)
        run = by_test.setdefault(test, {}).setdefault(f"{router} ({train})", {
            "family": "random" if routers.get(router, {}).get("kind", router) == "random"
            else router_family(routers.get(router, {}).get("kind", router)),
            "curves": [], "aurocs": [], "cis": []})
        run["curves"].append(read_frame(p))
        m = metrics.get((router, train, seed, test))
        if m is not None:
            run["aurocs"].append(m.get("auroc"))
            run["cis"].append(m.get("auroc_ci95"))
    for runs in by_test.values():
        for run in runs.values():
            vals = [v for v in run["aurocs"] if v is not None and not (isinstance(v, float) and math.isnan(v))]
            run["auroc"] = sum(vals) / len(vals) if vals else None
    plt, fig, axes = figure(max(len(by_test), 1), panel_size=(5.5, 5.4))
    for ax, (test, runs) in zip(axes, sorted(by_test.items())):
        shown = sorted(runs) if max_curves is None else select_curves(runs, max_curves)
        for label in shown:
            run = runs[label]
            frame = pd.concat([c[["call_rate", y]] for c in run["curves"]]).groupby("call_rate")[y]
            x = frame.mean().index.to_numpy()
            legend = label if run["auroc"] is None else f"{label} AUROC {run['auroc']:.2f}"
            if len(run["cis"]) == 1 and run["cis"][0] and run["auroc"] is not None:
                lo, hi = run["cis"][0]
                legend += f" [{lo:.2f}, {hi:.2f}]"
            if run["family"] == "random":
                style = {"c": "grey", "ls": ":", "lw": 1.4}
            else:
                style = {"c": FAMILY_COLOURS.get(run["family"]), "lw": 1.6}
                legend = f"{run['family']}: {legend}"
            if len(run["curves"]) > 1:
                ax.fill_between(x, frame.min().to_numpy(), frame.max().to_numpy(), alpha=0.15, lw=0,
                                color=style["c"])
                legend += f", {len(run['curves'])} seeds (band: min-max)"
            ax.plot(x, frame.mean().to_numpy(), label=legend, **style)
        if test in labels:
            oracle = oracle_curve(labels[test])
            ax.plot(oracle["call_rate"], oracle[y], c="black", ls="--", lw=1.2, label="oracle")
        first = runs[min(runs)]["curves"][0]
        if y == "performance":  # weak-only and strong-only accuracy
            ax.axhline(first["performance"].iloc[0], ls="-", c="lightgrey", lw=0.8, zorder=0)
            ax.axhline(first["performance"].iloc[-1], ls="-", c="darkgrey", lw=0.8, zorder=0)
        else:
            ax.plot([0, 1], [0, 1], ls="-", c="lightgrey", lw=0.8, zorder=0)
            if first["recovery"].isna().all():  # recovery divides by strong - weak accuracy
                ax.text(0.5, 0.5, "recovery undefined:\nthe strong model is not better here", ha="center",
                        va="center", transform=ax.transAxes, color="dimgrey")
        ax.set(title=test, xlabel="call rate (share sent to strong)", ylabel=CURVE_AXES[y], xlim=(0, 1))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1, frameon=False)
    if not by_test:
        axes[0].text(0.5, 0.5, "no router curves", ha="center")
    save_figure(plt, fig, out_png)


def plot_reliability(prediction_paths: Sequence[str], out_png: str, n_bins: int = 10) -> None:
    """Reliability diagram of probabilistic routers on each test split (all seeds pooled), ECE in the legend."""

    by_test: dict[str, dict[str, list[pd.DataFrame]]] = {}
    for p in prediction_paths:
        router, train, _, test = run_key(p)
        df = read_frame(p)
        by_test.setdefault(test, {}).setdefault(f"{router} ({train})", []).append(
            df[(df["split"] == "test") & df["usable"]])
    plt, fig, axes = figure(max(len(by_test), 1))
    for ax, (test, runs) in zip(axes, sorted(by_test.items())):
        for label, frames in sorted(runs.items()):
            d = pd.concat(frames)
            bins = reliability_bins(d["router_score"], d["label"], n_bins)
            used = bins[bins["n"] > 0]
            ax.plot(used["mean_predicted"], used["observed"], marker="o", ms=3, lw=1.2,
                    label=f"{label} ECE {expected_calibration_error(bins):.3f}")
        ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
        ax.set(title=test, xlabel="predicted P(weak model good enough)", ylabel="observed frequency",
               xlim=(0, 1), ylim=(0, 1))
        ax.grid(alpha=0.3)
    if not by_test:
        axes[0].text(0.5, 0.5, "no probabilistic router configured", ha="center")
    axes[-1].legend(fontsize=7, loc="upper left")
    save_figure(plt, fig, out_png)


def main_table_notes(label_paths: Sequence[str], lpm_band: Sequence[float], recovery_band: Sequence[float],
                     recall_target: float) -> list[str]:
    """Per test set its size and weak/strong accuracy, then what the columns mean (bands from the config)."""
    notes = []
    for path in label_paths:
        lab = read_frame(path)
        t = lab[(lab["split"] == "test") & lab["usable"]]
        notes.append(f"- {Path(path).name.removesuffix('.parquet')}: test n={len(t)}, "
                     f"weak accuracy {t.weak_score.mean():.3f}, strong {t.strong_score.mean():.3f}")
    notes.append(f"- AUROC of weak-confidence vs weak correctness, 95% bootstrap CI; LPM band "
                 f"[{lpm_band[0]:.2f}, {lpm_band[1]:.2f}], recovery band [{recovery_band[0]:.2f}, {recovery_band[1]:.2f}]; "
                 f"call_rate@recall{recall_target:g}: threshold chosen on validation, applied to test.")
    return notes


def write_main_table(metric_paths: Sequence[str], threshold_paths: Sequence[str], label_paths: Sequence[str],
                     evaluation: dict[str, Any], md: str, csv: str, tex: str, recall_target: float = 0.95) -> pd.DataFrame:
    """The main table (routers x test sets) as md/csv/tex, its notes built from the labels and ``evaluation``."""
    df = main_table(metric_paths, threshold_paths, recall_target)
    notes = main_table_notes(label_paths, evaluation["lpm_band"], evaluation["recovery_band"], recall_target)
    write_table_files(df, md, csv, tex, title="Routers × datasets (test split)", notes=notes)
    return df


def write_xbench_main_table(metric_paths: Sequence[str], train_sets: dict[str, Sequence[str]], md: str, csv: str,
                            tex: str) -> pd.DataFrame:
    """RouterXBench's main table (AUROC, LPM, MPM, HCR; ID and OOD) as md/tex, its long form as CSV."""
    long, wide = xbench_main_table(collect_runs(metric_paths), train_sets)
    notes = ["- ID = the test set is part of the router's training union, OOD = it is not (RouterXBench's split).",
             ("- mean ± sample std over seeds where a router has several; LPM = mean performance at call rates in the "
             "low band, MPM in the middle band, HCR = call-rate saving in the recovery band (docs/metrics.md §1).")]
    write_table_files(wide, md, csv, tex, title="RouterXBench main table (test splits)", notes=notes, data=long)
    return long


def write_ablation_table(metric_paths: Sequence[str], routers: dict[str, dict[str, Any]], md: str, csv: str,
                         tex: str) -> pd.DataFrame:
    """The probe fusion ablation (mean, Dirichlet, single layers) as md/csv/tex."""
    table = ablation_table(collect_runs(metric_paths), routers)
    notes = [("- Probe routers of the config (kinds mean_probe, layer_probe, dirichlet_probe) on the weak model's "
             "per-layer hidden states; mean ± std over seeds.")]
    if table.empty:
        notes.append("- No probe router is configured: add e.g. `probe_last: {kind: layer_probe, params: {layer: -1}}`.")
    write_table_files(table, md, csv, tex, title="Probe fusion ablation (test splits)", notes=notes)
    return table


def write_operating_points_table(threshold_paths: Sequence[str], curve_paths: Sequence[str],
                                 call_rates: Sequence[float], md: str, csv: str, tex: str) -> pd.DataFrame:
    """Threshold, call rate, recall and accuracy at each operating point, as md/csv/tex."""
    table = operating_points_table(threshold_paths, curve_paths, call_rates)
    notes = [("- kind recall: smallest validation threshold with recall of the weak model's errors >= target; "
             "budget: best validation accuracy with call rate <= target; both chosen on validation, reported on test."),
             "- kind call_rate: the exact test curve at that call rate (no threshold is fitted).",
             "- Escalate a query iff its router score <= threshold; threshold – means escalate none or all.",
             "- Numbers are means over seeds (seeds column); accuracy_std is their sample std."]
    write_table_files(table, md, csv, tex, title="Operating points (validation -> test)", notes=notes)
    return table
