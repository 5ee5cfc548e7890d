"""The one writer of paper tables (markdown, CSV, LaTeX) and figures, atomically, for every branch."""

from __future__ import annotations

import math
import os
from typing import Any, Sequence

import numpy as np
import pandas as pd

from routerlab.core.io import atomic_path, write_text

# Every table CSV keeps 10 significant digits: a relative error below 5e-10, which tests
# comparing a read-back value must allow (and no more).
CSV_FLOAT_FORMAT = "%.10g"

def write_csv(path: str | os.PathLike, df: pd.DataFrame) -> None:
    """A table's tidy CSV, atomically, floats at ``CSV_FLOAT_FORMAT``."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format=CSV_FLOAT_FORMAT)

def format_cell(x: Any, digits: int = 3) -> str:
    if isinstance(x, (float, np.floating)):
        return "–" if math.isnan(x) else f"{x:.{digits}f}"
    return str(x)

def plus_minus(mean: float, std: float) -> str:
    if isinstance(mean, float) and math.isnan(mean):
        return "–"
    return f"{mean:.3f}" if not isinstance(std, float) or math.isnan(std) else f"{mean:.3f} ± {std:.3f}"

def to_markdown(df: pd.DataFrame, title: str, notes: Sequence[str] = ()) -> str:
    view = df.copy()
    if "auroc_lo" in view:
        std = view["auroc_std"] if "auroc_std" in view else [math.nan] * len(view)
        view["auroc (95% CI)"] = [f"{plus_minus(a, sd)} [{format_cell(lo)}, {format_cell(hi)}]"
                                  for a, sd, lo, hi in zip(view.auroc, std, view.auroc_lo, view.auroc_hi)]
        view = view.drop(columns=[c for c in ("auroc", "auroc_std", "auroc_lo", "auroc_hi") if c in view])
        cols = list(view.columns)
        cols.insert(4, cols.pop(cols.index("auroc (95% CI)")))
        view = view[cols]
    header = "| " + " | ".join(view.columns) + " |"
    sep = "|" + "|".join("---" for _ in view.columns) + "|"
    body = ["| " + " | ".join(format_cell(v) for v in row) + " |" for row in view.itertuples(index=False)]
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
        lines.append(" & ".join(_tex(format_cell(v)) for v in row) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", ""]
    return "\n".join(lines)

def write_table_files(df: pd.DataFrame, md: str | os.PathLike, csv: str | os.PathLike, tex: str | os.PathLike | None,
                      title: str, notes: Sequence[str] = (), data: pd.DataFrame | None = None) -> None:
    """Markdown and LaTeX (when ``tex`` is given) of the display table ``df``; CSV of ``data`` (tidy
    numbers) when given, else of ``df``."""
    write_text(md, to_markdown(df, title, notes))
    write_csv(csv, df if data is None else data)
    if tex is not None:
        write_text(tex, to_latex(df))

def figure(n_panels: int, panel_size: tuple[float, float] = (5.5, 4.2)):
    """``(plt, fig, axes)``: a row of ``n_panels`` panels on the non-interactive backend."""
    import matplotlib  # lazy: heavy

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: heavy

    fig, axes = plt.subplots(1, n_panels, figsize=(panel_size[0] * n_panels, panel_size[1]), squeeze=False)
    return plt, fig, axes[0]


def save_figure(plt, fig, out_png: str | os.PathLike, dpi: int = 120) -> None:
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
