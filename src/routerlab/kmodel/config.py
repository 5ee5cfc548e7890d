"""The ``kmodel`` config section, resolved into outcome sources and checked at parse time.

Sources: ``pipeline`` (the models of ``kmodel.pool``, run by our generate + score rules)
and each entry of ``kmodel.imports`` (a published outcome table). An import names its files
either as ``paths`` (split as ``split`` says: ``auto``, ``random`` or ``files``) or by role
(``train`` / ``validation`` / ``test``); see :mod:`routerlab.kmodel.importers_roles`. Relative
paths start at ``kmodel.data_root`` (default: the working directory; ``~`` and ``$VARS``
expand), so one key repoints every source, e.g. ``--config 'kmodel={data_root: /data}'``.
Every error names the config key and the fix, before any job runs.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from routerlab.core.errors import ConfigError
from routerlab.kmodel.features import FEATURE_MODES
from routerlab.kmodel.importers import FORMATS
from routerlab.kmodel.importers_roles import (
    DEFAULT_VALIDATION_FRACTION,
    ROLES,
    names_mark_roles,
    roles_from_names,
)
from routerlab.kmodel.pools import DIFFICULTIES, GROUPS
from routerlab.kmodel.routers import make_router

PIPELINE = "pipeline"

# Where the public files of each importable format come from (named when a path matches nothing).
PUBLIC_FILES = {
    "routerbench": "RouterBench 0-shot as split by RouterDC: datasets/routerbench_zs/*.csv in "
                   "https://github.com/shuhao02/RouterDC",
    "routerdc": "datasets/split2_model7/*.json in https://github.com/shuhao02/RouterDC",
    "routerarena": "cached_results/<model>.jsonl in https://github.com/RouteWorks/RouterArena",
    "routereval": "router_dataset/<benchmark>_router_dataset.pkl, linked from the Data Download section of "
                  "https://github.com/MilkThink-Lab/RouterEval",
    "routellm": "routellm/evals/mmlu/responses/mmlu_*.csv, gsm8k/gsm8k_responses.csv, mt_bench/judgements.jsonl "
                "(+ mt_bench/question.jsonl as questions, */contaminated_prompts.jsonl as exclude_prompts) in "
                "https://github.com/lm-sys/RouteLLM",
}
SPLIT_MODES = ("auto", "random", "files")


def _data_root(kcfg: Mapping[str, Any]) -> str:
    root = kcfg.get("data_root") or ""
    expanded = os.path.expandvars(os.path.expanduser(str(root)))
    if "$" in expanded:
        raise ConfigError(f"kmodel.data_root: {root!r} names an unset environment variable; set it or give a folder")
    return expanded


def _glob(key: str, patterns: Sequence[str], fmt: str, root: str) -> list[str]:
    """Files matching ``patterns`` (relative ones start at ``root``), in order, each once."""
    files: list[str] = []
    for pattern in patterns:
        full = os.path.expandvars(os.path.expanduser(str(pattern)))
        if root and not os.path.isabs(full):
            full = os.path.join(root, full)
        hits = sorted(glob.glob(full))
        if not hits:
            where = f"; the public files: {PUBLIC_FILES[fmt]}" if fmt in PUBLIC_FILES else ""
            start = f"kmodel.data_root ({root})" if root else f"the working directory: {Path.cwd()}"
            raise ConfigError(f"{key}: {pattern!r} matches no file; download the {fmt} outcome files "
                              f"or point it at your copy (relative paths start at {start}){where}")
        files += [h for h in hits if h not in files]
    return files


def _reading(key: str, spec: Mapping[str, Any], fmt: str, root: str) -> dict[str, Any]:
    """How the kmodel_outcomes rule reads an import: its files, their roles and the importer options."""
    by_role = {r: spec[r] for r in ROLES if spec.get(r)}
    paths = list(spec.get("paths") or [])
    split = spec.get("split", "auto")
    if split not in SPLIT_MODES:
        raise ConfigError(f"{key}.split: {split!r}, expected one of {list(SPLIT_MODES)}")
    if by_role and paths:
        raise ConfigError(f"{key}: give either paths (split as `split` says) or train/validation/test files, not both")
    if not by_role and not paths:
        raise ConfigError(f"{key}.paths: no files given (or name train and test files)")
    if by_role:
        if split == "random":
            raise ConfigError(f"{key}.split: 'random' re-splits every query; it cannot go with train/validation/test "
                              "files")
        roles, roles_from = {r: _glob(f"{key}.{r}", v, fmt, root) for r, v in by_role.items()}, "config"
    else:
        files = _glob(f"{key}.paths", paths, fmt, root)
        by_name = split == "files" or (split == "auto" and fmt not in ("routereval", "long") and names_mark_roles(files))
        roles, roles_from = (roles_from_names(files), "file names") if by_name else (None, None)
    if roles is not None:
        if fmt == "routereval":
            raise ConfigError(f"{key}: RouterEval pickles keep their own splits and pools; give them as paths with "
                              "split: auto")
        lacking = [r for r in ("train", "test") if not roles.get(r)]
        if lacking:
            raise ConfigError(f"{key}: no {' or '.join(lacking)} files (roles from {roles_from}: "
                              f"{ {r: len(v) for r, v in roles.items()} }); name them under "
                              f"{'/'.join(lacking)} or set split: random")
        role_of: dict[str, str] = {}
        for r, fs in roles.items():
            for f in fs:
                if role_of.setdefault(f, r) != r:
                    raise ConfigError(f"{key}: {f} is listed as {role_of[f]} and as {r}; one role per file")
        files = list(role_of)
    fraction = spec.get("validation_fraction", DEFAULT_VALIDATION_FRACTION)
    if not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
        raise ConfigError(f"{key}.validation_fraction: {fraction!r}, expected a number in [0, 1)")
    for option, allowed in (("questions", "routellm"), ("exclude_prompts", "routellm"), ("split_column", "long")):
        if spec.get(option) and fmt != allowed:
            raise ConfigError(f"{key}.{option}: only for format {allowed!r}, the format is {fmt!r}")
    return {"split": "roles" if roles is not None else "random", "files": files, "roles": roles,
            "roles_from": roles_from, "validation_fraction": fraction,
            "questions": _glob(f"{key}.questions", spec.get("questions") or [], fmt, root),
            "exclude_prompts": _glob(f"{key}.exclude_prompts", spec.get("exclude_prompts") or [], fmt, root),
            "split_column": spec.get("split_column")}


def _prices(kcfg: Mapping[str, Any], config: Mapping[str, Any], extra: Mapping[str, Any] | None = None
            ) -> dict[str, Any]:
    """USD per 1M tokens: kmodel.prices, then a source's own prices; models.<m>.price fill gaps."""
    out = {m: dict(spec["price"]) for m, spec in config.get("models", {}).items() if spec.get("price")}
    out.update({m: dict(v) for m, v in kcfg.get("prices", {}).items()})
    out.update({m: dict(v) for m, v in (extra or {}).items()})
    return out


