"""Datasets in one normalised schema (DAG step 1, ``results/data/{dataset}.parquet``).

``load_dataset(name, spec)`` reads a dataset from a local file, a URL, the Hugging Face
hub, a package that ships data, or a built-in generator, parses it in its original
format and returns one DataFrame with the columns ``COLUMNS`` (schema ``SCHEMA_VERSION``):

=========  ==================================================================
id         unique, stable: the source's own id (task_id, question_id, id), else
           ``<name>-<row>`` (``<name>-<file stem>-<row>`` for a directory)
prompt     the question / instruction, without the options of an MC question
task       math | mc | qa | code | open
reference  final answer; the correct LETTER for mc; the test code for code;
           the reference response (or "") for open
choices    list of option texts (empty unless mc)
split      train | validation | test (hash of id and seed: ``assign_splits``)
source     where the row came from, e.g. ``local:/data/gsm8k/train.jsonl#gsm8k``
meta       JSON object of extra fields (level, subject, entry_point, difficulty …)
=========  ==================================================================

Spec keys: ``source`` (builtin | local | hf | url | package), ``format``, ``path``
(file or directory; the URL for ``url``), ``hub_id``/``hub_config``/``hub_split``/
``hub_revision`` (hf), ``generator``/``n`` (builtin), ``package`` (package), ``limit``,
``split`` (fractions), ``seed``, ``catalog`` (a ``CATALOG`` entry whose keys the spec
overrides), ``columns``/``task``/``meta_columns`` (generic format), ``file_type``,
``glob``, ``timeout`` (url), ``on_missing_reference`` (drop | keep | error).
Nothing is downloaded at import time.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ._builtin import GENERATOR_ALIASES, GENERATORS, generate
from ._core import (
    COLUMNS,
    DEFAULT_FRACTIONS,
    LETTERS,
    NEEDS_REFERENCE,
    SCHEMA_VERSION,
    SPLITS,
    TASKS,
    DatasetError,
    DatasetUnavailableError,
    assign_splits,
    check_fractions,
    check_unique_ids,
    frame,
    log,
    shuffled_order,
    validate_schema,
)
from ._formats import (
    FORMATS,
    NotText,
    check_generic_spec,
    get_format,
    last_boxed,
    parse_mc_instruction,
    reference_text,
    row_error,
    text,
)
from ._sources import SOURCES, cache_dir
from .catalog import CATALOG, CATALOG_ALIASES

__all__ = [
    "CATALOG",
    "COLUMNS",
    "DEFAULT_FRACTIONS",
    "FORMATS",
    "GENERATORS",
    "SCHEMA_VERSION",
    "SOURCE_KINDS",
    "SPLITS",
    "TASKS",
    "DatasetError",
    "DatasetUnavailableError",
    "assign_splits",
    "cache_dir",
    "check_spec",
    "last_boxed",
    "load_dataset",
    "parse_mc_instruction",
    "resolve_spec",
    "validate_schema",
]

SOURCE_KINDS = ("builtin", "local", "hf", "url", "package", "decision_log")
SPEC_KEYS = frozenset({
    "source", "format", "path", "url", "hub_id", "hub_config", "hub_split", "hub_revision", "generator", "n", "seed",
    "limit", "split", "catalog", "columns", "task", "meta_columns", "file_type", "glob", "package", "timeout",
    "on_missing_reference", "local_hint", "description",
})
MISSING_REFERENCE_POLICIES = ("drop", "keep", "error")
LOCAL_PATH_SOURCES = ("local", "decision_log")  # sources whose `path` is on this machine (checked at parse time)


def resolve_spec(name: str, spec: Mapping[str, Any] | None) -> dict[str, Any]:
    """Merge a ``catalog:`` entry under the spec and check the keys."""
    spec = dict(spec or {})
    cat = spec.get("catalog")
    if cat is not None:
        key = CATALOG_ALIASES.get(cat, cat)
        if key not in CATALOG:
            raise DatasetError(f"dataset {name!r}: unknown catalog entry {cat!r}; valid: {sorted(CATALOG)}")
        merged = {**CATALOG[key], **spec}
        merged["catalog"] = key
        spec = merged
    unknown = sorted(set(spec) - SPEC_KEYS)
    if unknown:
        raise DatasetError(f"dataset {name!r}: unknown spec key(s) {unknown}; valid keys: {sorted(SPEC_KEYS)}")
    if spec.get("source") not in SOURCE_KINDS:
        raise DatasetError(f"dataset {name!r}: `source:` must be one of {list(SOURCE_KINDS)}, got "
                           f"{spec.get('source')!r}" + (f" (or name a catalog entry: {sorted(CATALOG)})"
                                                        if cat is None else ""))
    return spec


def check_spec(name: str, spec: Mapping[str, Any] | None, default_split: Mapping[str, float] | None = None
               ) -> dict[str, Any]:
    """Everything about a spec that can be checked without reading the data (parse time, cheap).

    Resolves the catalog entry and the keys, then per source: a known generator and a positive
    ``n`` (builtin), a known format (and a complete ``columns``/``task`` for generic), an
    existing ``path`` (local). Returns the resolved spec with ``split`` set to the effective
    fractions (the spec's own, else ``default_split``). Raises ``DatasetError``.
    """
    spec = resolve_spec(name, spec)
    _int(spec, "seed", name, default=0)
    _int(spec, "limit", name, minimum=1)
    where = f"dataset {name!r}: split" if spec.get("split") is not None else "splits"
    fractions = check_fractions(spec.get("split", default_split), where=where)
    if spec["source"] == "builtin":
        generator = spec.get("generator")
        if not isinstance(generator, str) or GENERATOR_ALIASES.get(generator, generator) not in GENERATORS:
            raise DatasetError(f"dataset {name!r}: unknown builtin generator {generator!r}; set `generator:` to one "
                               f"of {sorted(GENERATORS)}")
        _int(spec, "n", name, default=100, minimum=1)
    else:
        _format_and_policy(spec, name)
    if spec["source"] in LOCAL_PATH_SOURCES:
        path = spec.get("path")
        if not path:
            raise DatasetError(f"dataset {name!r}: source {spec['source']} needs `path:` (a file, or a directory of "
                               "files)")
        if not Path(str(path)).expanduser().exists():
            hint = f" ({spec['local_hint']})" if spec.get("local_hint") else ""
            raise DatasetError(f"dataset {name!r}: path {str(path)!r} does not exist (relative paths start at "
                               f"{Path.cwd()}); point `path:` at your copy of the data{hint}")
    return {**spec, "split": fractions}


def _int(spec: Mapping[str, Any], key: str, name: str, default: Any = None, minimum: int | None = None) -> Any:
    v = spec.get(key, default)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or (minimum is not None and v < minimum):
        raise DatasetError(f"dataset {name!r}: `{key}` must be an integer" +
                           (f" >= {minimum}" if minimum is not None else "") + f", got {v!r}")
    return v


def _format_and_policy(spec: Mapping[str, Any], name: str):
    """The dataset's format (a generic one's columns and task checked) and its on_missing_reference policy."""
    fmt = get_format(spec.get("format"), name)
    if fmt.task is None:
        check_generic_spec(spec, name)
    policy = spec.get("on_missing_reference", "drop")
    if policy not in MISSING_REFERENCE_POLICIES:
        raise DatasetError(f"dataset {name!r}: on_missing_reference must be one of {list(MISSING_REFERENCE_POLICIES)}"
                           f", got {policy!r}")
    return fmt, policy


def _normalise_rows(name: str, spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    fmt, policy = _format_and_policy(spec, name)
    rows: list[dict[str, Any]] = []
    no_ref: list[str] = []
    for raw in SOURCES[spec["source"]](name, spec, fmt):
        out: dict[str, Any] = {}
        try:
            out = fmt.parse(raw, spec)
            task = out.get("task") or fmt.task
            prompt, ref = text(out.get("prompt")), reference_text(out.get("reference"), task)
            choices = [text(c) for c in (out.get("choices") or [])]
        except NotText as e:
            raise row_error(raw, str(e), "store the field as text (or as what the format documents)",
                            out.get("id")) from None
        rid = out.get("id")
        if rid is None or str(rid) == "":
            rid = f"{name}-{raw.stem}-{raw.index}" if raw.stem else f"{name}-{raw.index}"
        rid = str(rid)
        if not prompt.strip():
            raise row_error(raw, "has no prompt (the question/instruction is missing, empty or null)",
                            "give the row a non-empty question/instruction, or delete the row from the file", rid)
        if task == "mc":
            if len(choices) < 2:
                raise row_error(raw, f"multiple-choice row with {len(choices)} option(s)", "give it at least 2 "
                                "options", rid)
            valid = LETTERS[: len(choices)]
            if len(ref) != 1 or ref not in valid:
                raise row_error(raw, f"reference {ref!r} is not an option letter {valid[0]}-{valid[-1]} "
                                f"({len(choices)} options)", "set the answer to the letter (or index) of the "
                                "correct option", rid)
        elif task in NEEDS_REFERENCE and not ref.strip():
            if policy == "error":
                raise row_error(raw, f"no reference answer for a {task} row", "add the answer, or set "
                                "on_missing_reference: drop", rid)
            no_ref.append(rid)
            if policy == "drop":
                continue
        rows.append({"id": rid, "prompt": prompt, "task": task, "reference": ref, "choices": choices,
                     "source": raw.source, "meta": out.get("meta") or {}})
    if no_ref:
        shown = ", ".join(no_ref[:10]) + (f" and {len(no_ref) - 10} more" if len(no_ref) > 10 else "")
        log.warning("dataset %s: %d row(s) without a reference answer %s: %s", name, len(no_ref),
                    "dropped (on_missing_reference: drop)" if policy == "drop" else "kept", shown)
    if not rows:
        raise DatasetError(f"dataset {name!r}: no rows were read from {spec.get('path') or spec.get('hub_id')}")
    return rows


def load_dataset(name: str, spec: Mapping[str, Any]) -> pd.DataFrame:
    """Load dataset ``name`` as described by ``spec`` into the normalised schema (see module doc)."""
    spec = resolve_spec(name, spec)
    seed = _int(spec, "seed", name, default=0)
    limit = _int(spec, "limit", name, minimum=1)
    fractions = check_fractions(spec.get("split"), where=f"dataset {name!r}: split")
    if spec["source"] == "builtin":
        n = _int(spec, "n", name, default=100, minimum=1)
        rows = generate(name, spec.get("generator"), n, seed)
        for r in rows:
            r["source"] = f"builtin:{r['meta'].get('generator', spec.get('generator'))}"
    else:
        rows = _normalise_rows(name, spec)
    ids = [r["id"] for r in rows]
    check_unique_ids(ids, name)
    if limit is not None and limit < len(rows):
        keep = sorted(shuffled_order(ids, seed)[:limit])  # seeded subset, file order kept
        rows = [rows[i] for i in keep]
        ids = [r["id"] for r in rows]
    for r, s in zip(rows, assign_splits(ids, fractions, seed)):
        r["split"] = s
    df = frame(rows)
    log.info("dataset %s: %d rows (%s)", name, len(df), spec["source"])
    return df
