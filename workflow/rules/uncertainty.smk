# Inputs of the self-based routers (RouterXBench "verb-based"), for the rows of
# `uncertainty.splits` only: training-free routers score validation and test rows.
rule sample:
    input:
        data=path("data"),
        model=path("model"),
    output:
        path("samples"),
    log:
        "logs/sample/{model}/{dataset}.log",
    benchmark:
        "results/benchmarks/sample/{model}/{dataset}.tsv"
    conda:
        model_env
    threads: 2
    resources:
        mem_mb=8000,
        gpu=model_gpus,
    params:
        runtime=model_runtime,
        style=config_slice("generation", "style"),
        sampling=config_slice("uncertainty", "sampling"),
        splits=config_slice("uncertainty", "splits"),
    script:
        "../scripts/sample.py"


rule semantic_clusters:
    input:
        data=path("data"),
        samples=path("samples"),
    output:
        path("semantic_clusters"),
    log:
        "logs/semantic_clusters/{model}/{dataset}.log",
    benchmark:
        "results/benchmarks/semantic_clusters/{model}/{dataset}.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: 2
    params:
        equivalence=config_slice("uncertainty", "equivalence"),
    script:
        "../scripts/semantic_clusters.py"


rule self_check:
    input:
        data=path("data"),
        model=path("model"),
        generations=path("generations"),
    output:
        path("self_check"),
    log:
        "logs/self_check/{model}/{dataset}.log",
    benchmark:
        "results/benchmarks/self_check/{model}/{dataset}.tsv"
    conda:
        model_env
    threads: 2
    resources:
        mem_mb=8000,
        gpu=model_gpus,
    params:
        runtime=model_runtime,
        style=config_slice("generation", "style"),
        prompt=config_slice("uncertainty", "self_check", "prompt"),
        splits=config_slice("uncertainty", "splits"),
    script:
        "../scripts/self_check.py"
