"""Importers of published multi-LLM outcome tables into the long schema of :mod:`routerlab.kmodel.outcomes`.

Formats, :data:`FORMATS`:

- ``routerbench``: RouterBench CSV as split by RouterDC (``sample_id, prompt, eval_name``,
  one 0/1 score column per model, ``<model>|model_response``, ``<model>|total_cost``,
  ``oracle_model_to_route_to``); prompt is a Python list literal. No token counts. Query id:
  ``sample_id``; a sample_id repeated with the same scores and prompt (in one file, or in a dev
  folder and a full one) is read once, with different ones it is an error naming both places.
- ``routerdc``: RouterDC JSON array of ``{"question", "scores": {model: score} or its
  Python-dict string, "cluster_id"?}``; the dataset is the file name without
  ``-train``/``_test``. No tokens, no cost. Query id: ``{file stem}:{item}:{sha256(question)[:8]}``
  (:func:`~routerlab.kmodel.outcomes.row_query_id`): stable, and unique across folders.
- ``routerarena``: RouterArena ``cached_results/<model>.jsonl``, one model per file (a model's
  rows may span files), ``{"global_index", "question", "llm_selected", "token_usage":
  {"input_tokens", "output_tokens"}, "evaluation_result": {"score", "inference_cost"}}``; the
  dataset is ``global_index`` without its trailing ``_<n>``; query id: ``global_index``.
- ``routellm``: RouteLLM's MMLU/GSM8K response CSVs and MT-bench judgements
  (:mod:`routerlab.kmodel.importers_routellm`).
- ``routereval``: RouterEval ``router_dataset/<bench>.pkl`` (a pickle: load only files you
  trust), either per benchmark ``{"easy"|"hard": {size: {group: {"data": {"train_score",
  "val_score", "test_score"}, "model"?}}}, "prompt": {"train_prompt", ...},
  "embedding"?: {"train_embed", ...}}`` or one pool ``{"data": ..., "prompt": ...,
  "model"?}``. Its splits and pools are kept as given.
- ``long``: this schema itself as CSV or parquet files (query columns may sit in the same file;
  a split column keeps its splits).

Malformed input raises :class:`OutcomeFormatError` naming the file (as given), the row and the
field. Queries with a missing score are dropped and counted (``on_missing="drop"``) or
rejected (``"error"``). Which queries train, validate and test is decided one level up, in
:mod:`routerlab.kmodel.importers_roles`.
"""

from __future__ import annotations

import ast
import json
import math
import pickle
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from routerlab.kmodel.importers_routellm import read_routellm
from routerlab.kmodel.outcomes import (
    jsonl_objects,
    OPTIONAL_COLUMNS,
    OUTCOME_COLUMNS,
    QUERY_COLUMNS,
    OutcomeFormatError,
    Outcomes,
    check_on_missing,
    drop_incomplete,
    finish_outcomes,
    first_bad,
    queries_frame,
    row_query_id,
    validate,
)

FORMATS = ("routerbench", "routerdc", "routerarena", "routellm", "routereval", "long")
GROUP_NAMES = {"all_strong": "all_strong", "all-strong": "all_strong", "allstrong": "all_strong",
               "all_weak": "all_weak", "all-weak": "all_weak", "allweak": "all_weak",
               "strong_to_weak": "strong_to_weak", "strong-to-weak": "strong_to_weak",
               "strongtoweak": "strong_to_weak"}


# --- RouterBench CSV --------------------------------------------------------------------------


def _numeric_column(df: pd.DataFrame, col: str, path: str | Path, ids: pd.Series, *, lo: float | None = None,
                    hi: float | None = None) -> np.ndarray:
    raw = df[col]
    v = pd.to_numeric(raw, errors="coerce").to_numpy(float)
    bad = first_bad(np.isnan(v) & raw.notna().to_numpy())
    if bad is None and lo is not None:
        bad = first_bad(v < lo)
    if bad is None and hi is not None:
        bad = first_bad(v > hi)
    if bad is None:
        bad = first_bad(np.isinf(v))
    if bad is not None:
        rng = f" in [{lo}, {hi}]" if hi is not None else (f" >= {lo}" if lo is not None else "")
        raise OutcomeFormatError(path, f"expected a number{rng}, got {raw.iloc[bad]!r} (sample_id {ids.iloc[bad]!r})",
                                 row=bad + 1, field=col)
    return v


