"""RouteLLM's evaluation tables (lm-sys/RouteLLM @0b64fda, ``routellm/evals/``) as outcome tables.

Files, told apart by their suffix and content:

- response CSVs, ``mmlu/responses/mmlu_<subject>.csv`` and ``gsm8k/gsm8k_responses.csv``:
  a ``prompt`` column and one True/False correctness column per model
  (``gpt-4-1106-preview``, ``mistralai/Mixtral-8x7B-Instruct-v0.1``); ``<model>_response``
  columns (GSM8K) and a pandas index column are ignored. The dataset is ``mmlu`` (category: the
  subject) or ``gsm8k``. Query id: ``row_query_id(file stem, data row, prompt)``.
- MT-bench judgements, ``mt_bench/judgements.jsonl``: one line per (question_id, model, turn)
  with the GPT-4 judge's ``score`` (1-10). A query's score is the mean of its two turns, as
  RouteLLM's ``MTBench`` benchmark averages the routed model's judgements; a score of -1 is a
  judgement FastChat could not parse (excluded and counted, never scored), and a question that
  then lacks a turn for some model is incomplete (dropped and counted, or ``on_missing="error"``).
  Query id ``mt_bench:<question_id>``; dataset ``mt_bench``, category from the questions.
- MT-bench questions, ``mt_bench/question.jsonl`` (``question_id``, ``category``, ``turns``),
  passed as ``questions``: the prompt is the first turn (RouteLLM routes on it only).

Decontamination (``exclude_prompts``): RouteLLM's ``contaminated_prompts.jsonl`` files list, as
``eval_prompt``, the evaluation prompts whose embedding is within cosine 0.95 of a prompt of the
Chatbot Arena battles its routers train on (``evals/find_contaminated.py``). Its benchmarks
(``evals/benchmarks.py``) drop the response rows whose prompt is listed, and the MT-bench
questions whose first or second turn is listed; this importer does the same and records in
``meta["decontamination"]`` how many queries each dataset lost. (At 0b64fda the lists are passed
to ``Series.isin`` as Python lists, so upstream removes them too: 5 MMLU, 12 GSM8K and 8 MT-bench
queries on the full files.)

Scores keep their scale: 0/1 for MMLU and GSM8K, 1-10 for MT-bench; keep MT-bench in a source of
its own if the K-model means should not mix the two. No token counts or costs (NaN).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from routerlab.kmodel.outcomes import (
    jsonl_objects,
    OutcomeFormatError,
    Outcomes,
    check_on_missing,
    drop_incomplete,
    finish_outcomes,
    queries_frame,
    row_query_id,
)

FAILED_JUDGEMENT = -1  # FastChat's score when the judge's rating could not be parsed
_TRUE, _FALSE = {"true", "1", "1.0"}, {"false", "0", "0.0"}


def read_excluded_prompts(paths: Sequence[str | Path]) -> set[str]:
    """Prompts listed in RouteLLM's ``contaminated_prompts.jsonl`` files (``eval_prompt``; or ``prompt``)."""
    prompts = set()
    for path in map(Path, paths):
        for line_no, obj in jsonl_objects(path):
            text = obj.get("eval_prompt", obj.get("prompt"))
            if not isinstance(text, str):
                raise OutcomeFormatError(path, "expected the contaminated evaluation prompt as a string",
                                         row=f"line {line_no}", field="eval_prompt")
            prompts.add(text)
    return prompts


def _dataset_of(stem: str) -> tuple[str, str]:
    if stem.startswith("mmlu_"):
        return "mmlu", stem.removeprefix("mmlu_")
    name = re.sub(r"_responses$", "", stem)
    return name, name


def _correctness(raw: Any, path: Path, row: int, model: str) -> float:
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return math.nan
    if isinstance(raw, (bool, np.bool_)):
        return float(raw)
    text = str(raw).strip().lower()
    if text in _TRUE:
        return 1.0
    if text in _FALSE:
        return 0.0
    raise OutcomeFormatError(path, f"expected True or False, got {raw!r}", row=row, field=model)


