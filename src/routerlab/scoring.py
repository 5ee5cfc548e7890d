"""Per-query correctness (DAG step 3, ``score``).

Verifiers for the verifiable task types, plus the pure half of the LLM judges:

* ``math``  -- final-answer extraction (the later of the last "Answer: X" / "The answer is
  X" / "#### X" statement and the last ``\\boxed{...}``, then a short direct answer or bare
  formula, then the last number) and equivalence through math-verify, with a numeric
  fallback (thousands separators, ``.0``, ``3/4`` vs ``0.75``, percentages, trailing units).
  References cut out of a solution by a lazy ``\\boxed{(.*?)}`` regex (RouterXBench's
  ``"7} \\pmod{11"``) are repaired by cutting at the first unbalanced ``}``.
* ``mc``    -- option-letter extraction (A-J) with ambiguity detection, falling back to
  the option's text.
* ``qa``    -- SQuAD-normalised exact match, token F1, or "contains".
* ``code``  -- HumanEval-style execution in a subprocess: fresh temp dir, ``python -I``,
  rlimits (memory, CPU, files, file size), wall timeout with process-group kill, stripped
  environment, sockets/subprocesses disabled in-process and, when available, a private
  network namespace (``unshare -n``).
* judges    -- xVerify prompt + strict verdict parser; a pairwise (weak vs strong) judge
  and an MT-bench style 1-10 graded judge for open-ended sets. Building messages and
  parsing replies is pure; the HTTP call happens elsewhere (OpenAI-compatible client).

Score semantics (``ScoreResult``):

* ``score`` is a verdict on the *response* whenever one can be reached: 1.0 correct,
  0.0 wrong. A response with no extractable answer (``status="unparsed"``) is wrong
  (0.0); so is a program that fails its tests (``"ok"``), crashes (``"error"``) or hangs
  (``"timeout"``).
* ``score`` is NaN only when the *scorer* could not decide: a judge reply in an
  unexpected format (``"unparsed"``), or math-verify failing on an answer the numeric
  fallback cannot settle (``"error"``/``"timeout"``). Downstream code drops NaN rows.
"""

from __future__ import annotations

import json
import math
import os
import re
import resource
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any, Callable, Iterable, Sequence

__all__ = [
    "ScoreResult", "STATUSES", "JudgeRequired",
    "extract_math_answer", "last_boxed", "math_equal", "score_math",
    "extract_choice", "score_mc",
    "normalize_answer", "qa_exact_match", "qa_f1", "qa_contains", "extract_qa_answer", "score_qa",
    "extract_code", "build_program", "score_code", "network_namespace_available",
    "XVERIFY_PROMPT", "build_xverify_messages", "parse_xverify",
    "PAIRWISE_SYSTEM", "build_pairwise_messages", "parse_pairwise",
    "GRADED_SYSTEM", "build_graded_messages", "parse_graded",
    "score_row", "SCORERS",
]


STATUSES = ("ok", "unparsed", "error", "timeout")
NAN = float("nan")


