rule materialise_model:
    output:
        directory(path("model")),
    log:
        "logs/materialise_model/{model}.log",
    benchmark:
        "results/benchmarks/materialise_model/{model}.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: 2
    resources:
        mem_mb=12000,
    params:
        spec=config_slice("models", "{model}"),
    script:
        "../scripts/materialise_model.py"
