rule features:
    input:
        data="results/data/{dataset}.parquet",
        model="results/models/{model}",
    output:
        temp(directory("results/feature_shards/{model}/{dataset}/shard{shard}-of{n}")),
    log:
        "logs/features/{model}/{dataset}/shard{shard}-of{n}.log",
    benchmark:
        "results/benchmarks/features/{model}/{dataset}/shard{shard}-of{n}.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        gpu=model_gpus,
    params:
        runtime=model_runtime,
        style=config["generation"]["style"],
        token_budget=config["features"]["token_budget"],
        max_batch_size=config["features"]["max_batch_size"],
    script:
        "../scripts/features.py"


rule gather_features:
    input:
        feature_shards,
    output:
        directory("results/features/{model}/{dataset}"),
    log:
        "logs/gather_features/{model}/{dataset}.log",
    benchmark:
        "results/benchmarks/gather_features/{model}/{dataset}.tsv"
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/gather_features.py"


rule embed:
    input:
        data="results/data/{dataset}.parquet",
    output:
        directory("results/embeddings/{dataset}"),
    log:
        "logs/embed/{dataset}.log",
    benchmark:
        "results/benchmarks/embed/{dataset}.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: 2
    params:
        embedder=canonical(config["features"]["embedder"]),
    script:
        "../scripts/embed.py"
