"""Generation backends: transformers (CPU/GPU), vLLM (GPU, optional) and OpenAI-compatible HTTP.

Every backend takes a list of chat conversations plus ``SamplingParams`` and returns one
record per (conversation, sample) with the response text, token counts and latency, so
the rest of the DAG never knows which backend produced a table.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from routerlab.core.batching import padded_batches
from routerlab.core.runtime import concat_shards
from routerlab.lm.models import load_causal_lm, load_from
from routerlab.lm.openai_backend import OpenAIBackend
from routerlab.lm.prompts import build_messages, chat_text
from routerlab.lm.sampling import SamplingParams

log = logging.getLogger(__name__)

BACKENDS = ("transformers", "vllm", "openai")
PROMPT_OVERFLOW = ("reject", "truncate")  # the config's generation.prompt_overflow


def context_length(tokenizer, model) -> int | None:
    """Tokens the model attends to: its position limit (tokenizers often report a huge sentinel instead)."""
    limits = [getattr(model.config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None)]
    limits = [int(v) for v in limits if isinstance(v, int) and 0 < v < 10**7]
    return min(limits) if limits else None


def fit_prompts(encoded: Sequence[list[int]], limit: int | None, policy: str = "reject",
                names: Sequence[str] | None = None) -> list[list[int]]:
    """Prompts that leave room for the answer: ``limit`` = context length - max_new_tokens.

    ``reject`` fails naming the over-long prompts; ``truncate`` keeps each one's last ``limit``
    tokens (the question and the chat template's assistant opening sit at the end) and logs
    how many were cut. Nothing is cut silently.
    """
    if policy not in PROMPT_OVERFLOW:
        raise ValueError(f"prompt_overflow = {policy!r}: expected one of {list(PROMPT_OVERFLOW)}")
    if limit is None:
        return list(encoded)
    over = [i for i, ids in enumerate(encoded) if len(ids) > limit]
    if not over:
        return list(encoded)
    label = [names[i] if names is not None else f"#{i}" for i in over]
    longest = max(len(encoded[i]) for i in over)
    shown = ", ".join(f"{n} ({len(encoded[i])} tokens)" for n, i in zip(label[:5], over[:5]))
    if limit <= 0:
        raise ValueError(f"max_new_tokens leaves no room for a prompt in the model's context ({limit} tokens left); "
                         "lower generation.sampling.max_new_tokens")
    if policy == "reject":
        raise ValueError(f"{len(over)} of {len(encoded)} prompts are longer than the {limit} tokens the model's "
                         f"context leaves after max_new_tokens (longest {longest}): {shown}; shorten or drop them, "
                         "or set generation.prompt_overflow: truncate to keep each prompt's last tokens")
    log.warning("prompt_overflow truncate: %d of %d prompts cut to their last %d tokens (longest %d): %s",
                len(over), len(encoded), limit, longest, shown)
    return [ids[-limit:] if len(ids) > limit else list(ids) for ids in encoded]


def _stop_token_ids(tok, model) -> list[int]:
    ids = set()
    gen_eos = getattr(model.generation_config, "eos_token_id", None)
    if isinstance(gen_eos, int):
        ids.add(gen_eos)
    elif gen_eos:
        ids.update(gen_eos)
    if tok.eos_token_id is not None:
        ids.add(tok.eos_token_id)
    # GGUF-converted chat models do not always record the end-of-turn token as EOS.
    for special in ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<end_of_turn>"):
        tid = tok.convert_tokens_to_ids(special)
        if isinstance(tid, int) and tid != tok.unk_token_id and tid >= 0:
            ids.add(tid)
    return sorted(ids)


class TransformersBackend:
    """Batched generation with a Hugging Face causal LM: length-sorted, token-budget batches."""

    name = "transformers"

    def __init__(self, model_dir: str, device: str = "auto", dtype: str = "auto",
                 token_budget: int = 8192, max_batch_size: int = 16, prompt_overflow: str = "reject"):
        if prompt_overflow not in PROMPT_OVERFLOW:
            raise ValueError(f"prompt_overflow = {prompt_overflow!r}: expected one of {list(PROMPT_OVERFLOW)}")
        self.prompt_overflow = prompt_overflow
        self.tokenizer, self.model = load_causal_lm(model_dir, device=device, dtype=dtype)
        self.context_length = context_length(self.tokenizer, self.model)
        self.device = self.model.device
        self.token_budget = token_budget
        self.max_batch_size = max_batch_size
        self.stop_ids = _stop_token_ids(self.tokenizer, self.model)

    def render(self, conversations: Sequence[list[dict]]) -> list[str]:
        return [chat_text(self.tokenizer, c) for c in conversations]

    def generate(self, conversations: Sequence[list[dict]], params: SamplingParams,
                 progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
        texts = self.render(conversations)
        # The chat template already contains the special tokens.
        encoded = [self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
        limit = None if self.context_length is None else self.context_length - params.max_new_tokens
        encoded = fit_prompts(encoded, limit, self.prompt_overflow)
        results = []
        for r in self.generate_ids(encoded, params, progress=progress):
            kept = r.pop("token_ids")[: r["response_tokens"]]  # the stop token is not part of the text
            r.pop("prompt_ids")
            results.append({"index": r.pop("index"), "sample": r.pop("sample"),
                            "response": self.tokenizer.decode(kept, skip_special_tokens=True).strip(), **r})
        return results

    def generate_ids(self, encoded: Sequence[list[int]], params: SamplingParams,
                     progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
        """Generate from token ids; records carry ``prompt_ids`` and ``token_ids`` (through the stop token).

        Callers that need exact token ids (the token-level router compares ids, and
        re-tokenising decoded text does not always give them back) use this directly.
        """
        import torch

        tok = self.tokenizer
        results: list[dict[str, Any] | None] = [None] * (len(encoded) * params.n)
        for batch, input_ids, attention in padded_batches(encoded, tok.pad_token_id, self.device, self.token_budget,
                                                          self.max_batch_size, extra_tokens=params.max_new_tokens,
                                                          progress=progress):
            width = input_ids.shape[1]
            gen_kwargs: dict[str, Any] = dict(max_new_tokens=params.max_new_tokens, pad_token_id=tok.pad_token_id,
                                              eos_token_id=self.stop_ids, num_return_sequences=params.n)
            if params.logprobs:
                gen_kwargs.update(output_logits=True, return_dict_in_generate=True)
            if params.temperature > 0:
                torch.manual_seed(params.seed)
                gen_kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
            else:
                gen_kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            start = time.perf_counter()
            with torch.inference_mode():
                if params.n > 1 and width > 1:
                    # generate() would run each prompt n times; prefill it once and share its cache
                    # among the n samples (same tokens for the same seed, a fraction of the cost).
                    gen_kwargs.update(num_return_sequences=1,
                                      past_key_values=self._shared_prompt_cache(input_ids, attention, params.n))
                    input_ids = input_ids.repeat_interleave(params.n, dim=0)
                    attention = attention.repeat_interleave(params.n, dim=0)
                out = self.model.generate(input_ids=input_ids, attention_mask=attention, **gen_kwargs)
            elapsed = time.perf_counter() - start
            token_logprobs = None
            if params.logprobs:
                # Raw logits (before temperature / top-p): the model's own probability of each token.
                sequences = out.sequences
                token_logprobs = torch.stack(
                    [torch.log_softmax(step.float(), dim=-1).gather(-1, sequences[:, width + k, None]).squeeze(-1)
                     for k, step in enumerate(out.logits)], dim=1).cpu()
                out = sequences
            new = out[:, width:].cpu()
            for j, seq in enumerate(new.tolist()):
                src = batch[j // params.n]
                sample = j % params.n
                stop_at = next((k for k, t in enumerate(seq) if t in self.stop_ids), None)
                kept = seq if stop_at is None else seq[:stop_at]
                results[src * params.n + sample] = {
                    "index": src,
                    "sample": sample,
                    "prompt_ids": list(encoded[src]),
                    "token_ids": seq if stop_at is None else seq[:stop_at + 1],
                    "prompt_tokens": len(encoded[src]),
                    "response_tokens": len(kept),
                    "finish_reason": "length" if stop_at is None else "stop",
                    # Requests in one batch finish together: each sees the batch's wall time.
                    "latency_s": elapsed,
                }
                if token_logprobs is not None:  # over the response and its stop token
                    scored = len(kept) + (stop_at is not None)
                    results[src * params.n + sample]["mean_logprob"] = float(token_logprobs[j, :scored].mean())
        return [r for r in results if r is not None]

    def _shared_prompt_cache(self, input_ids, attention, n: int):
        """KV cache of all prompt tokens but the last (generate() feeds that one), repeated n times."""
        # Positions as generate() derives them under left padding.
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        out = self.model(input_ids=input_ids[:, :-1], attention_mask=attention[:, :-1],
                         position_ids=positions[:, :-1], use_cache=True, logits_to_keep=1)
        cache = out.past_key_values
        cache.batch_repeat_interleave(n)
        return cache


class VLLMBackend:
    """vLLM's offline engine (GPU). Imported lazily: CPU users never need vllm installed."""

    name = "vllm"

    def __init__(self, model_dir: str, tensor_parallel_size: int = 1, dtype: str = "auto",
                 gpu_memory_utilization: float = 0.9, max_model_len: int | None = None, **engine_options: Any):
        """``engine_options`` go to ``vllm.LLM`` as they are (enforce_eager, kv_cache_memory_bytes, ...)."""
        try:
            from vllm import LLM
        except ImportError as e:
            raise ImportError("backend 'vllm' needs the optional extra: pip install 'routerlab[vllm]'") from e

        kwargs = dict(model=load_from(model_dir), tensor_parallel_size=tensor_parallel_size, dtype=dtype,
                      gpu_memory_utilization=gpu_memory_utilization)
        if max_model_len:
            kwargs["max_model_len"] = max_model_len
        self.llm = LLM(**kwargs, **engine_options)

    def generate(self, conversations: Sequence[list[dict]], params: SamplingParams,
                 progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
        from vllm import SamplingParams as VSP


        # logprobs=0: only the sampled tokens' log-probabilities (their sum is cumulative_logprob).
        sp = VSP(n=params.n, temperature=params.temperature, top_p=params.top_p,
                 max_tokens=params.max_new_tokens, seed=params.seed, logprobs=0 if params.logprobs else None)
        # Rendered and tokenised here exactly as the transformers backend does (the template holds
        # the special tokens, so none are added; an assistant opening is continued, not closed).
        tokenizer = self.llm.get_tokenizer()
        prompts = [{"prompt_token_ids": tokenizer(chat_text(tokenizer, c), add_special_tokens=False)["input_ids"]}
                   for c in conversations]
        start = time.perf_counter()
        outs = self.llm.generate(prompts, sp, use_tqdm=True)
        elapsed = time.perf_counter() - start
        records = []
        for i, o in enumerate(outs):
            for s, c in enumerate(o.outputs):
                records.append({"index": i, "sample": s, "response": c.text.strip(),
                                "prompt_tokens": len(o.prompt_token_ids), "response_tokens": len(c.token_ids),
                                "finish_reason": c.finish_reason or "", "latency_s": elapsed})
                if params.logprobs and c.cumulative_logprob is not None:
                    records[-1]["mean_logprob"] = c.cumulative_logprob / max(len(c.token_ids), 1)
        if progress:
            progress(len(outs), len(outs))
        return records


def make_backend(backend: str, model_dir: str, options: dict[str, Any] | None = None):
    options = dict(options or {})
    if backend == "transformers":
        return TransformersBackend(model_dir, **options)
    if backend == "vllm":
        return VLLMBackend(model_dir, **options)
    if backend == "openai":
        return OpenAIBackend(**options)
    raise ValueError(f"backend {backend!r}: expected one of {BACKENDS}")


def backend_from_runtime(runtime: dict[str, Any], model_dir: str, prompt_overflow: str | None = None):
    """The backend for a model's config runtime slice (backend, dtype, device, options).

    ``prompt_overflow`` (generation.prompt_overflow) is applied where the prompts are tokenised
    here (transformers); vLLM rejects over-long prompts itself and a server answers 400.
    """
    options = dict(runtime.get("options", {}))
    if runtime["backend"] != "openai":
        options.update(dtype=runtime.get("dtype", "auto"))
    if runtime["backend"] == "transformers":
        options.update(device=runtime.get("device", "auto"))
        if prompt_overflow is not None:
            options.update(prompt_overflow=prompt_overflow)
    return make_backend(runtime["backend"], model_dir, options)


GENERATION_ORDER = ["id", "sample"]  # row order of every generations table, sharded or not


def generate_frame(rows: Iterable[dict[str, Any]], backend, params: SamplingParams, *, style: str = "direct",
                   price: dict[str, float] | None = None, progress: Callable[[int, int], None] | None = None):
    """Generate for dataset rows; return the generations table (SPEC step 2)."""
    import pandas as pd

    rows = list(rows)
    conversations = [build_messages(r, style) for r in rows]
    records = backend.generate(conversations, params, progress=progress)
    df = pd.DataFrame.from_records(records)
    if df.empty:
        df = pd.DataFrame(columns=["index", "sample", "response", "prompt_tokens", "response_tokens",
                                   "finish_reason", "latency_s"])
    df.insert(0, "id", [rows[i]["id"] for i in df["index"]])
    df = df.drop(columns="index")
    return finish_generations(df, backend, price)


def finish_generations(df: Any, backend, price: dict[str, float] | None) -> Any:
    """The columns every generations table ends with (backend, cost_usd at the model's price), in row order."""
    df["backend"] = getattr(backend, "name", type(backend).__name__)
    if price:
        df["cost_usd"] = (df["prompt_tokens"] * price["input"] + df["response_tokens"] * price["output"]) / 1e6
    else:
        df["cost_usd"] = float("nan")
    return df.sort_values(GENERATION_ORDER, kind="stable").reset_index(drop=True)


def gather_generations(paths: Sequence[str | Path]):
    """Shard tables in one table, in the row order an unsharded ``generate_frame`` gives."""
    return concat_shards(paths).sort_values(GENERATION_ORDER, kind="stable").reset_index(drop=True)