@dataclass
class ScoreResult:
    """One verdict. ``score`` in [0, 1] or NaN; ``parsed`` is the extracted answer."""

    score: float
    parsed: str | None = None
    status: str = "ok"
    detail: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        self.score = float(self.score)
        if not (math.isnan(self.score) or 0.0 <= self.score <= 1.0):
            raise ValueError(f"score must be in [0, 1] or NaN, got {self.score}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class JudgeRequired(ValueError):
    """Raised for open-ended tasks, which have no reference-based verifier."""


def _is_missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


# ---------------------------------------------------------------------------------------
# shared text helpers
# ---------------------------------------------------------------------------------------

_THINK_RE = re.compile(r"<think>.*?</think>", re.S | re.I)


def _strip_think(text: str) -> str:
    text = _THINK_RE.sub(" ", text)
    if "</think>" in text:  # an unclosed/cut reasoning block: keep what follows it
        text = text.rsplit("</think>", 1)[1]
    return text


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` / ``\\fbox{...}`` (nested braces balanced)."""
    starts = [m for m in re.finditer(r"\\(?:boxed|fbox)\b", text)]
    for m in reversed(starts):
        i = m.end()
        while i < len(text) and text[i] == " ":
            i += 1
        if i < len(text) and text[i] == "{":
            depth, j = 0, i
            while j < len(text):
                if text[j] == "{":
                    depth += 1
                elif text[j] == "}":
                    depth -= 1
                    if depth == 0:
                        return text[i + 1:j].strip()
                j += 1
            continue  # unbalanced: try an earlier one
        tok = re.match(r"\s*([^\s$]+)", text[i:])  # "\boxed 5"
        if tok:
            return tok.group(1).strip()
    return None


def _strip_text_macros(s: str) -> str:
    """``\\text{Sunday}`` -> ``Sunday``; ``\\textbf{B}`` -> ``B`` (one level, repeated)."""
    prev = None
    while prev != s:
        prev = s
        s = re.sub(r"\\(?:text|textbf|mathrm|mathbf|textit|mbox|operatorname)\s*\{([^{}]*)\}", r"\1", s)
    return s


# ---------------------------------------------------------------------------------------
# math
# ---------------------------------------------------------------------------------------

_MATH_ANCHOR = re.compile(
    r"(?:(?:\bthe\s+)?\bfinal\s+answer|\bthe\s+answer|(?<![a-z])answer)\s*"
    r"(?:is\s*:?|:|=|would\s+be\s*:?|should\s+be\s*:?)\s*"
    r"|####[ \t]*(?=[-+$\\\d.(])",  # GSM8K "#### 72", not a markdown heading
    re.I,
)
_NUM = r"(?:-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\.\d+)"
_LAST_NUM_RE = re.compile(rf"(?<![\w.])(?:{_NUM})(?:\s*/\s*(?:{_NUM}))?")


def _clean_math_span(span: str) -> str:
    s = span.strip()
    boxed = last_boxed(s)
    if boxed is not None:
        return boxed
    s = s.replace("**", "").replace("__", "")
    s = re.sub(r"^\\\(|\\\)$|^\\\[|\\\]$", "", s.strip())
    s = s.strip().strip("$").strip()
    s = re.sub(r"[.;,!]+$", "", s).strip()  # sentence punctuation
    return s.strip("$").strip()


def _plausible_answer(s: str) -> bool:
    if not s:
        return False
    if re.search(r"\d|\\", s):
        return True
    return len(s.split()) <= 4  # short textual answers: "Sunday", "\text{C,E}", "no solution"


def _is_bare_math(s: str) -> bool:
    """A formula with no prose: "x + 2y + 3 = 0", "(-\\infty, 0] \\cup [4, \\infty)", "1 \\text{ or } 3"."""
    t = re.sub(r"\\(?:text|mbox|mathrm|operatorname)\s*\{[^{}]*\}", " ", s)
    t = re.sub(r"\\[A-Za-z]+", " ", t)
    return re.search(r"[A-Za-z]{3,}", t) is None and re.search(r"[\d=<>+\-^]", t) is not None


def extract_math_answer(response: str) -> str | None:
    """The final answer a model states, or None.

    Priority: the last "Answer: X" / "The (final) answer is X" / "#### X" statement (its
    boxed content if it has one) or the last ``\\boxed{}``, whichever comes later in the
    text (a box after an intermediate "the answer is" is the final answer); then the
    whole response when it is a short one-liner ("42", "42.", "\\frac{1}{4}", "18 dollars");
    then the last number.
    """
    if _is_missing(response):
        return None
    text = _strip_think(str(response)).strip()
    if not text:
        return None
    boxed_at = max((m.start() for m in re.finditer(r"\\(?:boxed|fbox)\b", text)), default=-1)
    for m in reversed(list(_MATH_ANCHOR.finditer(text))):
        if m.start() < boxed_at and "\n" in text[m.end():boxed_at].strip():
            break  # a \boxed{} on a later line is the final answer
        rest = text[m.end():]
        line = rest.split("\n", 1)[0]
        if not line.strip():  # "The answer is:\n\n$\boxed{5}$"
            nxt = [ln for ln in rest.split("\n") if ln.strip()]
            line = nxt[0] if nxt else ""
        cand = _clean_math_span(line[:200])
        # "The answer is 5 apples because ..." -> keep to the first clause
        if last_boxed(line) is None:
            cand = re.split(r"\s+(?:because|since|as|which|so|and\s+that)\s+", cand, maxsplit=1)[0]
            cand = re.sub(r"[.;,!]+$", "", cand.strip()).strip()
        if _plausible_answer(cand):
            return cand
    boxed = last_boxed(text)
    if boxed is not None and boxed.strip():
        return boxed.strip()
    one_line = _clean_math_span(text)
    if "\n" not in one_line and one_line and (
            (len(one_line) <= 40 and (len(one_line.split()) <= 3 or _to_numbers(one_line)))
            or (len(one_line) <= 200 and _is_bare_math(one_line))):
        return one_line
    nums = _LAST_NUM_RE.findall(text.replace("{,}", ","))
    if nums:
        return nums[-1].replace(" ", "")
    return None


def _clean_math_reference(ref: Any) -> str:
    """Reference answer as a bare expression.

    Handles GSM8K solutions (``... #### 72``), boxed references, and references cut out of
    a solution by a lazy ``\\boxed{(.*?)}`` regex, e.g. RouterXBench's ``"7} \\pmod{11"``:
    the text is cut at the first unbalanced ``}``.
    """
    s = str(ref).strip()
    if "####" in s:
        s = s.rsplit("####", 1)[1].strip()
    boxed = last_boxed(s)
    if boxed is not None:
        s = boxed
    depth = 0
    for i, ch in enumerate(s):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                s = s[:i]
                break
    return _clean_math_span(s) if s.strip() else s.strip()


_UNIT_TAIL = re.compile(r"\s*(?:\\text\{[^{}]*\}|\\mbox\{[^{}]*\}|\\(?:,|;|!|quad)|[a-zA-Z][a-zA-Z.\s]*?)\s*$")


def _to_numbers(s: str) -> list[float] | None:
    """Numeric readings of an answer string, or None if it is not a plain number.

    "1,234" -> [1234]; "$18.00" -> [18]; "18 dollars" -> [18]; "3/4" / "\\frac{3}{4}" ->
    [0.75]; "25%" -> [25, 0.25] (a percentage matches either reading); "x = 5" -> [5].
    """
    t = _strip_text_macros(s.strip())
    t = t.replace("\\!", "").replace("{,}", ",").replace("\\,", "").replace("\\$", "$").replace("$", "")
    t = t.replace("−", "-").strip()
    t = re.sub(r"^[a-zA-Z]\s*=\s*", "", t)  # "x = 5"
    t = re.sub(r"^(?:USD|US\$|£|€|¥)\s*", "", t).strip()
    pct = False
    m = re.search(r"\s*(?:\\%|%|percent\b)\s*\.?$", t)
    if m:
        pct, t = True, t[:m.start()].strip()
    else:
        # trailing unit words ("18 dollars", "5 \text{ cm}", "6.213 km long")
        m2 = re.match(rf"^({_NUM}(?:\s*/\s*\d+)?)\s+([a-zA-Z][a-zA-Z. ]{{0,30}})\.?$", t)
        if m2:
            t = m2.group(1)
    t = t.rstrip(".").strip()
    val: float | None = None
    frac = re.fullmatch(r"(-?)\\[dt]?frac\s*\{\s*(-?\d+)\s*\}\s*\{\s*(-?\d+)\s*\}", t) or \
        re.fullmatch(r"(-?)\\[dt]?frac(\d)(\d)", t)
    if frac:
        num, den = int(frac.group(2)), int(frac.group(3))
        if den == 0:
            return None
        val = float(Fraction(num, den)) * (-1 if frac.group(1) else 1)
    elif re.fullmatch(rf"{_NUM}\s*/\s*(?:{_NUM})", t):
        a, b = (float(x.replace(",", "")) for x in t.split("/"))
        if b == 0:
            return None
        val = a / b
    elif re.fullmatch(_NUM, t):
        val = float(t.replace(",", ""))
    elif re.fullmatch(r"-?\d+(?:\.\d+)?[eE][-+]?\d+", t):
        val = float(t)
    if val is None or not math.isfinite(val):
        return None
    return [val, val / 100.0] if pct else [val]


def _num_close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


def _norm_text_answer(s: str) -> str:
    s = _strip_text_macros(s)
    s = s.replace("\\!", "").replace("\\,", "").replace("$", "")
    s = re.sub(r"[\s{}]", "", s).lower()
    return s.rstrip(".")


_MV_LOCK = threading.Lock()


def _math_verify(gold: str, pred: str) -> tuple[bool | None, str]:
    """(equal?, note) via math-verify; None when it failed or timed out.

    An answer math-verify cannot parse is wrong (False); an unparseable reference, an
    exception or a timeout is undecided (None). math-verify's timeouts use SIGALRM, which
    only works in the main thread: there we use them (5 s); elsewhere they are disabled
    (inputs are length-capped instead).
    """
    if len(gold) > 500:
        return None, "math-verify skipped: reference longer than 500 characters"
    if len(pred) > 500:
        return False, "answer longer than 500 characters"
    try:
        from math_verify import parse, verify
    except ImportError as e:  # pragma: no cover - dependency is declared
        return None, f"math-verify unavailable: {e}"
    main = threading.current_thread() is threading.main_thread() and os.name == "posix"
    tmo = 5 if main else None

    def wrap(x: str) -> str:
        return x if ("$" in x or "\\boxed" in x) else f"${x}$"

    try:
        with _MV_LOCK:
            g = parse(wrap(gold), parsing_timeout=tmo)
            if not g:
                return None, "math-verify could not parse the reference"
            p = parse(wrap(pred), parsing_timeout=tmo)
            if not p:
                return False, "math-verify could not parse the answer"
            return bool(verify(g, p, timeout_seconds=tmo)), "math-verify"
    except Exception as e:  # noqa: BLE001 - any failure is reported, never raised
        kind = "timeout" if "timeout" in type(e).__name__.lower() or "timed out" in str(e).lower() else "error"
        return None, f"math-verify {kind}: {type(e).__name__}: {e}"[:300]


def math_equal(pred: str, reference: str) -> tuple[bool | None, str]:
    """Whether two answer strings are equivalent: (verdict, how); verdict None = undecided.

    Plain numbers on both sides are compared numerically (tolerance 1e-6 relative; a
    percentage may match either reading), identical normalised strings are equal, and
    everything else goes to math-verify. When math-verify fails on a numeric reference
    the answer (not a plain number, not provably equal) counts as wrong.
    """
    pn, rn = _to_numbers(pred), _to_numbers(reference)
    if pn is not None and rn is not None:
        return any(_num_close(a, b) for a in pn for b in rn), "numeric"
    if _norm_text_answer(pred) and _norm_text_answer(pred) == _norm_text_answer(reference):
        return True, "string"
    verdict, note = _math_verify(reference, pred)
    if verdict is None and rn is not None:
        return False, f"not equal to the numeric reference ({note})"
    return verdict, note


def score_math(response: str, reference: Any) -> ScoreResult:
    pred = extract_math_answer(response)
    if pred is None:
        return ScoreResult(0.0, None, "unparsed", "no final answer found")
    ref = _clean_math_reference(reference)
    if not ref:
        return ScoreResult(NAN, pred, "error", f"empty reference after cleaning: {reference!r}"[:300])
    verdict, how = math_equal(pred, ref)
    if verdict is None:
        status = "timeout" if "timeout" in how else "error"
        return ScoreResult(NAN, pred, status, f"undecided (reference {ref!r}): {how}"[:500])
    return ScoreResult(1.0 if verdict else 0.0, pred, "ok", f"{how}; reference {ref!r}"[:500])


# ---------------------------------------------------------------------------------------
# multiple choice
# ---------------------------------------------------------------------------------------

_LETTERS = "ABCDEFGHIJ"
# words that may precede an option letter ("choose B", "option B", "A or B", "is B")
_PRE_OK = {
    "answer", "answers", "option", "options", "choice", "choices", "letter", "is", "be", "was", "are",
    "choose", "chose", "chosen", "select", "selected", "pick", "picked", "with", "so", "thus", "hence",
    "therefore", "and", "or", "nor", "either", "both", "not", "than", "between", "correct", "final",
    "then", "go", "say", "it's", "its", "answered", "but", "while", "whereas", "because", "since", "rather",
    "instead", "also", "only", "that", "likely", "probably", "definitely", "clearly", "obviously", "perhaps",
    "maybe", "if", "unlike", "like", "namely", "consequently", "accordingly", "otherwise", "except",
    "including", "pick:", "respond", "reply", "guess",
}
# words that may follow an option letter ("B is correct", "A or B"); after any other
# lower-case word a capital letter is read as a word ("A good choice", "I think")
_POST_OK = {
    "or", "and", "is", "was", "seems", "appears", "looks", "would", "should", "might", "could", "must",
    "best", "only", "as", "because", "since", "then", "nor", "but", "are", "describes", "correctly",
    "fits", "matches", "represents", "gives", "provides", "states",
}
_TOKEN_RE = re.compile(r"(?<![A-Za-z0-9_\\-])(\(|\[|'|\"|‘|“)?([A-Ja-j])(\)|\]|'|\"|’|”)?(?![A-Za-z0-9_'’-])")
_CONNECT_RE = re.compile(r"^\s*(?:,|/|&|\+|\bor\b|\band\b|\band/or\b)\s*(?:option\s+|choice\s+)?[(\[]?([A-Ja-j])\b")


def _clean_mc(text: str) -> str:
    t = _strip_think(text)
    t = _strip_text_macros(t)
    t = t.replace("**", "").replace("__", "").replace("`", "")
    t = re.sub(r"(?<!\w)\*([A-Ja-j])\*(?!\w)", r"\1", t)
    t = t.replace("$", "")
    return t


def _letter_tokens(text: str, n: int, lenient: bool = False) -> list[tuple[str, int, int, int]]:
    """Option-letter tokens as (letter, start, end, letter position): standalone letters, with articles,
    pronouns and letters naming things ("Vitamin A", "hepatitis B", "A good choice")
    ignored. ``lenient`` also accepts lower-case letters (inside an answer statement)."""
    out = []
    allowed = _LETTERS[:n]
    for m in _TOKEN_RE.finditer(text):
        open_p, letter, close_p = m.group(1), m.group(2), m.group(3)
        bracketed = bool(open_p and close_p)
        if letter.upper() not in allowed:
            continue
        if letter.islower() and not (lenient or bracketed):
            continue
        after = text[m.end():]
        before = text[:m.start()]
        if not bracketed:
            nxt = re.match(r"\s+([a-z][a-z']*)", after) if not close_p else None
            if nxt:
                word = nxt.group(1)
                if letter.upper() == "I" or word not in _POST_OK:
                    continue  # "A good choice", "I think", "a bit"
            if after[:1] in ("'", "’"):
                continue
            pair = re.match(r"\s*(?:,|/|&|and|or)\s*[A-J]\s+([a-z][a-z']*)", after) if not close_p else None
            if pair and pair.group(1) not in _POST_OK:
                continue  # "A and B glycoproteins", "A or B blood"
            if re.match(r"\.\w", after):  # "e.g", "U.S"
                continue
            prev = re.search(r"([A-Za-z][A-Za-z'’]*)[ \t]+$", before)
            if prev and prev.group(1).lower() not in _PRE_OK:
                continue  # "Vitamin A", "type B", "Plan B"
            if letter.upper() == "I" and not (close_p or re.match(r"\s*[.:]\s|\s*[.:]?$", after)):
                continue
        out.append((letter.upper(), m.start(), m.end(), m.start(2)))
    return out


def _match_option_text(text: str, choices: Sequence[str] | None) -> tuple[str | None, str]:
    if not choices:
        return None, "no option letter found"
    norm = normalize_answer
    resp = norm(text)
    if not resp:
        return None, "empty response"
    normed = [norm(str(c)) for c in choices]
    exact = [i for i, c in enumerate(normed) if c and c == resp]
    if len(exact) == 1:
        return _LETTERS[exact[0]], "matched option text exactly"
    padded = f" {resp} "
    hits = [i for i, c in enumerate(normed) if c and f" {c} " in padded]
    # drop options contained in another matched option ("Delhi" inside "New Delhi")
    hits = [i for i in hits if not any(j != i and f" {normed[i]} " in f" {normed[j]} " for j in hits)]
    if len(hits) == 1:
        return _LETTERS[hits[0]], "matched option text"
    if len(hits) > 1:
        return None, "ambiguous: mentions options " + ", ".join(_LETTERS[i] for i in hits)
    return None, "no option letter or option text found"


_MC_ANCHORS = [
    re.compile(r"(?:\b(?:the\s+)?(?:final|correct|best|right)\s+)?\banswer\s*(?:is\s*:?|:|=|would\s+be|should\s+be|-)\s*"
               r"(?:option\s*|choice\s*|letter\s*)?:?\s*", re.I),
    re.compile(r"\b(?:correct|best|right)\s+(?:option|choice)\s*(?:is|would\s+be|:)\s*:?\s*", re.I),
    re.compile(r"\b(?:I(?:'d|\s+would)?\s+(?:choose|select|pick|go\s+with)|my\s+(?:choice|answer|pick)\s+is)\s*:?\s*"
               r"(?:option\s*|choice\s*)?", re.I),
]
# "B is correct", "(B) Madrid is the correct answer"; the words in between may not hold
# another verdict ("A is wrong but D is correct" -> D)
_MC_POSTFIX = re.compile(
    r"(?<![A-Za-z0-9_'’\\-])[(\[]?([A-J])[)\]]?(?![A-Za-z0-9_'’-])"
    r"(?:(?!\b(?:is|isn't|not|are|was)\b)[^\n.]){0,80}?\s+is\s+"
    r"(?:the\s+)?(?:correct|right|best)\b(?!\s+(?:only|if|when|for|because))"
)


def _drop_negated(toks: list, text: str) -> list:
    """Drop letters that are ruled out: "not A", "isn't B", "rather than C"."""
    return [t for t in toks
            if not re.search(r"(?:\bnot|n't|\brather\s+than)\s+(?:option\s+|choice\s+)?$", text[:t[1]], re.I)]


def _span_choice(span: str, n: int, choices: Sequence[str] | None) -> tuple[str | None, str, bool]:
    """(letter, reason, decided) for the text right after an answer anchor."""
    span = span.strip()
    toks = _letter_tokens(span, n, lenient=True)
    toks = _drop_negated(toks, span)
    if toks:
        first = toks[0]
        # "A or B", "A and C", "A, C" right after the anchor: several answers
        m = _CONNECT_RE.match(span[first[2]:])
        if m and m.group(1).upper() != first[0] and m.group(1).upper() in _LETTERS[:n]:
            return None, f"ambiguous: several options asserted ({first[0]}, {m.group(1).upper()})", True
        if first[1] <= 24 or not choices:  # letter is the answer, not a later aside
            return first[0], "answer statement", True
    letter, reason = _match_option_text(span, choices)
    if letter:
        return letter, "answer statement (option text)", True
    if toks:
        return toks[0][0], "answer statement", True
    return None, reason, False


def _extract_choice(response: Any, n_choices: int = 4, choices: Sequence[str] | None = None) -> tuple[str | None, str]:
    if _is_missing(response):
        return None, "no response"
    n = max(1, min(int(n_choices), len(_LETTERS)))
    raw = str(response)
    text = _clean_mc(raw).strip()
    if not text:
        return None, "empty response"
    # 1. the whole response is a letter: "B", "(B)", "B.", "b"
    m = re.fullmatch(r"[(\[\"'‘“]?\s*([A-Ja-j])\s*[)\]\"'’”]?\s*[.:)]?", text)
    if m and m.group(1).upper() in _LETTERS[:n]:
        return m.group(1).upper(), "bare letter"
    # 2. boxed answer
    boxed = last_boxed(_strip_think(raw))
    if boxed is not None:
        b = _clean_mc(boxed).strip()
        letters = [t[0] for t in _letter_tokens(b, n, lenient=True)]
        if re.fullmatch(r"[A-J]{2,}", b):  # \boxed{AB}
            letters = list(b)
        if len(set(letters)) > 1:
            return None, "ambiguous: boxed several options " + ", ".join(sorted(set(letters)))
        if letters:
            return letters[0], "boxed"
        letter, reason = _match_option_text(b, choices)
        if letter:
            return letter, "boxed option text"
    # 3. answer statements; the last decided one wins
    found: list[tuple[int, str | None, str]] = []
    for rx in _MC_ANCHORS:
        for am in rx.finditer(text):
            span = text[am.end():].split("\n", 1)[0][:150]
            if not span.strip():
                rest = [ln for ln in text[am.end():].split("\n") if ln.strip()]
                span = rest[0][:150] if rest else ""
            letter, reason, decided = _span_choice(span, n, choices)
            if decided:
                found.append((am.start(), letter, reason))
    token_at = {t[3] for t in _letter_tokens(text, n)}
    for pm in _MC_POSTFIX.finditer(text):
        if pm.group(1) in _LETTERS[:n] and pm.start(1) in token_at:  # a letter, not "Vitamin A"
            found.append((pm.start(), pm.group(1), "'X is correct' statement"))
    if found:
        found.sort(key=lambda x: x[0])
        _, letter, reason = found[-1]
        return letter, reason
    # 4. leading option marker: "B) Madrid", "B. Madrid", "(B) Madrid", "B: Madrid"
    m = re.match(r"\s*(?:option\s+|choice\s+)?[(\[]?([A-J])(?:[)\]]|[.:]|\s+-)(?:\s|$)", text)
    if m and m.group(1) in _LETTERS[:n]:
        return m.group(1), "leading option letter"
    # 5. option letters anywhere: last line first, then the whole text
    lines = [ln for ln in text.split("\n") if ln.strip()]
    for scope, chunk in (("last line", lines[-1] if lines else ""), ("response", text)):
        letters = [t[0] for t in _drop_negated(_letter_tokens(chunk, n), chunk)]
        distinct = sorted(set(letters))
        if len(distinct) == 1:
            return distinct[0], f"only option letter in {scope}"
        if len(distinct) > 1:
            if scope == "last line" or not choices:
                return None, "ambiguous: several options mentioned (" + ", ".join(distinct) + ")"
            break
    # 6. the option's text
    return _match_option_text(text, choices)


def extract_choice(response: str, n_choices: int = 4, choices: Sequence[str] | None = None) -> str | None:
    """The option letter a response picks (``"A"``..``"J"``), or None.

    Understands "B", "(B)", "B.", "B) Madrid", "The answer is (B)", "Answer: B", "**B**",
    ``\\boxed{B}``, "B is correct"; words are not letters ("A good choice is C" -> C,
    "Vitamin A deficiency" -> no letter). Several different letters asserted ("A or B",
    "A and C") -> None. Without a letter, an option's text (``choices``) is matched.
    """
    return _extract_choice(response, n_choices, choices)[0]


def _reference_letter(reference: Any, choices: Sequence[str] | None) -> str:
    if isinstance(reference, (int,)) and not isinstance(reference, bool):
        return _LETTERS[int(reference)]
    s = str(reference).strip()
    m = re.match(r"[(\[]?([A-Ja-j])(?:[)\].:]|\s|$)", s)
    if m:
        return m.group(1).upper()
    if choices:
        for i, c in enumerate(choices):
            if normalize_answer(str(c)) == normalize_answer(s):
                return _LETTERS[i]
    raise ValueError(f"multiple-choice reference is not an option letter: {reference!r}")


def score_mc(response: str, reference_letter: Any, choices: Sequence[str] | None = None) -> ScoreResult:
    choices = list(choices) if choices is not None and len(choices) else None
    ref = _reference_letter(reference_letter, choices)
    n = len(choices) if choices else len(_LETTERS)
    letter, reason = _extract_choice(response, n, choices)
    if letter is None:
        return ScoreResult(0.0, None, "unparsed", reason)
    return ScoreResult(1.0 if letter == ref else 0.0, letter, "ok", f"{reason}; reference {ref}")


# ---------------------------------------------------------------------------------------
# QA
# ---------------------------------------------------------------------------------------

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
    text = _strip_think(str(response)).replace("**", "").strip()
    for m in reversed(list(_QA_ANCHOR.finditer(text))):
        span = text[m.end():].split("\n", 1)[0].strip()
        if span:
            return span.rstrip(".").strip().strip('"“”').strip()
    return text


def score_qa(response: str, reference: Any, metric: str = "em") -> ScoreResult:
    """Exact match (default), token F1 (``metric="f1"``) or containment (``"contains"``)."""
    if metric not in ("em", "f1", "contains"):
        raise ValueError(f"metric must be 'em', 'f1' or 'contains', got {metric!r}")
    if _is_missing(response) or not str(response).strip():
        return ScoreResult(0.0, None, "unparsed", "empty response")
    if metric == "contains":
        return ScoreResult(qa_contains(_strip_think(str(response)), reference), None, "ok", "contains")
    ans = extract_qa_answer(response)
    if not ans:
        return ScoreResult(0.0, None, "unparsed", "empty answer")
    if metric == "em":
        return ScoreResult(qa_exact_match(ans, reference), ans, "ok", "exact match")
    return ScoreResult(qa_f1(ans, reference), ans, "ok", "token F1")


# ---------------------------------------------------------------------------------------
# code (sandboxed execution)
# ---------------------------------------------------------------------------------------

_FENCE_RE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)


