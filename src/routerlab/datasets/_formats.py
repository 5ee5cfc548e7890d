"""Format readers: one function per original dataset format, record → normalised row.

Each parser gets one :class:`RawRow` (a record from a local file, a download or a hub
dataset) and returns a dict with ``prompt``, ``reference``, ``choices``, ``task``,
``meta`` and optionally ``id`` (the source's own id). Hub records use their own column
names (e.g. ``cais/mmlu`` has question/choices/answer-index), so parsers accept both the
file layout and the hub layout.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from routerlab.scoring import last_boxed

from ._core import LETTERS, TASKS, DatasetError
from ._readers import RawRow


@dataclass(frozen=True)
class Format:
    name: str
    task: str | None  # None: taken from the spec (generic)
    parse: Callable[[RawRow, Mapping[str, Any]], dict]
    description: str
    globs: tuple[str, ...] | None = None  # files read when `path` is a directory
    recursive: bool = False
    csv_header: bool = True


# ---------------------------------------------------------------------------- helpers


def row_error(row: RawRow, problem: str, fix: str, row_id: str | None = None) -> DatasetError:
    rid = f" (id {row_id!r})" if row_id else ""
    return DatasetError(f"{row.where}{rid}: {problem}; fix: {fix}")


def _keys(row: RawRow) -> list[str]:
    return sorted(row.data) if isinstance(row.data, dict) else []


def get(row: RawRow, *names: str, what: str | None = None, fmt: str = "") -> Any:
    """First of ``names`` present (not None) in the record; with ``what`` a missing field is an error."""
    d = row.data
    if not isinstance(d, dict):
        raise row_error(row, f"expected a JSON object / record, got {type(d).__name__}",
                        f"check that the file is in the {fmt or 'expected'} format")
    for n in names:
        if n in d and d[n] is not None:
            return d[n]
    if what is None:
        return None
    present = [n for n in names if n in d]
    if present:  # the field exists but is null: an empty value, reported by the common check
        return None
    raise row_error(
        row,
        f"no {what} field (looked for {', '.join(repr(n) for n in names)}; the record has {_keys(row)})",
        f"is this really the {fmt!r} format? pick the matching `format:` (or `format: generic` with "
        "`columns: {prompt: ..., reference: ...}`), or add the field to the row",
    )


class NotText(DatasetError):
    """A field that should be text holds a value with no one faithful text form (a list, a mapping, a boolean)."""


def _plain(v: Any) -> Any:
    """numpy scalars and arrays (parquet / hub columns) as Python values."""
    if hasattr(v, "tolist") and not isinstance(v, (str, bytes)):
        return v.tolist()
    return v


def text(v: Any) -> str:
    """A scalar field as text: numbers written out (4.0 -> "4"); containers are never ``str()``-ed."""
    v = _plain(v)
    if v is None or (isinstance(v, float) and math.isnan(v)):  # None / NaN: an empty cell
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, (str, int, float)):  # bool is an int: "True" / "False" for options and ids
        return str(v)
    raise NotText(f"a {type(v).__name__} ({str(v)[:60]}) where text was expected")


def reference_text(v: Any, task: str | None) -> str:
    """A reference answer in the form its scorer reads, converted explicitly, never ``str()``-ed.

    Numbers are written out. A list is a set of acceptable answers: for ``qa`` a JSON list
    (``scoring.qa`` accepts any of them), for other tasks a one-element list is its element
    and a longer one is an error. Booleans and mappings are errors: no verifier compares a
    response with "True" or "{'v': 6}".
    """
    v = _plain(v)
    if isinstance(v, bool):
        raise NotText(f"reference is the boolean {v}; write the answer as the text a correct response contains "
                      "(e.g. \"yes\" / \"no\")")
    if isinstance(v, Mapping):
        raise NotText(f"reference is a mapping {str(v)[:60]}; point the reference column at the answer itself "
                      "(format generic: columns.reference), or flatten the field")
    if isinstance(v, (list, tuple, set)):
        answers = [reference_text(x, task) for x in v]
        answers = [a for a in answers if a.strip()]
        if task == "qa" and len(answers) > 1:
            return json.dumps(answers, ensure_ascii=False)
        if len(answers) == 1:
            return answers[0]
        if not answers:
            return ""
        raise NotText(f"reference is a list of {len(answers)} answers {answers[:4]}, but the {task} verifier "
                      "checks one; keep the single correct answer (only qa rows accept a list of answers)")
    return text(v)


def mc_reference(row: RawRow, answer: Any, choices: Sequence[str], what: str = "answer") -> str:
    """A letter from a letter, a 0-based index (int or digit string), or the text of an option."""
    if isinstance(answer, bool):
        answer = None
    if isinstance(answer, str) and answer.strip().isdigit() and answer.strip() not in choices:
        answer = int(answer.strip())
    if isinstance(answer, (int, float)) and not isinstance(answer, bool) and float(answer).is_integer():
        i = int(answer)
        if 0 <= i < len(choices):
            return LETTERS[i]
    elif isinstance(answer, str):
        a = answer.strip()
        m = re.match(r"^\(?([A-Z])(?:[\.\):]\s*(.*))?$", a, re.S)
        if m and LETTERS.index(m.group(1)) < len(choices):
            return m.group(1)
        if a in choices:
            return LETTERS[list(choices).index(a)]
    return str(answer) if answer is not None else ""  # invalid: caught by the common mc check


# ----------------------------------------------------------------------- math / qa / open


def _gsm8k(row: RawRow, spec: Mapping[str, Any]) -> dict:
    q = get(row, "question", what="question", fmt="gsm8k")
    ans = text(get(row, "answer", what="answer", fmt="gsm8k"))
    if "####" not in ans:
        raise row_error(row, f"answer has no '#### <number>' final line (answer ends {ans[-60:]!r})",
                        "GSM8K answers end with '#### <number>'; fix the row or use `format: generic`")
    solution, final = ans.rsplit("####", 1)
    ref = final.strip().replace(",", "")
    return {"prompt": q, "reference": ref, "meta": {"solution": solution.strip()}}


def _math(row: RawRow, spec: Mapping[str, Any]) -> dict:
    q = get(row, "instruction", "problem", "question", what="problem", fmt="math")
    ref = reference_text(get(row, "response", "answer"), "math").strip()
    solution = get(row, "solution")
    if not ref and solution:
        ref = last_boxed(str(solution)) or ""
    meta = {}
    level = get(row, "level")
    if level is not None:
        meta["level"] = level
    dom = get(row, "domain", "type", "subject")
    if dom is not None:
        meta["domain"] = dom
    out = {"prompt": q, "reference": ref, "meta": meta}
    uid = get(row, "unique_id")
    if uid:
        out["id"] = str(uid)
    return out


def _big_math(row: RawRow, spec: Mapping[str, Any]) -> dict:
    q = get(row, "instruction", "problem", what="problem", fmt="big_math")
    ref = reference_text(get(row, "response", "answer"), "math").strip()
    meta = {}
    for k, names in (("solve_rate", ("solve_rate", "llama8b_solve_rate")), ("difficulty_tier", ("difficulty_tier",)),
                     ("source", ("source",)), ("domain", ("domain",))):
        v = get(row, *names)
        if v is not None:
            meta[k] = v
    return {"prompt": q, "reference": ref, "meta": meta}


def _numina_cot(row: RawRow, spec: Mapping[str, Any]) -> dict:
    q = get(row, "instruction", "problem", what="problem", fmt="numina_cot")
    sol = text(get(row, "response", "solution", what="solution", fmt="numina_cot"))
    meta = {"solution": sol}
    src = get(row, "source")
    if src is not None:
        meta["source"] = src
    return {"prompt": q, "reference": last_boxed(sol) or "", "meta": meta}


_QUESTION_RE = re.compile(r"\n\s*\nQuestion:\s*(.+)$", re.S)


def _hotpotqa(row: RawRow, spec: Mapping[str, Any]) -> dict:
    inst = get(row, "instruction")
    if inst is not None:
        m = _QUESTION_RE.search(str(inst))
        q = m.group(1).strip() if m else inst
    else:
        q = get(row, "question", what="question", fmt="hotpotqa")
    ref = reference_text(get(row, "response", "answer", what="answer", fmt="hotpotqa"), "qa").strip()
    meta: dict[str, Any] = {}
    md = get(row, "metadata")
    if isinstance(md, dict):
        meta.update(md)
    for k in ("type", "level"):
        v = get(row, k)
        if v is not None:
            meta[k] = v
    out = {"prompt": q, "reference": ref, "meta": meta}
    rid = get(row, "id", "_id")
    if rid is not None and str(rid) != "":
        out["id"] = str(rid)
    return out


def _alpaca(row: RawRow, spec: Mapping[str, Any]) -> dict:
    inst = get(row, "instruction", what="instruction", fmt="alpaca")
    inp = get(row, "input")
    prompt = f"{inst}\n\n{inp}" if inst and inp and str(inp).strip() else inst
    ref = reference_text(get(row, "response", "output"), "open").strip()
    return {"prompt": prompt, "reference": ref, "meta": {}}


def _magpie(row: RawRow, spec: Mapping[str, Any]) -> dict:
    inst = get(row, "instruction")
    resp = get(row, "response")
    conv = get(row, "conversations")
    if inst is None and isinstance(conv, list):  # [{"from": "human", "value": ...}, {"from": "gpt", ...}]
        turns = [t.get("value") for t in conv if isinstance(t, dict)]
        inst = turns[0] if turns else None
        if resp is None and len(turns) > 1:
            resp = turns[1]
    if inst is None and conv is None:
        get(row, "instruction", "conversations", what="instruction", fmt="magpie")
    meta = {}
    for k in ("task_category", "difficulty", "model"):
        v = get(row, k)
        if v is not None:
            meta[k] = v
    out = {"prompt": inst, "reference": reference_text(resp, "open").strip(), "meta": meta}
    uid = get(row, "uuid")
    if uid:
        out["id"] = str(uid)
    return out


def _mt_bench(row: RawRow, spec: Mapping[str, Any]) -> dict:
    turns = get(row, "turns", "prompt", what="turns", fmt="mt_bench")
    if isinstance(turns, str):
        turns = [turns]
    turns = list(turns or [])
    meta: dict[str, Any] = {"turns": turns}
    cat = get(row, "category")
    if cat is not None:
        meta["category"] = cat
    ref = get(row, "reference")
    ref = ref[0] if isinstance(ref, list) and ref else ref
    out = {"prompt": turns[0] if turns else None, "reference": reference_text(ref, "open").strip(), "meta": meta}
    qid = get(row, "question_id", "prompt_id")
    if qid is not None:
        out["id"] = text(qid)
    return out


def _humaneval(row: RawRow, spec: Mapping[str, Any]) -> dict:
    f = "humaneval"
    prompt = get(row, "prompt", what="prompt", fmt=f)
    test = text(get(row, "test", what="test", fmt=f))
    entry = get(row, "entry_point", what="entry_point", fmt=f)
    out = {"prompt": prompt, "reference": test,
           "meta": {"entry_point": entry, "canonical_solution": text(get(row, "canonical_solution"))}}
    tid = get(row, "task_id")
    if tid:
        out["id"] = str(tid)
    if not test.strip():
        raise row_error(row, "empty `test` (the reference of a code row is its test code)",
                        "give the row its test code", out.get("id"))
    return out


# ---------------------------------------------------------------------------- multiple choice


def _subject_from_stem(stem: str | None) -> tuple[str | None, str | None]:
    if not stem:
        return None, None
    m = re.match(r"^(.*)_(dev|val|test|train)$", stem)
    return (m.group(1), m.group(2)) if m else (stem, None)


def _mmlu(row: RawRow, spec: Mapping[str, Any]) -> dict:
    d = row.data
    subject, part = _subject_from_stem(row.extra.get("file_stem"))
    meta: dict[str, Any] = {}
    if isinstance(d, list):  # header-less CSV: question, A, B, C, D, answer
        if len(d) != 6:
            raise row_error(row, f"expected 6 fields (question, A, B, C, D, answer letter), got {len(d)}",
                            "MMLU CSVs are header-less with exactly 6 columns; quote fields that contain commas")
        q, choices, ans = d[0], list(d[1:5]), d[5].strip()
    else:
        q = get(row, "question", what="question", fmt="mmlu")
        choices = get(row, "choices")
        if choices is None:
            letters = [k for k in "ABCDEFGHIJ" if k in d]
            if not letters:
                get(row, "choices", "A", what="choices", fmt="mmlu")
            choices = [d[k] for k in letters]
        choices = [text(c) for c in choices]
        ans = get(row, "answer", "target", what="answer", fmt="mmlu")
        subject = get(row, "subject") or subject
    if subject:
        meta["subject"] = subject
    if part:
        meta["mmlu_split"] = part
    return {"prompt": q, "choices": choices, "reference": mc_reference(row, ans, choices), "meta": meta}


_MC_TEMPLATE = re.compile(r"Question:[ \t]*(.*?)\n[ \t]*\n[ \t]*Options:[ \t]*\n(.*)$", re.S)
_SUBJECT_RE = re.compile(r"multiple choice question about (.+?)\.\s+Please", re.S)


def parse_mc_instruction(instruction: str) -> tuple[str, list[str], str | None]:
    """Split RouterXBench's ``Question: ...\\n\\nOptions:\\nA. ...`` prompt into question, options, subject."""
    m = _MC_TEMPLATE.search(instruction)
    if not m:
        raise ValueError("instruction is not in the template 'Question: ...\\n\\nOptions:\\nA. ...'")
    question = m.group(1).strip()
    block = re.split(r"\n[ \t]*\n", m.group(2), maxsplit=1)[0]
    choices: list[str] = []
    for line in block.split("\n"):
        lm = re.match(r"^([A-Z])\.[ \t]?(.*)$", line)
        if lm and len(choices) < 26 and lm.group(1) == LETTERS[len(choices)]:
            choices.append(lm.group(2).strip())
        elif choices:
            choices[-1] = f"{choices[-1]}\n{line}".strip()
        else:
            raise ValueError(f"options block does not start with 'A. ': {line[:60]!r}")
    if len(choices) < 2:
        raise ValueError(f"found {len(choices)} option(s) after 'Options:', need at least 2")
    sm = _SUBJECT_RE.search(instruction[: m.start()])
    return question, choices, (sm.group(1).strip() if sm else None)


