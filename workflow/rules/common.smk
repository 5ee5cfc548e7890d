"""Input functions, wildcard constraints and target lists shared by every rule file."""

import json

from snakemake.exceptions import WorkflowError

from routerlab.config_check import check_config
from routerlab.routers import (
    is_probabilistic,
    is_seeded,
    is_trainable,
    required_features,
)
from routerlab.token_router import resolve_config as resolve_token_router_config

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
    return (
        [
            "results/tables/main.md",
            "results/tables/xbench_main.md",
            "results/tables/xbench_ablation_layers.md",
            "results/tables/operating_points.md",
            "results/plots/call_performance.png",
            "results/plots/recovery.png",
            "results/plots/reliability.png",
        ]
        + token_router_targets()
        + kmodel_targets()
    )


def canonical(obj):
    """Key-sorted copy: Snakemake compares params as text, so key order must not matter."""
    return json.loads(json.dumps(obj, sort_keys=True))


# --- per-stage parameter slices (only what a rule uses, so one knob re-runs only its rules) ---


def dataset_spec(wildcards):
    return canonical(config["datasets"][wildcards.dataset])


def dataset_splits(wildcards):
    """The dataset's own `split` fractions (e.g. a test-only OOD set), else the global `splits`."""
    spec = config["datasets"][wildcards.dataset]
    return canonical(spec.get("split", config["splits"]))


def model_spec(wildcards):
    return canonical(config["models"][wildcards.model])


def model_runtime(wildcards):
    return runtime_of(wildcards.model)


def runtime_of(model):
    spec = config["models"][model]
    return canonical(
        {
            "backend": spec.get("backend", "transformers"),
            "dtype": spec.get("dtype", "auto"),
            "device": spec.get("device", "auto"),
            "options": spec.get("options", {}),
            "price": spec.get("price"),
        }
    )


def judge_for(wildcards):
    """The judge's settings when it scores this dataset, else None (the task's verifier scores)."""
    judge = config.get("judge")
    if not judge or wildcards.dataset not in judge["datasets"]:
        return None
    return canonical({**judge, "runtime": runtime_of(judge["model"])})


def score_inputs(wildcards):
    inputs = {
        "data": f"results/data/{wildcards.dataset}.parquet",
        "generations": f"results/generations/{wildcards.model}/{wildcards.dataset}.parquet",
    }
    judge = judge_for(wildcards)
    if judge:
        inputs["judge_model"] = f"results/models/{judge['model']}"
    return inputs


def score_threads(wildcards):
    return 2 if judge_for(wildcards) else 1


def score_gpus(wildcards):
    judge = judge_for(wildcards)
    return config["models"][judge["model"]].get("gpus", 0) if judge else 0


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


# Router input name (routerlab.routers.Router.requires) -> the files that hold it.
ROUTER_INPUTS = {
    "features": "results/features/{model}/{dataset}",
    "embeddings": "results/embeddings/{dataset}",
    "samples": "results/semantic_clusters/{model}/{dataset}.parquet",
    "self_check": "results/self_check/{model}/{dataset}.parquet",
    "data": "results/data/{dataset}.parquet",
}
ACTIVATION_FEATURES = {"logits", "hidden_mean", "hidden_last"}


def _feature_inputs(datasets, router, fitting=False):
    entry = config["routers"][router]
    kind = entry.get("kind", router)
    inputs = {"labels": expand("results/labels/{dataset}.parquet", dataset=datasets)}
    if fitting and not is_trainable(kind):
        return inputs  # training-free: nothing is read from the training split
    needs = required_features(kind, entry.get("params", {}))
    if needs & ACTIVATION_FEATURES:
        needs = needs - ACTIVATION_FEATURES | {"features"}
    for need in sorted(needs):
        name = "data" if need == "texts" else need
        inputs[name] = expand(ROUTER_INPUTS[name], model=WEAK, dataset=datasets)
    return inputs


def train_inputs(wildcards):
    return _feature_inputs(train_members(wildcards), wildcards.router, fitting=True)


def router_gpus(wildcards):
    return config["routers"][wildcards.router].get("gpus", 0)


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


# --- token-level router (R2R): built when the config has a `token_router` section ---

TOKEN_ROUTER = resolve_token_router_config(config) if "token_router" in config else None


def token_router_targets():
    if TOKEN_ROUTER is None:
        return []
    return [
        "results/tables/token_router.md",
        "results/plots/token_router_recall_usage.png",
    ]


def _token_router():
    if TOKEN_ROUTER is None:
        raise WorkflowError(
            "token router outputs need a `token_router` section in the config "
            "(see config/config.yaml and workflow/schemas/config.schema.yaml)"
        )
    return TOKEN_ROUTER


def _token_router_runtime(role):
    tr = _token_router()
    spec = config["models"][tr[role]]
    batching = {k: tr[k] for k in ("token_budget", "max_batch_size")}
    return {
        "model": tr[role],
        "device": spec.get("device", "auto"),
        "dtype": spec.get("dtype", "auto"),
        "batching": batching,
    }


