"""Per-task row scorers and the ``score_row`` dispatch (``SCORERS[task]``)."""

from __future__ import annotations

import json
from typing import Any, Callable, Sequence

from routerlab.scoring.choices import score_mc
from routerlab.scoring.code_sandbox import score_code
from routerlab.scoring.math_answers import score_math
from routerlab.scoring.qa import score_qa
from routerlab.scoring.result import JudgeRequired, ScoreResult, is_missing


def _meta_dict(meta: Any) -> dict[str, Any]:
    if is_missing(meta) or meta == "":
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
    opts = {k: kw[k] for k in ("timeout", "memory_mb", "network_namespace", "fsize_mb", "nofile", "nproc") if k in kw}
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

    ``options`` go to the scorer: ``metric`` for qa; ``timeout``/``memory_mb``/``network_namespace``/
    ``fsize_mb``/``nofile``/``nproc`` for code. ``task="open"`` raises ``JudgeRequired``.
    """
    try:
        fn = SCORERS[task]
    except KeyError:
        raise ValueError(f"unknown task {task!r}; known: {sorted(SCORERS)}") from None
    return fn(response, reference, choices=choices, meta=meta, prompt=prompt, **options)
