"""Generation backends: transformers (CPU/GPU), vLLM (GPU, optional) and OpenAI-compatible HTTP.

Every backend takes a list of chat conversations plus ``SamplingParams`` and returns one
record per (conversation, sample) with the response text, token counts and latency, so
the rest of the DAG never knows which backend produced a table.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable, Sequence

from routerlab.batching import token_budget_batches

log = logging.getLogger(__name__)

BACKENDS = ("transformers", "vllm", "openai")


@dataclass(frozen=True)
class SamplingParams:
    max_new_tokens: int = 32
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    n: int = 1  # samples per prompt (self-based routers need several)
    seed: int = 0

    @classmethod
    def from_config(cls, cfg: dict[str, Any] | None) -> "SamplingParams":
        cfg = dict(cfg or {})
        unknown = set(cfg) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"sampling: unknown keys {sorted(unknown)}; expected {sorted(cls.__dataclass_fields__)}")
        return cls(**cfg)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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
                 token_budget: int = 8192, max_batch_size: int = 16):
        from routerlab.models import load_causal_lm

        self.tokenizer, self.model = load_causal_lm(model_dir, device=device, dtype=dtype)
        self.device = self.model.device
        self.token_budget = token_budget
        self.max_batch_size = max_batch_size
        self.stop_ids = _stop_token_ids(self.tokenizer, self.model)

    def render(self, conversations: Sequence[list[dict]]) -> list[str]:
        from routerlab.prompts import chat_text

        return [chat_text(self.tokenizer, c) for c in conversations]

    def generate(self, conversations: Sequence[list[dict]], params: SamplingParams,
                 progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
        import torch

        texts = self.render(conversations)
        tok = self.tokenizer
        # The chat template already contains the special tokens.
        encoded = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
        batches = token_budget_batches([len(e) for e in encoded], self.token_budget,
                                       self.max_batch_size, extra_tokens=params.max_new_tokens)
        results: list[dict[str, Any] | None] = [None] * (len(texts) * params.n)
        done = 0
        for batch in batches:
            ids = [encoded[i] for i in batch]
            width = max(len(x) for x in ids)
            input_ids = torch.full((len(ids), width), tok.pad_token_id, dtype=torch.long)
            attention = torch.zeros((len(ids), width), dtype=torch.long)
            for row, x in enumerate(ids):  # left padding
                input_ids[row, width - len(x):] = torch.tensor(x)
                attention[row, width - len(x):] = 1
            gen_kwargs: dict[str, Any] = dict(max_new_tokens=params.max_new_tokens, pad_token_id=tok.pad_token_id,
                                              eos_token_id=self.stop_ids, num_return_sequences=params.n)
            if params.temperature > 0:
                torch.manual_seed(params.seed)
                gen_kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
            else:
                gen_kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            start = time.perf_counter()
            with torch.inference_mode():
                out = self.model.generate(input_ids=input_ids.to(self.device),
                                          attention_mask=attention.to(self.device), **gen_kwargs)
            elapsed = time.perf_counter() - start
            new = out[:, width:].cpu()
            for j, seq in enumerate(new.tolist()):
                src = batch[j // params.n]
                sample = j % params.n
                stop_at = next((k for k, t in enumerate(seq) if t in self.stop_ids), None)
                kept = seq if stop_at is None else seq[:stop_at]
                results[src * params.n + sample] = {
                    "index": src,
                    "sample": sample,
                    "response": tok.decode(kept, skip_special_tokens=True).strip(),
                    "prompt_tokens": len(encoded[src]),
                    "response_tokens": len(kept),
                    "finish_reason": "length" if stop_at is None else "stop",
                    # Requests in one batch finish together: each sees the batch's wall time.
                    "latency_s": elapsed,
                }
            done += len(batch)
            if progress:
                progress(done, len(texts))
        return [r for r in results if r is not None]


class VLLMBackend:
    """vLLM's offline engine (GPU). Imported lazily: CPU users never need vllm installed."""

    name = "vllm"

    def __init__(self, model_dir: str, tensor_parallel_size: int = 1, dtype: str = "auto",
                 gpu_memory_utilization: float = 0.9, max_model_len: int | None = None):
        try:
            from vllm import LLM
        except ImportError as e:
            raise ImportError("backend 'vllm' needs the optional extra: pip install 'routerlab[vllm]'") from e
        from routerlab.models import load_from

        kwargs = dict(model=load_from(model_dir), tensor_parallel_size=tensor_parallel_size, dtype=dtype,
                      gpu_memory_utilization=gpu_memory_utilization)
        if max_model_len:
            kwargs["max_model_len"] = max_model_len
        self.llm = LLM(**kwargs)

    def generate(self, conversations: Sequence[list[dict]], params: SamplingParams,
                 progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
        from vllm import SamplingParams as VSP

        sp = VSP(n=params.n, temperature=params.temperature, top_p=params.top_p,
                 max_tokens=params.max_new_tokens, seed=params.seed)
        start = time.perf_counter()
        outs = self.llm.chat(list(conversations), sp, use_tqdm=True)
        elapsed = time.perf_counter() - start
        records = []
        for i, o in enumerate(outs):
            for s, c in enumerate(o.outputs):
                records.append({"index": i, "sample": s, "response": c.text.strip(),
                                "prompt_tokens": len(o.prompt_token_ids), "response_tokens": len(c.token_ids),
                                "finish_reason": c.finish_reason or "", "latency_s": elapsed})
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
        from routerlab.openai_backend import OpenAIBackend

        return OpenAIBackend(**options)
    raise ValueError(f"backend {backend!r}: expected one of {BACKENDS}")


def generate_frame(rows: Iterable[dict[str, Any]], backend, params: SamplingParams, *, style: str = "direct",
                   price: dict[str, float] | None = None, progress: Callable[[int, int], None] | None = None):
    """Generate for dataset rows; return the generations table (SPEC step 2)."""
    import pandas as pd

    from routerlab.prompts import build_messages

    rows = list(rows)
    conversations = [build_messages(r, style) for r in rows]
    records = backend.generate(conversations, params, progress=progress)
    df = pd.DataFrame.from_records(records)
    if df.empty:
        df = pd.DataFrame(columns=["index", "sample", "response", "prompt_tokens", "response_tokens",
                                   "finish_reason", "latency_s"])
    df.insert(0, "id", [rows[i]["id"] for i in df["index"]])
    df = df.drop(columns="index")
    df["backend"] = getattr(backend, "name", type(backend).__name__)
    if price:
        df["cost_usd"] = (df["prompt_tokens"] * price["input"] + df["response_tokens"] * price["output"]) / 1e6
    else:
        df["cost_usd"] = float("nan")
    return df.sort_values(["id", "sample"], kind="stable").reset_index(drop=True)
