"""Which imported queries train, validate and test: sources with roles.

An imported source (``kmodel.imports.<name>``) gets its splits one of three ways, resolved by
:mod:`routerlab.kmodel.config` into ``reading["split"]``:

- ``roles``: the files of each role are named (``train`` / ``validation`` / ``test`` globs), or
  read off the file names (``split: files``, and the default when the names mark both a train
  and a test file, as RouterDC's ``*_train`` / ``*_test`` files do). Each role is read on its
  own (:func:`~routerlab.kmodel.importers.read_source`) and the roles are joined: every role must
  score the same models; a query that is in an earlier role too (train before validation before
  test) is removed from the later one and counted (``meta["overlap_removed"]``), so no test query
  is trained on; a query with another id but a train query's exact prompt is kept and counted
  (``meta["prompt_in_train"]``; near duplicates are the leakage check's business). Without validation files, ``validation_fraction`` of each dataset's train
  queries (seeded shuffle, one random stream over the datasets in order, as RouterEval's split)
  become the validation split; 0 leaves it empty.
- ``random``: RouterEval's 80/10/10 split within each dataset
  (:func:`routerlab.kmodel.pools.assign_split`), except for files that carry their own complete
  splits (a RouterEval pickle, a long table's split column), which are kept.

From file names: a stem ending in ``train``/``training`` is train, ``val``/``valid``/
``validation``/``dev`` validation, ``test``/``eval`` test (after ``-``, ``_`` or ``.``); a file
whose name marks no role is a test-only set (RouterDC's out-of-distribution files, e.g.
``mbpp.json``, ``MATH_prealgebra.json``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from routerlab.kmodel.importers import read_source
from routerlab.kmodel.outcomes import OutcomeFormatError, Outcomes, finish_outcomes
from routerlab.kmodel.pools import assign_split

ROLES = ("train", "validation", "test")
DEFAULT_VALIDATION_FRACTION = 0.1
_ROLE_MARK = re.compile(r"(?:^|[-_.])(train|training|val|valid|validation|dev|test|eval)$", re.IGNORECASE)
_ROLE_OF_MARK = {"train": "train", "training": "train", "val": "validation", "valid": "validation",
                 "validation": "validation", "dev": "validation", "test": "test", "eval": "test"}
_SUFFIXES = (".json", ".jsonl", ".csv", ".parquet", ".pkl", ".gz")


def role_from_name(path: str | Path) -> str | None:
    """The role a file name marks (``gsm8k-train.json`` -> train), or None."""
    name = Path(path).name
    while name.lower().endswith(_SUFFIXES):
        name = name[: name.rfind(".")]
    m = _ROLE_MARK.search(name)
    return _ROLE_OF_MARK[m.group(1).lower()] if m else None


def roles_from_names(files: Sequence[str]) -> dict[str, list[str]]:
    """Files grouped by the role their names mark; unmarked files are test-only sets."""
    roles: dict[str, list[str]] = {r: [] for r in ROLES}
    for f in files:
        roles[role_from_name(f) or "test"].append(f)
    return roles


def names_mark_roles(files: Sequence[str]) -> bool:
    """True when the names mark both a train and a test file (the default ``split: auto`` then reads roles)."""
    marked = {role_from_name(f) for f in files}
    return "train" in marked and "test" in marked


def join_roles(parts: Mapping[str, Outcomes], files: Mapping[str, Sequence[str]]) -> Outcomes:
    """One outcome table from one table per role (see the module docstring)."""
    roles = [r for r in ROLES if r in parts]
    first = roles[0]
    where = {r: ", ".join(map(str, files[r])) for r in roles}
    for r in roles:
        if parts[r].pools:
            raise OutcomeFormatError(where[r], "a table with RouterEval pools keeps its own splits; give it as paths",
                                     field="pool")
        if parts[r].models != parts[first].models:
            extra = sorted(set(parts[r].models) ^ set(parts[first].models))
            raise OutcomeFormatError(where[r], f"the {r} files score models {parts[r].models}, the {first} files "
                                     f"{parts[first].models} (differ: {extra}); every role must score the same "
                                     "models", field="model")
    seen: set[str] = set()
    train_prompts = set(parts[first].queries["prompt"].astype(str))
    tables, queries, removed, same_text, meta_roles = [], [], {}, {}, {}
    for r in roles:
        q, t = parts[r].queries, parts[r].table
        given = q["split"].notna() & (q["split"] != r)
        if given.any():
            raise OutcomeFormatError(where[r], f"query {q['query_id'][given].iloc[0]!r} carries split "
                                     f"{q['split'][given].iloc[0]!r} in a {r} file", field="split")
        again = q["query_id"].isin(seen).to_numpy()
        if again.any():  # already in an earlier role: a test query must never be trained on
            removed[r] = int(again.sum())
            q = q[~again]
            t = t[t["query_id"].isin(q["query_id"])]
        seen.update(q["query_id"])
        if r != first:  # other ids, same text (RouterDC repeats a few questions in its train and test files)
            same_text[r] = int(q["prompt"].astype(str).isin(train_prompts).sum())
        queries.append(q.assign(split=r))
        tables.append(t)
        meta_roles[r] = {"files": list(map(str, files[r])), "queries": len(q), "read": parts[r].meta}
    meta = {"format": parts[first].meta.get("format"), "split": "roles", "roles": meta_roles,
            "overlap_removed": removed, "prompt_in_train": same_text}
    label = "; ".join(f"{r}: {where[r]}" for r in roles)
    return finish_outcomes(pd.concat(tables, ignore_index=True), pd.concat(queries, ignore_index=True), meta, label)


def carve_validation(queries: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, int]:
    """Move ``int(fraction * n)`` of each dataset's n train queries to validation (seeded shuffle)."""
    if not 0 <= fraction < 1:
        raise ValueError(f"validation_fraction must be in [0, 1), got {fraction}")
    q = queries.copy()
    rng = np.random.RandomState(seed)  # one stream over the datasets, as RouterEval's split
    moved = 0
    train = (q["split"] == "train").to_numpy()
    datasets = q["dataset"].astype(str).to_numpy()
    for d in dict.fromkeys(datasets[train]):
        idx = np.flatnonzero(train & (datasets == d))
        rng.shuffle(idx)
        take = idx[: int(fraction * len(idx))]
        q.iloc[take, q.columns.get_loc("split")] = "validation"
        moved += len(take)
    return q, moved


