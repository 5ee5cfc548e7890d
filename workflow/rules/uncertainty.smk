# Inputs of the self-based routers (RouterXBench "verb-based"), for the rows of
# `uncertainty.splits` only: training-free routers score validation and test rows.
rule sample:
    input:
        data="results/data/{dataset}.parquet",
        model="results/models/{model}",
    output:
        "results/samples/{model}/{dataset}.parquet",
    log:
        "logs/sample/{model}/{dataset}.log",
    benchmark:
        "results/benchmarks/sample/{model}/{dataset}.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        gpu=model_gpus,
    params:
        runtime=model_runtime,
        style=config["generation"]["style"],
        sampling=canonical(config["uncertainty"]["sampling"]),
        splits=config["uncertainty"]["splits"],
    script:
        "../scripts/sample.py"


rule semantic_clusters:
    input:
        data="results/data/{dataset}.parquet",
        samples="results/samples/{model}/{dataset}.parquet",
    output:
        "results/semantic_clusters/{model}/{dataset}.parquet",
    log:
        "logs/semantic_clusters/{model}/{dataset}.log",
    benchmark:
        "results/benchmarks/semantic_clusters/{model}/{dataset}.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: 2
    params:
        equivalence=canonical(config["uncertainty"]["equivalence"]),
    script:
        "../scripts/semantic_clusters.py"


rule self_check:
    input:
        data="results/data/{dataset}.parquet",
        model="results/models/{model}",
        generations="results/generations/{model}/{dataset}.parquet",
    output:
        "results/self_check/{model}/{dataset}.parquet",
    log:
        "logs/self_check/{model}/{dataset}.log",
    benchmark:
        "results/benchmarks/self_check/{model}/{dataset}.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        gpu=model_gpus,
    params:
        runtime=model_runtime,
        style=config["generation"]["style"],
        prompt=config["uncertainty"]["self_check"]["prompt"],
        splits=config["uncertainty"]["splits"],
    script:
        "../scripts/self_check.py"
