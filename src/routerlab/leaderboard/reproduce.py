"""Published numbers that a public table determines, re-derived and checked.

Each :class:`Check` names where a figure was published, its value and the n it was computed
on, our value and our n, and a tolerance. Status:

- ``pass`` / ``fail``: same n, and ``|ours - published| <= tolerance`` or not;
- ``n differs: not comparable``: our table is a different slice (e.g. a development subset),
  so a difference says nothing about either number;
- ``source not available``: the table the figure needs is not configured.

Figures (the catalogue grows with each importer):

- RouteLLM, ``benchmarks/README.md`` (lm-sys/RouteLLM@0b64fdaf): MT-bench score of the
  commercial routers Martian (8.3125) and Unify AI (8.757862), from the GPT-4 judgements it
  publishes (``benchmarks/mt-bench/gpt-4_single.jsonl``; a derived copy ships in ``data/``).
  FastChat's ``show_result`` drops ratings of −1 before averaging, so Unify's n is 159 of 160.
- RouterEval (MilkThink-Lab/RouterEval, its E_p metric): a router that spreads its choice uniformly over
  m candidates has E_p = log2 m — checked with our E_p on every K-model source.
- RouterArena (RouteWorks/RouterArena, ``cached_results/<model>.jsonl``): the per-query
  ``inference_cost`` of a model's cached results equals its token usage at the model's list
  prices; we recompute it from the token counts and the configured prices (sum over queries).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any, Mapping

import numpy as np
import pandas as pd

from routerlab.kmodel.cost import query_cost
from routerlab.kmodel.metrics import kmodel_report
from routerlab.kmodel.outcomes import Outcomes

ROUTELLM_README = ("RouteLLM benchmarks/README.md (github.com/lm-sys/RouteLLM@0b64fdafe049, "
                   "judgements benchmarks/mt-bench/gpt-4_single.jsonl)")
ROUTEREVAL_EP = ("RouterEval (github.com/MilkThink-Lab/RouterEval): E_p = mean entropy in bits of the router's "
                 "distribution over the m candidates; a uniform router has E_p = log2 m")
ROUTERARENA_COST = ("RouterArena cached_results/<model>.jsonl (github.com/RouteWorks/RouterArena): "
                    "evaluation_result.inference_cost, summed over the queries")


@dataclass
class Check:
    figure: str
    source: str
    published: float
    published_n: int | None
    ours: float
    our_n: int | None
    tolerance: float
    status: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        if self.status:
            return
        if self.published_n is not None and self.our_n is not None and self.published_n != self.our_n:
            self.status = "n differs: not comparable"
        elif math.isnan(self.ours):
            self.status = "fail"
            self.note = self.note or "our value is undefined"
        else:
            self.status = "pass" if abs(self.ours - self.published) <= self.tolerance else "fail"


def fastchat_mean(scores: pd.Series) -> tuple[float, int]:
    """FastChat's MT-bench score: the mean rating after dropping the judge's −1 (no rating)."""
    s = pd.to_numeric(scores, errors="raise")
    s = s[s != -1]
    return float(s.mean()), int(s.size)


def routellm_commercial_checks() -> list[Check]:
    """Martian and Unify AI MT-bench scores published by RouteLLM, from the shipped judgements."""
    with resources.files("routerlab.leaderboard").joinpath("data/routellm_mtbench_commercial.csv").open() as f:
        judged = pd.read_csv(f)
    published = {"martian": (8.3125, 160), "unify": (8.757862, 159)}
    checks = []
    for model, (value, n) in published.items():
        ours, our_n = fastchat_mean(judged.loc[judged["model"] == model, "score"])
        checks.append(Check(f"MT-bench score of {model} (GPT-4 judge, 80 questions x 2 turns)", ROUTELLM_README,
                            value, n, ours, our_n, 5e-7, note="ratings of -1 dropped (FastChat show_result)"))
    return checks


def random_ep_check(source: str, out: Outcomes) -> Check:
    """E_p of the uniform distribution over the source's models against log2 m."""
    Y = out.matrix("score")
    M = Y.shape[1]
    rep = kmodel_report(Y, np.full(Y.shape, 1.0 / M))
    return Check(f"{source}: random router E_p over {M} models", ROUTEREVAL_EP, math.log2(M), None, rep["ep"],
                 int(Y.shape[0]), 1e-9)


def routerarena_cost_checks(source: str, out: Outcomes, prices: Mapping[str, Any]) -> list[Check]:
    """Per model: RouterArena's summed cached inference cost against tokens x list prices."""
    checks = []
    for m in out.models:
        rows = out.table[out.table["model"] == m]
        if m not in prices:
            checks.append(Check(f"{source}: total inference cost of {m} (USD)", ROUTERARENA_COST,
                                float(rows["cost"].sum()), len(rows), math.nan, None, 0.0,
                                status="source not available", note=f"no list price configured for {m!r}"))
            continue
        ours = float(np.sum(query_cost(rows["prompt_tokens"].to_numpy(), rows["completion_tokens"].to_numpy(),
                                       m, prices)))
        published = float(rows["cost"].sum())
        checks.append(Check(f"{source}: total inference cost of {m} (USD)", ROUTERARENA_COST, published,
                            len(rows), ours, len(rows), max(1e-9, 0.01 * abs(published)),
                            note="tolerance 1 %: token counts x list price per 1M tokens"))
    return checks


def checks_frame(checks: list[Check]) -> pd.DataFrame:
    return pd.DataFrame([asdict(c) for c in checks],
                        columns=["figure", "published", "published_n", "ours", "our_n", "tolerance", "status",
                                 "source", "note"])
