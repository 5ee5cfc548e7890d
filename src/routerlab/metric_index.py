"""Every metric by name, across the branches: where it comes from (the function and the key of its
result) and its direction. Leaderboards and reports look metrics up here; definitions are in
docs/metrics.md. It sits on top of the branches, as cli.py does."""

from __future__ import annotations

from routerlab.binary.metrics import binary_report
from routerlab.core.arrays import Metric
from routerlab.core.registry import Registry
from routerlab.kmodel.cost import aiq, optimality, router_cost_accuracy
from routerlab.kmodel.metrics import kmodel_report
from routerlab.kmodel.peer_metrics import aiq_routerbench, llmrouterbench_cost, llmrouterbench_performance
from routerlab.token.metrics import token_threshold_apply

METRICS = Registry("metric", [
    Metric("auroc", binary_report, "auroc", True, "binary", "AUROC of r against the weak-model label"),
    Metric("youden_accuracy", binary_report, "youden_accuracy", True, "binary", "accuracy at Youden's J threshold"),
    Metric("lpm", binary_report, "lpm", True, "binary", "mean performance in the low call-rate band"),
    Metric("mpm", binary_report, "mpm", True, "binary", "mean performance between LPM anchor and recovery band"),
    Metric("hcr", binary_report, "hcr", True, "binary", "1 - mean call rate in the recovery band"),
    Metric("apgr", binary_report, "apgr", True, "binary", "area under PGR over the exact curve"),
    Metric("apgr_deciles", binary_report, "apgr_deciles", True, "binary", "RouteLLM's 11-point APGR"),
    Metric("cpt_20", binary_report, "cpt_20", False, "binary", "smallest call rate with PGR >= 20%"),
    Metric("cpt_50", binary_report, "cpt_50", False, "binary", "smallest call rate with PGR >= 50%"),
    Metric("cpt_80", binary_report, "cpt_80", False, "binary", "smallest call rate with PGR >= 80%"),
    Metric("mu", kmodel_report, "mu", True, "kmodel", "mean score of the selected models"),
    Metric("vb", kmodel_report, "vb", True, "kmodel", "mu / best single model on test"),
    Metric("vb_val", kmodel_report, "vb_val", True, "kmodel", "mu / validation-chosen single model"),
    Metric("Vr", kmodel_report, "Vr", True, "kmodel", "mu / reference accuracy"),
    Metric("ep", kmodel_report, "ep", True, "kmodel", "mean entropy (bits) of the router's distributions"),
    Metric("selection_entropy", kmodel_report, "selection_entropy", True, "kmodel",
           "entropy (bits) of the share of queries per model"),
    Metric("oracle", kmodel_report, "oracle", True, "kmodel", "mean best score per query"),
    Metric("arena_score", router_cost_accuracy, "arena_score", True, "cost", "RouterArena accuracy-cost score"),
    Metric("cost_per_1k", router_cost_accuracy, "cost_per_1k", False, "cost", "USD per 1,000 queries"),
    Metric("opt_sel", optimality, "opt_sel", True, "cost", "share of picks of the cheapest correct model"),
    Metric("opt_acc", optimality, "opt_acc", True, "cost", "router accuracy / oracle accuracy"),
    Metric("opt_cost", optimality, "opt_cost", True, "cost", "optimal cost / router cost on solved queries"),
    Metric("aiq", aiq, "aiq", True, "cost", "mean frontier accuracy over a cost range"),
    Metric("aiq_routerbench", aiq_routerbench, "aiq", True, "cost",
           "RouterBench's AIQ: trapz(non-decreasing hull, flat to the largest cost) / that cost (per router)"),
    Metric("avg_acc", llmrouterbench_performance, "avg_acc", True, "kmodel",
           "LLMRouterBench AvgAcc: macro mean accuracy over datasets"),
    Metric("gain_random", llmrouterbench_performance, "gain_random", True, "kmodel",
           "LLMRouterBench Gain@R: AvgAcc / random router's - 1"),
    Metric("gain_best", llmrouterbench_performance, "gain_best", True, "kmodel",
           "LLMRouterBench Gain@B: AvgAcc / best single model's - 1"),
    Metric("gap_oracle", llmrouterbench_performance, "gap_oracle", False, "kmodel",
           "LLMRouterBench Gap@O: 1 - AvgAcc / oracle's"),
    Metric("perf_gain", llmrouterbench_cost, "perf_gain", True, "cost",
           "LLMRouterBench PerfGain: best configuration's accuracy / best single's - 1"),
    Metric("cost_save", llmrouterbench_cost, "cost_save", True, "cost",
           "LLMRouterBench CostSave: largest relative saving at >= best single's accuracy"),
    Metric("pareto_dist", llmrouterbench_cost, "pareto_dist", False, "cost",
           "mean distance to the accuracy-log cost Pareto frontier (routerlab's definition)"),
    Metric("token_recall", token_threshold_apply, "recall", True, "token", "recall at the chosen threshold"),
    Metric("token_positive_rate", token_threshold_apply, "positive_rate", False, "token",
           "LLM usage at the chosen threshold"),
])


def get_metric(name: str) -> Metric:
    """A metric by name; an unknown name lists the registered ones."""
    return METRICS.get_entry(name)
