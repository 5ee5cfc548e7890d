"""``results/tables/leaderboard.*`` and ``reproduce.*`` from the per-source leaderboard results."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from routerlab.core.io import read_json
from routerlab.core.report import format_cell, write_csv, write_table_files
from routerlab.leaderboard.reproduce import Check, checks_frame, routellm_commercial_checks

HEADLINE = {"kmodel": ("score", "mean score of the picked answers (accuracy for 0/1 scores)"),
            "binary": ("apgr", "APGR on the weak/strong pair")}


def _interval(v: Any, lo: Any, hi: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{format_cell(v)} [{format_cell(lo)}, {format_cell(hi)}]"


def _test(diff: Any, p: Any) -> str:
    if diff is None or (isinstance(diff, float) and math.isnan(diff)):
        return "n/a"
    return f"{diff:+.3f} (p={p:.3f})" if p is not None and not math.isnan(p) else f"{diff:+.3f}"


def load_results(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    return [read_json(p) for p in paths]


def tidy_rows(results: Sequence[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame([r for res in results for r in res["rows"]])
    return df.astype({c: float for c in df.columns if df[c].dtype == object and c.endswith(("_p", "_lo", "_hi"))})


def display_table(df: pd.DataFrame) -> pd.DataFrame:
    """One line per (source, family, router): headline [95 % CI], rank, paired tests."""
    out = []
    for _, r in df.sort_values(["source", "family", "rank", "router"]).iterrows():
        key = HEADLINE[r["family"]][0]
        out.append({"source": r["source"], "family": r["family"], "router": r["router"],
                    "rank": f"{r['rank']:g}", "headline [95% CI]": _interval(r[key], r[f"{key}_lo"], r[f"{key}_hi"]),
                    "vs best single": _test(r["vs_best_single_diff"], r["vs_best_single_p"]),
                    "vs random": _test(r["vs_random_diff"], r["vs_random_p"]), "n_test": int(r["n_test"])})
    return pd.DataFrame(out)


def leakage_table(results: Sequence[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame([{"source": res["source"], **{k: res["leakage"][k] for k in
                          ("n_train", "n_test", "exact", "near", "leaked_share", "threshold")}} for res in results])


def write_leaderboard(result_paths: Sequence[str | Path], md: str | Path, csv: str | Path, tex: str | Path,
                      family_csvs: dict[str, str | Path], leakage_csv: str | Path) -> pd.DataFrame:
    results = load_results(result_paths)
    tidy = tidy_rows(results)
    leak = leakage_table(results)
    notes = [f"headline of the {fam} family: {desc}" for fam, (_, desc) in HEADLINE.items()]
    notes += ["[95% CI]: percentile interval over query resamples; vs best single / vs random: paired bootstrap "
              "difference on the same resamples, p = one-sided share of resamples where the router is not "
              "better (+1 corrected); n/a: the reference itself, or no single-model reference in the binary family",
              "rank: within (source, family), 1 = best; ties share the mean rank"]
    for res in results:
        notes += [f"{res['source']}: {n}" for n in res.get("notes", [])]
    for _, r in leak.iterrows():
        if r["exact"] or r["near"]:
            notes.append(f"WARNING {r['source']}: {r['exact']} exact and {r['near']} near-duplicate (cosine >= "
                         f"{r['threshold']:g}) of {r['n_test']} test queries also appear in train: routers may "
                         "have memorised them")
    notes.append("leakage per source: " + "; ".join(f"{r.source} exact {r.exact} near {r.near} of {r.n_test}"
                                                    for r in leak.itertuples()))
    display = display_table(tidy)
    write_table_files(display, md, csv, tex, "Leaderboard: every router on every outcome source", notes, data=tidy)
    for fam, path in family_csvs.items():
        part = tidy[tidy["family"] == fam].dropna(axis=1, how="all")
        write_csv(path, part)
    write_csv(leakage_csv, leak)
    return display


def write_reproduce(result_paths: Sequence[str | Path], md: str | Path, csv: str | Path) -> pd.DataFrame:
    checks = [Check(**c) for res in load_results(result_paths) for c in res["checks"]]
    checks = routellm_commercial_checks() + checks
    df = checks_frame(checks)
    counts = df["status"].value_counts().to_dict()
    notes = ["status: pass / fail at the tolerance when both n agree; 'n differs: not comparable' when our table is "
             "another slice (e.g. a development subset) of the published one",
             "summary: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))]
    view = df[["figure", "published", "published_n", "ours", "our_n", "tolerance", "status", "source"]].copy()
    view["published_n"] = [("–" if pd.isna(v) else str(int(v))) for v in view["published_n"]]
    view["our_n"] = [("–" if pd.isna(v) else str(int(v))) for v in view["our_n"]]
    view["published"] = [f"{v:.6g}" for v in view["published"]]
    view["ours"] = ["–" if pd.isna(v) else f"{v:.6g}" for v in view["ours"]]
    view["tolerance"] = [f"{v:.2g}" for v in view["tolerance"]]
    write_table_files(view, md, csv, None, "Published numbers, re-derived from the public tables", notes, data=df)
    return df