def extract_code(response: str, entry_point: str | None = None) -> str:
    """Code from a fenced block (python-tagged first; the block defining ``entry_point``
    if several), else the raw response."""
    text = _strip_think(str(response))
    blocks = [(lang.lower(), body) for lang, body in _FENCE_RE.findall(text)]
    if not blocks:
        return text.strip("\n")
    py = [b for lang, b in blocks if lang in ("python", "py", "python3")] or [b for _, b in blocks]
    if entry_point:
        defining = [b for b in py if re.search(rf"^\s*def\s+{re.escape(entry_point)}\s*\(", b, re.M)]
        if defining:
            return defining[0].strip("\n")
    return max(py, key=len).strip("\n")


def _compiles(src: str) -> bool:
    try:
        compile(src, "<candidate>", "exec")
        return True
    except (SyntaxError, ValueError):
        return False


def build_program(code: str, prompt: str, test: str, entry_point: str) -> str:
    """The checked program: prompt-completion logic + test + ``check(entry_point)``.

    If ``code`` defines ``entry_point`` at top level it is a full solution: it follows the
    prompt (whose imports and helper functions it may use; the prompt's stub, a
    docstring-only function, is overridden), or just the prompt's imports when the prompt
    is not valid Python. Otherwise ``code`` is a completion appended to the prompt.
    """
    prompt = prompt or ""
    defines = re.search(rf"^def\s+{re.escape(entry_point)}\s*\(", code, re.M) is not None
    if defines:
        if _compiles(prompt):
            head = prompt
        else:
            head = "\n".join(ln for ln in prompt.splitlines() if re.match(r"(?:import|from)\s+\w", ln))
        body = head.rstrip("\n") + "\n\n" + code
    else:
        body = prompt + code
        if not _compiles(body):
            lines = code.splitlines()
            if lines and lines[0].strip() and not lines[0].startswith((" ", "\t")):
                # completion whose first line lost its indentation
                body = prompt + "    " + code.lstrip("\n")
                if not _compiles(body):
                    body = prompt + "\n".join(("    " + ln) if ln.strip() else ln for ln in lines)
                if not _compiles(body):
                    body = prompt + code
    return body.rstrip("\n") + "\n\n\n" + (test or "").strip("\n") + f"\n\n\ncheck({entry_point})\n"


