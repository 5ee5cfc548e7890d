"""Config getter, results layout, input functions, wildcard constraints and target lists
shared by every rule file."""

import json

from snakemake.exceptions import WorkflowError

from routerlab.binary.tables import RUN_DIR
from routerlab.config_check import check_config
from routerlab.binary.routers import (
    is_probabilistic,
    is_seeded,
    is_trainable,
    required_features,
)
from routerlab.token.config import resolve as resolve_token_router_config

check_config(config)


def canonical(obj):
    """Key-sorted copy: Snakemake compares params as text, so key order must not matter."""
    return json.loads(json.dumps(obj, sort_keys=True))


# --- the one config getter: rules take their parameters from here, not from per-stage functions ---

_REQUIRED = object()


def config_slice(*keys, within=config, default=_REQUIRED):
    """The value at `keys` in the config (or in `within`, a resolved section), canonical().

    Keys naming wildcards, e.g. config_slice("models", "{model}", "gpus", default=0), give a
    function of a job's wildcards (for params, resources and input functions), as Snakemake's
    `lookup(dpath=..., within=config)` does; literal keys give the value itself. A missing key
    gives `default`, or fails naming the path. `within=None` is an absent section (KMODEL
    without a kmodel branch): every key is missing. Not `lookup` itself: its dpath search
    walks the whole config on every call (~2 ms each, +20% on a 1140-job dry run).
    """

    def value(names):
        node = {} if within is None else within
        for depth, name in enumerate(names):
            if not isinstance(node, dict) or name not in node:
                if default is _REQUIRED:
                    raise WorkflowError(
                        f"config: no key {'.'.join(names[: depth + 1])}"
                    )
                return canonical(default)
            node = node[name]
        return canonical(node)

    if any("{" in key for key in keys):

        def for_job(wildcards):
            return value([key.format(**wildcards) for key in keys])

        return for_job
    return value(keys)


DATASETS = sorted(config_slice("datasets"))
MODELS = sorted(config_slice("models"))
ROUTERS = sorted(config_slice("routers"))
TRAIN_SETS = sorted(config_slice("training", "sets"))
TEST_SETS = config_slice("evaluation", "test", default=DATASETS)
WEAK = config_slice("weak")
STRONG = config_slice("strong")
SEEDS = config_slice("training", "seeds")


# --- the results layout: every rule's inputs and outputs are built from these patterns ---

PATHS = {
    "data": "results/data/{dataset}.parquet",
    "model": "results/models/{model}",
    "generation_shard": "results/generations/{model}/{dataset}/shard{shard}-of{n}.parquet",
    "generations": "results/generations/{model}/{dataset}.parquet",
    "scores": "results/scores/{model}/{dataset}.parquet",
    "labels": "results/labels/{dataset}.parquet",
    "feature_shard": "results/feature_shards/{model}/{dataset}/shard{shard}-of{n}",
    "features": "results/features/{model}/{dataset}",
    "embeddings": "results/embeddings/{dataset}",
    "samples": "results/samples/{model}/{dataset}.parquet",
    "semantic_clusters": "results/semantic_clusters/{model}/{dataset}.parquet",
    "self_check": "results/self_check/{model}/{dataset}.parquet",
    # one router run: (router, train set, seed), tested on {test}
    "router": f"results/routers/{RUN_DIR}/router.joblib",
    "train_info": f"results/routers/{RUN_DIR}/train.json",
    "predictions": f"results/predictions/{RUN_DIR}/{{test}}.parquet",
    "thresholds": f"results/thresholds/{RUN_DIR}/{{test}}.json",
    "metrics": f"results/metrics/{RUN_DIR}/{{test}}.json",
    "curve": f"results/metrics/{RUN_DIR}/{{test}}.curve.parquet",
    # token-level router (token_router.smk)
    "token_continuations": "results/token_router/continuations/{dataset}.parquet",
    "token_dir": "results/token_router/tokens/{dataset}",
    "token_router": "results/token_router/router.pt",
    "token_router_info": "results/token_router/train.json",
    "token_predictions": "results/token_router/predictions.parquet",
    "token_thresholds": "results/token_router/thresholds.json",
    "token_curve": "results/token_router/curve.parquet",
    # K-model routing (kmodel.smk), per {source}
    "kmodel_outcomes": "results/kmodel/{source}/outcomes.parquet",
    "kmodel_queries": "results/kmodel/{source}/queries.parquet",
    "kmodel_features": "results/kmodel/{source}/features",
    "routereval": "results/kmodel/{source}/routereval_{difficulty}.json",
    "routereval_selections": "results/kmodel/{source}/routereval_{difficulty}.selections.parquet",
    "r2router_bundle": "results/kmodel/{source}/r2router/category_router",
    "r2router": "results/kmodel/{source}/r2router.json",
    # leaderboard.smk, per {source}
    "leaderboard_source": "results/leaderboard/{source}.json",
    "leaderboard_picks": "results/leaderboard/{source}.picks.parquet",
}


