"""LLM judges, the pure half: xVerify prompt + strict verdict parser; a pairwise (weak vs
strong) judge and an MT-bench style 1-10 graded judge for open-ended sets. Building
messages and parsing replies is pure; the HTTP call happens elsewhere (OpenAI-compatible
client, ``routerlab.lm.judge``)."""

from __future__ import annotations

import re
from typing import Any

from routerlab.scoring.result import NAN, ScoreResult, is_missing, strip_think

# The prompt xVerify models (IAAR-Shanghai/xVerify, arXiv:2504.10481) were trained with,
# reproduced for compatibility with those checkpoints; any judge model works with it.
XVERIFY_PROMPT = '''You are a diligent and precise assistant tasked with evaluating the correctness of responses. You will receive a question, an output sentence, and the correct answer. Your task is to determine if the output sentence accurately answers the question based on the provided correct answer. Respond with either [Correct] or [Incorrect].
-
Special considerations:

1. **Multiple Answers**: If the output contains multiple answers, evaluate whether later answers modify or correct earlier ones. In such cases, compare the final answer with the correct answer. If the final answer is unclear or incorrect, respond with [Incorrect].

2. **Mathematical Problems**: If the formats differ but the answers are mathematically equivalent, respond with [Correct].

3. **Explicit Options**: If the question provides explicit candidate answers, the output will be considered correct if it clearly indicates the correct option's code or the correct option's content.

4. **No Explicit Options**: If the question does not provide explicit options, the output must align with the correct answer in content and meaning to be considered [Correct].
-

Question: """{question}"""

Output sentence: """{output}"""

Correct answer: {answer}

Judgement:
'''


def build_xverify_messages(question: str, response: str, reference: Any) -> list[dict[str, str]]:
    """Chat messages for an xVerify (or any) judge: one user turn holding the prompt."""
    content = XVERIFY_PROMPT.format(question=str(question), output=str(response), answer=str(reference))
    return [{"role": "user", "content": content}]


def _verdict_core(s: str) -> str:
    s = s.strip().replace("**", "").replace("__", "").replace("`", "")
    s = re.sub(r"^(?:final\s+)?(?:judg(?:e)?ment|verdict|answer|result)\s*[:：]\s*", "", s, flags=re.IGNORECASE)
    return s.strip().strip("[]()\"'“”.。!").strip().lower()


# Verdict words anywhere in the reply. A mention counts against a verdict of the other
# polarity: "correct" is positive; "incorrect", "wrong", a negated ("not correct", "isn't
# entirely correct") or hedged ("partially correct") "correct" are negative; a negated
# negative ("not incorrect", "not wrong") is ambiguous and conflicts with both. Attributive
# uses ("the correct answer", "Correct answer: 42") are no verdict and are skipped.
_MENTION_RE = re.compile(
    r"(?P<pre>\b(?:\w+(?:'\w+)?\s+){0,3})(?P<word>incorrect|correct|wrong)\b(?P<post>\s+\w+)?", re.IGNORECASE)
_NEGATION_RE = re.compile(r"\b(?:not|never|no|hardly|isn't|aren't|wasn't|weren't|doesn't|don't|cannot|can't)\b\s+"
                          r"(?:\w+\s+){0,2}$", re.IGNORECASE)
_HEDGE_RE = re.compile(r"\b(?:partially|partly|mostly|almost|nearly|somewhat|half|largely)\s+$", re.IGNORECASE)
_ATTRIBUTIVE_PRE_RE = re.compile(r"\b(?:the|a|an)\s+$", re.IGNORECASE)
_ATTRIBUTIVE_NOUNS = {"answer", "answers", "option", "options", "choice", "solution", "value", "result", "reference",
                      "response", "one", "format", "label"}


def _mentions(body: str) -> set[str]:
    """Polarities ("correct", "incorrect", "ambiguous") of the verdict words in ``body``."""
    out = set()
    for m in _MENTION_RE.finditer(body):
        pre, word = m.group("pre"), m.group("word").lower()
        post = (m.group("post") or "").strip().lower()
        if _ATTRIBUTIVE_PRE_RE.search(pre) or post in _ATTRIBUTIVE_NOUNS:
            continue
        negative = word != "correct"
        if _NEGATION_RE.search(pre):
            out.add("ambiguous" if negative else "incorrect")
        elif not negative and _HEDGE_RE.search(pre):
            out.add("incorrect")
        else:
            out.add("incorrect" if negative else "correct")
    return out


def parse_xverify(text: Any) -> ScoreResult:
    """xVerify verdict: "Correct" -> 1.0, "Incorrect" -> 0.0, anything else -> NaN.

    Strict on purpose: the whole reply (markdown, brackets, a "Judgement:" label and a
    reasoning block stripped) or its first/last line must be exactly one verdict, and no
    other verdict word in the reply may say otherwise ("Correct\nWait, the answer is wrong",
    "correct. ... so it is incorrect", "Correct\nIt is not correct" are unparsed);
    "not correct", "partially correct" or mixed verdicts are never scored as correct.
    """
    if is_missing(text):
        return ScoreResult(NAN, None, "unparsed", "no judge reply")
    body = strip_think(str(text)).strip()
    lines = [ln for ln in body.splitlines() if ln.strip()]
    cands = [_verdict_core(body)]
    if len(lines) > 1:
        cands += [_verdict_core(lines[0]), _verdict_core(lines[-1])]
    verdicts = {c for c in cands if c in ("correct", "incorrect")}
    if len(verdicts) == 1:
        v = verdicts.pop()
        contrary = _mentions(body.replace("**", "").replace("__", "").replace("`", "")) - {v}
        if not contrary:
            return ScoreResult(1.0 if v == "correct" else 0.0, v.capitalize(), "ok", "xverify")
        return ScoreResult(NAN, None, "unparsed",
                           f"conflicting verdicts ({v} and {'/'.join(sorted(contrary))}): {body[:200]!r}")
    why = "conflicting verdicts" if verdicts else "no verdict"
    return ScoreResult(NAN, None, "unparsed", f"{why}: {body[:200]!r}")


