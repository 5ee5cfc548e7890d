rule train:
    input:
        unpack(train_inputs),
    output:
        router="results/routers/{router}/{train}/router.joblib",
        info="results/routers/{router}/{train}/train.json",
    log:
        "logs/train/{router}/{train}.log",
    benchmark:
        "results/benchmarks/train/{router}/{train}.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: 1
    params:
        router=router_entry,
        members=train_members,
    script:
        "../scripts/train.py"


rule predict:
    input:
        unpack(predict_inputs),
    output:
        "results/predictions/{router}/{train}/{test}.parquet",
    log:
        "logs/predict/{router}/{train}/{test}.log",
    benchmark:
        "results/benchmarks/predict/{router}/{train}/{test}.tsv"
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/predict.py"
