"""Math scoring.

Final-answer extraction (the later of the last "Answer: X" / "The answer is X" / "#### X"
statement and the last ``\\boxed{...}``, then a short direct answer or bare formula, then
the last number) and equivalence through math-verify, with a numeric fallback (thousands
separators, ``.0``, ``3/4`` vs ``0.75``, percentages, trailing units). References cut out
of a solution by a lazy ``\\boxed{(.*?)}`` regex (RouterXBench's ``"7} \\pmod{11"``) are
repaired by cutting at the first unbalanced ``}``.
"""

from __future__ import annotations

import math
import os
import re
import threading
from fractions import Fraction
from typing import Any

from routerlab.scoring.result import NAN, ScoreResult, is_missing, last_boxed, strip_text_macros, strip_think

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
    if is_missing(response):
        return None
    text = strip_think(str(response)).strip()
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
    t = strip_text_macros(s.strip())
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
    s = strip_text_macros(s)
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
        from math_verify import parse, verify  # lazy: heavy
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
