rule score:
    input:
        unpack(score_inputs),
    output:
        "results/scores/{model}/{dataset}.parquet",
    log:
        "logs/score/{model}/{dataset}.log",
    benchmark:
        "results/benchmarks/score/{model}/{dataset}.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: score_threads
    resources:
        gpu=score_gpus,
    params:
        judge=judge_for,
    script:
        "../scripts/score.py"


rule labels:
    input:
        data="results/data/{dataset}.parquet",
        weak=f"results/scores/{WEAK}/{{dataset}}.parquet",
        strong=f"results/scores/{STRONG}/{{dataset}}.parquet",
    output:
        "results/labels/{dataset}.parquet",
    log:
        "logs/labels/{dataset}.log",
    benchmark:
        "results/benchmarks/labels/{dataset}.tsv"
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/labels.py"
