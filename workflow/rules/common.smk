"""Input functions, wildcard constraints and target lists shared by every rule file."""

import json

from routerlab.config_check import check_config
from routerlab.routers import required_features

check_config(config)

DATASETS = sorted(config["datasets"])
MODELS = sorted(config["models"])
ROUTERS = sorted(config["routers"])
TRAIN_SETS = sorted(config["training"]["sets"])
TEST_SETS = config["evaluation"].get("test", DATASETS)
WEAK = config["weak"]
STRONG = config["strong"]


wildcard_constraints:
    dataset="|".join(DATASETS),
    model="|".join(MODELS),
    router="|".join(ROUTERS),
    train="|".join(TRAIN_SETS),
    test="|".join(DATASETS),
    shard=r"\d+",


def all_targets():
    return [
        "results/tables/main.md",
        "results/plots/call_performance.png",
    ]


def canonical(obj):
    """Key-sorted copy: Snakemake compares params as text, so key order must not matter."""
    return json.loads(json.dumps(obj, sort_keys=True))


# --- per-stage parameter slices (only what a rule uses, so one knob re-runs only its rules) ---


def dataset_spec(wildcards):
    return canonical(config["datasets"][wildcards.dataset])


def model_spec(wildcards):
    return canonical(config["models"][wildcards.model])


def model_runtime(wildcards):
    spec = config["models"][wildcards.model]
    return canonical(
        {
            "backend": spec.get("backend", "transformers"),
            "dtype": spec.get("dtype", "auto"),
            "device": spec.get("device", "auto"),
            "options": spec.get("options", {}),
            "price": spec.get("price"),
        }
    )


def model_gpus(wildcards):
    return config["models"][wildcards.model].get("gpus", 0)


def router_entry(wildcards):
    entry = config["routers"][wildcards.router]
    return {
        "kind": entry.get("kind", wildcards.router),
        "params": entry.get("params", {}),
    }


def generation_shards(wildcards):
    n = config["generation"]["shards"]
    return expand(
        "results/generations/{model}/{dataset}/shard{shard}-of{n}.parquet",
        model=wildcards.model,
        dataset=wildcards.dataset,
        shard=range(n),
        n=n,
    )


def feature_shards(wildcards):
    n = config["features"]["shards"]
    return expand(
        "results/feature_shards/{model}/{dataset}/shard{shard}-of{n}",
        model=wildcards.model,
        dataset=wildcards.dataset,
        shard=range(n),
        n=n,
    )


def train_members(wildcards):
    return config["training"]["sets"][wildcards.train]


def _feature_inputs(datasets, router):
    entry = config["routers"][router]
    needs = required_features(entry.get("kind", router), entry.get("params", {}))
    inputs = {"labels": expand("results/labels/{dataset}.parquet", dataset=datasets)}
    if needs - {"embeddings"}:
        inputs["features"] = expand(
            "results/features/{model}/{dataset}", model=WEAK, dataset=datasets
        )
    if "embeddings" in needs:
        inputs["embeddings"] = expand("results/embeddings/{dataset}", dataset=datasets)
    return inputs


def train_inputs(wildcards):
    return _feature_inputs(train_members(wildcards), wildcards.router)


def predict_inputs(wildcards):
    inputs = _feature_inputs([wildcards.test], wildcards.router)
    inputs["router"] = (
        f"results/routers/{wildcards.router}/{wildcards.train}/router.joblib"
    )
    return inputs


def evaluation_params():
    ev = config["evaluation"]
    return {
        k: ev[k] for k in ("grid", "lpm_band", "recovery_band", "mode", "bootstrap")
    }


def metric_files():
    return expand(
        "results/metrics/{router}/{train}/{test}.json",
        router=ROUTERS,
        train=TRAIN_SETS,
        test=TEST_SETS,
    )


def threshold_files():
    return expand(
        "results/thresholds/{router}/{train}/{test}.json",
        router=ROUTERS,
        train=TRAIN_SETS,
        test=TEST_SETS,
    )


def curve_files():
    return expand(
        "results/metrics/{router}/{train}/{test}.curve.parquet",
        router=ROUTERS,
        train=TRAIN_SETS,
        test=TEST_SETS,
    )
