"""Paper tables: collect per-(router, train, test) metric files into markdown, CSV and LaTeX."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd


def run_key(path: str | Path) -> tuple[str, str, int, str]:
    """(router, train, seed, test) of results/<kind>/{router}/{train}/seed{seed}/{test}.<ext>."""
    p = Path(path)
    test = p.name.split(".")[0]
    seed_dir, train_dir = p.parent, p.parent.parent
    if not seed_dir.name.startswith("seed"):
        raise ValueError(f"{path}: expected results/<kind>/<router>/<train>/seed<N>/<test>.<ext>")
    return train_dir.parent.name, train_dir.name, int(seed_dir.name[4:]), test


METRIC_COLUMNS = ("auroc", "lpm", "mpm", "hcr", "apgr")


def collect_runs(metric_paths: Sequence[str], threshold_paths: Sequence[str] = (),
                 recall_target: float = 0.95) -> pd.DataFrame:
    """One row per (router, train, seed, test) run: the test metrics and the recall operating point."""
    from routerlab.io import read_json

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


def _pm(mean: float, std: float) -> str:
    if isinstance(mean, float) and math.isnan(mean):
        return "–"
    return f"{mean:.3f}" if not isinstance(std, float) or math.isnan(std) else f"{mean:.3f} ± {std:.3f}"


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
                row[f"{test} ({dom}) {m.upper()}"] = (_pm(hit[m].iloc[0], hit[f"{m}_std"].iloc[0])
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
            row[f"{t.test} AUROC"] = _pm(t.auroc, t.auroc_std)
            row[f"{t.test} LPM"] = _pm(t.lpm, t.lpm_std)
        row["AUROC avg"] = f"{g['auroc'].mean():.3f}"
        rows.append(row)
    return pd.DataFrame(rows)


def operating_points_table(threshold_paths: Sequence[str], curve_paths: Sequence[str],
                           call_rates: Sequence[float]) -> pd.DataFrame:
    """Per run: each operating point chosen on validation (recall target, budget), reported on test,
    plus fixed call rates read off the exact test curve; mean over seeds (``seeds`` counts them)."""
    from routerlab.io import read_json, read_table

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
        c = read_table(p)
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


def _fmt(x: Any, digits: int = 3) -> str:
    if isinstance(x, (float, np.floating)):
        return "–" if math.isnan(x) else f"{x:.{digits}f}"
    return str(x)


def to_markdown(df: pd.DataFrame, title: str, notes: Sequence[str] = ()) -> str:
    view = df.copy()
    if "auroc_lo" in view:
        std = view["auroc_std"] if "auroc_std" in view else [math.nan] * len(view)
        view["auroc (95% CI)"] = [f"{_pm(a, sd)} [{_fmt(lo)}, {_fmt(hi)}]"
                                  for a, sd, lo, hi in zip(view.auroc, std, view.auroc_lo, view.auroc_hi)]
        view = view.drop(columns=[c for c in ("auroc", "auroc_std", "auroc_lo", "auroc_hi") if c in view])
        cols = list(view.columns)
        cols.insert(4, cols.pop(cols.index("auroc (95% CI)")))
        view = view[cols]
    header = "| " + " | ".join(view.columns) + " |"
    sep = "|" + "|".join("---" for _ in view.columns) + "|"
    body = ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in view.itertuples(index=False)]
    return "\n".join([f"# {title}", "", *notes, "", header, sep, *body, ""])


_TEX_SPECIAL = {"\\": "\\textbackslash{}", "&": "\\&", "%": "\\%", "#": "\\#", "_": "\\_", "$": "\\$",
                "{": "\\{", "}": "\\}", "±": "$\\pm$"}


def _tex(text: str) -> str:
    return "".join(_TEX_SPECIAL.get(ch, ch) for ch in text)


def to_latex(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    align = "".join("r" if pd.api.types.is_numeric_dtype(df[c]) else "l" for c in cols)
    lines = ["\\begin{tabular}{" + align + "}", "\\toprule",
             " & ".join(_tex(str(c)) for c in cols) + " \\\\", "\\midrule"]
    for row in df.itertuples(index=False):
        lines.append(" & ".join(_tex(_fmt(v)) for v in row) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", ""]
    return "\n".join(lines)


def write_table_files(df: pd.DataFrame, md: str, csv: str, tex: str, title: str, notes: Sequence[str] = (),
                      data: pd.DataFrame | None = None) -> None:
    """Markdown and LaTeX of the display table ``df``; CSV of ``data`` (tidy numbers) when given, else of ``df``."""
    from routerlab.io import write_csv, write_text

    write_text(md, to_markdown(df, title, notes))
    write_csv(csv, df if data is None else data)
    write_text(tex, to_latex(df))


def _figure(n_panels: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, n_panels, figsize=(5.5 * n_panels, 4.2), squeeze=False)
    return plt, fig, axes[0]


def _save(plt, fig, out_png: str) -> None:
    from routerlab.io import atomic_path

    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


CURVE_AXES = {
    "performance": "performance (mean correctness of routed answers)",
    "recovery": "recovery rate (share of the weak-to-strong gap recovered)",
}


def plot_curves(curve_paths: Sequence[str], out_png: str, y: str = "performance") -> None:
    """One panel per test set, one line per router (seed 0 of each run; train set in the label)."""
    from routerlab.io import read_table

    by_test: dict[str, list[tuple[str, pd.DataFrame]]] = {}
    for p in curve_paths:
        router, train, seed, test = run_key(p)
        if seed == min(run_key(q)[2] for q in curve_paths if run_key(q)[:2] == (router, train)):
            by_test.setdefault(test, []).append((f"{router} ({train})", read_table(p)))
    plt, fig, axes = _figure(len(by_test))
    for ax, (test, curves) in zip(axes, sorted(by_test.items())):
        for label, c in sorted(curves, key=lambda x: x[0]):
            ax.plot(c["call_rate"], c[y], label=label, lw=1.4)
        first = curves[0][1]
        if y == "performance":  # weak-only and strong-only accuracy
            ax.axhline(first["performance"].iloc[0], ls="--", c="grey", lw=0.8)
            ax.axhline(first["performance"].iloc[-1], ls="--", c="black", lw=0.8)
        else:
            ax.plot([0, 1], [0, 1], ls=":", c="grey", lw=0.8, label="random (expected)")
        ax.set(title=test, xlabel="call rate (share sent to strong)", ylabel=CURVE_AXES[y], xlim=(0, 1))
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=7, loc="lower right")
    _save(plt, fig, out_png)


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


def plot_reliability(prediction_paths: Sequence[str], out_png: str, n_bins: int = 10) -> None:
    """Reliability diagram of probabilistic routers on each test split (all seeds pooled), ECE in the legend."""
    from routerlab.io import read_table

    by_test: dict[str, dict[str, list[pd.DataFrame]]] = {}
    for p in prediction_paths:
        router, train, _, test = run_key(p)
        df = read_table(p)
        by_test.setdefault(test, {}).setdefault(f"{router} ({train})", []).append(
            df[(df["split"] == "test") & df["usable"]])
    plt, fig, axes = _figure(max(len(by_test), 1))
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
    _save(plt, fig, out_png)
