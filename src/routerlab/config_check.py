"""Cross-reference checks the JSON schema cannot express; run at parse time by the Snakefile.

Every value that can be checked without running a model is checked here, before any job runs:
models resolve, datasets resolve (catalog, keys, generator, format, local paths), routers are
built with their params (types from their signatures; the scikit-learn estimator behind a
router validates its own params), every split a stage reads is non-empty, and evaluation
values are in range. Each error is a ``ConfigError`` naming the key path and the fix.

Cheap by design: no data is read and scikit-learn is imported only when a config sets a
parameter that reaches one of its estimators.
"""

from __future__ import annotations

import importlib
import inspect
import types
import typing
from collections.abc import Mapping
from collections.abc import Mapping as MappingABC
from collections.abc import Sequence as SequenceABC
from typing import Any

from routerlab.binary.routers import ROUTERS as BINARY_ROUTERS
from routerlab.binary.routers import is_trainable, make_router
from routerlab.core.errors import ConfigError
from routerlab.datasets import DatasetError, check_fractions, check_spec
from routerlab.kmodel.routers import ROUTERS as KMODEL_ROUTERS
from routerlab.lm.models import validate_spec

PROMPT_OVERFLOW = ("reject", "truncate")

# Router param -> param of the scikit-learn estimator the router fits (router kind -> (module, class, mapping)).
# Validated by the estimator itself, so the bounds are scikit-learn's, not a copy of them.
SKLEARN_PARAMS: dict[str, tuple[str, str, dict[str, str]]] = {
    "mean_probe": ("sklearn.linear_model", "LogisticRegression", {"C": "C", "max_iter": "max_iter"}),
    "layer_probe": ("sklearn.linear_model", "LogisticRegression", {"C": "C", "max_iter": "max_iter"}),
    "embedding_mlp": ("sklearn.neural_network", "MLPClassifier",
                      {"hidden": "hidden_layer_sizes", "alpha": "alpha", "max_iter": "max_iter"}),
    "cluster": ("sklearn.cluster", "KMeans", {"n_clusters": "n_clusters"}),
}
# Hyper-parameters of the torch-trained routers that have an obvious domain (no estimator checks them).
POSITIVE_INT = {"epochs", "batch_size", "max_length", "min_steps", "patience", "k", "chunk", "n_clusters"}
POSITIVE = {"lr"}
NON_NEGATIVE = {"alpha", "weight_decay"}
FRACTION = {"dropout", "val_fraction"}


