rule table_main:
    input:
        metrics=run_files("metrics"),
        thresholds=run_files("thresholds"),
        labels=expand(path("labels"), dataset=TEST_SETS),
    output:
        md=report(
            "results/tables/main.md",
            caption="../report/table_main.rst",
            category="Tables",
        ),
        csv="results/tables/main.csv",
        tex="results/tables/main.tex",
    log:
        "logs/tables/main.log",
    benchmark:
        "results/benchmarks/tables/main.tsv"
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    params:
        evaluation=evaluation_params(),
    script:
        "../scripts/table_main.py"


rule table_xbench_main:
    input:
        metrics=run_files("metrics"),
    output:
        md=report(
            "results/tables/xbench_main.md",
            caption="../report/xbench_main.rst",
            category="Tables",
        ),
        csv="results/tables/xbench_main.csv",
        tex="results/tables/xbench_main.tex",
    log:
        "logs/tables/xbench_main.log",
    benchmark:
        "results/benchmarks/tables/xbench_main.tsv"
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    params:
        train_sets=config_slice("training", "sets"),
    script:
        "../scripts/table_xbench_main.py"


rule table_xbench_ablation_layers:
    input:
        metrics=run_files("metrics"),
    output:
        md=report(
            "results/tables/xbench_ablation_layers.md",
            caption="../report/xbench_ablation_layers.rst",
            category="Tables",
        ),
        csv="results/tables/xbench_ablation_layers.csv",
        tex="results/tables/xbench_ablation_layers.tex",
    log:
        "logs/tables/xbench_ablation_layers.log",
    benchmark:
        "results/benchmarks/tables/xbench_ablation_layers.tsv"
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    params:
        routers=router_specs(),
    script:
        "../scripts/table_xbench_ablation.py"


rule table_operating_points:
    input:
        thresholds=run_files("thresholds"),
        curves=run_files("curve"),
    output:
        md=report(
            "results/tables/operating_points.md",
            caption="../report/operating_points.rst",
            category="Tables",
        ),
        csv="results/tables/operating_points.csv",
        tex="results/tables/operating_points.tex",
    log:
        "logs/tables/operating_points.log",
    benchmark:
        "results/benchmarks/tables/operating_points.tsv"
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    params:
        call_rates=config_slice("evaluation", "call_rates"),
    script:
        "../scripts/table_operating_points.py"


rule plot_call_performance:
    input:
        curves=run_files("curve"),
        metrics=run_files("metrics"),
        labels=expand(path("labels"), dataset=TEST_SETS),
    output:
        report(
            "results/plots/call_performance.png",
            caption="../report/call_performance.rst",
            category="Plots",
        ),
    log:
        "logs/plots/call_performance.log",
    benchmark:
        "results/benchmarks/plots/call_performance.tsv"
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    params:
        y="performance",
        routers=router_specs(),
    script:
        "../scripts/plot_curves.py"


rule plot_recovery:
    input:
        curves=run_files("curve"),
        metrics=run_files("metrics"),
        labels=expand(path("labels"), dataset=TEST_SETS),
    output:
        report(
            "results/plots/recovery.png",
            caption="../report/recovery.rst",
            category="Plots",
        ),
    log:
        "logs/plots/recovery.log",
    benchmark:
        "results/benchmarks/plots/recovery.tsv"
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    params:
        y="recovery",
        routers=router_specs(),
    script:
        "../scripts/plot_curves.py"


rule plot_reliability:
    input:
        predictions=probabilistic_prediction_files(),
    output:
        report(
            "results/plots/reliability.png",
            caption="../report/reliability.rst",
            category="Plots",
        ),
    log:
        "logs/plots/reliability.log",
    benchmark:
        "results/benchmarks/plots/reliability.tsv"
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/plot_reliability.py"
