"""Weak-model activation features (SPEC step 4).

One forward pass per token-budget batch over the chat-formatted prompt (the same text the
model answered), with:
- per-layer masked mean-pooled and last-token hidden states, pooled on the device;
- next-token logit statistics from the last position only (``logits_to_keep=1``: the
  LM head is never applied to every position, which for a 152k vocabulary would cost
  more than the rest of the model);
- one host copy per batch, under ``torch.inference_mode``.

On disk (``write_features``): ``hidden_mean.npy`` and ``hidden_last.npy`` as float16
``[n, n_layers + 1, hidden]`` (memory-mapped on read), ``logits.parquet`` (statistics and
top-k logits per query) and ``index.parquet`` (row order = dataset order of ids).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from routerlab.core.batching import padded_batches
from routerlab.core.io import read_frame, read_json, write_array, write_frame, write_json
from routerlab.lm.loglik import MAX_PADDING, option_scores
from routerlab.lm.models import load_causal_lm
from routerlab.lm.prompts import chat_text

log = logging.getLogger(__name__)

FEATURES_VERSION = 1
TOP_K = 10
LOGIT_STATS = ("max_logit", "max_prob", "entropy", "confidence_margin", "logits_margin", "top10_variance")


def logit_statistics(last_logits):
    """Per-row statistics of next-token logits ``[B, V]`` (float32 on the device)."""
    import torch

    logits = last_logits.float()
    logp = torch.log_softmax(logits, dim=-1)
    probs = logp.exp()
    top_logits, _ = logits.topk(TOP_K, dim=-1)
    top_probs = probs.gather(-1, logits.topk(TOP_K, dim=-1).indices)
    stats = torch.stack(
        [
            top_logits[:, 0],
            top_probs[:, 0],
            -(probs * logp).sum(-1),
            top_probs[:, 0] - top_probs[:, 1],
            top_logits[:, 0] - top_logits[:, 1],
            top_probs.var(dim=-1, unbiased=False),
        ],
        dim=1,
    )
    return torch.cat([stats, top_logits, top_probs], dim=1)  # [B, 6 + 2k]


class FeatureExtractor:
    """Batched, pooled-on-device extraction from a causal LM."""

    def __init__(self, model_dir: str, device: str = "auto", dtype: str = "auto",
                 token_budget: int = 8192, max_batch_size: int = 32, max_padding: float | None = MAX_PADDING):
        tokenizer, model = load_causal_lm(model_dir, device=device, dtype=dtype)
        self._attach(tokenizer, model, tokenizer.pad_token_id, token_budget, max_batch_size, max_padding)

    @classmethod
    def from_model(cls, model, pad_token_id: int, tokenizer=None, token_budget: int = 8192,
                   max_batch_size: int = 32, max_padding: float | None = MAX_PADDING) -> FeatureExtractor:
        """Wrap a loaded model (benchmarks build one from a config with random weights)."""
        self = cls.__new__(cls)
        self._attach(tokenizer, model, pad_token_id, token_budget, max_batch_size, max_padding)
        return self

    def _attach(self, tokenizer, model, pad_token_id: int, token_budget: int, max_batch_size: int,
                max_padding: float | None) -> None:
        self.tokenizer, self.model, self.pad_token_id = tokenizer, model, pad_token_id
        self.device = model.device
        self.token_budget = token_budget
        self.max_batch_size = max_batch_size
        self.max_padding = max_padding

    def encode(self, conversations: Sequence[list[dict]]) -> list[list[int]]:
        return [self.tokenizer(chat_text(self.tokenizer, c), add_special_tokens=False)["input_ids"]
                for c in conversations]

    def extract(self, conversations: Sequence[list[dict]],
                progress: Callable[[int, int], None] | None = None) -> dict[str, np.ndarray]:
        return self.extract_ids(self.encode(conversations), progress)

    def extract_ids(self, encoded: Sequence[Sequence[int]], progress: Callable[[int, int], None] | None = None,
                    option_ids: Sequence[Sequence[int]] | None = None) -> dict[str, Any]:
        """Features of already-tokenised prompts (the chat template applied).

        With ``option_ids`` (each prompt's option-letter token ids, ``lm.loglik.option_token_ids``)
        the result also holds ``option_logprobs``: the multiple-choice answer scores, taken from the
        same last-position logits as the logit statistics, so one pass gives the answer and the features.
        """
        import torch

        n = len(encoded)
        cfg = self.model.config
        n_states = cfg.num_hidden_layers + 1
        hidden = cfg.hidden_size
        mean = np.zeros((n, n_states, hidden), dtype=np.float16)
        last = np.zeros((n, n_states, hidden), dtype=np.float16)
        stats = np.zeros((n, len(LOGIT_STATS) + 2 * TOP_K), dtype=np.float32)
        scores: list[np.ndarray | None] = [None] * n
        for batch, ids, mask in padded_batches(encoded, self.pad_token_id, self.device, self.token_budget,
                                               self.max_batch_size, progress=progress, max_padding=self.max_padding):
            with torch.inference_mode():
                out = self.model(input_ids=ids, attention_mask=mask, output_hidden_states=True,
                                 use_cache=False, logits_to_keep=1)
                states = out.hidden_states  # L+1 tensors [B, T, H]
                # Masked mean as one batched matrix product per layer ([B, 1, T] @ [B, T, H]): no
                # [B, L+1, T, H] stack and no masked copy of every state.
                weights = (mask / mask.sum(dim=1, keepdim=True)).to(states[0].dtype)[:, None, :]
                pooled_mean = torch.cat([torch.bmm(weights, h) for h in states], dim=1)  # [B, L+1, H]
                pooled_last = torch.stack([h[:, -1, :] for h in states], dim=1)
                last_logits = out.logits[:, -1, :]
                st = logit_statistics(last_logits)
                if option_ids is not None:
                    for i, s in zip(batch, option_scores(last_logits, [option_ids[i] for i in batch])):
                        scores[i] = s
                # One host copy per batch.
                packed = torch.cat([pooled_mean.flatten(1).float(), pooled_last.flatten(1).float(), st], dim=1).cpu()
            packed = packed.numpy()
            size = n_states * hidden
            idx = np.asarray(batch)
            mean[idx] = packed[:, :size].reshape(-1, n_states, hidden)
            last[idx] = packed[:, size:2 * size].reshape(-1, n_states, hidden)
            stats[idx] = packed[:, 2 * size:]
        result: dict[str, Any] = {"hidden_mean": mean, "hidden_last": last, "logit_stats": stats,
                                  "n_tokens": np.array([len(e) for e in encoded], dtype=np.int32)}
        if option_ids is not None:
            result["option_logprobs"] = scores
        return result

    def extract_naive(self, conversations: Sequence[list[dict]]) -> dict[str, np.ndarray]:
        """The common baseline: one prompt at a time, full logits, pooling on the host.

        Kept for the benchmark (benchmarks/bench_features.py) and as a correctness
        reference for the batched path.
        """
        return self.extract_naive_ids(self.encode(conversations))

    def extract_naive_ids(self, encoded: Sequence[Sequence[int]]) -> dict[str, np.ndarray]:
        import torch

        means, lasts, stats = [], [], []
        for e in encoded:
            ids = torch.tensor([e], device=self.device)
            with torch.no_grad():
                out = self.model(input_ids=ids, output_hidden_states=True, use_cache=False)
            hs = [h[0].float().cpu().numpy() for h in out.hidden_states]
            means.append(np.stack([h.mean(0) for h in hs]))
            lasts.append(np.stack([h[-1] for h in hs]))
            stats.append(logit_statistics(out.logits[:, -1, :].float()).cpu().numpy()[0])
        return {"hidden_mean": np.stack(means).astype(np.float16), "hidden_last": np.stack(lasts).astype(np.float16),
                "logit_stats": np.stack(stats), "n_tokens": np.array([len(e) for e in encoded], dtype=np.int32)}


def stats_frame(ids: Sequence[str], arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    st = arrays["logit_stats"]
    df = pd.DataFrame(st[:, : len(LOGIT_STATS)], columns=list(LOGIT_STATS))
    df.insert(0, "id", list(ids))
    df["top_logits"] = list(st[:, len(LOGIT_STATS): len(LOGIT_STATS) + TOP_K])
    df["top_probs"] = list(st[:, len(LOGIT_STATS) + TOP_K:])
    df["n_tokens"] = arrays["n_tokens"]
    return df


def write_features(out_dir: str | Path, ids: Sequence[str], arrays: dict[str, np.ndarray],
                   meta: dict[str, Any]) -> None:
    """Write one feature directory; each file atomically, ``meta.json`` last (the completion mark)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for key in ("hidden_mean", "hidden_last"):
        write_array(out_dir / f"{key}.npy", arrays[key])
    write_frame(out_dir / "logits.parquet", stats_frame(ids, arrays))
    write_json(out_dir / "meta.json", {**meta, "version": FEATURES_VERSION, "n": len(ids),
                                       "shape": list(arrays["hidden_mean"].shape)})


class FeatureSet:
    """Read-side view of one feature directory; arrays are memory-mapped."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        meta_path = self.path / "meta.json"
        if not meta_path.exists():
            raise FileNotFoundError(
                f"{self.path}: no meta.json, so the feature extraction did not finish; "
                "delete the directory and re-run the `features` rule"
            )

        self.meta = read_json(meta_path)
        self.logits = read_frame(self.path / "logits.parquet")
        self.ids = self.logits["id"].astype(str).tolist()
        self._arrays: dict[str, np.ndarray] = {}

    def array(self, key: str) -> np.ndarray:
        if key not in self._arrays:
            f = self.path / f"{key}.npy"
            try:
                arr = np.load(f, mmap_mode="r")
            except FileNotFoundError:
                raise FileNotFoundError(f"{f}: missing; re-run the `features` rule for this dataset") from None
            except ValueError as e:
                raise ValueError(f"{f}: corrupt feature file ({e}); delete it and re-run the `features` rule") from None
            if arr.shape[0] != len(self.ids):
                raise ValueError(f"{f}: {arr.shape[0]} rows but index has {len(self.ids)}; re-run `features`")
            self._arrays[key] = arr
        return self._arrays[key]


def concat_feature_dirs(parts: Sequence[str | Path], out_dir: str | Path, meta: dict[str, Any]) -> None:
    """Gather shard feature directories (in shard order) into one."""
    sets = [FeatureSet(p) for p in parts]
    ids = [i for s in sets for i in s.ids]
    arrays = {k: np.concatenate([np.asarray(s.array(k)) for s in sets]) for k in ("hidden_mean", "hidden_last")}
    lg = pd.concat([s.logits for s in sets], ignore_index=True)
    arrays["logit_stats"] = np.concatenate(
        [lg[list(LOGIT_STATS)].to_numpy(np.float32), np.stack(lg["top_logits"]), np.stack(lg["top_probs"])], axis=1
    )
    arrays["n_tokens"] = lg["n_tokens"].to_numpy(np.int32)
    write_features(out_dir, ids, arrays, meta)