def check_config(config: dict[str, Any]) -> None:
    """Raise ``ConfigError`` for the first value that would fail (or silently mislead) a later job."""
    models = config["models"]
    for role in ("weak", "strong"):
        if config[role] not in models:
            raise ConfigError(f"{role} = {config[role]!r}: not a key of models ({sorted(models)})")
    for key, spec in models.items():
        if "/" in key or key.startswith("."):
            raise ConfigError(f"models.{key}: model names are path parts; use letters, digits, '-', '_', '.'")
        try:
            validate_spec(key, spec)
        except (ValueError, KeyError) as e:
            raise ConfigError(str(e)) from None
    if config["weak"] == config["strong"]:
        raise ConfigError(f"weak = strong = {config['weak']!r}: routing needs two different models; set `strong` to "
                          f"the expensive model (a key of models other than {config['weak']!r})")
    fractions = _check_datasets(config)
    datasets = config["datasets"]
    training = config.get("training", {})
    for name, members in training.get("sets", {}).items():
        for d in members:
            if d not in datasets:
                raise ConfigError(f"training.sets.{name}: dataset {d!r} is not a key of datasets ({sorted(datasets)})")
    test_sets = config.get("evaluation", {}).get("test", sorted(datasets))
    for d in test_sets:
        if d not in datasets:
            raise ConfigError(f"evaluation.test: dataset {d!r} is not a key of datasets ({sorted(datasets)})")
    seeds = training.get("seeds", [0])
    if not seeds:
        raise ConfigError("training.seeds = []: every router run is one (router, seed) pair, so an empty list runs "
                          "no router at all; give at least one seed, e.g. seeds: [0]")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"training.seeds = {seeds}: a seed is listed twice; list each seed once")
    for name, entry in config["routers"].items():
        kind = entry.get("kind", name)
        try:
            make_router(kind, **entry.get("params", {}))
        except ValueError as e:
            raise ConfigError(f"routers.{name}: {e}") from None
        check_router_params(f"routers.{name}", BINARY_ROUTERS.get_entry(kind), kind, entry.get("params", {}))
    _check_splits(config, fractions, test_sets)
    for name, entry in (config.get("kmodel") or {}).get("routers", {}).items():
        kind = entry.get("kind", name)
        if kind in KMODEL_ROUTERS:  # unknown kinds: kmodel.config.resolve names them
            check_router_params(f"kmodel.routers.{name}", KMODEL_ROUTERS[kind], kind, entry.get("params", {}))
    judge = config.get("judge")
    if judge:
        if judge["model"] not in models:
            raise ConfigError(f"judge.model = {judge['model']!r}: not a key of models ({sorted(models)})")
        for d in judge.get("datasets", []):
            if d not in datasets:
                raise ConfigError(f"judge.datasets: dataset {d!r} is not a key of datasets ({sorted(datasets)})")
        share = judge.get("max_unparsed_share", 0.2)
        if not _is_number(share) or not 0 <= share <= 1:
            raise ConfigError(f"judge.max_unparsed_share = {share!r}: a fraction in [0, 1] of judge replies without "
                              "a verdict above which scoring fails (default 0.2)")
    equivalence = config.get("uncertainty", {}).get("equivalence", {})
    if equivalence.get("method") == "nli" and not equivalence.get("nli_model"):
        raise ConfigError("uncertainty.equivalence.method = 'nli' needs uncertainty.equivalence.nli_model (a hub id "
                          "such as microsoft/deberta-large-mnli, or a local directory); offline, use 'embedding'")
    overflow = config.get("generation", {}).get("prompt_overflow", "reject")
    if overflow not in PROMPT_OVERFLOW:
        raise ConfigError(f"generation.prompt_overflow = {overflow!r}: expected one of {list(PROMPT_OVERFLOW)} "
                          "(reject: fail naming the over-long rows; truncate: keep each prompt's last tokens)")
    _check_evaluation(config.get("evaluation", {}))


