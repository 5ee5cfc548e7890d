"""LLM-as-a-judge scoring (RouterXBench's xVerify path and MT-bench-style ratings).

The judge is any model of the config served by any generation backend: a packaged model
through ``transformers``, a GPU model through ``vllm``, or an xVerify / GPT endpoint
through ``openai``. Prompt building and reply parsing live in ``routerlab.scoring``.

    judge = Judge(backend, method="xverify")
    results = judge.score(rows)     # rows: dicts with prompt, response, reference
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from routerlab.lm.generation import backend_from_runtime
from routerlab.lm.sampling import SamplingParams
from routerlab.scoring import ScoreResult, build_graded_messages, build_xverify_messages, parse_graded, parse_xverify

# method -> (messages from a row, reply parser). xverify compares with the reference
# (verifiable tasks: math, mc, qa); graded rates 1-10 without one (open-ended tasks).
METHODS: dict[str, tuple[Callable[[dict[str, Any]], list[dict]], Callable[[Any], ScoreResult]]] = {
    "xverify": (lambda r: build_xverify_messages(r["prompt"], r["response"], r["reference"]), parse_xverify),
    "graded": (lambda r: build_graded_messages(r["prompt"], r["response"]), parse_graded),
}

# A verdict or "Rating: [[7]]" after a short explanation; greedy so re-runs agree.
DEFAULT_SAMPLING = {"max_new_tokens": 64, "temperature": 0.0}


class Judge:
    def __init__(self, backend: Any, method: str = "xverify", sampling: dict[str, Any] | None = None):
        if method not in METHODS:
            raise ValueError(f"judge.method = {method!r}: expected one of {sorted(METHODS)}")
        self.backend, self.method = backend, method
        self.params = SamplingParams.from_config({**DEFAULT_SAMPLING, **(sampling or {})})

    @classmethod
    def from_config(cls, judge: Mapping[str, Any], model_dir: str) -> "Judge":
        """The config's ``judge`` section (method, sampling, the judge model's runtime) on that model's backend."""
        return cls(backend_from_runtime(judge["runtime"], model_dir), judge["method"], judge["sampling"])

    def messages(self, rows: Sequence[dict[str, Any]]) -> list[list[dict]]:
        build = METHODS[self.method][0]
        return [build(r) for r in rows]

    def score(self, rows: Sequence[dict[str, Any]],
              progress: Callable[[int, int], None] | None = None) -> tuple[list[ScoreResult], list[str]]:
        """One ScoreResult per row (NaN score with status "unparsed" when the reply has no verdict) and the replies."""
        if not rows:
            return [], []
        parse = METHODS[self.method][1]
        outs = sorted(self.backend.generate(self.messages(rows), self.params, progress=progress),
                      key=lambda o: o["index"])
        replies = [o["response"] for o in outs]
        return [parse(text) for text in replies], replies
