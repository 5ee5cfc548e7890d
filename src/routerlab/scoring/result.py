"""Shared pieces of the scorers: the verdict type, its statuses, and text helpers.

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

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

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


def is_missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


# ---------------------------------------------------------------------------------------
# shared text helpers
# ---------------------------------------------------------------------------------------

_THINK_RE = re.compile(r"<think>.*?</think>", re.S | re.I)


def strip_think(text: str) -> str:
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


def strip_text_macros(s: str) -> str:
    """``\\text{Sunday}`` -> ``Sunday``; ``\\textbf{B}`` -> ``B`` (one level, repeated)."""
    prev = None
    while prev != s:
        prev = s
        s = re.sub(r"\\(?:text|textbf|mathrm|mathbf|textit|mbox|operatorname)\s*\{([^{}]*)\}", r"\1", s)
    return s
