"""QA scoring: SQuAD-normalised exact match, token F1, or "contains"."""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from typing import Any, Iterable

from routerlab.scoring.result import ScoreResult, is_missing, strip_think

_PUNCT = set(string.punctuation) | {"‘", "’", "“", "”", "–", "—"}


def normalize_answer(s: str) -> str:
    """SQuAD normalisation: lower case, drop punctuation and articles, squash whitespace."""
    s = str(s).lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def _golds(reference: Any) -> list[str]:
    if isinstance(reference, str):
        s = reference.strip()
        if s.startswith("[") and s.endswith("]"):
            try:
                v = json.loads(s)
                if isinstance(v, list):
                    return [str(x) for x in v]
            except ValueError:
                pass
        return [reference]
    if isinstance(reference, Iterable):
        return [str(x) for x in reference]
    return [str(reference)]


def qa_exact_match(prediction: str, reference: Any) -> float:
    p = normalize_answer(prediction)
    return float(any(p == normalize_answer(g) for g in _golds(reference)))


def _f1(pred: str, gold: str) -> float:
    pt, gt = normalize_answer(pred).split(), normalize_answer(gold).split()
    if not pt or not gt:
        return float(pt == gt)
    common = Counter(pt) & Counter(gt)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pt), same / len(gt)
    return 2 * precision * recall / (precision + recall)


def qa_f1(prediction: str, reference: Any) -> float:
    return max(_f1(prediction, g) for g in _golds(reference))


def qa_contains(response: str, reference: Any) -> float:
    r = f" {normalize_answer(response)} "
    return float(any(normalize_answer(g) and f" {normalize_answer(g)} " in r for g in _golds(reference)))


_QA_ANCHOR = re.compile(r"(?:(?:\bthe\s+)?\bfinal\s+answer|\bthe\s+answer|(?<![a-z])answer)\s*(?:is\s*:?|:)\s*", re.I)


def extract_qa_answer(response: str) -> str:
    """The answer phrase: the last "Answer: X" / "The answer is X" line, else the response."""
    text = strip_think(str(response)).replace("**", "").strip()
    for m in reversed(list(_QA_ANCHOR.finditer(text))):
        span = text[m.end():].split("\n", 1)[0].strip()
        if span:
            return span.rstrip(".").strip().strip('"“”').strip()
    return text


def score_qa(response: str, reference: Any, metric: str = "em") -> ScoreResult:
    """Exact match (default), token F1 (``metric="f1"``) or containment (``"contains"``)."""
    if metric not in ("em", "f1", "contains"):
        raise ValueError(f"metric must be 'em', 'f1' or 'contains', got {metric!r}")
    if is_missing(response) or not str(response).strip():
        return ScoreResult(0.0, None, "unparsed", "empty response")
    if metric == "contains":
        return ScoreResult(qa_contains(strip_think(str(response)), reference), None, "ok", "contains")
    ans = extract_qa_answer(response)
    if not ans:
        return ScoreResult(0.0, None, "unparsed", "empty answer")
    if metric == "em":
        return ScoreResult(qa_exact_match(ans, reference), ans, "ok", "exact match")
    return ScoreResult(qa_f1(ans, reference), ans, "ok", "token F1")