class _KeepWildcards(dict):
    def __missing__(self, key):
        return f"{{{key}}}"


def path(name, **wildcards):
    """PATHS[name] with the given wildcard values filled in; the others stay wildcards."""
    return PATHS[name].format_map(_KeepWildcards(wildcards))


# --- conda envs: a job that runs a model on a GPU gets the CUDA env, every other job the CPU one ---


def env_for(model):
    """The GPU env for a model run on a GPU (`gpus` > 0, or the vLLM engine), else the CPU env."""
    spec = config_slice("models", model) if model else {}
    if spec.get("gpus", 0) > 0 or spec.get("backend") == "vllm":
        return "../../envs/gpu.yaml"
    return "../../envs/cpu.yaml"


def model_env(wildcards):
    return env_for(wildcards.model)


def router_kind(router):
    return config_slice("routers", router, "kind", default=router)


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
    """The final tables and plots: the outputs of the rules that make them (rule all runs after
    every include, so `rules` is complete here)."""
    return (
        [
            rules.table_main.output.md,
            rules.table_xbench_main.output.md,
            rules.table_xbench_ablation_layers.output.md,
            rules.table_operating_points.output.md,
            rules.plot_call_performance.output[0],
            rules.plot_recovery.output[0],
            rules.plot_reliability.output[0],
        ]
        + token_router_targets()
        + kmodel_targets()
        + leaderboard_targets()
    )


# --- input functions and parameters with logic (defaults, fallbacks, merging) ---


def runtime_of(model):
    spec = config_slice("models", model)
    return canonical(
        {
            "backend": spec.get("backend", "transformers"),
            "dtype": spec.get("dtype", "auto"),
            "device": spec.get("device", "auto"),
            "options": spec.get("options", {}),
            "price": spec.get("price"),
        }
    )


def model_runtime(wildcards):
    return runtime_of(wildcards.model)


# resources: gpu= of the rules that run {model}
model_gpus = config_slice("models", "{model}", "gpus", default=0)


def judge_for(wildcards):
    """The judge's settings when it scores this dataset, else None (the task's verifier scores)."""
    judge = config_slice("judge", default=None)
    if not judge or wildcards.dataset not in judge["datasets"]:
        return None
    return canonical({**judge, "runtime": runtime_of(judge["model"])})


def score_inputs(wildcards):
    inputs = {
        "data": path("data", **wildcards),
        "generations": path("generations", **wildcards),
    }
    judge = judge_for(wildcards)
    if judge:
        inputs["judge_model"] = path("model", model=judge["model"])
    return inputs


def score_threads(wildcards):
    return 2 if judge_for(wildcards) else 1


def judge_env(wildcards):
    judge = judge_for(wildcards)
    return env_for(judge["model"] if judge else None)