def read_import(fmt: str, reading: Mapping[str, Any], *, on_missing: str = "drop", seed: int = 42) -> Outcomes:
    """An imported source with its train / validation / test split, as ``reading`` (from
    :func:`routerlab.kmodel.config.resolve`) says: ``split`` (roles or random), ``roles``
    ({role: files}) or ``files``, ``validation_fraction`` and the importer options
    (``questions``, ``exclude_prompts``, ``split_column``)."""
    options = {k: reading[k] for k in ("questions", "exclude_prompts", "split_column") if reading.get(k)}
    if reading.get("split") != "roles":
        out = read_source(fmt, list(reading["files"]), on_missing=on_missing, **options)
        given = bool(out.queries["split"].notna().all())
        out.queries = assign_split(out.queries, seed)
        out.meta["split"] = "given by the files" if given else "random 80/10/10 within each dataset"
        return out
    files = {r: list(v) for r, v in reading["roles"].items() if v}
    for r in ("train", "test"):
        if r not in files:
            raise ValueError(f"no {r} files: a source with roles needs train and test files")
    out = join_roles({r: read_source(fmt, v, on_missing=on_missing, **options) for r, v in files.items()}, files)
    fraction = float(reading.get("validation_fraction", DEFAULT_VALIDATION_FRACTION))
    if "validation" not in files and fraction > 0:
        out.queries, moved = carve_validation(out.queries, fraction, seed)
        out.meta["validation_from_train"] = {"fraction": fraction, "seed": seed, "queries": moved}
    out.meta["roles_from"] = reading.get("roles_from", "config")
    return out


def summary(out: Outcomes) -> str:
    """One log line: the split sizes and everything an import removed or merged."""
    sizes = out.queries["split"].value_counts().reindex(list(ROLES), fill_value=0).to_dict()
    notes = [f"splits {sizes} ({out.meta.get('split')})"]
    if out.meta.get("overlap_removed"):
        notes.append(f"removed from later roles as already in an earlier one: {out.meta['overlap_removed']}")
    if any(out.meta.get("prompt_in_train", {}).values()):
        notes.append(f"kept, but their prompt text is also a {ROLES[0]} prompt: {out.meta['prompt_in_train']}")
    if out.meta.get("validation_from_train"):
        notes.append(f"validation carved from train: {out.meta['validation_from_train']}")
    reads = [out.meta] + [r["read"] for r in out.meta.get("roles", {}).values()]
    for m in reads:
        if m.get("decontamination", {}).get("listed_prompts"):
            notes.append(f"decontamination (RouteLLM's contaminated prompts): removed {m['decontamination']['removed']}")
        if m.get("dropped_missing"):
            notes.append(f"dropped {m['dropped_missing']} queries lacking a score for some model")
        if m.get("merged_repeats"):
            notes.append(f"merged {m['merged_repeats']} items read twice")
    return "; ".join(notes)
