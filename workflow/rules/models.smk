rule materialise_model:
    output:
        directory("results/models/{model}"),
    params:
        spec=model_spec,
    threads: 2
    resources:
        mem_mb=12000,
    log:
        "logs/materialise_model/{model}.log",
    benchmark:
        "results/benchmarks/materialise_model/{model}.tsv"
    script:
        "../scripts/materialise_model.py"
