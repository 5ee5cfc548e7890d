rule generate:
    input:
        data="results/data/{dataset}.parquet",
        model="results/models/{model}",
    output:
        temp("results/generations/{model}/{dataset}/shard{shard}-of{n}.parquet"),
    log:
        "logs/generate/{model}/{dataset}/shard{shard}-of{n}.log",
    benchmark:
        "results/benchmarks/generate/{model}/{dataset}/shard{shard}-of{n}.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        gpu=model_gpus,
    params:
        runtime=model_runtime,
        style=config["generation"]["style"],
        sampling=canonical(config["generation"]["sampling"]),
    script:
        "../scripts/generate.py"


rule gather_generations:
    input:
        generation_shards,
    output:
        "results/generations/{model}/{dataset}.parquet",
    log:
        "logs/gather_generations/{model}/{dataset}.log",
    benchmark:
        "results/benchmarks/gather_generations/{model}/{dataset}.tsv"
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/gather_tables.py"
