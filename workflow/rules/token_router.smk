# Token-level router (R2R): strong continuations -> per-token divergence labels and weak-model
# features (one teacher-forced pass) -> classifier -> threshold at a recall target -> table, plot.


rule token_continuations:
    input:
        data=path("data"),
        strong=token_router_model("strong"),
        weak=token_router_model("weak"),
    output:
        path("token_continuations"),
    log:
        "logs/token_continuations/{dataset}.log",
    benchmark:
        "results/benchmarks/token_continuations/{dataset}.tsv"
    conda:
        token_router_env("strong")
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
        continuations=path("token_continuations"),
        weak=token_router_model("weak"),
    output:
        directory(path("token_dir")),
    log:
        "logs/token_labels/{dataset}.log",
    benchmark:
        "results/benchmarks/token_labels/{dataset}.tsv"
    conda:
        token_router_env("weak")
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
        router=path("token_router"),
        info=path("token_router_info"),
        predictions=path("token_predictions"),
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
        predictions=path("token_predictions"),
    output:
        md=report(
            "results/tables/token_router.md",
            caption="../report/token_router.rst",
            category="Tables",
        ),
        csv="results/tables/token_router.csv",
        thresholds=path("token_thresholds"),
        curve=path("token_curve"),
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
        curve=path("token_curve"),
        thresholds=path("token_thresholds"),
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
