rule table_main:
    input:
        metrics=metric_files(),
        thresholds=threshold_files(),
        labels=expand("results/labels/{dataset}.parquet", dataset=TEST_SETS),
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
    script:
        "../scripts/table_main.py"


rule plot_call_performance:
    input:
        curves=curve_files(),
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
    script:
        "../scripts/plot_call_performance.py"