def score_gpus(wildcards):
    judge = judge_for(wildcards)
    return config_slice("models", judge["model"], "gpus", default=0) if judge else 0


def router_entry(wildcards):
    kind = router_kind(wildcards.router)
    params = config_slice("routers", wildcards.router, "params", default={})
    if is_seeded(kind):
        params["seed"] = int(wildcards.seed)
    return canonical({"kind": kind, "params": params})


def router_specs():
    """Every router's kind and params (tables label variants with them)."""
    return canonical(
        {
            r: {
                "kind": router_kind(r),
                "params": config_slice("routers", r, "params", default={}),
            }
            for r in ROUTERS
        }
    )


def generation_shards(wildcards):
    n = config_slice("generation", "shards")
    return expand(
        path("generation_shard", model=wildcards.model, dataset=wildcards.dataset),
        shard=range(n),
        n=n,
    )


def feature_shards(wildcards):
    n = config_slice("features", "shards")
    return expand(
        path("feature_shard", model=wildcards.model, dataset=wildcards.dataset),
        shard=range(n),
        n=n,
    )


# the datasets of training set {train} (params, and the inputs of rule train)
train_members = config_slice("training", "sets", "{train}")


# Router input name (routerlab.routers.Router.requires) -> the files that hold it.
ROUTER_INPUTS = {
    "features": PATHS["features"],
    "embeddings": PATHS["embeddings"],
    "samples": PATHS["semantic_clusters"],
    "self_check": PATHS["self_check"],
    "data": PATHS["data"],
}
ACTIVATION_FEATURES = {"logits", "hidden_mean", "hidden_last"}


def _feature_inputs(datasets, router, fitting=False):
    kind = router_kind(router)
    inputs = {"labels": expand(path("labels"), dataset=datasets)}
    if fitting and not is_trainable(kind):
        return inputs  # training-free: nothing is read from the training split
    needs = required_features(
        kind, config_slice("routers", router, "params", default={})
    )
    if needs & ACTIVATION_FEATURES:
        needs = needs - ACTIVATION_FEATURES | {"features"}
    for need in sorted(needs):
        name = "data" if need == "texts" else need
        inputs[name] = expand(ROUTER_INPUTS[name], model=WEAK, dataset=datasets)
    return inputs


def train_inputs(wildcards):
    return _feature_inputs(train_members(wildcards), wildcards.router, fitting=True)


def predict_inputs(wildcards):
    inputs = _feature_inputs([wildcards.test], wildcards.router)
    inputs["router"] = path("router", **wildcards)
    return inputs


def evaluation_params():
    # not canonical() as a whole: this key order is the params text of existing results
    return {
        k: config_slice("evaluation", k)
        for k in ("grid", "lpm_band", "recovery_band", "mode", "bootstrap")
    }


def run_files(name, routers=None):
    """PATHS[name] ({router}, {train}, {seed}, {test}) for every run x train set x test set."""
    return [
        path(name, router=r, train=t, seed=s, test=x)
        for r, s in RUNS
        if routers is None or r in routers
        for t in TRAIN_SETS
        for x in TEST_SETS
    ]


def probabilistic_prediction_files():
    """Predictions of routers whose scores are probabilities (reliability diagram)."""
    routers = [r for r in ROUTERS if is_probabilistic(router_kind(r))]
    return run_files("predictions", routers)


# --- token-level router (R2R): built when the config has a `token_router` section ---

TOKEN_ROUTER = resolve_token_router_config(config) if "token_router" in config else None


def token_router_targets():
    if TOKEN_ROUTER is None:
        return []
    return [rules.token_router_table.output.md, rules.token_router_plot.output[0]]


def _token_router():
    if TOKEN_ROUTER is None:
        raise WorkflowError(
            "token router outputs need a `token_router` section in the config "
            "(see config/config.yaml and workflow/schemas/config.schema.yaml)"
        )
    return TOKEN_ROUTER


