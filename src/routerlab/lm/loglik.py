"""Multiple-choice answers by answer log-likelihood (the lm-evaluation-harness convention).

The model reads the prompt once; at its last position the log-probability (log-softmax over
the whole vocabulary) of each option letter's token is that option's score, and the answer is
the best-scoring letter. No decoding: one prompt forward pass per question, with the LM head
applied at the last position only (``logits_to_keep=1``). The continuation is the letter as
it would follow the prompt: " A" after a prompt that ends in a visible character (the
``Answer:`` opening of the direct style), "A" after whitespace.

``option_scores`` is the one place that turns last-position logits into option scores: the
answer pass here and the weak model's feature pass (``binary.features.FeatureExtractor``, which
computes the same logits for its logit statistics) both call it, so the weak model's answer
and its features can come from one forward pass.

``answer_frame`` is the generation step's entry point: with ``mc_answers="loglik"`` it answers
multiple-choice rows by log-likelihood and every other row by generation, and returns the same
columns as ``lm.generation.generate_frame``.
"""

from __future__ import annotations

import string
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from routerlab.core.batching import padded_batches
from routerlab.core.errors import ConfigError
from routerlab.lm.generation import GENERATION_ORDER, finish_generations, fit_prompts, generate_frame
from routerlab.lm.prompts import build_messages, chat_text

MC_ANSWERS = ("generate", "loglik")
FINISH_REASON = "loglik"  # in the finish_reason column: the answer was scored, not generated
# Prompt passes (these answers, the weak model's features) split a length-sorted batch before
# padding would exceed this share of it (core.batching.token_budget_batches): every padding
# position costs a full forward position, and on a CPU a few hundred tokens per batch already
# run the matmuls near their limit (benchmarks/bench_features.py).
MAX_PADDING = 0.2


def is_choice_row(row: dict[str, Any]) -> bool:
    choices = row.get("choices")
    return row.get("task") == "mc" and choices is not None and len(choices) > 0


def option_token_ids(tokenizer, n_options: int, prompt_text: str) -> list[int]:
    """The token id of each option letter as the continuation of ``prompt_text``.

    Raises ``ValueError`` when a letter is not one token of its own (then it has no single
    next-token score and the harness convention does not apply).
    """
    if n_options > len(string.ascii_uppercase):
        raise ValueError(f"{n_options} options: at most {len(string.ascii_uppercase)} letters")
    sep = "" if not prompt_text or prompt_text[-1].isspace() else " "
    ids = []
    for letter in string.ascii_uppercase[:n_options]:
        tokens = tokenizer(sep + letter, add_special_tokens=False)["input_ids"]
        if len(tokens) != 1:
            raise ValueError(f"option letter {sep + letter!r} is {len(tokens)} tokens {tokens} for this tokenizer, "
                             "not one: answer these rows by generation (generation.mc_answers: generate)")
        ids.append(tokens[0])
    if len(set(ids)) != len(ids):
        raise ValueError(f"option letters share token ids {ids}")
    return ids


