"""Cross-reference checks the JSON schema cannot express; run at parse time by the Snakefile.

Each error names the config key and what is expected, before any job runs.
"""

from __future__ import annotations

from typing import Any

from routerlab.binary.routers import make_router
from routerlab.core.errors import ConfigError
from routerlab.lm.models import validate_spec


def check_config(config: dict[str, Any]) -> None:
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
    datasets = config["datasets"]
    for name, members in config.get("training", {}).get("sets", {}).items():
        for d in members:
            if d not in datasets:
                raise ConfigError(f"training.sets.{name}: dataset {d!r} is not a key of datasets ({sorted(datasets)})")
    for d in config.get("evaluation", {}).get("test", []):
        if d not in datasets:
            raise ConfigError(f"evaluation.test: dataset {d!r} is not a key of datasets ({sorted(datasets)})")
    for name, entry in config["routers"].items():
        try:
            make_router(entry.get("kind", name), **entry.get("params", {}))
        except ValueError as e:
            raise ConfigError(f"routers.{name}: {e}") from None
    judge = config.get("judge")
    if judge:
        if judge["model"] not in models:
            raise ConfigError(f"judge.model = {judge['model']!r}: not a key of models ({sorted(models)})")
        for d in judge.get("datasets", []):
            if d not in datasets:
                raise ConfigError(f"judge.datasets: dataset {d!r} is not a key of datasets ({sorted(datasets)})")
    equivalence = config.get("uncertainty", {}).get("equivalence", {})
    if equivalence.get("method") == "nli" and not equivalence.get("nli_model"):
        raise ConfigError("uncertainty.equivalence.method = 'nli' needs uncertainty.equivalence.nli_model (a hub id "
                          "such as microsoft/deberta-large-mnli, or a local directory); offline, use 'embedding'")
    splits = config.get("splits", {})
    total = sum(splits.values())
    if splits and abs(total - 1.0) > 1e-6:
        raise ConfigError(f"splits: fractions sum to {total}, expected 1.0")