# Prepended to every program. A guard against accidents, not a security boundary: the
# real isolation is the rlimits, the temp dir, and (when available) `unshare -n`.
_SANDBOX_GUARD = r'''
def _routerlab_sandbox():
    import builtins, io, os, shutil, socket, _socket, subprocess
    def denied(what):
        def f(*a, **k):
            raise PermissionError(f"{what} is disabled in the routerlab sandbox")
        return f
    net = denied("network access")
    class DeniedSocket(socket.socket):
        def __init__(self, *a, **k):
            raise PermissionError("network access is disabled in the routerlab sandbox")
    for mod in (socket, _socket):
        mod.socket = DeniedSocket
        for name in ("create_connection", "create_server", "socketpair", "fromfd", "getaddrinfo",
                     "gethostbyname", "gethostbyname_ex", "gethostbyaddr", "getnameinfo"):
            if hasattr(mod, name):
                setattr(mod, name, net)
    for name in ("system", "popen", "fork", "forkpty", "execv", "execve", "execvp", "execvpe", "execl",
                 "execle", "execlp", "execlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe", "spawnl",
                 "spawnle", "spawnlp", "spawnlpe", "posix_spawn", "posix_spawnp", "kill", "killpg"):
        if hasattr(os, name):
            setattr(os, name, denied(f"os.{name}"))
    subprocess.Popen = denied("subprocess")
    for name in ("run", "call", "check_call", "check_output", "getoutput", "getstatusoutput"):
        setattr(subprocess, name, denied("subprocess"))
    root = os.path.realpath(os.getcwd())
    def inside(p):
        try:
            p = os.path.realpath(os.fsdecode(p))
        except (TypeError, ValueError):
            return False
        return p == root or p.startswith(root + os.sep)
    real_open = builtins.open
    def guarded_open(file, mode="r", *a, **k):
        if not isinstance(file, int) and any(c in mode for c in "wax+") and not inside(file):
            raise PermissionError(f"writing outside the sandbox directory is not allowed: {file!r}")
        return real_open(file, mode, *a, **k)
    builtins.open = io.open = guarded_open
    real_os_open = os.open
    def guarded_os_open(path, flags, *a, **k):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC) and not inside(path):
            raise PermissionError(f"writing outside the sandbox directory is not allowed: {path!r}")
        return real_os_open(path, flags, *a, **k)
    os.open = guarded_os_open
    def path_guard(fn, what):
        def f(*paths, **k):
            for p in paths[:2]:
                if isinstance(p, (str, bytes, os.PathLike)) and not inside(p):
                    raise PermissionError(f"{what} outside the sandbox directory is not allowed: {p!r}")
            return fn(*paths, **k)
        return f
    for name in ("remove", "unlink", "rmdir", "rename", "replace", "mkdir", "makedirs", "removedirs",
                 "symlink", "link", "chmod", "truncate"):
        if hasattr(os, name):
            setattr(os, name, path_guard(getattr(os, name), f"os.{name}"))
    shutil.rmtree = denied("shutil.rmtree")
    shutil.move = path_guard(shutil.move, "shutil.move")
_routerlab_sandbox()
del _routerlab_sandbox
'''