def _list_prompt(text: Any, path: str | Path, row: int) -> str:
    try:
        parts = ast.literal_eval(text) if isinstance(text, str) else None
    except (ValueError, SyntaxError):
        parts = None
    if not isinstance(parts, (list, tuple)) or not parts or not all(isinstance(p, str) for p in parts):
        raise OutcomeFormatError(path, f"expected a Python list of strings, got {str(text)[:60]!r}", row=row,
                                 field="prompt")
    return "\n".join(parts)


def read_routerbench(paths: Sequence[str | Path], *, on_missing: str = "drop") -> Outcomes:
    """RouterBench outcome CSVs (RouterDC's 0-shot split); cost from ``<model>|total_cost``."""
    check_on_missing(on_missing)
    frames, qrows, models_seen, stats = [], [], None, {}
    first_seen: dict[str, tuple[Path, int, dict[str, float], str]] = {}  # sample_id -> its first file, row, scores
    for path in map(Path, paths):
        try:
            df = pd.read_csv(path)
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
            raise OutcomeFormatError(path, f"not a readable CSV ({e})") from None
        for col in ("sample_id", "prompt", "eval_name"):
            if col not in df.columns:
                raise OutcomeFormatError(path, "missing column; RouterBench tables have sample_id, prompt, "
                                         "eval_name, one score column per model and <model>|total_cost", field=col)
        models = [c for c in df.columns if f"{c}|total_cost" in df.columns]
        if not models:
            raise OutcomeFormatError(path, "no model columns: expected '<model>' score columns each with a "
                                     "'<model>|total_cost' column", field="<model>|total_cost")
        if models_seen is not None and sorted(models) != sorted(models_seen):
            raise OutcomeFormatError(path, f"models {sorted(set(models) ^ set(models_seen))} are not in every file; "
                                     "all files of one source must score the same models", field="<model>")
        models_seen = models
        ids = df["sample_id"]
        bad = first_bad((ids.isna() | (ids.astype(str).str.strip() == "")).to_numpy())
        if bad is not None:
            raise OutcomeFormatError(path, "empty sample_id", row=bad + 1, field="sample_id")
        ids = ids.astype(str)
        prompts = [_list_prompt(p, path, i + 1) for i, p in enumerate(df["prompt"])]
        blocks = []
        for m in models:
            blocks.append(pd.DataFrame({
                "query_id": ids.to_numpy(), "model": m, "_row": np.arange(len(df)) + 1,
                "score": _numeric_column(df, m, path, ids, lo=0.0, hi=1.0),
                "cost": _numeric_column(df, f"{m}|total_cost", path, ids, lo=0.0),
                "prompt_tokens": np.nan, "completion_tokens": np.nan}))
        t = pd.concat(blocks, ignore_index=True)
        # A source row lacking a model's score or cost is dropped (RouterBench has a few); by row,
        # not by sample_id, since a repeated sample_id may split its scores over two rows.
        incomplete = t.loc[t["score"].isna() | t["cost"].isna(), "_row"].unique()
        if len(incomplete) and on_missing == "error":
            raise OutcomeFormatError(path, "no score or cost for some model; set on_missing: drop to skip such rows",
                                     row=int(incomplete.min()), field="score")
        t = t[~t["_row"].isin(incomplete)]
        n_drop = len(incomplete)
        # RouterBench repeats a few sample_ids, and a dev folder and a full one share rows: an identical
        # repeat (same scores and prompt, in this file or an earlier one) is dropped, a conflicting one is an error.
        scores_by_row = {r: dict(zip(g["model"], g["score"])) for r, g in t.groupby("_row")}
        repeats = set()
        for r in sorted(scores_by_row):
            sid = ids.iloc[r - 1]
            if sid in first_seen:
                p0, r0, scores0, prompt0 = first_seen[sid]
                if scores0 != scores_by_row[r] or prompt0 != prompts[r - 1]:
                    where = f"row {r0}" if p0 == path else f"{p0} row {r0}"
                    raise OutcomeFormatError(path, f"sample_id {sid!r} repeats {where} with different scores or "
                                             "prompt", row=r, field="sample_id")
                repeats.add(r)
            else:
                first_seen[sid] = (path, r, scores_by_row[r], prompts[r - 1])
                qrows.append({"query_id": sid, "dataset": str(df["eval_name"].iloc[r - 1]),
                              "category": str(df["eval_name"].iloc[r - 1]), "prompt": prompts[r - 1], "split": None})
        frames.append(t[~t["_row"].isin(repeats)].drop(columns="_row"))
        stats[str(path)] = {"rows": len(df), "dropped_missing": n_drop, "dropped_repeats": len(repeats)}
    table = pd.concat(frames, ignore_index=True)
    return finish_outcomes(table, queries_frame(qrows), {"format": "routerbench", "files": stats},
                           ", ".join(map(str, paths)))


