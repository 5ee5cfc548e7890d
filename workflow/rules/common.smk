"""Input functions, wildcard constraints and target lists shared by every rule file."""

import json

from routerlab.config_check import check_config
from routerlab.routers import is_probabilistic, is_seeded, required_features

check_config(config)

DATASETS = sorted(config["datasets"])
MODELS = sorted(config["models"])
ROUTERS = sorted(config["routers"])
TRAIN_SETS = sorted(config["training"]["sets"])
TEST_SETS = config["evaluation"].get("test", DATASETS)
WEAK = config["weak"]
STRONG = config["strong"]
SEEDS = config["training"]["seeds"]


def router_kind(router):
    return config["routers"][router].get("kind", router)


def router_seeds(router):
    """Seeded routers run once per configured seed; deterministic ones once (the first seed)."""
    return SEEDS if is_seeded(router_kind(router)) else SEEDS[:1]


# (router, seed) pairs: the runs every table aggregates over.
RUNS = [(r, s) for r in ROUTERS for s in router_seeds(r)]


wildcard_constraints:
    dataset="|".join(DATASETS),
    model="|".join(MODELS),
    router="|".join(ROUTERS),
    train="|".join(TRAIN_SETS),
    test="|".join(DATASETS),
    shard=r"\d+",
    seed=r"\d+",


def all_targets():
    return [
        "results/tables/main.md",
        "results/tables/xbench_main.md",
        "results/tables/xbench_ablation_layers.md",
        "results/tables/operating_points.md",
        "results/plots/call_performance.png",
        "results/plots/recovery.png",
        "results/plots/reliability.png",
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
    kind = router_kind(wildcards.router)
    params = dict(config["routers"][wildcards.router].get("params", {}))
    if is_seeded(kind):
        params["seed"] = int(wildcards.seed)
    return canonical({"kind": kind, "params": params})


def router_specs():
    """Every router's kind and params (tables label variants with them)."""
    return canonical(
        {
            r: {"kind": router_kind(r), "params": e.get("params", {})}
            for r, e in config["routers"].items()
        }
    )


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
        "results/routers/{router}/{train}/seed{seed}/router.joblib".format(**wildcards)
    )
    return inputs


def evaluation_params():
    ev = config["evaluation"]
    return {
        k: ev[k] for k in ("grid", "lpm_band", "recovery_band", "mode", "bootstrap")
    }


def run_files(pattern, routers=None):
    """`pattern` ({router}, {train}, {seed}, {test}) for every run x train set x test set."""
    return [
        pattern.format(router=r, train=t, seed=s, test=x)
        for r, s in RUNS
        if routers is None or r in routers
        for t in TRAIN_SETS
        for x in TEST_SETS
    ]


def metric_files():
    return run_files("results/metrics/{router}/{train}/seed{seed}/{test}.json")


def threshold_files():
    return run_files("results/thresholds/{router}/{train}/seed{seed}/{test}.json")


def curve_files():
    return run_files("results/metrics/{router}/{train}/seed{seed}/{test}.curve.parquet")


def probabilistic_prediction_files():
    """Predictions of routers whose scores are probabilities (reliability diagram)."""
    routers = [r for r in ROUTERS if is_probabilistic(router_kind(r))]
    return run_files(
        "results/predictions/{router}/{train}/seed{seed}/{test}.parquet", routers
    )
