rule download:
    output:
        "results/data/{dataset}.parquet",
    params:
        spec=dataset_spec,
        splits=config["splits"],
        split_seed=config["split_seed"],
    log:
        "logs/download/{dataset}.log",
    benchmark:
        "results/benchmarks/download/{dataset}.tsv"
    localrule: True
    script:
        "../scripts/download.py"
