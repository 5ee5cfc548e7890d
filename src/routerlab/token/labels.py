"""Token-level divergence labels and weak-model features for an R2R-style token router.

For each prompt the strong model's continuation is generated once (``strong_continuations``).
Then ONE teacher-forced forward pass of the weak model over prompt + continuation gives, at
every continuation position t (the context is prompt + continuation[:t]):

- the label: 1 when the weak model's greedy next token differs from the strong token
  (exact-match divergence; weak and strong must share a tokenizer);
- the features: the weak model's last-layer hidden state, the input embedding of its
  greedy token, and its top-k next-token log-probabilities (logits normalised with a
  log-softmax over the full vocabulary, so values compare across positions).

Features and labels come from the same pass, never from a per-token generate loop
(``TokenFeatureExtractor.extract_naive`` is that loop, kept as the benchmark baseline and
correctness reference). Only the selected positions go through the LM head; selection,
argmax, top-k and the embedding lookup run on the device, one host copy per batch.

Optionally (``meaningful``) a divergence is judged by its effect: the weak model continues
greedily from the weak token and from the strong token, and the two branches' final answers
are compared with the task's extractor from ``routerlab.scoring``.

On disk (``write_token_tables``), one directory per dataset: ``tokens.parquet`` (one row per
continuation token: id, position, token_id, weak_token_id, label, split, ...),
``hidden.npy`` and ``token_embedding.npy`` (float16 ``[n, hidden]``), ``topk_logprobs.npy``
(float16 ``[n, k]``), all memory-mapped on read, and ``meta.json`` last (completion mark).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from routerlab.core.batching import padded_batches
from routerlab.core.io import read_frame, read_json, write_array, write_frame, write_json
from routerlab.core.runtime import records
from routerlab.lm.generation import TransformersBackend
from routerlab.lm.models import load_from
from routerlab.lm.prompts import build_messages
from routerlab.lm.sampling import SamplingParams
from routerlab.scoring import extract_choice, extract_math_answer, extract_qa_answer, math_equal, normalize_answer

log = logging.getLogger(__name__)

TOKENS_VERSION = 1
ARRAYS = ("hidden", "token_embedding", "topk_logprobs")
LM_HEAD_CHUNK = 1024  # positions per LM-head call: bounds the [positions, vocab] logits buffer


# ---------------------------------------------------------------------------
# tokenizers
# ---------------------------------------------------------------------------

def tokenizer_fingerprint(tokenizer) -> str:
    """sha256 of the vocabulary (token string -> id); equal fingerprints mean ids are interchangeable."""
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    return hashlib.sha256(json.dumps(vocab, ensure_ascii=False).encode()).hexdigest()


def check_shared_tokenizer(weak_tokenizer, strong_tokenizer, weak_name: str, strong_name: str) -> str:
    """Return the shared fingerprint, or fail naming both models: exact-match labels compare token ids."""
    fw, fs = tokenizer_fingerprint(weak_tokenizer), tokenizer_fingerprint(strong_tokenizer)
    if fw != fs:
        vw, vs = weak_tokenizer.get_vocab(), strong_tokenizer.get_vocab()
        differing = next((t for t, i in sorted(vw.items(), key=lambda kv: kv[1]) if vs.get(t) != i), None)
        raise ValueError(
            f"token_router: weak model {weak_name!r} and strong model {strong_name!r} do not share a tokenizer "
            f"(vocabulary sizes {len(vw)} and {len(vs)}; first token with a different id: {differing!r}). "
            "Exact-match divergence compares token ids, so set token_router.weak and token_router.strong "
            "to two models of one family (e.g. qwen2.5-coder-0.5b and qwen2.5-coder-1.5b)"
        )
    return fw


# ---------------------------------------------------------------------------
# strong continuations
# ---------------------------------------------------------------------------

def strong_continuations(rows: Sequence[dict[str, Any]], backend, params, style: str,
                         progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """One continuation per row from a ``TransformersBackend``, with exact prompt and continuation ids."""
    if params.n != 1:
        raise ValueError(f"token_router.sampling.n = {params.n}: the token router uses one continuation per prompt")
    rows = list(rows)
    texts = backend.render([build_messages(r, style) for r in rows])
    encoded = [backend.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    records = backend.generate_ids(encoded, params, progress=progress)
    out = pd.DataFrame({
        "id": [rows[r["index"]]["id"] for r in records],
        "split": [rows[r["index"]]["split"] for r in records],
        "task": [rows[r["index"]]["task"] for r in records],
        "choices": [list(rows[r["index"]].get("choices") if rows[r["index"]].get("choices") is not None else [])
                    for r in records],
        "prompt_ids": [r["prompt_ids"] for r in records],
        "continuation_ids": [r["token_ids"] for r in records],
        "response": [backend.tokenizer.decode(r["token_ids"], skip_special_tokens=True) for r in records],
        "finish_reason": [r["finish_reason"] for r in records],
    })
    return out


# ---------------------------------------------------------------------------
# teacher-forced features
# ---------------------------------------------------------------------------

class TokenFeatureExtractor:
    """Weak-model features and divergence labels at every continuation position, batched."""

    def __init__(self, tokenizer, model, token_budget: int = 8192, max_batch_size: int = 16, top_k: int = 100):
        self.tokenizer = tokenizer
        self.model = model
        self.device = model.device
        self.token_budget = token_budget
        self.max_batch_size = max_batch_size
        self.top_k = top_k
        vocab = model.get_output_embeddings().weight.shape[0]
        if vocab >= 2 ** 24:  # ids travel packed in a float32 row
            raise ValueError(f"vocabulary of {vocab} tokens is too large for the packed host copy")

    def extract(self, prompt_ids: Sequence[Sequence[int]], continuation_ids: Sequence[Sequence[int]],
                progress: Callable[[int, int], None] | None = None) -> dict[str, np.ndarray]:
        """Per-token arrays in (row, position) order; rows with an empty continuation contribute nothing."""
        import torch

        if len(prompt_ids) != len(continuation_ids):
            raise ValueError(f"{len(prompt_ids)} prompts but {len(continuation_ids)} continuations")
        for i, p in enumerate(prompt_ids):
            if not len(p):
                raise ValueError(f"row {i}: empty prompt; the weak model needs a context to predict from")
        seqs = [list(p) + list(c) for p, c in zip(prompt_ids, continuation_ids)]
        conts = [len(c) for c in continuation_ids]
        offsets = np.concatenate([[0], np.cumsum(conts)]).astype(int)
        n_tok, hidden, k = int(offsets[-1]), self.model.config.hidden_size, self.top_k
        out = {"row": np.repeat(np.arange(len(seqs)), conts).astype(np.int32),
               "position": np.concatenate([np.arange(c) for c in conts] or [np.zeros(0)]).astype(np.int32),
               "token_id": np.concatenate([np.asarray(c, dtype=np.int64) for c in continuation_ids]
                                          or [np.zeros(0)]).astype(np.int32),
               "weak_token_id": np.zeros(n_tok, np.int32), "weak_logprob": np.zeros(n_tok, np.float32),
               "strong_token_logprob": np.zeros(n_tok, np.float32),
               "hidden": np.zeros((n_tok, hidden), np.float16), "token_embedding": np.zeros((n_tok, hidden), np.float16),
               "topk_logprobs": np.zeros((n_tok, k), np.float16)}
        decoder = self.model.get_decoder()
        lm_head, embed = self.model.get_output_embeddings(), self.model.get_input_embeddings()
        pad = self.tokenizer.pad_token_id
        todo = [i for i in range(len(seqs)) if conts[i]]
        for b, ids, mask in padded_batches([seqs[i] for i in todo], pad, self.device, self.token_budget,
                                           self.max_batch_size, progress=progress):
            batch = [todo[j] for j in b]
            width = ids.shape[1]
            rows, cols, targets = [], [], []
            for r, i in enumerate(batch):  # left padding: every row ends in the last column
                # position t of the continuation is predicted from column (width - c - 1 + t)
                rows += [r] * conts[i]
                cols += range(width - conts[i] - 1, width - 1)
                targets += continuation_ids[i]
            # Positions count from each row's first real token, as in generation.
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            with torch.inference_mode():
                states = decoder(input_ids=ids, attention_mask=mask, position_ids=positions,
                                 use_cache=False).last_hidden_state  # final norm applied
                h = states[torch.tensor(rows, device=self.device), torch.tensor(cols, device=self.device)]
                tgt = torch.tensor(targets, device=self.device)
                top_v, top_i, strong_lp = [], [], []
                for s in range(0, h.shape[0], LM_HEAD_CHUNK):
                    logp = torch.log_softmax(lm_head(h[s:s + LM_HEAD_CHUNK]).float(), dim=-1)
                    v, ix = logp.topk(k, dim=-1)
                    top_v.append(v)
                    top_i.append(ix[:, 0])
                    strong_lp.append(logp.gather(-1, tgt[s:s + LM_HEAD_CHUNK, None])[:, 0])
                top_v, weak_tok, strong_lp = torch.cat(top_v), torch.cat(top_i), torch.cat(strong_lp)
                emb = embed(weak_tok)
                # One host copy per batch.
                packed = torch.cat([h.float(), emb.float(), top_v, weak_tok[:, None].float(), strong_lp[:, None]],
                                   dim=1).cpu().numpy()
            dest = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in batch])
            out["hidden"][dest] = packed[:, :hidden]
            out["token_embedding"][dest] = packed[:, hidden:2 * hidden]
            out["topk_logprobs"][dest] = packed[:, 2 * hidden:2 * hidden + k]
            out["weak_token_id"][dest] = packed[:, -2].astype(np.int32)
            out["weak_logprob"][dest] = packed[:, 2 * hidden]
            out["strong_token_logprob"][dest] = packed[:, -1]
        out["label"] = (out["weak_token_id"] != out["token_id"]).astype(np.int8)
        return out

    def extract_naive(self, prompt_ids: Sequence[Sequence[int]],
                      continuation_ids: Sequence[Sequence[int]]) -> dict[str, np.ndarray]:
        """The per-token loop: one prompt at a time, one decoding step per token (KV cache), host copy per step.

        Kept as the benchmark baseline (benchmarks/bench_token_features.py) and the
        correctness reference for ``extract``.
        """
        import torch

        weak, hid, emb_rows, topk = [], [], [], []
        embed = self.model.get_input_embeddings()
        for p, c in zip(prompt_ids, continuation_ids):
            if not len(c):
                continue
            with torch.no_grad():
                out = self.model(input_ids=torch.tensor([list(p)], device=self.device), use_cache=True,
                                 output_hidden_states=True)
                for t, token in enumerate(c):
                    logp = torch.log_softmax(out.logits[0, -1].float(), dim=-1).cpu()
                    h = out.hidden_states[-1][0, -1].float().cpu()
                    v, ix = logp.topk(self.top_k)
                    weak.append(int(ix[0]))
                    hid.append(h.numpy())
                    emb_rows.append(embed(ix[:1].to(self.device))[0].float().cpu().numpy())
                    topk.append(v.numpy())
                    if t + 1 < len(c):
                        out = self.model(input_ids=torch.tensor([[token]], device=self.device),
                                         past_key_values=out.past_key_values, use_cache=True,
                                         output_hidden_states=True)
        token_id = np.concatenate([np.asarray(c, dtype=np.int32) for c in continuation_ids if len(c)])
        weak_arr = np.asarray(weak, dtype=np.int32)
        return {"token_id": token_id, "weak_token_id": weak_arr, "label": (weak_arr != token_id).astype(np.int8),
                "hidden": np.stack(hid).astype(np.float16), "token_embedding": np.stack(emb_rows).astype(np.float16),
                "topk_logprobs": np.stack(topk).astype(np.float16)}


# ---------------------------------------------------------------------------
# meaningful divergence (optional)
# ---------------------------------------------------------------------------

def final_answer_differs(task: str, a: str, b: str, choices: Sequence[str] | None = None) -> float:
    """1.0 when two texts end in different final answers, 0.0 when the same, NaN when neither has one.

    math: ``extract_math_answer`` + ``math_equal``; mc: ``extract_choice``; other tasks:
    the normalised short answer (``extract_qa_answer`` + ``normalize_answer``).
    """
    if task == "math":
        x, y = extract_math_answer(a), extract_math_answer(b)
        if x is None and y is None:
            return math.nan
        if x is None or y is None:
            return 1.0
        same, _ = math_equal(x, y)
        return 0.0 if (same if same is not None else x.strip() == y.strip()) else 1.0
    if task == "mc":
        choices = list(choices) if choices is not None else []
        n = max(len(choices), 4)
        x, y = extract_choice(a, n, choices), extract_choice(b, n, choices)
    else:
        x, y = normalize_answer(extract_qa_answer(a)) or None, normalize_answer(extract_qa_answer(b)) or None
    if x is None and y is None:
        return math.nan
    return 0.0 if x == y else 1.0


def meaningful_divergence(backend, prompt_ids: Sequence[Sequence[int]], continuation_ids: Sequence[Sequence[int]],
                          tokens: pd.DataFrame, tasks: Sequence[str], choices: Sequence[Sequence[str] | None],
                          max_new_tokens: int) -> np.ndarray:
    """For each diverging token: continue the weak model greedily from its own token and from the strong one.

    ``tokens`` has columns row, position, weak_token_id, label. Returns a float array aligned
    with ``tokens``: 0 for non-diverging tokens, otherwise ``final_answer_differs`` of the two
    branches (each branch's text = continuation[:t] + its token + the greedy continuation).
    """
    result = np.zeros(len(tokens), dtype=np.float64)
    div = np.flatnonzero(tokens["label"].to_numpy() == 1)
    if not div.size:
        return result
    heads, contexts = [], []
    for j in div:
        r, t = int(tokens["row"].iat[j]), int(tokens["position"].iat[j])
        prefix = list(continuation_ids[r][:t])
        for token in (int(tokens["weak_token_id"].iat[j]), int(continuation_ids[r][t])):
            heads.append(prefix + [token])
            contexts.append(list(prompt_ids[r]) + prefix + [token])
    records = backend.generate_ids(contexts, SamplingParams(max_new_tokens=max_new_tokens))
    tok = backend.tokenizer
    texts = [tok.decode(h + rec["token_ids"], skip_special_tokens=True) for h, rec in zip(heads, records)]
    for n, j in enumerate(div):
        r = int(tokens["row"].iat[j])
        result[j] = final_answer_differs(tasks[r], texts[2 * n], texts[2 * n + 1], choices[r])
    return result


# ---------------------------------------------------------------------------
# rule entry points
# ---------------------------------------------------------------------------

def select_prompts(data: pd.DataFrame, n: int) -> pd.DataFrame:
    """The first rows of each split, ``n`` in all, in proportion to the splits' shares (each split >= 1).

    Dataset order is kept; a small ``n`` still leaves validation prompts for early stopping
    and the threshold, and test prompts for the report.
    """
    if n >= len(data):
        return data
    share = data["split"].value_counts(normalize=True).sort_index()
    quota = np.maximum(np.floor(share.to_numpy() * n).astype(int), 1)
    while quota.sum() != n:
        if quota.sum() < n:
            quota[np.argmax(share.to_numpy() * n - quota)] += 1
        else:
            quota[np.argmax(quota)] -= 1
    limit = data["split"].map(dict(zip(share.index, quota)))
    return data[data.groupby("split").cumcount() < limit]


def load_tokenizer(model_dir: str | Path):
    from transformers import AutoTokenizer


    return AutoTokenizer.from_pretrained(load_from(model_dir))


def run_continuations(data: pd.DataFrame, strong_dir: str | Path, weak_dir: str | Path, names: Mapping[str, str],
                      runtime: Mapping[str, Any], sampling: Mapping[str, Any], style: str, max_prompts: int,
                      token_budget: int, max_batch_size: int,
                      progress: Callable[[int, int], None] | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The strong model's continuations of ``max_prompts`` rows (``select_prompts``); fails first if tokenizers differ."""
    params = SamplingParams.from_config(sampling)
    backend = TransformersBackend(str(strong_dir), device=runtime["device"], dtype=runtime["dtype"],
                                  token_budget=token_budget, max_batch_size=max_batch_size)
    fingerprint = check_shared_tokenizer(load_tokenizer(weak_dir), backend.tokenizer, names["weak"], names["strong"])
    rows = records(select_prompts(data, max_prompts))
    log.info("strong continuations: %d prompts, %s", len(rows), params)
    cont = strong_continuations(rows, backend, params, style, progress=progress)
    meta = {"strong": names["strong"], "weak": names["weak"], "tokenizer": fingerprint, "style": style,
            "sampling": params.as_dict(), "n_prompts": len(rows)}
    return cont, meta


def run_labels(continuations: pd.DataFrame, continuation_meta: Mapping[str, Any], weak_dir: str | Path,
               weak_name: str, runtime: Mapping[str, Any], token_budget: int, max_batch_size: int, top_k: int,
               meaningful: Mapping[str, Any],
               progress: Callable[[int, int], None] | None = None) -> tuple[pd.DataFrame, dict[str, np.ndarray], dict]:
    """Token table, feature arrays and metadata from one teacher-forced pass of the weak model."""
    backend = TransformersBackend(str(weak_dir), device=runtime["device"], dtype=runtime["dtype"],
                                  token_budget=token_budget, max_batch_size=max_batch_size)
    if tokenizer_fingerprint(backend.tokenizer) != continuation_meta["tokenizer"]:
        raise ValueError(f"token_router: weak model {weak_name!r} does not share the tokenizer of the strong model "
                         f"{continuation_meta['strong']!r} that wrote the continuations; re-run `token_continuations` "
                         "or choose a weak model of the strong model's family")
    prompt_ids = [list(x) for x in continuations["prompt_ids"]]
    cont_ids = [list(x) for x in continuations["continuation_ids"]]
    extractor = TokenFeatureExtractor(backend.tokenizer, backend.model, token_budget=token_budget,
                                      max_batch_size=max_batch_size, top_k=top_k)
    arrays = extractor.extract(prompt_ids, cont_ids, progress=progress)
    tokens = token_table(continuations, arrays)
    if meaningful.get("enabled"):
        judged = meaningful_divergence(backend, prompt_ids, cont_ids, tokens.assign(row=arrays["row"]),
                                       continuations["task"].tolist(), continuations["choices"].tolist(),
                                       meaningful["max_new_tokens"])
        tokens["meaningful"] = judged
    meta = {**continuation_meta, "weak_model": weak_name, "top_k": top_k, "meaningful": dict(meaningful),
            "features": {"hidden": "last-layer hidden state (after the final norm) at the predicting position",
                         "token_embedding": "input embedding of the weak model's greedy token",
                         "topk_logprobs": "top-k next-token log-probabilities (log-softmax over the full vocabulary)"}}
    return tokens, arrays, meta


# ---------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------

def token_table(continuations: pd.DataFrame, arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per continuation token (``run_labels`` adds ``meaningful`` when enabled: 1 = the final
    answer changes, 0 = it does not or the token does not diverge, NaN = neither branch reached an answer)."""
    rows = arrays["row"]
    df = pd.DataFrame({
        "id": continuations["id"].to_numpy()[rows],
        "split": continuations["split"].to_numpy()[rows],
        "position": arrays["position"],
        "token_id": arrays["token_id"],
        "weak_token_id": arrays["weak_token_id"],
        "label": arrays["label"],
        "weak_logprob": arrays["weak_logprob"],
        "strong_token_logprob": arrays["strong_token_logprob"],
    })
    return df


def write_token_tables(out_dir: str | Path, tokens: pd.DataFrame, arrays: dict[str, np.ndarray],
                       meta: dict[str, Any]) -> None:
    """Write one token directory; each file atomically, ``meta.json`` last (the completion mark)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for key in ARRAYS:
        if arrays[key].shape[0] != len(tokens):
            raise ValueError(f"{key}: {arrays[key].shape[0]} rows for {len(tokens)} tokens")
        write_array(out_dir / f"{key}.npy", np.ascontiguousarray(arrays[key], dtype=np.float16))
    write_frame(out_dir / "tokens.parquet", tokens)
    write_json(out_dir / "meta.json", {**meta, "version": TOKENS_VERSION, "n_tokens": len(tokens),
                                       "prevalence": float(tokens["label"].mean()) if len(tokens) else math.nan,
                                       "shapes": {k: list(arrays[k].shape) for k in ARRAYS}})


class TokenSet:
    """Read-side view of one token directory; feature arrays are memory-mapped."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not (self.path / "meta.json").exists():
            raise FileNotFoundError(f"{self.path}: no meta.json, so token labelling did not finish; "
                                    "delete the directory and re-run the `token_labels` rule")
        self.meta = read_json(self.path / "meta.json")
        if self.meta.get("version") != TOKENS_VERSION:
            raise ValueError(f"{self.path}: token tables version {self.meta.get('version')}, expected "
                             f"{TOKENS_VERSION}; delete the directory and re-run the `token_labels` rule")
        self.tokens = read_frame(self.path / "tokens.parquet")

    def array(self, key: str) -> np.ndarray:
        f = self.path / f"{key}.npy"
        try:
            arr = np.load(f, mmap_mode="r")
        except FileNotFoundError:
            raise FileNotFoundError(f"{f}: missing; re-run the `token_labels` rule") from None
        if arr.shape[0] != len(self.tokens):
            raise ValueError(f"{f}: {arr.shape[0]} rows but tokens.parquet has {len(self.tokens)}; "
                             "re-run the `token_labels` rule")
        return arr
