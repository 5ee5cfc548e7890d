# Token-level router (R2R): strong continuations -> per-token divergence labels and weak-model
# features (one teacher-forced pass) -> classifier -> threshold at a recall target -> table, plot.


rule token_continuations:
    input:
        data="results/data/{dataset}.parquet",
        strong=token_router_model("strong"),
        weak=token_router_model("weak"),
    output:
        "results/token_router/continuations/{dataset}.parquet",
    log:
        "logs/token_continuations/{dataset}.log",
    benchmark:
        "results/benchmarks/token_continuations/{dataset}.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        gpu=token_router_gpus("strong"),
    params:
        settings=token_continuation_settings,
    script:
        "../scripts/token_continuations.py"


rule token_labels:
    input:
        continuations="results/token_router/continuations/{dataset}.parquet",
        weak=token_router_model("weak"),
    output:
        directory("results/token_router/tokens/{dataset}"),
    log:
        "logs/token_labels/{dataset}.log",
    benchmark:
        "results/benchmarks/token_labels/{dataset}.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        gpu=token_router_gpus("weak"),
    params:
        settings=token_label_settings,
    script:
        "../scripts/token_labels.py"


rule token_router_train:
    input:
        tokens=token_router_token_dirs,
    output:
        router="results/token_router/router.pt",
        info="results/token_router/train.json",
        predictions="results/token_router/predictions.parquet",
    log:
        "logs/token_router_train.log",
    benchmark:
        "results/benchmarks/token_router_train.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: 2
    params:
        settings=token_router_train_settings,
    script:
        "../scripts/token_router_train.py"


rule token_router_table:
    input:
        predictions="results/token_router/predictions.parquet",
    output:
        md=report(
            "results/tables/token_router.md",
            caption="../report/token_router.rst",
            category="Tables",
        ),
        csv="results/tables/token_router.csv",
        thresholds="results/token_router/thresholds.json",
        curve="results/token_router/curve.parquet",
    log:
        "logs/tables/token_router.log",
    benchmark:
        "results/benchmarks/tables/token_router.tsv"
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    params:
        settings=token_router_threshold_settings,
    script:
        "../scripts/token_router_table.py"


rule token_router_plot:
    input:
        curve="results/token_router/curve.parquet",
        thresholds="results/token_router/thresholds.json",
    output:
        report(
            "results/plots/token_router_recall_usage.png",
            caption="../report/token_router_plot.rst",
            category="Plots",
        ),
    log:
        "logs/plots/token_router_recall_usage.log",
    benchmark:
        "results/benchmarks/plots/token_router_recall_usage.tsv"
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/token_router_plot.py"