def token_router_model(role):
    def model_dir(wildcards):
        return f"results/models/{_token_router()[role]}"

    return model_dir


def token_router_gpus(role):
    def gpus(wildcards):
        return config["models"][_token_router()[role]].get("gpus", 0)

    return gpus


def token_continuation_settings(wildcards):
    tr = _token_router()
    return canonical(
        {
            "names": {"weak": tr["weak"], "strong": tr["strong"]},
            "runtime": _token_router_runtime("strong"),
            "sampling": tr["sampling"],
            "style": tr["style"],
            "max_prompts": tr["max_prompts"],
        }
    )


def token_label_settings(wildcards):
    tr = _token_router()
    return canonical(
        {
            "runtime": _token_router_runtime("weak"),
            "top_k": tr["top_k"],
            "meaningful": tr["meaningful"],
        }
    )


def token_router_train_settings(wildcards):
    tr = _token_router()
    return canonical({"classifier": tr["classifier"], "label": tr["label"]})


def token_router_threshold_settings(wildcards):
    tr = _token_router()
    return {
        "recall_target": tr["recall_target"],
        "threshold_mode": tr["threshold_mode"],
    }


def token_router_token_dirs(wildcards):
    return expand(
        "results/token_router/tokens/{dataset}", dataset=_token_router()["datasets"]
    )


# --- K-model routing (workflow/rules/kmodel.smk): sources resolved and checked at parse time ---

from routerlab.kmodel.config import resolve as resolve_kmodel_config
from routerlab.kmodel.r2router import resolve_checkpoint_dir

KMODEL = resolve_kmodel_config(config)  # None: no kmodel section, branch off
KMODEL_SOURCES = sorted(KMODEL["sources"]) if KMODEL else []


wildcard_constraints:
    source="|".join(KMODEL_SOURCES) or "no-kmodel-source",
    difficulty="easy|hard",


def kmodel_targets():
    if not KMODEL_SOURCES:
        return []
    return [
        "results/tables/routereval_easy.md",
        "results/tables/routereval_hard.md",
        "results/tables/r2router.md",
        "results/plots/kmodel_accuracy_cost.png",
    ]


def _kmodel_source(wildcards):
    return KMODEL["sources"][wildcards.source]


def kmodel_outcome_inputs(wildcards):
    src = _kmodel_source(wildcards)
    if src["format"] != "pipeline":
        return {"files": src["files"]}
    return {
        "data": expand("results/data/{dataset}.parquet", dataset=src["datasets"]),
        # models x datasets order: kmodel_outcomes.py pairs them the same way
        "scores": [
            f"results/scores/{m}/{d}.parquet"
            for m in src["models"]
            for d in src["datasets"]
        ],
        "generations": [
            f"results/generations/{m}/{d}.parquet"
            for m in src["models"]
            for d in src["datasets"]
        ],
    }


def kmodel_outcome_spec(wildcards):
    src = _kmodel_source(wildcards)
    keep = ("format", "models", "datasets", "prices", "on_missing")
    return canonical(
        {
            **{k: src[k] for k in keep if k in src},
            "split_seed": KMODEL["split_seed"],
        }
    )


def kmodel_feature_inputs(wildcards):
    src = _kmodel_source(wildcards)
    inputs = {"queries": f"results/kmodel/{wildcards.source}/queries.parquet"}
    if src["features"] == "embeddings":
        inputs["embeddings"] = expand(
            "results/embeddings/{dataset}", dataset=src["datasets"]
        )
    if src["features"] == "given":
        inputs["pickle"] = src["files"][0]
    return inputs


def kmodel_feature_spec(wildcards):
    src = _kmodel_source(wildcards)
    spec = {"mode": src["features"], "dim": KMODEL["feature_dim"]}
    if src["features"] == "embeddings":
        spec["datasets"] = src["datasets"]
    if src["features"] == "embedder":
        spec["embedder"] = config["features"]["embedder"]
    return canonical(spec)


def kmodel_pool_sizes(wildcards):
    return KMODEL["pools"][wildcards.difficulty]


def kmodel_prices(wildcards):
    return canonical(_kmodel_source(wildcards)["prices"])


def kmodel_lambdas():
    return KMODEL["r2router"].get("lambdas", []) if KMODEL else []


def kmodel_retrain_target(wildcards):
    return f"results/kmodel/{wildcards.source}/r2router/category_router"


def kmodel_bundle(wildcards):
    """A bundle named by config or $R2_CHECKPOINT_DIR is loaded as is; else the trained one."""
    external = resolve_checkpoint_dir(
        KMODEL["r2router"].get("checkpoint_dir"), wildcards.source
    )
    return str(external) if external else kmodel_retrain_target(wildcards)
