rule features:
    input:
        data=path("data"),
        model=path("model"),
    output:
        temp(directory(path("feature_shard"))),
    log:
        "logs/features/{model}/{dataset}/shard{shard}-of{n}.log",
    benchmark:
        "results/benchmarks/features/{model}/{dataset}/shard{shard}-of{n}.tsv"
    conda:
        model_env
    threads: 2
    resources:
        mem_mb=8000,
        gpu=model_gpus,
    params:
        runtime=model_runtime,
        style=config_slice("generation", "style"),
        token_budget=config_slice("features", "token_budget"),
        max_batch_size=config_slice("features", "max_batch_size"),
    script:
        "../scripts/features.py"


rule gather_features:
    input:
        feature_shards,
    output:
        directory(path("features")),
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
        data=path("data"),
    output:
        directory(path("embeddings")),
    log:
        "logs/embed/{dataset}.log",
    benchmark:
        "results/benchmarks/embed/{dataset}.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: 2
    params:
        embedder=config_slice("features", "embedder"),
    script:
        "../scripts/embed.py"
