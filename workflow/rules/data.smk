rule download:
    output:
        path("data"),
    log:
        "logs/download/{dataset}.log",
    benchmark:
        "results/benchmarks/download/{dataset}.tsv"
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    params:
        spec=config_slice("datasets", "{dataset}"),
        # the dataset's own `split` fractions (e.g. a test-only OOD set), else the global `splits`
        splits=config_slice(
            "datasets", "{dataset}", "split", default=config_slice("splits")
        ),
        split_seed=config_slice("split_seed"),
    script:
        "../scripts/download.py"