# --- RouterDC JSON ----------------------------------------------------------------------------


def _routerdc_dataset(stem: str) -> str:
    return re.sub(r"[-_](train|test|val|dev)$", "", stem)


def read_routerdc(paths: Sequence[str | Path], *, on_missing: str = "drop") -> Outcomes:
    """RouterDC JSON arrays of {question, scores}; no token counts or costs (cost columns NaN).

    Query ids are :func:`~routerlab.kmodel.outcomes.row_query_id` of (file stem, item index,
    question), so the same file name in two folders does not clash; the same item read twice
    (same name, index and question) is merged when its scores agree and an error otherwise.
    """
    check_on_missing(on_missing)
    rows, qrows, models_seen, first_file, merged = [], [], None, None, 0
    seen: dict[str, tuple[Path, int, dict[str, float]]] = {}
    for path in map(Path, paths):
        try:
            items = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise OutcomeFormatError(path, f"not valid JSON ({e})") from None
        if not isinstance(items, list):
            raise OutcomeFormatError(path, f"expected a JSON array of items, got {type(items).__name__}")
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise OutcomeFormatError(path, f"expected an object, got {type(item).__name__}", row=i)
            q = item.get("question")
            if not isinstance(q, str) or not q.strip():
                raise OutcomeFormatError(path, "missing or empty question", row=i, field="question")
            scores = item.get("scores")
            if isinstance(scores, str):
                try:
                    scores = ast.literal_eval(scores)
                except (ValueError, SyntaxError):
                    raise OutcomeFormatError(path, f"not a dict literal: {scores[:60]!r}", row=i,
                                             field="scores") from None
            if not isinstance(scores, dict) or not scores:
                raise OutcomeFormatError(path, "expected a non-empty {model: score} mapping", row=i, field="scores")
            if models_seen is None:
                models_seen, first_file = sorted(scores), path
            elif sorted(scores) != models_seen:
                raise OutcomeFormatError(path, f"models differ from those of {first_file} row 0: "
                                         f"{sorted(set(scores) ^ set(models_seen))}", row=i, field="scores")
            for m, v in scores.items():
                if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                    raise OutcomeFormatError(path, f"score of {m!r} is {v!r}, expected a finite number", row=i,
                                             field=f"scores.{m}")
            values = {m: float(v) for m, v in scores.items()}
            qid = row_query_id(path.stem, i, q)
            if qid in seen:
                p0, i0, values0 = seen[qid]
                if values0 != values:
                    raise OutcomeFormatError(path, f"item repeats {p0} row {i0} (same file name, row and question) "
                                             "with different scores", row=i, field="scores")
                merged += 1
                continue
            seen[qid] = (path, i, values)
            rows += [(qid, m, v) for m, v in values.items()]
            qrows.append({"query_id": qid, "dataset": _routerdc_dataset(path.stem),
                          "category": _routerdc_dataset(path.stem), "prompt": q, "split": None})
    if not rows:
        raise OutcomeFormatError(", ".join(map(str, paths)), "no items")
    t = pd.DataFrame(rows, columns=["query_id", "model", "score"])
    t["prompt_tokens"] = t["completion_tokens"] = t["cost"] = np.nan
    meta = {"format": "routerdc", "files": [str(p) for p in paths], "merged_repeats": merged,
            "query_id": "file stem:item index:sha256(question)[:8]"}
    return finish_outcomes(t, queries_frame(qrows), meta, ", ".join(map(str, paths)))