def resolve(config: Mapping[str, Any]) -> dict[str, Any] | None:
    """Sources and settings of the K-model branch; None when the config has no ``kmodel`` section."""
    kcfg = config.get("kmodel")
    if kcfg is None:
        return None
    sources: dict[str, dict[str, Any]] = {}
    pool = list(kcfg.get("pool", []))
    if pool:
        for m in pool:
            if m not in config["models"]:
                raise ConfigError(f"kmodel.pool: model {m!r} is not a key of models ({sorted(config['models'])})")
        datasets = list(kcfg.get("datasets") or sorted(config["datasets"]))
        for d in datasets:
            if d not in config["datasets"]:
                raise ConfigError(f"kmodel.datasets: dataset {d!r} is not a key of datasets "
                                  f"({sorted(config['datasets'])})")
        prices = _prices(kcfg, config)
        unpriced = [m for m in pool if m not in prices]
        if unpriced:
            raise ConfigError(f"kmodel.prices: no price for pool model(s) {unpriced}; give "
                              "{input: USD per 1M tokens, output: ...} (costs are never assumed to be $0)")
        mode = kcfg.get("features", "embeddings")
        sources[PIPELINE] = {"format": "pipeline", "models": sorted(pool), "datasets": datasets,
                             "prices": {m: prices[m] for m in sorted(pool)}, "features": mode,
                             "on_missing": kcfg.get("on_missing", "drop")}
    root = _data_root(kcfg)
    for name, spec in kcfg.get("imports", {}).items():
        key = f"kmodel.imports.{name}"
        if name == PIPELINE or "/" in name:
            raise ConfigError(f"{key}: name reserved or not a path part; choose another name")
        fmt = spec.get("format")
        if fmt not in FORMATS or fmt is None:
            raise ConfigError(f"{key}.format: {fmt!r}, expected one of {list(FORMATS)}")
        reading = _reading(key, spec, fmt, root)
        mode = spec.get("features", "given" if fmt == "routereval" else "tfidf")
        if mode not in FEATURE_MODES or mode == "embeddings":
            raise ConfigError(f"{key}.features: {mode!r}; imported tables use tfidf, embedder or (RouterEval) given")
        if mode == "given" and fmt != "routereval":
            raise ConfigError(f"{key}.features: 'given' reads a RouterEval pickle's embeddings; format is {fmt!r}")
        prices = _prices(kcfg, config, spec.get("prices"))
        # files: every input of the kmodel_outcomes rule (outcome files first: a RouterEval pickle is files[0])
        sources[name] = {"format": fmt, "files": reading["files"] + reading["questions"] + reading["exclude_prompts"],
                         "reading": reading, "features": mode, "prices": prices,
                         "on_missing": spec.get("on_missing", "drop")}
    routers = dict(kcfg.get("routers", {}))
    for name, entry in routers.items():
        try:
            make_router(entry.get("kind", name), **entry.get("params", {}))
        except ValueError as e:
            raise ConfigError(f"kmodel.routers.{name}: {e}") from None
    pools = {d: list(kcfg.get("pools", {}).get(d, DIFFICULTIES[d])) for d in DIFFICULTIES}
    groups = list(kcfg.get("groups", GROUPS))
    bad = [g for g in groups if g not in GROUPS]
    if bad:
        raise ConfigError(f"kmodel.groups: {bad}, expected a subset of {list(GROUPS)}")
    r2 = dict(kcfg.get("r2router", {}))
    from routerlab.kmodel.r2router import R2Router  # lazy: it imports sklearn (~1.5 s on every Snakefile parse)

    try:
        R2Router(**r2.get("params", {}))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"kmodel.r2router.params: {e}") from None
    return {"sources": sources, "routers": routers, "pools": pools, "groups": groups,
            "split_seed": kcfg.get("split_seed", 42), "r2router": r2, "arena_beta": kcfg.get("arena_beta", 0.1),
            "reference": kcfg.get("reference"), "feature_dim": kcfg.get("feature_dim", 256)}
