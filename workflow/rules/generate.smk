rule generate:
    input:
        data=path("data"),
        model=path("model"),
    output:
        temp(path("generation_shard")),
    log:
        "logs/generate/{model}/{dataset}/shard{shard}-of{n}.log",
    benchmark:
        "results/benchmarks/generate/{model}/{dataset}/shard{shard}-of{n}.tsv"
    conda:
        model_env
    threads: 2
    resources:
        mem_mb=8000,
        gpu=model_gpus,
    params:
        runtime=model_runtime,
        style=config_slice("generation", "style"),
        sampling=config_slice("generation", "sampling"),
    script:
        "../scripts/generate.py"


rule gather_generations:
    input:
        generation_shards,
    output:
        path("generations"),
    log:
        "logs/gather_generations/{model}/{dataset}.log",
    benchmark:
        "results/benchmarks/gather_generations/{model}/{dataset}.tsv"
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/gather_generations.py"