# --- RouterArena JSONL ------------------------------------------------------------------------


def _get(obj: Mapping[str, Any], dotted: str) -> Any:
    cur: Any = obj
    for part in dotted.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return None
        cur = cur[part]
    return cur


def read_routerarena(paths: Sequence[str | Path], *, on_missing: str = "drop") -> Outcomes:
    """RouterArena per-model prediction files; tokens from token_usage, cost from inference_cost.

    Every row of one file names the same model (``llm_selected``), but one model's rows may span
    several files (a dev folder and another one); the same ``global_index`` twice for one model
    is an error naming both files and lines.
    """
    check_on_missing(on_missing)
    rows, prompts, datasets, models = [], {}, {}, set()
    first_line: dict[tuple[str, str], tuple[Path, int]] = {}  # (global_index, model) -> where it was read
    for path in map(Path, paths):
        model = None
        for line_no, obj in jsonl_objects(path):
            row = f"line {line_no}"
            gid = obj.get("global_index")
            if not isinstance(gid, str) or not gid:
                raise OutcomeFormatError(path, "missing global_index", row=row, field="global_index")
            m = obj.get("llm_selected")
            if not isinstance(m, str) or not m:
                raise OutcomeFormatError(path, "missing model name", row=row, field="llm_selected")
            if model is None:
                model = m
            elif m != model:
                raise OutcomeFormatError(path, f"model {m!r} differs from the file's first row ({model!r}); "
                                         "one model per file", row=row, field="llm_selected")
            models.add(m)
            if (gid, m) in first_line:
                p0, l0 = first_line[(gid, m)]
                raise OutcomeFormatError(path, f"global_index {gid!r} of model {m!r} was already read at {p0}: "
                                         f"line {l0}; each query once per model", row=row, field="global_index")
            first_line[(gid, m)] = (path, line_no)
            score = _get(obj, "evaluation_result.score")
            if score is None and on_missing == "drop":
                continue
            if not isinstance(score, (int, float)) or isinstance(score, bool) or not math.isfinite(score):
                raise OutcomeFormatError(path, f"expected a number, got {score!r}", row=row,
                                         field="evaluation_result.score")
            vals = {}
            for key, dotted in (("prompt_tokens", "token_usage.input_tokens"),
                                ("completion_tokens", "token_usage.output_tokens"),
                                ("cost", "evaluation_result.inference_cost")):
                v = _get(obj, dotted)
                if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0
                                      or not math.isfinite(v)):
                    raise OutcomeFormatError(path, f"expected a non-negative number, got {v!r}", row=row,
                                             field=dotted)
                vals[key] = np.nan if v is None else float(v)
            rows.append({"query_id": gid, "model": m, "score": float(score), **vals})
            question = obj.get("question")
            if gid not in prompts and isinstance(question, str):
                prompts[gid] = question
            datasets[gid] = gid.rsplit("_", 1)[0] if "_" in gid else gid
    if not rows:
        raise OutcomeFormatError(", ".join(map(str, paths)), "no scored rows")
    t = pd.DataFrame(rows)
    t, n_drop = drop_incomplete(t, len(models), on_missing, ", ".join(map(str, paths)))
    ids = list(dict.fromkeys(t["query_id"]))
    q = queries_frame({"query_id": i, "dataset": datasets[i], "category": datasets[i], "prompt": prompts.get(i, ""),
                        "split": None} for i in ids)
    return finish_outcomes(t, q, {"format": "routerarena", "files": [str(p) for p in paths], "dropped_missing": n_drop},
                   ", ".join(map(str, paths)))


