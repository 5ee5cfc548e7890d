rule download:
    output:
        "results/data/{dataset}.parquet",
    log:
        "logs/download/{dataset}.log",
    benchmark:
        "results/benchmarks/download/{dataset}.tsv"
    localrule: True
    conda:
        "../../envs/cpu.yaml"
    params:
        spec=dataset_spec,
        splits=dataset_splits,
        split_seed=config["split_seed"],
    script:
        "../scripts/download.py"
