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
        mc_answers=config_slice("generation", "mc_answers", default="generate"),
        sampling=config_slice("generation", "sampling"),
        prompt_overflow=config_slice("generation", "prompt_overflow", default="reject"),
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
