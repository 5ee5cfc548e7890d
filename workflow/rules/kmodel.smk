# K-model routing (RouterEval, R2-Router): outcome table -> features -> RouterEval pools and
# R2-Router -> tables. Sources and their inputs are resolved in common.smk (kmodel section).


rule kmodel_outcomes:
    input:
        unpack(kmodel_outcome_inputs),
    output:
        outcomes="results/kmodel/{source}/outcomes.parquet",
        queries="results/kmodel/{source}/queries.parquet",
    log:
        "logs/kmodel_outcomes/{source}.log",
    benchmark:
        "results/benchmarks/kmodel_outcomes/{source}.tsv"
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    params:
        spec=kmodel_outcome_spec,
    script:
        "../scripts/kmodel_outcomes.py"


rule kmodel_features:
    input:
        unpack(kmodel_feature_inputs),
    output:
        directory("results/kmodel/{source}/features"),
    log:
        "logs/kmodel_features/{source}.log",
    benchmark:
        "results/benchmarks/kmodel_features/{source}.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: 2
    params:
        spec=kmodel_feature_spec,
    script:
        "../scripts/kmodel_features.py"


rule kmodel_evaluate:
    input:
        outcomes="results/kmodel/{source}/outcomes.parquet",
        queries="results/kmodel/{source}/queries.parquet",
        features="results/kmodel/{source}/features",
    output:
        result="results/kmodel/{source}/routereval_{difficulty}.json",
        selections="results/kmodel/{source}/routereval_{difficulty}.selections.parquet",
    log:
        "logs/kmodel_evaluate/{source}/{difficulty}.log",
    benchmark:
        "results/benchmarks/kmodel_evaluate/{source}/{difficulty}.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: 2
    params:
        routers=canonical(KMODEL["routers"]) if KMODEL else {},
        sizes=kmodel_pool_sizes,
        groups=KMODEL["groups"] if KMODEL else [],
        reference=KMODEL["reference"] if KMODEL else None,
    script:
        "../scripts/kmodel_evaluate.py"


rule kmodel_r2router_train:
    input:
        outcomes="results/kmodel/{source}/outcomes.parquet",
        queries="results/kmodel/{source}/queries.parquet",
        features="results/kmodel/{source}/features",
    output:
        directory("results/kmodel/{source}/r2router/category_router"),
    log:
        "logs/kmodel_r2router_train/{source}.log",
    benchmark:
        "results/benchmarks/kmodel_r2router_train/{source}.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: 2
    params:
        prices=kmodel_prices,
        params=canonical(KMODEL["r2router"].get("params", {})) if KMODEL else {},
        lambdas=kmodel_lambdas(),
        beta=KMODEL["arena_beta"] if KMODEL else 0.1,
    script:
        "../scripts/kmodel_r2router_train.py"


rule kmodel_r2router_route:
    input:
        outcomes="results/kmodel/{source}/outcomes.parquet",
        queries="results/kmodel/{source}/queries.parquet",
        features="results/kmodel/{source}/features",
        bundle=kmodel_bundle,
    output:
        "results/kmodel/{source}/r2router.json",
    log:
        "logs/kmodel_r2router_route/{source}.log",
    benchmark:
        "results/benchmarks/kmodel_r2router_route/{source}.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: 2
    params:
        routers=canonical(KMODEL["routers"]) if KMODEL else {},
        prices=kmodel_prices,
        lambdas=kmodel_lambdas(),
        beta=KMODEL["arena_beta"] if KMODEL else 0.1,
        retrain_target=kmodel_retrain_target,
    script:
        "../scripts/kmodel_r2router_route.py"


rule kmodel_table_routereval:
    input:
        results=expand(
            "results/kmodel/{source}/routereval_{{difficulty}}.json",
            source=KMODEL_SOURCES,
        ),
    output:
        md=report(
            "results/tables/routereval_{difficulty}.md",
            caption="../report/kmodel_routereval.rst",
            category="Tables",
        ),
        csv="results/tables/routereval_{difficulty}.csv",
    log:
        "logs/tables/routereval_{difficulty}.log",
    benchmark:
        "results/benchmarks/tables/routereval_{difficulty}.tsv"
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/kmodel_tables.py"


rule kmodel_table_r2router:
    input:
        results=expand("results/kmodel/{source}/r2router.json", source=KMODEL_SOURCES),
    output:
        md=report(
            "results/tables/r2router.md",
            caption="../report/kmodel_r2router.rst",
            category="Tables",
        ),
        csv="results/tables/r2router.csv",
        plot=report(
            "results/plots/kmodel_accuracy_cost.png",
            caption="../report/kmodel_accuracy_cost.rst",
            category="Plots",
        ),
    log:
        "logs/tables/r2router.log",
    benchmark:
        "results/benchmarks/tables/r2router.tsv"
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/kmodel_tables.py"
