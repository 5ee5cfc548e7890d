# K-model routing (RouterEval, R2-Router): outcome table -> features -> RouterEval pools and
# R2-Router -> tables. Sources and their inputs are resolved in common.smk (kmodel section).


rule kmodel_outcomes:
    input:
        unpack(kmodel_outcome_inputs),
    output:
        outcomes=path("kmodel_outcomes"),
        queries=path("kmodel_queries"),
    log:
        "logs/kmodel_outcomes/{source}.log",
    benchmark:
        "results/benchmarks/kmodel_outcomes/{source}.tsv"
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    params:
        spec=kmodel_outcome_spec,
        # an import's files by role and its importer options (kmodel.config.resolve); {} for the pipeline
        reading=config_slice(
            "sources", "{source}", "reading", within=KMODEL, default={}
        ),
    script:
        "../scripts/kmodel_outcomes.py"


rule kmodel_features:
    input:
        unpack(kmodel_feature_inputs),
    output:
        directory(path("kmodel_features")),
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
        outcomes=path("kmodel_outcomes"),
        queries=path("kmodel_queries"),
        features=path("kmodel_features"),
    output:
        result=path("routereval"),
        selections=path("routereval_selections"),
    log:
        "logs/kmodel_evaluate/{source}/{difficulty}.log",
    benchmark:
        "results/benchmarks/kmodel_evaluate/{source}/{difficulty}.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: 2
    params:
        routers=config_slice("routers", within=KMODEL, default={}),
        sizes=config_slice("pools", "{difficulty}", within=KMODEL),
        groups=config_slice("groups", within=KMODEL, default=[]),
        reference=config_slice("reference", within=KMODEL, default=None),
    script:
        "../scripts/kmodel_evaluate.py"


rule kmodel_r2router_train:
    input:
        outcomes=path("kmodel_outcomes"),
        queries=path("kmodel_queries"),
        features=path("kmodel_features"),
    output:
        directory(path("r2router_bundle")),
    log:
        "logs/kmodel_r2router_train/{source}.log",
    benchmark:
        "results/benchmarks/kmodel_r2router_train/{source}.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: 2
    params:
        prices=config_slice("sources", "{source}", "prices", within=KMODEL),
        params=config_slice("r2router", "params", within=KMODEL, default={}),
        lambdas=config_slice("r2router", "lambdas", within=KMODEL, default=[]),
        beta=config_slice("arena_beta", within=KMODEL, default=0.1),
    script:
        "../scripts/kmodel_r2router_train.py"


rule kmodel_r2router_route:
    input:
        outcomes=path("kmodel_outcomes"),
        queries=path("kmodel_queries"),
        features=path("kmodel_features"),
        bundle=kmodel_bundle,
    output:
        path("r2router"),
    log:
        "logs/kmodel_r2router_route/{source}.log",
    benchmark:
        "results/benchmarks/kmodel_r2router_route/{source}.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: 2
    params:
        routers=config_slice("routers", within=KMODEL, default={}),
        prices=config_slice("sources", "{source}", "prices", within=KMODEL),
        lambdas=config_slice("r2router", "lambdas", within=KMODEL, default=[]),
        beta=config_slice("arena_beta", within=KMODEL, default=0.1),
        retrain_target=kmodel_retrain_target,
    script:
        "../scripts/kmodel_r2router_route.py"


rule kmodel_table_routereval:
    input:
        results=expand(path("routereval"), source=KMODEL_SOURCES, allow_missing=True),
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
        results=expand(path("r2router"), source=KMODEL_SOURCES),
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
