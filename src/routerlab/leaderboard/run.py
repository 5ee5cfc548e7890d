"""One source's leaderboard entry: both families, leakage and the source's published-number checks."""

from __future__ import annotations

import logging
import math
from dataclasses import asdict
from typing import Any, Mapping

import pandas as pd

from routerlab.kmodel.evaluate import Source
from routerlab.leaderboard.board import (
    binary_board,
    default_binary_routers,
    default_kmodel_routers,
    default_pair,
    kmodel_board,
)
from routerlab.leaderboard.leakage import leakage_report
from routerlab.leaderboard.reproduce import random_ep_check, routerarena_cost_checks

LEADERBOARD_VERSION = 1
log = logging.getLogger(__name__)


def _json_safe(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in df.to_dict("records")]


def evaluate_source(src: Source, spec: Mapping[str, Any]) -> tuple[dict[str, Any], pd.DataFrame]:
    """The leaderboard result of one source (JSON-ready) and the K-model routers' per-query picks.

    ``spec`` keys (all optional): ``routers`` (K-model routers, default every registered one),
    ``binary_routers`` (default: the query-only binary routers), ``pair`` ({weak, strong} or None for
    :func:`default_pair`; ``false`` switches the binary family off), ``n_boot``, ``n_boot_binary``,
    ``seed``, ``near_duplicate_threshold``, ``format`` and ``prices`` (for the source's checks).
    """
    routers = spec.get("routers") or default_kmodel_routers()
    binary_routers = spec.get("binary_routers")
    binary_routers = default_binary_routers() if binary_routers is None else binary_routers
    seed = int(spec.get("seed", 0))
    kboard, picks = kmodel_board(src, routers, n_boot=int(spec.get("n_boot", 1000)), seed=seed)
    boards = [kboard]
    pair = spec.get("pair")
    notes = []
    if pair is not False and len(src.outcomes.models) >= 2:
        weak, strong = (pair["weak"], pair["strong"]) if pair else default_pair(src)
        boards.append(binary_board(src, weak, strong, routers, binary_routers,
                                   n_boot=int(spec.get("n_boot_binary", 200)), seed=seed))
        notes.append(f"binary pair: weak {weak}, strong {strong}" + ("" if pair else " (chosen on train: "
                     "strong = best mean, weak = cheapest other model, else the lowest mean)"))
    q = src.outcomes.queries
    tr, te = src.positions("train"), src.positions("test")
    leak = leakage_report(q["prompt"].iloc[tr].tolist(), q["prompt"].iloc[te].tolist(),
                          threshold=float(spec.get("near_duplicate_threshold", 0.95)))
    if leak["exact"] or leak["near"]:
        log.warning("source %s: %d exact and %d near-duplicate test queries of %d also in train (similarity >= %g)",
                    src.name, leak["exact"], leak["near"], leak["n_test"], leak["threshold"])
    checks = [random_ep_check(src.name, src.outcomes)]
    if spec.get("format") == "routerarena":
        checks += routerarena_cost_checks(src.name, src.outcomes, spec.get("prices") or {})
    result = {"version": LEADERBOARD_VERSION, "source": src.name, "models": src.outcomes.models,
              "split": {s: int(src.positions(s).size) for s in ("train", "validation", "test")},
              "rows": [r for b in boards for r in _json_safe(b)], "leakage": leak, "notes": notes,
              "checks": [asdict(c) for c in checks]}
    return result, picks
