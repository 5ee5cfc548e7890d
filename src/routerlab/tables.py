"""Paper tables: collect per-(router, train, test) metric files into markdown, CSV and LaTeX."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import pandas as pd


def _parts(path: str | Path) -> tuple[str, str, str]:
    p = Path(path)  # results/<kind>/{router}/{train}/{test}.json
    return p.parent.parent.name, p.parent.name, p.name.removesuffix(".json")


def main_table(metric_paths: Sequence[str], threshold_paths: Sequence[str], recall_target: float = 0.95) -> pd.DataFrame:
    from routerlab.io import read_json

    thresholds = {_parts(p): read_json(p) for p in threshold_paths}
    rows: list[dict[str, Any]] = []
    for p in metric_paths:
        key = _parts(p)
        m = read_json(p)
        lo, hi = m.get("auroc_ci95", (math.nan, math.nan))
        op = next((o for o in thresholds.get(key, {}).get("test", [])
                   if o.get("kind") == "recall" and abs(o.get("target", -1) - recall_target) < 1e-9), {})
        rows.append({
            "router": key[0], "train": key[1], "test": key[2], "n": m["n"],
            "auroc": m["auroc"], "auroc_lo": lo, "auroc_hi": hi,
            "lpm": m["lpm"], "mpm": m["mpm"], "hcr": m["hcr"], "apgr": m["apgr"],
            f"call_rate@recall{recall_target:g}": op.get("call_rate", math.nan),
            f"recall@recall{recall_target:g}": op.get("recall", math.nan),
            "weak": m["weak_mean"], "strong": m["strong_mean"],
        })
    return pd.DataFrame(rows).sort_values(["test", "train", "router"], kind="stable").reset_index(drop=True)


def _fmt(x: Any, digits: int = 3) -> str:
    if isinstance(x, float):
        return "–" if math.isnan(x) else f"{x:.{digits}f}"
    return str(x)


def to_markdown(df: pd.DataFrame, title: str, notes: Sequence[str] = ()) -> str:
    view = df.copy()
    if "auroc_lo" in view:
        view["auroc (95% CI)"] = [f"{_fmt(a)} [{_fmt(lo)}, {_fmt(hi)}]"
                                  for a, lo, hi in zip(view.auroc, view.auroc_lo, view.auroc_hi)]
        view = view.drop(columns=["auroc", "auroc_lo", "auroc_hi"])
        cols = list(view.columns)
        cols.insert(4, cols.pop(cols.index("auroc (95% CI)")))
        view = view[cols]
    header = "| " + " | ".join(view.columns) + " |"
    sep = "|" + "|".join("---" for _ in view.columns) + "|"
    body = ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in view.itertuples(index=False)]
    return "\n".join([f"# {title}", "", *notes, "", header, sep, *body, ""])


def to_latex(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["\\begin{tabular}{" + "l" * 3 + "r" * (len(cols) - 3) + "}", "\\toprule",
             " & ".join(c.replace("_", "\\_").replace("@", "@") for c in cols) + " \\\\", "\\midrule"]
    for row in df.itertuples(index=False):
        lines.append(" & ".join(_fmt(v).replace("_", "\\_") for v in row) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", ""]
    return "\n".join(lines)


def write_table_files(df: pd.DataFrame, md: str, csv: str, tex: str, title: str, notes: Sequence[str] = ()) -> None:
    from routerlab.io import atomic_path, write_text

    write_text(md, to_markdown(df, title, notes))
    with atomic_path(csv) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    write_text(tex, to_latex(df))


def plot_call_performance(curve_paths: Sequence[str], out_png: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from routerlab.io import atomic_path, read_table

    by_test: dict[str, list[tuple[str, pd.DataFrame]]] = {}
    for p in curve_paths:
        path = Path(p)
        router, train, test = path.parent.parent.name, path.parent.name, path.name.removesuffix(".curve.parquet")
        by_test.setdefault(test, []).append((f"{router} ({train})", read_table(p)))
    fig, axes = plt.subplots(1, len(by_test), figsize=(5.5 * len(by_test), 4.2), squeeze=False)
    for ax, (test, curves) in zip(axes[0], sorted(by_test.items())):
        for label, c in sorted(curves, key=lambda x: x[0]):
            ax.plot(c["call_rate"], c["performance"], label=label, lw=1.4)
        first = curves[0][1]
        ax.axhline(first["performance"].iloc[0], ls="--", c="grey", lw=0.8)
        ax.axhline(first["performance"].iloc[-1], ls="--", c="black", lw=0.8)
        ax.set(title=test, xlabel="call rate (share sent to strong)", ylabel="performance", xlim=(0, 1))
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
