"""RouterEval candidate pools: sizes per difficulty, three candidate groups, the 80/10/10 split.

The leaderboard ranks the source's models by mean score over the train and validation
queries only (candidate groups must be chosen without the test split, docs/metrics.md §2);
ties go to the model name. From it, a pool of M candidates is

- ``all_strong``: the M best models;
- ``all_weak``: the M worst;
- ``strong_to_weak``: M models at evenly spaced ranks from best to worst
  (``round(linspace(0, L - 1, M))`` over the L ranked models).

A pool larger than the source's model count is skipped with a note, never padded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from routerlab.kmodel.metrics import routereval_benchmark, routereval_split

DIFFICULTIES: dict[str, tuple[int, ...]] = {"easy": (3, 5), "hard": (10, 100, 1000)}
GROUPS = ("all_strong", "all_weak", "strong_to_weak")


@dataclass(frozen=True)
class Pool:
    """One candidate pool: ``name`` like ``easy/3/all_strong`` and its models (leaderboard order)."""

    difficulty: str
    size: int
    group: str
    models: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.difficulty}/{self.size}/{self.group}"


def assign_split(queries: pd.DataFrame, seed: int = 42) -> pd.DataFrame:
    """RouterEval's split within each dataset (sub-benchmark): shuffle, 80/10/10 (``routereval_split``).

    One random stream, seeded once, runs through the datasets in the queries' order, one
    shuffle each, as RouterEval's ``get_router_dataset.py`` does; the stream is re-seeded per
    RouterEval benchmark (``routereval_benchmark``: ``bbh_navigate`` -> ``bbh``), as RouterEval
    runs its script once per benchmark, and datasets that are no RouterEval benchmark share one
    stream. Queries that already carry a split (a RouterEval pickle) keep it; a table with some
    rows split and some not is an error.
    """
    q = queries.copy()
    given = q["split"].notna()
    if given.all():
        return q
    if given.any():
        raise ValueError(f"{int(given.sum())} of {len(q)} queries carry a split and the rest do not; "
                         "give every query a split or none")
    datasets = q["dataset"].astype(str).to_numpy()
    bench_of = {d: routereval_benchmark(d) or "" for d in set(datasets.tolist())}
    benchmarks = np.array([bench_of[d] for d in datasets], dtype=object)
    tr, va, te = routereval_split(len(q), seed, groups=datasets, benchmarks=benchmarks)
    split = np.empty(len(q), dtype=object)
    split[tr], split[va], split[te] = "train", "validation", "test"
    q["split"] = split
    return q


def leaderboard(Y: np.ndarray, models: Sequence[str]) -> pd.DataFrame:
    """Models ranked by mean score over the rows of ``Y`` (train + validation), ties by name."""
    Y = np.asarray(Y, dtype=float)
    if Y.ndim != 2 or Y.shape[1] != len(models):
        raise ValueError(f"Y has shape {Y.shape}, expected [n_queries, {len(models)} models]")
    if Y.shape[0] == 0:
        raise ValueError("no train/validation queries to rank the models on")
    board = pd.DataFrame({"model": list(models), "mean": Y.mean(axis=0)})
    board = board.sort_values(["mean", "model"], ascending=[False, True], kind="stable").reset_index(drop=True)
    board["rank"] = np.arange(1, len(board) + 1)
    return board


def select_pool(ranked: Sequence[str], size: int, group: str) -> tuple[str, ...]:
    """The ``size`` models of ``group`` from models ranked best first."""
    L = len(ranked)
    if size < 1:
        raise ValueError(f"pool size must be >= 1, got {size}")
    if size > L:
        raise ValueError(f"a pool of {size} needs {size} models, the source has {L}")
    if group == "all_strong":
        idx = np.arange(size)
    elif group == "all_weak":
        idx = np.arange(L - size, L)
    elif group == "strong_to_weak":
        idx = np.rint(np.linspace(0, L - 1, size)).astype(int)
    else:
        raise ValueError(f"unknown candidate group {group!r}; expected one of {list(GROUPS)}")
    return tuple(ranked[i] for i in idx)


def pools_for(ranked: Sequence[str], difficulty: str, sizes: Sequence[int] | None = None,
              groups: Sequence[str] = GROUPS) -> tuple[list[Pool], list[str]]:
    """Pools of one difficulty and notes for the sizes that cannot be built from ``ranked``."""
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"unknown difficulty {difficulty!r}; expected one of {list(DIFFICULTIES)}")
    pools, notes = [], []
    for size in sizes if sizes is not None else DIFFICULTIES[difficulty]:
        if size > len(ranked):
            notes.append(f"{difficulty}-{size} skipped: it needs {size} candidate models, the source has {len(ranked)}")
            continue
        if size == len(ranked):
            notes.append(f"{difficulty}-{size}: the source has exactly {size} models, so the three groups coincide")
        pools += [Pool(difficulty, int(size), g, select_pool(ranked, size, g)) for g in groups]
    return pools, notes


def given_pools(pool_names: Sequence[str], models_of: Mapping[str, Sequence[str]], difficulty: str,
                sizes: Sequence[int] | None = None, groups: Sequence[str] = GROUPS) -> tuple[list[Pool], list[str]]:
    """Pools a RouterEval pickle defines (``easy/3/all_strong`` ...), filtered to one difficulty."""
    wanted = set(sizes if sizes is not None else DIFFICULTIES[difficulty])
    pools, seen = [], set()
    for name in pool_names:
        d, s, g = name.split("/")
        if d == difficulty and int(s) in wanted and g in groups:
            pools.append(Pool(d, int(s), g, tuple(models_of[name])))
            seen.add(int(s))
    notes = [f"{difficulty}-{s} skipped: the file defines no such pool" for s in sorted(wanted - seen)]
    return pools, notes


def describe(pools: Sequence[Pool]) -> list[dict[str, Any]]:
    return [{"pool": p.name, "difficulty": p.difficulty, "size": p.size, "group": p.group, "models": list(p.models)}
            for p in pools]
