"""The token-router section of the config, defaulted and cross-checked at parse time."""

from __future__ import annotations

from typing import Any, Mapping

from routerlab.core.errors import ConfigError


def resolve(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``token_router`` section with weak/strong defaulted to the top-level pair, cross-checked.

    Errors name the key; run at parse time (workflow/rules/common.smk).
    """
    tr = dict(config["token_router"])
    tr.setdefault("weak", config["weak"])
    tr.setdefault("strong", config["strong"])
    for role in ("weak", "strong"):
        if tr[role] not in config["models"]:
            raise ConfigError(f"token_router.{role} = {tr[role]!r}: not a key of models ({sorted(config['models'])})")
    for d in tr["datasets"]:
        if d not in config["datasets"]:
            raise ConfigError(f"token_router.datasets: {d!r} is not a key of datasets ({sorted(config['datasets'])})")
    if tr.get("label") == "meaningful" and not tr.get("meaningful", {}).get("enabled"):
        raise ConfigError("token_router.label = meaningful needs token_router.meaningful.enabled: true")
    return tr