PAIRWISE_SYSTEM = (
    "You are an impartial judge comparing two AI assistants' answers to the same user question. "
    "Decide which answer serves the user better: follow the user's instructions, and weigh correctness, "
    "helpfulness, relevance, depth and clarity. The order in which the answers appear, their length and the "
    "assistants' names must not influence you. Explain your comparison briefly, then end with your verdict "
    "on its own line in exactly this format: \"[[A]]\" if answer A is better, \"[[B]]\" if answer B is better, "
    "or \"[[C]]\" if they are equally good."
)

GRADED_SYSTEM = (
    "You are an impartial judge rating the quality of an AI assistant's answer to a user question. "
    "Consider helpfulness, correctness, relevance, depth, creativity and level of detail. Explain your "
    "assessment briefly, then end with a rating from 1 (worst) to 10 (best) on its own line in exactly this "
    "format: \"Rating: [[7]]\"."
)


def build_pairwise_messages(question: str, answer_a: str, answer_b: str) -> list[dict[str, str]]:
    """Chat messages asking which of two answers is better ([[A]] / [[B]] / [[C]] = tie).

    Convention: the weak model's answer is A (see ``parse_pairwise(weak_position=...)`` to
    also run the swapped order against position bias).
    """
    user = (f"[Question]\n{question}\n\n[Answer A]\n{answer_a}\n[End of Answer A]\n\n"
            f"[Answer B]\n{answer_b}\n[End of Answer B]")
    return [{"role": "system", "content": PAIRWISE_SYSTEM}, {"role": "user", "content": user}]


_PAIR_RE = re.compile(r"\[\[\s*(A|B|C|tie)\s*\]\]", re.IGNORECASE)


def parse_pairwise(text: Any, weak_position: str = "A") -> ScoreResult:
    """1.0 if the weak answer is judged at least as good (wins or ties), 0.0 if it loses.

    The last ``[[A]]``/``[[B]]``/``[[C]]`` in the reply is the verdict; none -> NaN.
    ``parsed`` is the verdict as written: "A", "B" or "tie".
    """
    if weak_position not in ("A", "B"):
        raise ValueError("weak_position must be 'A' or 'B'")
    if is_missing(text):
        return ScoreResult(NAN, None, "unparsed", "no judge reply")
    hits = _PAIR_RE.findall(strip_think(str(text)))
    if not hits:
        return ScoreResult(NAN, None, "unparsed", f"no [[A]]/[[B]]/[[C]] verdict: {str(text)[:200]!r}")
    v = hits[-1].upper()
    v = "tie" if v in ("C", "TIE") else v
    score = 1.0 if v in ("tie", weak_position) else 0.0
    return ScoreResult(score, v, "ok", f"pairwise; weak answer is {weak_position}")


def build_graded_messages(question: str, answer: str) -> list[dict[str, str]]:
    """Chat messages asking for a 1-10 rating in the MT-bench ``Rating: [[7]]`` format."""
    user = f"[Question]\n{question}\n\n[The Start of Assistant's Answer]\n{answer}\n[The End of Assistant's Answer]"
    return [{"role": "system", "content": GRADED_SYSTEM}, {"role": "user", "content": user}]


def parse_graded(text: Any) -> ScoreResult:
    """``Rating: [[7]]`` -> score 0.7, parsed "7"; a rating outside 1-10, none, or several
    different ones ("[[3]] out of [[10]]") -> NaN (unparsed)."""
    if is_missing(text):
        return ScoreResult(NAN, None, "unparsed", "no judge reply")
    body = strip_think(str(text))
    hits = re.findall(r"\[\[\s*(-?\d+(?:\.\d+)?)\s*(?:/\s*10\s*)?\]\]", body)
    hits += re.findall(r"\brating\s*[:：]\s*\[?\s*(-?\d+(?:\.\d+)?)\s*(?:/\s*10)?\s*\]?(?!\])", body, re.IGNORECASE)
    if not hits:
        return ScoreResult(NAN, None, "unparsed", f"no rating found: {body[:200]!r}")
    values = {float(h) for h in hits}
    if len(values) > 1:  # "[[3]] out of [[10]]", "Rating: 8 ... [[6]]": no single rating
        return ScoreResult(NAN, None, "unparsed", f"several ratings {sorted(values)}: {body[:200]!r}")
    r = values.pop()
    if not 1.0 <= r <= 10.0:
        return ScoreResult(NAN, hits[-1], "unparsed", f"rating {hits[-1]} outside 1-10")
    parsed = str(int(r)) if r == int(r) else hits[-1]
    return ScoreResult(r / 10.0, parsed, "ok", "graded 1-10")
