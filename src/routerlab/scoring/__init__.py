"""Per-query correctness (DAG step 3, ``score``).

Verifiers for the verifiable task types, plus the pure half of the LLM judges:

* ``result``       -- ``ScoreResult`` (score semantics), ``STATUSES``, ``JudgeRequired`` and
  the text helpers the scorers share (think-block stripping, ``last_boxed``, text macros).
* ``math_answers`` -- math final-answer extraction and equivalence (math-verify with a
  numeric fallback).
* ``choices``      -- multiple-choice option-letter extraction (A-J) with ambiguity detection.
* ``qa``           -- SQuAD-normalised exact match, token F1, or "contains".
* ``code_sandbox`` -- HumanEval-style execution in a sandboxed subprocess.
* ``judges``       -- xVerify / pairwise / graded judge prompts and strict reply parsers.
* ``rows``         -- per-task row scorers and the ``score_row`` dispatch (``SCORERS``).

The public names are re-exported here (``from routerlab.scoring import score_row``).
"""

from __future__ import annotations

from routerlab.scoring.choices import extract_choice, score_mc
from routerlab.scoring.code_sandbox import build_program, extract_code, network_namespace_available, score_code
from routerlab.scoring.judges import (
    GRADED_SYSTEM,
    PAIRWISE_SYSTEM,
    XVERIFY_PROMPT,
    build_graded_messages,
    build_pairwise_messages,
    build_xverify_messages,
    parse_graded,
    parse_pairwise,
    parse_xverify,
)
from routerlab.scoring.math_answers import extract_math_answer, math_equal, score_math
from routerlab.scoring.qa import extract_qa_answer, normalize_answer, qa_contains, qa_exact_match, qa_f1, score_qa
from routerlab.scoring.result import STATUSES, JudgeRequired, ScoreResult, last_boxed
from routerlab.scoring.rows import SCORERS, score_row

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
