"""Scoring requests with a trained router, batched across concurrent requests.

``RouterScorer`` loads a router the workflow saved (``core.router.Router.load``: binary or
K-model) and computes exactly the inputs it reads, with the workflow's code:

- ``hidden_mean`` / ``hidden_last`` / ``logits`` (probes, CoE, logit statistics): the weak
  model's forward pass through ``binary.features.FeatureExtractor`` (the ``features`` rule's
  extractor: chat template, token-budget batches from ``core.batching``, float16 states);
- ``embeddings`` (embedding MLP, K-model routers): the sentence-embedding model with
  ``lm.embeddings``' settings (normalised, float32), loaded once;
- ``texts`` (encoder classifier): the query text;
- routers that read sampled answers or self-checks are refused: they need generations the
  proxy does not make.

``MicroBatcher`` gathers the requests that arrive within ``wait_s`` (up to ``max_batch``)
into one call, so concurrent requests share one forward pass.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np

from routerlab.core.router import Router, RoutingData

log = logging.getLogger(__name__)

WEAK_MODEL_FEATURES = ("hidden_mean", "hidden_last", "logits")
UNSUPPORTED = {"samples": "sampled answers of the weak model", "self_check": "the weak model's self-check"}
DEFAULT_EMBEDDER = {"source": "pypi", "name": "all-minilm-l6-v2"}


@dataclass(frozen=True)
class Decision:
    """One request's routing: ``index`` of the chosen candidate and the router's score."""

    index: int
    score: float


def router_inputs(router: Router) -> set[str]:
    """The ``RoutingData`` fields a fitted router reads (its ``requires`` and its pooling)."""
    needs = set(router.requires)
    pooling = getattr(router, "pooling", None)
    if pooling:
        needs.add({"mean": "hidden_mean", "last": "hidden_last"}.get(pooling, "hidden_mean"))
    return needs


def query_text(messages: Sequence[dict]) -> str:
    """The last user message: the query that embedding and text routers read."""
    for m in reversed(messages):
        if m.get("role") == "user":
            return str(m.get("content") or "")
    return str(messages[-1].get("content") or "") if messages else ""


class RouterScorer:
    """A loaded router and the feature extractors it needs; ``decide(conversations, ids)``."""

    def __init__(self, router_path: str, *, weak_model_dir: str | None = None, embedder: dict | None = None,
                 dtype: str = "auto", device: str = "auto", token_budget: int = 8192, max_batch: int = 32):
        self.path = router_path
        self.router = Router.load(router_path)
        self.kind = getattr(self.router, "task", "binary")
        self.needs = router_inputs(self.router)
        if getattr(self.router, "needs_true_scores", False):
            raise ValueError(f"{router_path}: K-model router {self.router.name!r} reads each query's true scores "
                             "(a reference, not a deployable router); serve knn, linear, mlp, cluster or multilabel")
        refused = sorted(self.needs & set(UNSUPPORTED))
        if refused:
            raise ValueError(f"{router_path}: router {self.router.name!r} reads {', '.join(UNSUPPORTED[k] for k in refused)}, "
                             "which the proxy does not compute per request; serve a probe, CoE, logit-statistic, "
                             "embedding or encoder router")
        self.extractor = None
        if self.needs & set(WEAK_MODEL_FEATURES):
            if not weak_model_dir:
                raise ValueError(f"{router_path}: router {self.router.name!r} reads the weak model's "
                                 f"{sorted(self.needs & set(WEAK_MODEL_FEATURES))}: give --weak-model-dir (the "
                                 "results/models/<weak> directory the router was trained on)")
            from routerlab.binary.features import FeatureExtractor  # lazy: loads torch

            self.extractor = FeatureExtractor(weak_model_dir, device=device, dtype=dtype, token_budget=token_budget,
                                              max_batch_size=max_batch)
        self.embedder_spec = dict(embedder or DEFAULT_EMBEDDER)
        self._embedder = None
        if "embeddings" in self.needs:
            self._embedder = self._load_embedder()

    def describe(self) -> str:
        return json.dumps({"name": self.router.name, "params": self.router.get_params()}, sort_keys=True, default=str)

    def _load_embedder(self):
        from routerlab.lm.models import embedder_path

        # As lm.embeddings.embed_texts: a packaged model must never trigger a hub lookup.
        if self.embedder_spec.get("source") in ("pypi", "local"):
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer  # lazy: heavy

        return SentenceTransformer(embedder_path(self.embedder_spec), device=self.embedder_spec.get("device", "cpu"))

    def routing_data(self, conversations: Sequence[list[dict]], ids: Sequence[str]) -> RoutingData:
        data = RoutingData(ids=list(ids))
        if self.extractor is not None:
            from routerlab.binary.features import stats_frame  # lazy: loads torch

            arrays = self.extractor.extract(conversations)
            data.hidden_mean, data.hidden_last = arrays["hidden_mean"], arrays["hidden_last"]
            data.logits = stats_frame(ids, arrays)
        if self._embedder is not None:
            texts = [query_text(c) for c in conversations]
            data.embeddings = self._embedder.encode(texts, batch_size=64, normalize_embeddings=True,
                                                    show_progress_bar=False).astype(np.float32)
        if "texts" in self.needs:
            data.texts = [query_text(c) for c in conversations]
        return data

    def decide(self, conversations: Sequence[list[dict]], ids: Sequence[str]) -> list[Decision]:
        """Binary: index 0 (weak) with the weak-confidence score, the threshold applied by the caller
        (index is -1); K-model: the chosen candidate and its probability."""
        data = self.routing_data(conversations, ids)
        if self.kind == "kmodel":
            q = self.router.predict_proba(data)
            pick = self.router.predict(data)
            return [Decision(int(k), float(q[i, k])) for i, k in enumerate(pick)]
        return [Decision(-1, float(s)) for s in self.router.score(data)]


class MicroBatcher(threading.Thread):
    """Calls ``fn(items) -> results`` on the items submitted within ``wait_s`` (at most ``max_batch``)."""

    def __init__(self, fn: Callable[[list], list], max_batch: int = 32, wait_s: float = 0.005):
        super().__init__(daemon=True, name="router-batcher")
        self.fn, self.max_batch, self.wait_s = fn, max_batch, wait_s
        self.queue: queue.Queue[tuple[Any, Future]] = queue.Queue()
        self.batches = 0
        self.items = 0

    def submit(self, item: Any) -> Future:
        fut: Future = Future()
        self.queue.put((item, fut))
        return fut

    def run(self) -> None:
        while True:
            batch = [self.queue.get()]
            deadline = time.monotonic() + self.wait_s
            while len(batch) < self.max_batch:
                try:
                    batch.append(self.queue.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            try:
                results = self.fn([b[0] for b in batch])
                for (_, fut), res in zip(batch, results):
                    fut.set_result(res)
                self.batches += 1
                self.items += len(batch)
            except Exception as e:  # every waiting request gets the error; keep serving
                log.exception("router scoring failed on a batch of %d", len(batch))
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(e)
