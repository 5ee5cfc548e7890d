# Thresholds (SPEC step 7) and metrics (step 8) come from one job per (router, train, test):
# both read the same small prediction table, and one job instead of two halves the
# per-job start-up cost that dominates these sub-second computations.
rule evaluate:
    input:
        predictions=path("predictions"),
    output:
        thresholds=path("thresholds"),
        metrics=path("metrics"),
        curve=path("curve"),
    log:
        "logs/evaluate/{router}/{train}/seed{seed}/{test}.log",
    benchmark:
        "results/benchmarks/evaluate/{router}/{train}/seed{seed}/{test}.tsv"
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    params:
        evaluation=evaluation_params(),
        recall_targets=config_slice("evaluation", "recall_targets"),
        budgets=config_slice("evaluation", "budgets"),
    script:
        "../scripts/evaluate.py"