def option_scores(last_logits, option_ids: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Log-probability of each row's option tokens under next-token logits ``[B, V]``.

    The log-softmax runs over the whole vocabulary in float32 (the harness's score, not a
    softmax renormalised over the letters).
    """
    import torch

    logp = torch.log_softmax(last_logits.float(), dim=-1)
    widest = max(len(o) for o in option_ids)
    index = torch.zeros((len(option_ids), widest), dtype=torch.long, device=logp.device)
    for row, ids in enumerate(option_ids):
        index[row, : len(ids)] = torch.tensor(list(ids), dtype=torch.long)
    picked = logp.gather(-1, index).cpu().numpy()
    return [picked[row, : len(ids)].copy() for row, ids in enumerate(option_ids)]


def choice_logprobs(model, encoded: Sequence[Sequence[int]], option_ids: Sequence[Sequence[int]], pad_token_id: int,
                    token_budget: int = 8192, max_batch_size: int = 32,
                    progress: Callable[[int, int], None] | None = None,
                    max_padding: float | None = MAX_PADDING) -> tuple[list[np.ndarray], list[float]]:
    """Option scores of each prompt, one forward pass per token-budget batch.

    Returns the scores (in ``encoded`` order) and each prompt's batch wall time in seconds.
    """
    import torch

    scores: list[np.ndarray | None] = [None] * len(encoded)
    latency = [0.0] * len(encoded)
    for batch, ids, mask in padded_batches(encoded, pad_token_id, model.device, token_budget, max_batch_size,
                                           progress=progress, max_padding=max_padding):
        start = time.perf_counter()
        with torch.inference_mode():
            out = model(input_ids=ids, attention_mask=mask, use_cache=False, logits_to_keep=1)
            picked = option_scores(out.logits[:, -1, :], [option_ids[i] for i in batch])
        elapsed = time.perf_counter() - start
        for j, i in enumerate(batch):
            scores[i], latency[i] = picked[j], elapsed
    return scores, latency  # type: ignore[return-value]


def pick_answers(scores: np.ndarray, n: int, temperature: float, seed: int) -> list[int]:
    """Option indices for ``n`` samples: the argmax at temperature 0 (ties: the first option),
    else draws from the softmax of the scores over the options at that temperature."""
    if temperature <= 0:
        return [int(np.argmax(scores))] * n
    z = (scores - scores.max()) / temperature
    p = np.exp(z) / np.exp(z).sum()
    rng = np.random.default_rng(seed)
    return [int(k) for k in rng.choice(len(scores), size=n, p=p)]


def loglik_frame(rows: Iterable[dict[str, Any]], backend, params, *, style: str = "direct",
                 price: dict[str, float] | None = None, progress: Callable[[int, int], None] | None = None):
    """Multiple-choice answers by log-likelihood, as a generations table (``generate_frame``'s columns).

    ``response`` is the chosen letter; ``response_tokens`` 1; ``finish_reason`` "loglik";
    ``mean_logprob`` (with ``params.logprobs``) the chosen letter's log-probability.
    """
    import pandas as pd

    if not (hasattr(backend, "model") and hasattr(backend, "tokenizer")):
        raise ConfigError(f"generation.mc_answers: loglik needs the transformers backend (the model's logits), "
                          f"not {getattr(backend, 'name', type(backend).__name__)!r}; "
                          "set generation.mc_answers: generate for this model")
    rows = list(rows)
    bad = [r.get("id") for r in rows if not is_choice_row(r)]
    if bad:
        raise ValueError(f"rows {bad[:5]}: log-likelihood answers need multiple-choice rows (task mc with choices)")
    tok = backend.tokenizer
    texts = [chat_text(tok, build_messages(r, style)) for r in rows]
    encoded = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    # The prompt must fit the model's context (no new tokens: the answer is scored at its last position).
    encoded = fit_prompts(encoded, getattr(backend, "context_length", None),
                          getattr(backend, "prompt_overflow", "reject"), names=[str(r["id"]) for r in rows])
    option_ids = [option_token_ids(tok, len(r["choices"]), t) for r, t in zip(rows, texts)]
    scores, latency = choice_logprobs(backend.model, encoded, option_ids, tok.pad_token_id,
                                      backend.token_budget, backend.max_batch_size, progress=progress)
    records = []
    for i, row in enumerate(rows):
        picks = pick_answers(scores[i], params.n, params.temperature, params.seed + i)
        for sample, k in enumerate(picks):
            rec = {"id": row["id"], "sample": sample, "response": string.ascii_uppercase[k],
                   "prompt_tokens": len(encoded[i]), "response_tokens": 1, "finish_reason": FINISH_REASON,
                   "latency_s": latency[i]}
            if params.logprobs:
                rec["mean_logprob"] = float(scores[i][k])
            records.append(rec)
    df = pd.DataFrame.from_records(records, columns=["id", "sample", "response", "prompt_tokens", "response_tokens",
                                                     "finish_reason", "latency_s"]
                                   + (["mean_logprob"] if params.logprobs else []))
    return finish_generations(df, backend, price)


def answer_frame(rows: Iterable[dict[str, Any]], backend, params, *, style: str = "direct",
                 mc_answers: str = "generate", price: dict[str, float] | None = None,
                 progress: Callable[[int, int], None] | None = None):
    """The generations table of the generation step: multiple-choice rows by log-likelihood when
    ``mc_answers`` is "loglik", every other row (and all rows with "generate") by generation."""
    import pandas as pd

    if mc_answers not in MC_ANSWERS:
        raise ConfigError(f"generation.mc_answers = {mc_answers!r}: expected one of {MC_ANSWERS}")
    if mc_answers == "loglik" and style != "direct":
        raise ConfigError(f"generation.mc_answers: loglik scores the letter right after the prompt, which only the "
                          f"direct style asks for (generation.style = {style!r}); use mc_answers: generate with it")
    rows = list(rows)
    if mc_answers == "generate":
        return generate_frame(rows, backend, params, style=style, price=price, progress=progress)
    choice = [r for r in rows if is_choice_row(r)]
    other = [r for r in rows if not is_choice_row(r)]
    frames = []
    if other or not choice:
        frames.append(generate_frame(other, backend, params, style=style, price=price, progress=progress))
    if choice:
        frames.append(loglik_frame(choice, backend, params, style=style, price=price, progress=progress))
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return df.sort_values(GENERATION_ORDER, kind="stable").reset_index(drop=True)
