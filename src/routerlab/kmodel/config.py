"""The ``kmodel`` config section, resolved into outcome sources and checked at parse time.

Sources: ``pipeline`` (the models of ``kmodel.pool``, run by our generate + score rules)
and each entry of ``kmodel.imports`` (a published outcome table). Every error names the
config key and the fix, before any job runs.
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any, Mapping

from routerlab.core.errors import ConfigError
from routerlab.kmodel.features import FEATURE_MODES
from routerlab.kmodel.importers import FORMATS
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
}


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
    for name, spec in kcfg.get("imports", {}).items():
        key = f"kmodel.imports.{name}"
        if name == PIPELINE or "/" in name:
            raise ConfigError(f"{key}: name reserved or not a path part; choose another name")
        fmt = spec.get("format")
        if fmt not in FORMATS or fmt is None:
            raise ConfigError(f"{key}.format: {fmt!r}, expected one of {list(FORMATS)}")
        files: list[str] = []
        for pattern in spec.get("paths", []):
            hits = sorted(glob.glob(str(Path(pattern).expanduser())))
            if not hits:
                where = f"; the public files: {PUBLIC_FILES[fmt]}" if fmt in PUBLIC_FILES else ""
                raise ConfigError(f"{key}.paths: {pattern!r} matches no file; download the {fmt} outcome files "
                                  f"or point it at your copy (relative paths start at the working directory: "
                                  f"{Path.cwd()}){where}")
            files += hits
        if not files:
            raise ConfigError(f"{key}.paths: no files given")
        mode = spec.get("features", "given" if fmt == "routereval" else "tfidf")
        if mode not in FEATURE_MODES or mode == "embeddings":
            raise ConfigError(f"{key}.features: {mode!r}; imported tables use tfidf, embedder or (RouterEval) given")
        if mode == "given" and fmt != "routereval":
            raise ConfigError(f"{key}.features: 'given' reads a RouterEval pickle's embeddings; format is {fmt!r}")
        prices = _prices(kcfg, config, spec.get("prices"))
        sources[name] = {"format": fmt, "files": files, "features": mode, "prices": prices,
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
