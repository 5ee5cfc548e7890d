rule train:
    input:
        unpack(train_inputs),
    output:
        router=path("router"),
        info=path("train_info"),
    log:
        "logs/train/{router}/{train}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{router}/{train}/seed{seed}.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: 1
    resources:
        gpu=config_slice("routers", "{router}", "gpus", default=0),
    params:
        router=router_entry,
        members=train_members,
    script:
        "../scripts/train.py"


rule predict:
    input:
        unpack(predict_inputs),
    output:
        path("predictions"),
    log:
        "logs/predict/{router}/{train}/seed{seed}/{test}.log",
    benchmark:
        "results/benchmarks/predict/{router}/{train}/seed{seed}/{test}.tsv"
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/predict.py"