def _read_responses(path: Path, exclude: set[str]) -> tuple[pd.DataFrame, list[dict[str, Any]], dict[str, int]]:
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        raise OutcomeFormatError(path, f"not a readable CSV ({e})") from None
    if "prompt" not in df.columns:
        raise OutcomeFormatError(path, "missing column; RouteLLM response tables have prompt and one True/False "
                                 "column per model", field="prompt")
    models = [c for c in df.columns if c != "prompt" and not c.endswith("_response") and not c.startswith("Unnamed:")]
    if not models:
        raise OutcomeFormatError(path, "no model columns besides prompt", field="<model>")
    dataset, category = _dataset_of(path.stem)
    rows, qrows, removed = [], [], 0
    columns = {m: df[m].tolist() for m in models}
    for i, prompt in enumerate(df["prompt"]):
        row = i + 1  # data rows from 1, as the other CSV importers number them
        if not isinstance(prompt, str) or not prompt.strip():
            raise OutcomeFormatError(path, "missing or empty prompt", row=row, field="prompt")
        scores = {m: _correctness(columns[m][i], path, row, m) for m in models}
        if prompt in exclude:
            removed += 1
            continue
        qid = row_query_id(path.stem, row, prompt)
        rows += [(qid, m, v) for m, v in scores.items()]
        qrows.append({"query_id": qid, "dataset": dataset, "category": category, "prompt": prompt, "split": None})
    table = pd.DataFrame(rows, columns=["query_id", "model", "score"])
    return table, qrows, {"dataset": dataset, "rows": len(df), "removed": removed}


def _read_questions(paths: Sequence[Path]) -> dict[int, tuple[str, str, str | None, Path]]:
    """question_id -> (first turn, category, second turn or None, file)."""
    out: dict[int, tuple[str, str, str | None, Path]] = {}
    for path in paths:
        for line_no, obj in jsonl_objects(path):
            row = f"line {line_no}"
            qid, turns = obj.get("question_id"), obj.get("turns")
            if not isinstance(qid, int) or isinstance(qid, bool):
                raise OutcomeFormatError(path, f"expected an integer, got {qid!r}", row=row, field="question_id")
            if not isinstance(turns, list) or not turns or not all(isinstance(t, str) for t in turns):
                raise OutcomeFormatError(path, "expected a non-empty list of strings", row=row, field="turns")
            if qid in out and out[qid][0] != turns[0]:
                raise OutcomeFormatError(path, f"question {qid} differs from the one in {out[qid][3]}", row=row,
                                         field="question_id")
            out[qid] = (turns[0], str(obj.get("category") or "mt_bench"), turns[1] if len(turns) > 1 else None, path)
    return out


def _read_judgements(path: Path, first_line: dict[tuple[int, str, int], tuple[Path, int]]) -> list[dict[str, Any]]:
    rows = []
    for line_no, obj in jsonl_objects(path):
        row = f"line {line_no}"
        qid, model, turn, score = (obj.get(k) for k in ("question_id", "model", "turn", "score"))
        if not isinstance(qid, int) or isinstance(qid, bool):
            raise OutcomeFormatError(path, f"expected an integer, got {qid!r}", row=row, field="question_id")
        if not isinstance(model, str) or not model:
            raise OutcomeFormatError(path, "missing model name", row=row, field="model")
        if turn not in (1, 2) or isinstance(turn, bool):
            raise OutcomeFormatError(path, f"expected turn 1 or 2, got {turn!r}", row=row, field="turn")
        if not isinstance(score, (int, float)) or isinstance(score, bool) or not math.isfinite(score):
            raise OutcomeFormatError(path, f"expected a number, got {score!r}", row=row, field="score")
        key = (qid, model, turn)
        if key in first_line:
            p0, l0 = first_line[key]
            raise OutcomeFormatError(path, f"question {qid}, model {model!r}, turn {turn} was already judged at "
                                     f"{p0}: line {l0}", row=row, field="question_id")
        first_line[key] = (path, line_no)
        rows.append({"question_id": qid, "model": model, "turn": turn, "score": float(score), "_where": (path, row)})
    return rows


