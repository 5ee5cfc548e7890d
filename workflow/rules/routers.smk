rule train:
    input:
        unpack(train_inputs),
    output:
        router="results/routers/{router}/{train}/seed{seed}/router.joblib",
        info="results/routers/{router}/{train}/seed{seed}/train.json",
    log:
        "logs/train/{router}/{train}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{router}/{train}/seed{seed}.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: 1
    resources:
        gpu=router_gpus,
    params:
        router=router_entry,
        members=train_members,
    script:
        "../scripts/train.py"


rule predict:
    input:
        unpack(predict_inputs),
    output:
        "results/predictions/{router}/{train}/seed{seed}/{test}.parquet",
    log:
        "logs/predict/{router}/{train}/seed{seed}/{test}.log",
    benchmark:
        "results/benchmarks/predict/{router}/{train}/seed{seed}/{test}.tsv"
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/predict.py"