def _mc_routerxbench(fmt: str) -> Callable[[RawRow, Mapping[str, Any]], dict]:
    def parse(row: RawRow, spec: Mapping[str, Any]) -> dict:
        meta: dict[str, Any] = {}
        inst = get(row, "instruction")
        if inst is not None:
            try:
                q, choices, subject = parse_mc_instruction(str(inst))
            except ValueError as e:
                raise row_error(row, str(e), "RouterXBench MC rows hold the options in the instruction; "
                                "use `format: generic` for other layouts") from None
            resp = text(get(row, "response", what="response", fmt=fmt)).strip()
            ref = mc_reference(row, resp, choices)  # "<letter>. <option>", a bare letter, or the option text
            if subject:
                meta["subject"] = subject
        else:  # hub layout (TIGER-Lab/MMLU-Pro): question / options / answer / answer_index / category
            q = get(row, "question", what="question or instruction", fmt=fmt)
            choices = [text(c) for c in (get(row, "options", "choices", what="options", fmt=fmt) or [])]
            ans = get(row, "answer")
            if ans is None:
                ans = get(row, "answer_index", what="answer", fmt=fmt)
            ref = mc_reference(row, ans, choices)
            qid = get(row, "question_id")
            if qid is not None:
                meta["question_id"] = qid
        cat = get(row, "category")
        if cat is not None:
            meta["category"] = cat
        elif row.extra.get("file_stem") and row.extra["file_stem"].endswith("_converted"):
            meta["category"] = row.extra["file_stem"][: -len("_converted")]
        out = {"prompt": q, "choices": choices, "reference": ref, "meta": meta}
        if "question_id" in meta:
            out["id"] = text(meta["question_id"])
        return out

    return parse


