rule threshold:
    input:
        predictions="results/predictions/{router}/{train}/{test}.parquet",
    output:
        "results/thresholds/{router}/{train}/{test}.json",
    params:
        recall_targets=config["evaluation"]["recall_targets"],
        budgets=config["evaluation"]["budgets"],
    log:
        "logs/threshold/{router}/{train}/{test}.log",
    benchmark:
        "results/benchmarks/threshold/{router}/{train}/{test}.tsv"
    localrule: True
    script:
        "../scripts/threshold.py"


rule metrics:
    input:
        predictions="results/predictions/{router}/{train}/{test}.parquet",
    output:
        metrics="results/metrics/{router}/{train}/{test}.json",
        curve="results/metrics/{router}/{train}/{test}.curve.parquet",
    params:
        evaluation=evaluation_params(),
    log:
        "logs/metrics/{router}/{train}/{test}.log",
    benchmark:
        "results/benchmarks/metrics/{router}/{train}/{test}.tsv"
    localrule: True
    script:
        "../scripts/metrics.py"
