"""The normalised schema, deterministic hashing, splits and row validation."""

from __future__ import annotations

import hashlib
import json
import logging
import string
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

log = logging.getLogger("routerlab.datasets")

SCHEMA_VERSION = 1
COLUMNS: list[str] = ["id", "prompt", "task", "reference", "choices", "split", "source", "meta"]
TASKS: tuple[str, ...] = ("math", "mc", "qa", "code", "open")
SPLITS: tuple[str, ...] = ("train", "validation", "test")
DEFAULT_FRACTIONS: dict[str, float] = {"train": 0.6, "validation": 0.2, "test": 0.2}
LETTERS = string.ascii_uppercase
# tasks whose rows cannot be scored without a reference
NEEDS_REFERENCE = ("math", "mc", "qa", "code")


class DatasetError(ValueError):
    """Bad dataset spec or bad data; the message names the dataset, file and rows."""


class DatasetUnavailableError(RuntimeError):
    """The data could not be fetched (hub offline, URL unreachable, package missing)."""


def unit_hash(*parts: Any) -> float:
    """A uniform number in [0, 1) from sha256 of the parts joined by ':' (stable everywhere)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def check_fractions(fractions: Mapping[str, float] | None, where: str = "split") -> dict[str, float]:
    if fractions is None:
        return dict(DEFAULT_FRACTIONS)
    if not isinstance(fractions, Mapping):
        raise DatasetError(f"{where}: expected a mapping like {DEFAULT_FRACTIONS}, got {fractions!r}")
    unknown = sorted(set(fractions) - set(SPLITS))
    if unknown:
        raise DatasetError(f"{where}: unknown split name(s) {unknown}; valid names: {list(SPLITS)}")
    out = {}
    for k in SPLITS:
        v = fractions.get(k, 0.0)
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise DatasetError(f"{where}.{k}: fraction must be a number, got {v!r}") from None
        if not 0.0 <= v <= 1.0:
            raise DatasetError(f"{where}.{k}: fraction must be in [0, 1], got {v}")
        out[k] = v
    total = sum(out.values())
    if abs(total - 1.0) > 1e-6:
        raise DatasetError(f"{where}: fractions {out} sum to {total:g}, not 1; adjust them so they add up to 1")
    return out


def assign_splits(ids: Iterable[str], fractions: Mapping[str, float] | None = None, seed: int = 0) -> list[str]:
    """Split name for each id from sha256(f"{seed}:{id}") — independent of the other rows.

    A row keeps its split when rows are added, dropped or reordered, on every machine.
    """
    fr = check_fractions(fractions)
    bounds = []
    acc = 0.0
    for k in SPLITS:
        acc += fr[k]
        bounds.append((acc, k))
    last = [k for k in SPLITS if fr[k] > 0][-1]
    out = []
    for i in ids:
        u = unit_hash(seed, i)
        for b, k in bounds:
            if u < b and fr[k] > 0:
                out.append(k)
                break
        else:  # rounding at the top end
            out.append(last)
    return out


def shuffled_order(ids: Sequence[str], seed: int) -> list[int]:
    """Positions of ``ids`` in a seeded order that depends only on each id (not on the others)."""
    keys = [unit_hash(seed, "order", i) for i in ids]
    return sorted(range(len(ids)), key=lambda j: (keys[j], ids[j]))


def letter(i: int) -> str:
    return LETTERS[i]


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows (dicts with every column; meta as dict) → the normalised DataFrame."""
    data = {c: [] for c in COLUMNS}
    for r in rows:
        for c in COLUMNS:
            v = r.get(c)
            if c == "meta":
                v = json.dumps(v or {}, sort_keys=True, ensure_ascii=False, default=str)
            elif c == "choices":
                v = [str(x) for x in (v or [])]
            data[c].append(v)
    df = pd.DataFrame(data, columns=list(COLUMNS))
    for c in ("id", "prompt", "task", "reference", "split", "source", "meta"):
        df[c] = df[c].astype(object)
    return df


def check_unique_ids(ids: Sequence[str], name: str) -> None:
    seen: dict[str, int] = {}
    dups: list[str] = []
    for i in ids:
        seen[i] = seen.get(i, 0) + 1
        if seen[i] == 2:
            dups.append(i)
    if dups:
        shown = ", ".join(repr(d) for d in dups[:10])
        more = f" and {len(dups) - 10} more" if len(dups) > 10 else ""
        raise DatasetError(
            f"dataset {name!r}: duplicate ids {shown}{more} ({len(dups)} ids occur more than once); "
            "ids must be unique: fix the id field in the source, drop the repeated rows, or (generic format) "
            "leave `columns.id` unset so ids are generated from the row number"
        )


def validate_schema(df: pd.DataFrame, name: str = "?") -> None:
    """Check a normalised table (e.g. one read back from parquet)."""
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise DatasetError(f"dataset {name!r}: missing columns {missing}; expected {list(COLUMNS)} "
                           f"(schema version {SCHEMA_VERSION}); re-run the download rule")
    bad_task = sorted(set(df["task"]) - set(TASKS))
    if bad_task:
        raise DatasetError(f"dataset {name!r}: unknown task(s) {bad_task}; valid: {list(TASKS)}")
    bad_split = sorted(set(df["split"]) - set(SPLITS))
    if bad_split:
        raise DatasetError(f"dataset {name!r}: unknown split(s) {bad_split}; valid: {list(SPLITS)}")
    check_unique_ids(df["id"].tolist(), name)