def _medqa(row: RawRow, spec: Mapping[str, Any]) -> dict:
    q = get(row, "question", what="question", fmt="medqa")
    opts = get(row, "options", what="options", fmt="medqa")
    if isinstance(opts, dict):
        keys = sorted(opts)
        if keys != list(LETTERS[: len(keys)]):
            raise row_error(row, f"option keys {keys} are not consecutive letters from A", "fix the options")
        choices = [text(opts[k]) for k in keys]
    elif isinstance(opts, list):  # [{"key": "A", "value": ...}] or plain strings
        choices = [text(o.get("value")) if isinstance(o, dict) else text(o) for o in opts]
    else:
        raise row_error(row, f"options must be an object {{A: ..., B: ...}} or a list, got {type(opts).__name__}",
                        "fix the options field")
    ans = get(row, "answer_idx")
    if ans is None:
        ans = get(row, "answer", what="answer_idx", fmt="medqa")
    meta: dict[str, Any] = {}
    if get(row, "answer") is not None:
        meta["answer_text"] = text(get(row, "answer"))
    if get(row, "meta_info") is not None:
        meta["meta_info"] = get(row, "meta_info")
    return {"prompt": q, "choices": choices, "reference": mc_reference(row, ans, choices), "meta": meta}


# ---------------------------------------------------------------------------- generic


