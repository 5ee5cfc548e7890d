# One leaderboard over every kmodel source (imported outcome tables and our own pool): every router
# under each family's metrics with bootstrap intervals, leakage, and published numbers re-derived.
# Runs on demand (snakemake results/tables/leaderboard.md), or with `all` when the config has a
# `leaderboard` section with sources.


rule leaderboard_source:
    input:
        outcomes=path("kmodel_outcomes"),
        queries=path("kmodel_queries"),
        features=path("kmodel_features"),
    output:
        result=path("leaderboard_source"),
        picks=path("leaderboard_picks"),
    log:
        "logs/leaderboard_source/{source}.log",
    benchmark:
        "results/benchmarks/leaderboard_source/{source}.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: 2
    params:
        spec=leaderboard_spec,
    script:
        "../scripts/leaderboard_source.py"


rule leaderboard_table:
    input:
        results=expand(path("leaderboard_source"), source=LEADERBOARD_SOURCES),
    output:
        md=report(
            "results/tables/leaderboard.md",
            caption="../report/leaderboard.rst",
            category="Tables",
        ),
        csv="results/tables/leaderboard.csv",
        tex="results/tables/leaderboard.tex",
        kmodel_csv="results/tables/leaderboard_kmodel.csv",
        binary_csv="results/tables/leaderboard_binary.csv",
        leakage_csv="results/tables/leaderboard_leakage.csv",
    log:
        "logs/tables/leaderboard.log",
    benchmark:
        "results/benchmarks/tables/leaderboard.tsv"
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/leaderboard_tables.py"


rule reproduce_table:
    input:
        results=expand(path("leaderboard_source"), source=LEADERBOARD_SOURCES),
    output:
        md=report(
            "results/tables/reproduce.md",
            caption="../report/reproduce.rst",
            category="Tables",
        ),
        csv="results/tables/reproduce.csv",
    log:
        "logs/tables/reproduce.log",
    benchmark:
        "results/benchmarks/tables/reproduce.tsv"
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/leaderboard_tables.py"
