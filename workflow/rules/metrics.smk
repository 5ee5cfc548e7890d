# Thresholds (SPEC step 7) and metrics (step 8) come from one job per (router, train, test):
# both read the same small prediction table, and one job instead of two halves the
# per-job start-up cost that dominates these sub-second computations.
rule evaluate:
    input:
        predictions="results/predictions/{router}/{train}/seed{seed}/{test}.parquet",
    output:
        thresholds="results/thresholds/{router}/{train}/seed{seed}/{test}.json",
        metrics="results/metrics/{router}/{train}/seed{seed}/{test}.json",
        curve="results/metrics/{router}/{train}/seed{seed}/{test}.curve.parquet",
    log:
        "logs/evaluate/{router}/{train}/seed{seed}/{test}.log",
    benchmark:
        "results/benchmarks/evaluate/{router}/{train}/seed{seed}/{test}.tsv"
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    params:
        evaluation=evaluation_params(),
        recall_targets=config["evaluation"]["recall_targets"],
        budgets=config["evaluation"]["budgets"],
    script:
        "../scripts/evaluate.py"
