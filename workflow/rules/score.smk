rule score:
    input:
        unpack(score_inputs),
    output:
        path("scores"),
    log:
        "logs/score/{model}/{dataset}.log",
    benchmark:
        "results/benchmarks/score/{model}/{dataset}.tsv"
    conda:
        judge_env
    threads: score_threads
    resources:
        gpu=score_gpus,
    params:
        judge=judge_for,
    script:
        "../scripts/score.py"


rule labels:
    input:
        data=path("data"),
        weak=path("scores", model=WEAK),
        strong=path("scores", model=STRONG),
    output:
        path("labels"),
    log:
        "logs/labels/{dataset}.log",
    benchmark:
        "results/benchmarks/labels/{dataset}.tsv"
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/labels.py"