def _generic(row: RawRow, spec: Mapping[str, Any]) -> dict:
    cols = dict(spec.get("columns") or {})
    task = spec["task"]
    prompt = get(row, cols["prompt"], what=f"prompt (columns.prompt = {cols['prompt']!r})", fmt="generic")
    ref_col = cols.get("reference")
    ref: Any = get(row, ref_col, what=f"reference (columns.reference = {ref_col!r})", fmt="generic") \
        if ref_col else ""
    choices: list[str] = []
    if task == "mc":
        ch_col = cols.get("choices")
        if ch_col is None:
            raise DatasetError("format generic with task mc needs `columns.choices` (a list column, or a list of "
                               "column names such as [A, B, C, D])")
        if isinstance(ch_col, (list, tuple)):
            choices = [text(get(row, c, what=f"choice column {c!r}", fmt="generic")) for c in ch_col]
        else:
            raw = get(row, ch_col, what=f"choices (columns.choices = {ch_col!r})", fmt="generic")
            if isinstance(raw, str):
                try:
                    raw = json.loads(raw)
                except ValueError:
                    raise row_error(row, f"choices column {ch_col!r} holds a string that is not a JSON list",
                                    "store the options as a list, or name one column per option") from None
            choices = [text(c) for c in raw]
        ref = mc_reference(row, ref, choices)
    meta = {c: get(row, c) for c in (spec.get("meta_columns") or [])}
    out = {"prompt": prompt, "reference": reference_text(ref, task).strip() if task != "code" else text(ref),
           "choices": choices, "task": task, "meta": meta}
    if cols.get("id"):
        rid = get(row, cols["id"], what=f"id (columns.id = {cols['id']!r})", fmt="generic")
        if rid is not None and text(rid) != "":
            out["id"] = text(rid)
    return out