def _token_router_runtime(role):
    tr = _token_router()
    spec = config_slice("models", tr[role])
    batching = {k: tr[k] for k in ("token_budget", "max_batch_size")}
    return {
        "model": tr[role],
        "device": spec.get("device", "auto"),
        "dtype": spec.get("dtype", "auto"),
        "batching": batching,
    }


def token_router_model(role):
    def model_dir(wildcards):
        return path("model", model=_token_router()[role])

    return model_dir


def token_router_gpus(role):
    def gpus(wildcards):
        return config_slice("models", _token_router()[role], "gpus", default=0)

    return gpus


def token_router_env(role):
    def env(wildcards):
        return env_for(_token_router()[role])

    return env


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
    return expand(path("token_dir"), dataset=_token_router()["datasets"])


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
        *expand(rules.kmodel_table_routereval.output.md, difficulty=["easy", "hard"]),
        rules.kmodel_table_r2router.output.md,
        rules.kmodel_table_r2router.output.plot,
    ]


def _kmodel_source(wildcards):
    return KMODEL["sources"][wildcards.source]


def kmodel_outcome_inputs(wildcards):
    src = _kmodel_source(wildcards)
    if src["format"] != "pipeline":
        return {"files": src["files"]}
    return {
        "data": expand(path("data"), dataset=src["datasets"]),
        # models x datasets order: kmodel_outcomes.py pairs them the same way
        "scores": [
            path("scores", model=m, dataset=d)
            for m in src["models"]
            for d in src["datasets"]
        ],
        "generations": [
            path("generations", model=m, dataset=d)
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
    inputs = {"queries": path("kmodel_queries", **wildcards)}
    if src["features"] == "embeddings":
        inputs["embeddings"] = expand(path("embeddings"), dataset=src["datasets"])
    if src["features"] == "given":
        inputs["pickle"] = src["files"][0]
    return inputs


def kmodel_feature_spec(wildcards):
    src = _kmodel_source(wildcards)
    spec = {"mode": src["features"], "dim": KMODEL["feature_dim"]}
    if src["features"] == "embeddings":
        spec["datasets"] = src["datasets"]
    if src["features"] == "embedder":
        spec["embedder"] = config_slice("features", "embedder")
    return canonical(spec)


def kmodel_retrain_target(wildcards):
    return path("r2router_bundle", **wildcards)


def kmodel_bundle(wildcards):
    """A bundle named by config or $R2_CHECKPOINT_DIR is loaded as is; else the trained one."""
    external = resolve_checkpoint_dir(
        config_slice("r2router", "checkpoint_dir", within=KMODEL, default=None),
        wildcards.source,
    )
    return str(external) if external else kmodel_retrain_target(wildcards)


# --- leaderboard (leaderboard.smk) ---


LEADERBOARD = config.get("leaderboard", {})
LEADERBOARD_SOURCES = LEADERBOARD.get("sources") or KMODEL_SOURCES
for _key in ("sources", "pairs"):
    _unknown = sorted(set(LEADERBOARD.get(_key) or []) - set(KMODEL_SOURCES))
    if _unknown:
        raise WorkflowError(
            f"config key leaderboard.{_key}: {_unknown} are not kmodel sources "
            f"(known: {KMODEL_SOURCES or 'none: the config has no kmodel section'}); "
            "name a source of kmodel.imports, or 'pipeline' for kmodel.pool"
        )


def leaderboard_targets():
    if not (LEADERBOARD.get("sources") and KMODEL_SOURCES):
        return []
    return [rules.leaderboard_table.output.md, rules.reproduce_table.output.md]


def leaderboard_spec(wildcards):
    src = KMODEL["sources"][wildcards.source]
    spec = {k: v for k, v in LEADERBOARD.items() if k not in ("sources", "pairs")}
    spec["pair"] = LEADERBOARD.get("pairs", {}).get(wildcards.source)
    spec["format"] = src["format"]
    spec["prices"] = src.get("prices", {})
    return canonical(spec)