# --- RouterEval router_dataset pickle ---------------------------------------------------------


_RE_SPLITS = (("train", "train"), ("val", "validation"), ("test", "test"))


def _load_pickle(path: Path) -> dict[str, Any]:

    try:
        with open(path, "rb") as f:
            obj = pickle.load(f)
    except (pickle.UnpicklingError, EOFError, AttributeError, ModuleNotFoundError, ValueError) as e:
        raise OutcomeFormatError(path, f"not a readable RouterEval pickle ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict):
        raise OutcomeFormatError(path, f"expected a dict at the top level, got {type(obj).__name__}")
    return obj


def _routereval_pools(obj: dict[str, Any], path: Path) -> list[tuple[str | None, dict[str, Any]]]:
    if "data" in obj:
        return [(None, obj)]
    pools = []
    for level in ("easy", "hard"):
        for size, groups in (obj.get(level) or {}).items():
            if not isinstance(groups, dict):
                raise OutcomeFormatError(path, "expected {group: {data: ...}}", field=f"{level}.{size}")
            for group, entry in groups.items():
                g = GROUP_NAMES.get(str(group).lower())
                if g is None:
                    raise OutcomeFormatError(path, f"unknown candidate group {group!r}; expected one of "
                                             "all_strong, all_weak, strong_to_weak", field=f"{level}.{size}")
                pools.append((f"{level}/{int(size)}/{g}", entry))
    if not pools:
        raise OutcomeFormatError(path, "no pools: expected top-level 'easy'/'hard' pools or a single pool's 'data'",
                                 field="data")
    return pools


def read_routereval(path: str | Path) -> Outcomes:
    """A RouterEval router_dataset pickle: its pools (``pool`` column) and splits are kept."""
    path = Path(path)
    obj = _load_pickle(path)
    prompt = obj.get("prompt")
    if not isinstance(prompt, dict):
        raise OutcomeFormatError(path, "missing prompt dict with train_prompt/val_prompt/test_prompt", field="prompt")
    bench = path.stem.removesuffix("_router_dataset")
    qrows, split_n = [], {}
    for key, split in _RE_SPLITS:
        texts = prompt.get(f"{key}_prompt")
        if texts is None:
            raise OutcomeFormatError(path, "missing", field=f"prompt.{key}_prompt")
        split_n[key] = len(texts)
        qrows += [{"query_id": f"{bench}:{key}:{i}", "dataset": bench, "category": bench, "prompt": str(p),
                   "split": split} for i, p in enumerate(texts)]
    frames = []
    for pool, entry in _routereval_pools(obj, path):
        data = entry.get("data") if isinstance(entry, dict) else None
        where = "data" if pool is None else f"{pool.split('/')[0]}.{pool.split('/')[1]}.{pool.split('/')[2]}.data"
        if not isinstance(data, dict):
            raise OutcomeFormatError(path, "missing score dict", field=where)
        names = entry.get("model") or entry.get("models")
        for key, _ in _RE_SPLITS:
            # RouterEval's TruthfulQA training scores are stored as labels.
            raw = data.get(f"{key}_score", data.get(f"{key}_label"))
            if raw is None:
                raise OutcomeFormatError(path, "missing", field=f"{where}.{key}_score")
            Y = np.asarray(raw, dtype=float) if not isinstance(raw, np.ndarray) else raw.astype(float)
            if Y.ndim != 2 or Y.shape[0] != split_n[key]:
                raise OutcomeFormatError(path, f"shape {Y.shape}, expected [{split_n[key]} prompts, n_models]",
                                         field=f"{where}.{key}_score")
            bad = np.argwhere(~np.isfinite(Y))
            if bad.size:
                raise OutcomeFormatError(path, f"non-finite score at column {bad[0][1]}", row=int(bad[0][0]),
                                         field=f"{where}.{key}_score")
            if names is None:
                names = [f"model_{j}" for j in range(Y.shape[1])]
            if len(names) != Y.shape[1]:
                raise OutcomeFormatError(path, f"{len(names)} model names for {Y.shape[1]} score columns",
                                         field=f"{where}.model")
            n, M = Y.shape
            block = pd.DataFrame({"query_id": np.repeat([f"{bench}:{key}:{i}" for i in range(n)], M),
                                  "model": np.tile(np.asarray(names, dtype=object).astype(str), n),
                                  "score": Y.reshape(-1)})
            if pool is not None:
                block["pool"] = pool
            frames.append(block)
    t = pd.concat(frames, ignore_index=True)
    t["prompt_tokens"] = t["completion_tokens"] = t["cost"] = np.nan
    return finish_outcomes(t, queries_frame(qrows), {"format": "routereval", "file": str(path)}, str(path))


def routereval_embeddings(path: str | Path) -> np.ndarray | None:
    """The embeddings a RouterEval pickle carries (train, val, test rows stacked), or None."""
    path = Path(path)
    emb = _load_pickle(path).get("embedding")
    if emb is None:
        return None
    parts = []
    for key, _ in _RE_SPLITS:
        e = emb.get(f"{key}_embed")
        if e is None:
            raise OutcomeFormatError(path, "missing", field=f"embedding.{key}_embed")
        parts.append(np.asarray(e, dtype=np.float32))
    return np.concatenate(parts)


# --- our long format --------------------------------------------------------------------------


SPLIT_NAMES = {"train": "train", "training": "train", "validation": "validation", "val": "validation",
               "valid": "validation", "dev": "validation", "test": "test"}


def _read_long_file(path: Path, split_column: str | None) -> pd.DataFrame:
    try:
        df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except (ValueError, OSError, ImportError) as e:  # parser errors (all ValueErrors), I/O, no parquet engine
        raise OutcomeFormatError(path, f"not a readable table ({type(e).__name__}: {e})") from None
    missing = [c for c in OUTCOME_COLUMNS if c not in df.columns]
    if missing:
        raise OutcomeFormatError(path, f"missing column(s) {missing}; expected {list(OUTCOME_COLUMNS)}",
                                 field=missing[0])
    if split_column is not None:
        if split_column not in df.columns:
            raise OutcomeFormatError(path, "missing split column (kmodel.imports.<name>.split_column)",
                                     field=split_column)
        split = df[split_column].map(lambda v: SPLIT_NAMES.get(str(v).strip().lower()) if pd.notna(v) else None)
        bad = first_bad(split.isna().to_numpy())
        if bad is not None:
            raise OutcomeFormatError(path, f"split {df[split_column].iloc[bad]!r} is not one of "
                                     f"{sorted(SPLIT_NAMES)}", row=bad + 1, field=split_column)
        df = df.drop(columns=[split_column]).assign(split=split)
    df["query_id"] = df["query_id"].astype(str).where(df["query_id"].notna(), None)
    df["model"] = df["model"].astype(str).where(df["model"].notna(), None)
    return df.assign(_file=str(path), _row=np.arange(len(df)) + 1)


def read_long(paths: str | Path | Sequence[str | Path], *, split_column: str | None = None) -> Outcomes:
    """The long schema itself as CSV or parquet files; query columns may be in the same file.

    Several files are one table (e.g. one file per model); a (query, model) row twice is an
    error naming both files and rows. ``split_column`` names a column holding each row's split
    (train / validation / test; val, valid and dev mean validation); by default a ``split``
    column is used when present.
    """
    paths = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    df = pd.concat([_read_long_file(p, split_column) for p in paths], ignore_index=True)
    keys = ["pool", "query_id", "model"] if "pool" in df.columns else ["query_id", "model"]
    dup = first_bad(df.duplicated(keys, keep="first").to_numpy())
    if dup is not None:
        key = df[keys].iloc[dup]
        first = df.index[(df[keys] == key).all(axis=1)][0]
        p0, r0 = df["_file"].iat[first], df["_row"].iat[first]
        where = f"row {r0}" if p0 == df["_file"].iat[dup] else f"{p0} row {r0}"
        raise OutcomeFormatError(df["_file"].iat[dup], f"duplicate row for {dict(key)} (first at {where})",
                                 row=int(df["_row"].iat[dup]), field="query_id")
    qcols = [c for c in QUERY_COLUMNS if c in df.columns]
    q = df[qcols].drop_duplicates("query_id").copy()
    for c in QUERY_COLUMNS:
        if c not in q:
            q[c] = q["query_id"] if c == "prompt" else (None if c == "split" else "all")
    keep = list(OUTCOME_COLUMNS) + [c for c in OPTIONAL_COLUMNS if c in df.columns]
    label = ", ".join(map(str, paths))
    meta = {"format": "long", "file": label} if len(paths) == 1 else {"format": "long", "files": list(map(str, paths))}
    out = Outcomes(df[keep].copy(), queries_frame(q[list(QUERY_COLUMNS)].to_dict("records")), meta)
    try:
        validate(out, label)  # before any reordering, so a row number maps back to its file and row
    except OutcomeFormatError as e:
        if not isinstance(e.row, int):
            raise
        raise OutcomeFormatError(df["_file"].iat[e.row - 1], e.problem, row=int(df["_row"].iat[e.row - 1]),
                                 field=e.field) from None
    return finish_outcomes(out.table, out.queries, out.meta, label)


def read_source(fmt: str, paths: Sequence[str | Path], *, on_missing: str = "drop",
                questions: Sequence[str | Path] = (), exclude_prompts: Sequence[str | Path] = (),
                split_column: str | None = None) -> Outcomes:
    """Dispatch to the importer of ``fmt`` (one of :data:`FORMATS`); the queries' splits are as the files
    give them (RouterEval, a long table's split column) or None (see :mod:`routerlab.kmodel.importers_roles`).

    ``questions`` and ``exclude_prompts`` are RouteLLM's MT-bench questions and contaminated-prompt
    lists (format ``routellm`` only); ``split_column`` names a long table's split column.
    """
    if not paths:
        raise ValueError(f"format {fmt!r}: no files given")
    missing = [str(p) for p in [*paths, *questions, *exclude_prompts] if not Path(p).is_file()]
    if missing:
        raise FileNotFoundError(f"outcome file(s) not found: {missing}")
    if fmt != "routellm" and (questions or exclude_prompts):
        raise ValueError(f"format {fmt!r}: questions and exclude_prompts are for format 'routellm'")
    if fmt != "long" and split_column is not None:
        raise ValueError(f"format {fmt!r}: split_column is for format 'long'")
    if fmt == "routerbench":
        return read_routerbench(paths, on_missing=on_missing)
    if fmt == "routerdc":
        return read_routerdc(paths, on_missing=on_missing)
    if fmt == "routerarena":
        return read_routerarena(paths, on_missing=on_missing)
    if fmt == "routellm":
        return read_routellm(paths, questions=questions, exclude_prompts=exclude_prompts, on_missing=on_missing)
    if fmt == "long":
        return read_long(paths, split_column=split_column)
    if fmt == "routereval":
        if len(paths) != 1:
            raise ValueError(f"format {fmt!r} reads one file per source, got {len(paths)}")
        return read_routereval(paths[0])
    raise ValueError(f"unknown outcome format {fmt!r}; supported: {list(FORMATS)}")