def check_generic_spec(spec: Mapping[str, Any], name: str) -> None:
    cols = spec.get("columns")
    if not isinstance(cols, Mapping) or not cols.get("prompt"):
        raise DatasetError(f"dataset {name!r}: format generic needs `columns:` with at least `prompt:` naming the "
                           "prompt column, e.g. columns: {prompt: question, reference: answer}")
    unknown = sorted(set(cols) - {"prompt", "reference", "choices", "id"})
    if unknown:
        raise DatasetError(f"dataset {name!r}: unknown key(s) {unknown} under columns; valid: prompt, reference, "
                           "choices, id (other fields go in `meta_columns: [...]`)")
    task = spec.get("task")
    if task not in TASKS:
        raise DatasetError(f"dataset {name!r}: format generic needs `task:` set to one of {list(TASKS)}, "
                           f"got {task!r}")


FORMATS: dict[str, Format] = {
    f.name: f
    for f in [
        Format("gsm8k", "math", _gsm8k, "GSM8K jsonl {question, answer ending '#### <n>'}"),
        Format("math", "math", _math, "MATH: RouterXBench {instruction, response, level, domain} or "
               "MATH-500 {problem, answer|solution}"),
        Format("big_math", "math", _big_math, "Big-Math {instruction|problem, response|answer, ...}"),
        Format("numina_cot", "math", _numina_cot, "NuminaMath-CoT {instruction|problem, response|solution}; "
               "reference = last \\boxed{}"),
        Format("mmlu", "mc", _mmlu, "MMLU header-less CSV question,A,B,C,D,answer (dir: all *.csv) or hub "
               "{question, choices, answer index}", globs=("*.csv",), recursive=True, csv_header=False),
        Format("mmlu_routerxbench", "mc", _mc_routerxbench("mmlu_routerxbench"),
               "RouterXBench MC jsonl {instruction 'Question: ...Options:...', response '<L>. <option>'}",
               globs=("*_converted.jsonl", "*.jsonl")),
        Format("mmlu_pro", "mc", _mc_routerxbench("mmlu_pro"), "MMLU-Pro: RouterXBench *_converted.jsonl "
               "(up to 10 options) or hub {question, options, answer}", globs=("*_converted.jsonl",)),
        Format("medqa", "mc", _medqa, "MedQA jsonl {question, options {A..}, answer_idx}"),
        Format("alpaca", "open", _alpaca, "Alpaca: RouterXBench {instruction, response} or original "
               "{instruction, input, output}"),
        Format("magpie", "open", _magpie, "Magpie {instruction, response} (or conversations)"),
        Format("hotpotqa", "qa", _hotpotqa, "HotpotQA: RouterXBench {id, instruction, response, metadata} or hub "
               "{id, question, answer, type, level}"),
        Format("humaneval", "code", _humaneval, "HumanEval jsonl[.gz] {task_id, prompt, entry_point, "
               "canonical_solution, test}"),
        Format("mt_bench", "open", _mt_bench, "MT-bench {question_id, category, turns}; first turn is the prompt"),
        Format("generic", None, _generic, "any jsonl/json/csv/parquet with `columns: {prompt: ..., reference: "
               "...}` and `task:`"),
    ]
}
FORMAT_ALIASES = {"med_qa": "medqa", "mmlu-pro": "mmlu_pro", "human_eval": "humaneval", "hotpot_qa": "hotpotqa",
                  "mtbench": "mt_bench", "numina": "numina_cot"}


def get_format(fmt: str | None, name: str) -> Format:
    key = FORMAT_ALIASES.get(fmt, fmt) if isinstance(fmt, str) else fmt
    if key not in FORMATS:
        listing = "; ".join(f"{k}: {v.description}" for k, v in FORMATS.items())
        raise DatasetError(f"dataset {name!r}: unknown format {fmt!r}; set `format:` to one of "
                           f"{sorted(FORMATS)} ({listing})")
    return FORMATS[key]