def _mt_bench(judgements: list[dict[str, Any]], questions: dict[int, tuple[str, str, str | None, Path]],
              exclude: set[str]) -> tuple[pd.DataFrame, list[dict[str, Any]], dict[str, int]]:
    j = pd.DataFrame(judgements)
    for r in judgements:
        if r["question_id"] not in questions:
            path, row = r["_where"]
            raise OutcomeFormatError(path, f"question {r['question_id']} is not in the MT-bench questions; give "
                                     "mt_bench/question.jsonl as the source's questions", row=row, field="question_id")
    failed = int((j["score"] == FAILED_JUDGEMENT).sum())
    j = j[j["score"] != FAILED_JUDGEMENT]
    listed = {q for q, (t1, _, t2, _) in questions.items() if t1 in exclude or (t2 is not None and t2 in exclude)}
    judged = set(j["question_id"])
    removed = len(judged & listed)
    j = j[~j["question_id"].isin(listed)]
    turns = j.groupby(["question_id", "model"])["turn"].nunique()
    per = j.groupby(["question_id", "model"])["score"].mean()
    per[turns < 2] = np.nan  # a failed judgement leaves the query without one turn's score
    table = per.reset_index()
    table["query_id"] = "mt_bench:" + table["question_id"].astype(str)
    qrows = [{"query_id": f"mt_bench:{q}", "dataset": "mt_bench", "category": questions[q][1],
              "prompt": questions[q][0], "split": None} for q in sorted(set(table["question_id"]))]
    return (table[["query_id", "model", "score"]], qrows,
            {"dataset": "mt_bench", "rows": len(judgements), "failed_judgements": failed, "removed": removed})


def read_routellm(paths: Sequence[str | Path], *, questions: Sequence[str | Path] = (),
                  exclude_prompts: Sequence[str | Path] = (), on_missing: str = "drop") -> Outcomes:
    """RouteLLM response CSVs and MT-bench judgements (see the module docstring)."""
    check_on_missing(on_missing)
    exclude = read_excluded_prompts(exclude_prompts)
    frames, qrows, stats, models_of = [], [], {}, {}
    judged: list[dict[str, Any]] = []
    first_line: dict[tuple[int, str, int], tuple[Path, int]] = {}
    for path in map(Path, paths):
        if path.suffix == ".csv":
            table, q, st = _read_responses(path, exclude)
            frames.append(table)
            qrows += q
            stats[str(path)] = st
            models_of[str(path)] = sorted(set(table["model"])) if len(table) else None
        elif path.suffix == ".jsonl":
            rows = _read_judgements(path, first_line)
            judged += rows
            models_of[str(path)] = sorted({r["model"] for r in rows})
        else:
            raise OutcomeFormatError(path, "expected a response .csv or MT-bench judgements .jsonl (the MT-bench "
                                     "question.jsonl goes under questions)")
    if judged:
        if not questions:
            raise OutcomeFormatError(", ".join(map(str, paths)), "MT-bench judgements need the MT-bench questions "
                                     "(mt_bench/question.jsonl) for their prompts; give it as the source's questions",
                                     field="questions")
        table, q, st = _mt_bench(judged, _read_questions([Path(p) for p in questions]), exclude)
        frames.append(table)
        qrows += q
        stats["mt_bench"] = st
    known = [(k, v) for k, v in models_of.items() if v is not None]
    for where, models in known[1:]:
        if models != known[0][1]:
            raise OutcomeFormatError(where, f"models {models} differ from {known[0][1]} in {known[0][0]}; every file "
                                     "of one source must score the same models", field="model")
    if not qrows:
        raise OutcomeFormatError(", ".join(map(str, paths)), "no queries (all excluded or empty)")
    t = pd.concat(frames, ignore_index=True)
    t, n_drop = drop_incomplete(t, t["model"].nunique(), on_missing, ", ".join(map(str, paths)))
    kept = set(t["query_id"])
    q = queries_frame(r for r in qrows if r["query_id"] in kept)
    t["prompt_tokens"] = t["completion_tokens"] = t["cost"] = np.nan
    removed: dict[str, int] = {}
    for st in stats.values():
        removed[st["dataset"]] = removed.get(st["dataset"], 0) + st["removed"]
    meta = {"format": "routellm", "files": stats, "dropped_missing": n_drop,
            "decontamination": {"files": [str(p) for p in exclude_prompts], "listed_prompts": len(exclude),
                                "removed": removed, "removed_total": sum(removed.values())},
            "query_id": "file stem:data row:sha256(prompt)[:8]; MT-bench mt_bench:<question_id>"}
    return finish_outcomes(t, q, meta, ", ".join(map(str, paths)))