def _check_datasets(config: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """Resolve every dataset spec as the download rule will; return each one's split fractions."""
    splits = config.get("splits")
    try:
        check_fractions(splits, where="splits")
    except DatasetError as e:
        raise ConfigError(str(e)) from None
    fractions = {}
    for name, spec in config["datasets"].items():
        try:
            fractions[name] = check_spec(name, spec, default_split=splits)["split"]
        except DatasetError as e:
            raise ConfigError(f"datasets.{name}: {e}") from None
    return fractions


def _check_splits(config: Mapping[str, Any], fractions: Mapping[str, Mapping[str, float]],
                  test_sets: list[str]) -> None:
    """Every split a stage reads holds rows: thresholds come from validation, metrics from test,
    trained routers from the train split of their training set."""
    for d in test_sets:
        for split in ("validation", "test"):
            if fractions[d][split] <= 0:
                where = f"datasets.{d}.split" if "split" in config["datasets"][d] else "splits"
                raise ConfigError(f"{where}: {d!r} is evaluated (evaluation.test) but its {split} fraction is 0: "
                                  f"operating points are chosen on validation and reported on test; give both a "
                                  f"fraction > 0, e.g. {{train: 0.5, validation: 0.2, test: 0.3}}")
    trained = [r for r, e in config["routers"].items() if is_trainable(e.get("kind", r))]
    for name, members in config.get("training", {}).get("sets", {}).items():
        if trained and all(fractions[d]["train"] <= 0 for d in members):
            raise ConfigError(f"training.sets.{name}: no member has a train split (train fraction 0 in {members}), so "
                              f"the trained routers {trained} would learn from nothing; give a member a train "
                              "fraction > 0 (`splits` or datasets.<name>.split)")


def _check_evaluation(evaluation: Mapping[str, Any]) -> None:
    for t in evaluation.get("recall_targets", []):
        if not _is_number(t) or not 0 < t <= 1:
            raise ConfigError(f"evaluation.recall_targets: {t!r} is not a recall in (0, 1]; e.g. [0.8, 0.9, 0.95]")
    for key in ("budgets", "call_rates"):
        for b in evaluation.get(key, []):
            if not _is_number(b) or not 0 <= b <= 1:
                raise ConfigError(f"evaluation.{key}: {b!r} is not a call rate in [0, 1]; e.g. [0.1, 0.2, 0.3, 0.5]")
    for key in ("lpm_band", "recovery_band"):
        band = evaluation.get(key)
        if band is None:
            continue
        if len(band) != 2 or not all(_is_number(v) and 0 <= v <= 1 for v in band):
            raise ConfigError(f"evaluation.{key} = {band!r}: expected [low, high] with values in [0, 1]")
        if band[0] > band[1]:
            raise ConfigError(f"evaluation.{key} = {list(band)}: low > high; write it as [{band[1]}, {band[0]}]")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_router_params(where: str, cls: type, kind: str, params: Mapping[str, Any]) -> None:
    """Each param against the type in the router's signature, its domain, and its estimator's own validation."""
    hints = _init_hints(cls)
    for key, value in params.items():
        hint = hints.get(key)
        if hint is not None and not _matches(value, hint):
            raise ConfigError(f"{where}.params.{key} = {value!r}: expected {_describe(hint)} "
                              f"({cls.__name__}.__init__)")
        if _is_number(value):
            bad = ((key in POSITIVE_INT and value < 1 and "an integer >= 1")
                   or (key in POSITIVE and value <= 0 and "a number > 0")
                   or (key in NON_NEGATIVE and value < 0 and "a number >= 0")
                   or (key in FRACTION and not 0 <= value < 1 and "a fraction in [0, 1)"))
            if bad:
                raise ConfigError(f"{where}.params.{key} = {value!r}: expected {bad}")
    if kind in SKLEARN_PARAMS and set(params) & set(SKLEARN_PARAMS[kind][2]):
        _check_estimator_params(where, kind, params)


def _check_estimator_params(where: str, kind: str, params: Mapping[str, Any]) -> None:
    module, name, mapping = SKLEARN_PARAMS[kind]
    # lazy: scikit-learn costs ~1.5 s of every parse; only a config that sets one of these params pays it
    estimator_cls = getattr(importlib.import_module(module), name)
    for key, target in mapping.items():
        if key not in params:
            continue
        value = tuple(params[key]) if target == "hidden_layer_sizes" and isinstance(params[key], list) else params[key]
        estimator = estimator_cls(**{target: value})
        try:
            estimator._validate_params()  # scikit-learn's own parameter constraints (what fit() runs first)
        except (ValueError, TypeError) as e:
            raise ConfigError(f"{where}.params.{key} = {params[key]!r}: rejected by {name} ({target}): {e}") from None


def _init_hints(cls: type) -> dict[str, Any]:
    try:
        hints = typing.get_type_hints(cls.__init__)
    except (NameError, TypeError, AttributeError):  # an annotation that does not evaluate: no type check, the other checks still run
        return {}
    names = inspect.signature(cls.__init__).parameters
    return {k: v for k, v in hints.items() if k in names and k != "return"}


def _matches(value: Any, hint: Any) -> bool:
    """Whether a YAML value fits a signature annotation (int accepted for float, bool never for numbers)."""
    if hint is Any or hint is object:
        return True
    if hint is type(None) or hint is None:
        return value is None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arm) for arm in typing.get_args(hint))
    if hint is float:
        return _is_number(value)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint in (str, bool):
        return isinstance(value, hint)
    if origin is not None and isinstance(origin, type) and issubclass(origin, MappingABC):
        return isinstance(value, MappingABC)
    if origin is not None and isinstance(origin, type) and issubclass(origin, SequenceABC):
        args = typing.get_args(hint)
        return isinstance(value, (list, tuple)) and all(_matches(v, args[0]) for v in value) if args else \
            isinstance(value, (list, tuple))
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # an annotation this checker does not model


def _describe(hint: Any) -> str:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if hint is float:
        return "a number"
    if hint is int:
        return "an integer"
    if hint is str:
        return "a string"
    if hint is bool:
        return "true or false"
    origin = typing.get_origin(hint)
    if origin is not None and isinstance(origin, type) and issubclass(origin, SequenceABC):
        args = typing.get_args(hint)
        plural = {int: "integers", float: "numbers", str: "strings", bool: "booleans"}
        return f"a list of {plural.get(args[0], _describe(args[0]))}" if args else "a list"
    if origin is not None and isinstance(origin, type) and issubclass(origin, MappingABC):
        return "a mapping"
    return getattr(hint, "__name__", str(hint))