_NETNS_PREFIX: list[str] | None = None  # probed once per process; [] = unavailable


def _netns_prefix() -> list[str]:
    global _NETNS_PREFIX
    if _NETNS_PREFIX is None:
        exe = shutil.which("unshare")
        prefix: list[str] = []
        if exe and sys.platform.startswith("linux"):
            for flags in ("-n", "-rn"):  # as root; else via an unprivileged user namespace
                try:
                    if subprocess.run([exe, flags, "true"], capture_output=True, timeout=10).returncode == 0:
                        prefix = [exe, flags, "--"]
                        break
                except (OSError, subprocess.SubprocessError):
                    pass
        _NETNS_PREFIX = prefix
    return _NETNS_PREFIX


def network_namespace_available() -> bool:
    """Whether ``unshare -n`` works here (root, or unprivileged user namespaces)."""
    return bool(_netns_prefix())


def _limits(memory_mb: int, cpu_s: int, nofile: int, fsize_mb: int) -> Callable[[], None]:
    def apply() -> None:  # runs in the child between fork and exec: keep it minimal
        mem = int(memory_mb) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        fs = int(fsize_mb) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (fs, fs))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def _tail(path: str, limit: int = 4000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _exception_line(stderr: str) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    for ln in reversed(lines):
        if re.match(r"^[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning)\b", ln) or ln.startswith(
                ("AssertionError", "MemoryError", "Traceback")):
            return ln.strip()[:300]
    return (lines[-1].strip() if lines else "")[:300]


def score_code(response: str, prompt: str, test: str, entry_point: str, timeout: float = 10.0,
               memory_mb: int = 1024, *, network_namespace: bool | str = "auto", fsize_mb: int = 8,
               nofile: int = 64, python: str | None = None, guard: bool = True) -> ScoreResult:
    """Run ``check(entry_point)`` on the response's code in a sandboxed subprocess.

    ``status``: "ok" (ran; score 1.0 if the tests passed, 0.0 on an AssertionError),
    "error" (any other crash, e.g. SyntaxError, MemoryError, a blocked socket: 0.0),
    "timeout" (wall or CPU limit: 0.0), "unparsed" (no code: 0.0).
    ``network_namespace``: "auto" uses ``unshare -n`` when it works, True requires it.
    ``guard=False`` drops the in-process guard (sockets, subprocesses, writes outside the
    temp dir); only for testing the other layers.
    """
    if _is_missing(response) or not str(response).strip():
        return ScoreResult(0.0, None, "unparsed", "empty response")
    if not entry_point:
        raise ValueError("score_code needs the entry_point (meta['entry_point'] for HumanEval rows)")
    code = extract_code(response, entry_point)
    if not code.strip():
        return ScoreResult(0.0, None, "unparsed", "no code found")
    program = build_program(code, prompt, test, entry_point)
    use_ns = network_namespace_available() if network_namespace == "auto" else bool(network_namespace)
    if use_ns and not network_namespace_available():
        raise RuntimeError("network_namespace=True but `unshare -n` is not available on this machine")
    workdir = tempfile.mkdtemp(prefix="routerlab-code-")
    try:
        prog_path = os.path.join(workdir, "program.py")
        with open(prog_path, "w", encoding="utf-8") as f:
            f.write((_SANDBOX_GUARD + "\n" if guard else "") + program)
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        }
        cmd = [python or sys.executable, "-I", "-B", prog_path]
        if use_ns:
            cmd = _netns_prefix() + cmd
        cpu_s = max(1, int(math.ceil(timeout)) + 1)  # the wall clock normally fires first
        out_path, err_path = os.path.join(workdir, ".stdout"), os.path.join(workdir, ".stderr")
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            try:
                proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=err, start_new_session=True, close_fds=True,
                                        preexec_fn=_limits(memory_mb, cpu_s, nofile, fsize_mb))
            except OSError as e:
                raise RuntimeError(f"could not start the code sandbox ({cmd[0]}): {e}") from e
            try:
                rc = proc.wait(timeout=timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)  # the program and anything it started
                except (ProcessLookupError, PermissionError):
                    pass
                proc.wait()
        stderr = _tail(err_path)
        ns = " [netns]" if use_ns else ""
        if timed_out:
            return ScoreResult(0.0, None, "timeout", f"wall-clock limit of {timeout:g} s exceeded{ns}")
        rc = proc.returncode
        if rc == 0:
            return ScoreResult(1.0, None, "ok", f"passed{ns}")
        if rc in (-signal.SIGXCPU, -signal.SIGKILL) and not stderr.strip():
            return ScoreResult(0.0, None, "timeout", f"CPU-time limit of {cpu_s} s exceeded (signal {-rc}){ns}")
        if rc == -signal.SIGXFSZ:
            return ScoreResult(0.0, None, "error", f"file-size limit of {fsize_mb} MiB exceeded{ns}")
        if rc < 0:
            return ScoreResult(0.0, None, "error", f"killed by signal {-rc}{ns}: {_exception_line(stderr)}")
        exc = _exception_line(stderr)
        if exc.startswith("AssertionError"):
            return ScoreResult(0.0, None, "ok", f"failed: {exc}{ns}")
        return ScoreResult(0.0, None, "error", f"exit {rc}: {exc}{ns}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# ---------------------------------------------------------------------------------------
# LLM judges (pure: prompt building and reply parsing)
# ---------------------------------------------------------------------------------------

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
    s = re.sub(r"^(?:final\s+)?(?:judg(?:e)?ment|verdict|answer|result)\s*[:：]\s*", "", s, flags=re.I)
    return s.strip().strip("[]()\"'“”.。!").strip().lower()


def parse_xverify(text: Any) -> ScoreResult:
    """xVerify verdict: "Correct" -> 1.0, "Incorrect" -> 0.0, anything else -> NaN.

    Strict on purpose: the whole reply (markdown, brackets, a "Judgement:" label and a
    reasoning block stripped) or its first/last line must be exactly one verdict;
    "not correct", "partially correct" or mixed verdicts are never scored as correct.
    """
    if _is_missing(text):
        return ScoreResult(NAN, None, "unparsed", "no judge reply")
    body = _strip_think(str(text)).strip()
    lines = [ln for ln in body.splitlines() if ln.strip()]
    cands = [_verdict_core(body)]
    if len(lines) > 1:
        cands += [_verdict_core(lines[0]), _verdict_core(lines[-1])]
    verdicts = {c for c in cands if c in ("correct", "incorrect")}
    if len(verdicts) == 1:
        v = verdicts.pop()
        return ScoreResult(1.0 if v == "correct" else 0.0, v.capitalize(), "ok", "xverify")
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


_PAIR_RE = re.compile(r"\[\[\s*(A|B|C|tie)\s*\]\]", re.I)


def parse_pairwise(text: Any, weak_position: str = "A") -> ScoreResult:
    """1.0 if the weak answer is judged at least as good (wins or ties), 0.0 if it loses.

    The last ``[[A]]``/``[[B]]``/``[[C]]`` in the reply is the verdict; none -> NaN.
    ``parsed`` is the verdict as written: "A", "B" or "tie".
    """
    if weak_position not in ("A", "B"):
        raise ValueError("weak_position must be 'A' or 'B'")
    if _is_missing(text):
        return ScoreResult(NAN, None, "unparsed", "no judge reply")
    hits = _PAIR_RE.findall(_strip_think(str(text)))
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
    """``Rating: [[7]]`` -> score 0.7, parsed "7"; a rating outside 1-10 or none -> NaN."""
    if _is_missing(text):
        return ScoreResult(NAN, None, "unparsed", "no judge reply")
    body = _strip_think(str(text))
    hits = re.findall(r"\[\[\s*(\d+(?:\.\d+)?)\s*(?:/\s*10\s*)?\]\]", body)
    if not hits:
        hits = re.findall(r"\brating\s*[:：]\s*\[?\s*(\d+(?:\.\d+)?)\s*(?:/\s*10)?\s*\]?", body, re.I)
    if not hits:
        return ScoreResult(NAN, None, "unparsed", f"no rating found: {body[:200]!r}")
    r = float(hits[-1])
    if not 1.0 <= r <= 10.0:
        return ScoreResult(NAN, hits[-1], "unparsed", f"rating {hits[-1]} outside 1-10")
    parsed = str(int(r)) if r == int(r) else hits[-1]
    return ScoreResult(r / 10.0, parsed, "ok", "graded 1-10")


# ---------------------------------------------------------------------------------------
# dispatch
# ---------------------------------------------------------------------------------------

def _meta_dict(meta: Any) -> dict[str, Any]:
    if _is_missing(meta) or meta == "":
        return {}
    if isinstance(meta, str):
        v = json.loads(meta)
        return v if isinstance(v, dict) else {}
    return dict(meta)


def _row_math(response, reference, choices=None, meta=None, prompt=None, **kw) -> ScoreResult:
    return score_math(response, reference)


def _row_mc(response, reference, choices=None, meta=None, prompt=None, **kw) -> ScoreResult:
    return score_mc(response, reference, None if choices is None else list(choices))


def _row_qa(response, reference, choices=None, meta=None, prompt=None, metric: str = "em", **kw) -> ScoreResult:
    return score_qa(response, reference, metric=metric)


def _row_code(response, reference, choices=None, meta=None, prompt=None, **kw) -> ScoreResult:
    m = _meta_dict(meta)
    entry = m.get("entry_point")
    if not entry:
        raise ValueError("code rows need meta['entry_point'] (HumanEval's entry_point)")
    code_prompt = m.get("prompt") or prompt or ""
    test = m.get("test") or reference
    opts = {k: kw[k] for k in ("timeout", "memory_mb", "network_namespace", "fsize_mb", "nofile") if k in kw}
    return score_code(response, code_prompt, test, entry, **opts)


def _row_open(response, reference, choices=None, meta=None, prompt=None, **kw) -> ScoreResult:
    raise JudgeRequired(
        "task 'open' has no reference-based verifier: open-ended sets need the judge scorer "
        "(build_pairwise_messages/parse_pairwise or build_graded_messages/parse_graded through an "
        "OpenAI-compatible endpoint; the weak label is 'weak judged >= strong')")


SCORERS: dict[str, Callable[..., ScoreResult]] = {
    "math": _row_math, "mc": _row_mc, "qa": _row_qa, "code": _row_code, "open": _row_open,
}


def score_row(task: str, response: str, reference: Any, choices: Sequence[str] | None = None,
              meta: Any = None, prompt: str | None = None, **options: Any) -> ScoreResult:
    """Score one response with its task's verifier (``SCORERS[task]``).

    ``options`` go to the scorer: ``metric`` for qa; ``timeout``/``memory_mb``/
    ``network_namespace`` for code. ``task="open"`` raises ``JudgeRequired``.
    """
    try:
        fn = SCORERS[task]
    except KeyError:
        raise ValueError(f"unknown task {task!r}; known: {sorted(SCORERS)}") from None
    return fn(response, reference, choices=choices, meta=meta, prompt=prompt, **options)
