"""The peers' learned routers: RouterDC, RouteLLM's BERT classifier, RouterBench's cascade, an SVM.

Each is a K-model router (any K >= 2) in ``kmodel.routers.ROUTERS`` with the source's defaults; with
K = 2 ``strong_win_rate(data, strong, weak)`` is the weak/strong routing score (higher = send the
query to the strong model). Trained on CPU.

- ``routerdc`` (RouterDC, shuhao02/RouterDC @0e63989, ``train_router_mdeberta.py``: ``RouterModule``;
  Chen et al., NeurIPS 2024): score s_t(x) = cos(E(x), k_t) / tau with learned model embeddings
  k_t ~ N(0, 0.78^2); sample-LLM contrastive loss (each of the top-k models with a score > 0 against
  the last-k models, those scoring > 0.5 masked out) plus lambda_c times the sample-sample loss
  (one same-cluster positive against H = 3 other-cluster negatives, cosine similarities of E(x) in
  the batch; clusters = KMeans(8, seed 42) of the untrained encoder's embeddings). Defaults:
  tau = 1, top_k = last_k = 3, lambda_c = 1, H = 3, AdamW lr 5e-5, 1000 steps, batch 64 (the
  paper's; its train script passes batch 16). **On CPU the encoder is the frozen packaged sentence
  embedding plus a trainable residual MLP** (E(x) = e(x) + MLP(e(x)), the MLP's last layer zero at
  start so E starts as the pre-trained encoder, as RouterDC starts from mDeBERTa), not a fine-tuned
  mDeBERTa; RouterDC clusters after a 5-d t-SNE, here KMeans runs on the embeddings themselves.
  RouterDC's code multiplies the per-row loss [B] by the positive mask [B, 1], which broadcasts to
  mean(loss) * mean(mask); here the mask applies per row, as the paper's formula. ``cost_rate``
  (RouterDC's RouterBench variant): scores y - cost_rate * (mean training cost of the model).
- ``bert`` (RouteLLM's ``BERTRouter``, lm-sys/RouteLLM @0b64fda ``routers/routers.py``): a sequence
  classifier on the query text fine-tuned through routerlab.lm.encoder (the packaged
  all-MiniLM-L6-v2 by default; ``encoder: xlm-roberta-base`` where a hub exists). RouteLLM's labels
  for two models are strong wins / tie / weak wins and win_rate = P(strong wins); for K models
  the classes are "model m is uniquely best" (K) and "tie" (several share the best score), and the
  tie's probability goes to the cheapest model, as RouteLLM gives it to the weak one. RouteLLM's
  training script is not in its repository: batch 16 and 512 tokens follow our reading of its paper
  (not checked against the code), the rest the binary encoder_classifier's defaults.
- ``cascade`` (RouterBench, withmartian/routerbench @cc67d10 ``routers/run_cascading_router.py``):
  models by ascending cost; call them in turn, stop at the first whose answer the judge accepts, or
  when the next call would exceed ``budget`` (something already spent); the answer is the last
  called model's. A good answer scores >= the ``quality_quantile`` = 0.95 quantile of every
  training score (RouterBench's tau). ``judge: predicted`` (deployable; the default) accepts when
  the model's predicted P(good answer | query) >= ``threshold`` (a logistic regression per model
  on the query embedding); ``judge: simulated`` is RouterBench's judge: the true outcome, flipped
  with probability ``error_rate`` (seeded per query id and model) - it reads the true scores, so it
  is a reference, not a deployable router. q is one-hot on the model the cascade ends at; its cost
  is the sum over every model called (:meth:`CascadeRouter.cascade`).
- ``svm``: an RBF support-vector classifier of the best model per training query (ties: cheaper,
  then higher training mean), C = 1, gamma = "scale" (the SVM router of ulab-uiuc/LLMRouter,
  FusionFactory, arXiv:2507.10540); q = a softmax of its one-vs-rest decision values (two
  models: sigmoid). At most ``max_train`` training rows (a seeded subsample; kernel SVMs scale as n^2).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from routerlab.core.router import RoutingData
from routerlab.kmodel.metrics import select_models
from routerlab.kmodel.peer_routers import PeerRouter, cost_order, single_threaded, unit_rows
from routerlab.kmodel.routers import ROUTERS, unit_hash
from routerlab.lm.models import resolve_device


def _softmax(z: np.ndarray) -> np.ndarray:
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def sample_llm_loss(sim: Any, y: Any, top_k: int, last_k: int) -> Any:
    """RouterDC's ``compute_sample_llm_loss`` (positive mask per row; see the module docstring)."""
    import torch  # lazy: heavy

    top_true, top_index = y.sort(dim=-1, descending=True, stable=True)
    last_true, neg_index = y.sort(dim=-1, descending=False, stable=True)
    last_true, neg_index = last_true[:, :last_k], neg_index[:, :last_k]
    neg = torch.gather(sim, 1, neg_index).masked_fill(last_true > 0.5, float("-inf"))
    loss = sim.new_zeros(())
    for i in range(top_k):
        pos = torch.gather(sim, 1, top_index[:, i:i + 1])
        log_p = torch.log_softmax(torch.cat([pos, neg], dim=-1), dim=-1)[:, 0]
        loss = loss + torch.mean(-log_p * (top_true[:, i] > 0).to(sim.dtype))
    return loss


def sample_sample_loss(h: Any, clusters: np.ndarray, H: int, rng: np.random.Generator) -> Any:
    """RouterDC's ``compute_cluster_loss``: one same-cluster positive (possibly the sample itself, as
    RouterDC draws from every same-cluster index) against H other-cluster negatives."""
    import torch  # lazy: heavy

    hn = torch.nn.functional.normalize(h, dim=1)
    sim = hn @ hn.T
    same = clusters[:, None] == clusters[None, :]
    rows = np.flatnonzero((~same).sum(axis=1) >= H)  # RouterDC skips rows with fewer than H negatives
    if not rows.size:
        return h.new_zeros(())
    # Uniform draws, vectorised: the largest random key among the same-cluster columns is a uniform
    # pick; the H largest among the other-cluster columns a uniform sample without replacement.
    keys = rng.random(same.shape)[rows]
    positive = np.argmax(np.where(same[rows], keys, -1.0), axis=1)
    negatives = np.argsort(-np.where(same[rows], -1.0, keys), axis=1, kind="stable")[:, :H]
    idx = torch.from_numpy(np.concatenate([positive[:, None], negatives], axis=1).astype(np.int64))
    scores = torch.gather(sim[torch.from_numpy(rows)], 1, idx)
    return torch.mean(-torch.log_softmax(scores, dim=-1)[:, 0])


@ROUTERS.register
class RouterDCRouter(PeerRouter):
    """RouterDC's dual-contrastive router on frozen embeddings + a trainable MLP (module docstring)."""

    name = "routerdc"
    q_kind = "softmax over models of cos(E(x), k_m) / tau"

    def __init__(self, hidden: int = 256, lr: float = 5e-5, steps: int = 1000, batch_size: int = 64,
                 weight_decay: float = 0.01, tau: float = 1.0, top_k: int = 3, last_k: int = 3,
                 cluster_loss_weight: float = 1.0, H: int = 3, n_clusters: int = 8, embedding_std: float = 0.78,
                 cost_rate: float = 0.0, seed: int = 42):
        if tau <= 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        self.hidden, self.lr, self.steps, self.batch_size, self.weight_decay = hidden, lr, steps, batch_size, weight_decay
        self.tau, self.top_k, self.last_k, self.cluster_loss_weight, self.H = tau, top_k, last_k, cluster_loss_weight, H
        self.n_clusters, self.embedding_std, self.cost_rate, self.seed = n_clusters, embedding_std, cost_rate, seed

    def _fit(self, data: RoutingData, Y: np.ndarray) -> None:
        from sklearn.cluster import KMeans  # lazy: sklearn would add ~1.5 s to every Snakefile parse

        X = np.asarray(data.embeddings, dtype=np.float32)
        k = max(1, min(self.n_clusters, X.shape[0]))
        target = Y - self.cost_rate * self.costs_[None, :].astype(np.float32)
        with single_threaded():
            clusters = KMeans(n_clusters=k, n_init=10, random_state=42).fit_predict(unit_rows(X))
            self.state_, self.final_loss_ = self._train(X, target.astype(np.float32), clusters)

    def _train(self, X: np.ndarray, Y: np.ndarray, clusters: np.ndarray) -> tuple[dict[str, np.ndarray], float]:
        import torch  # lazy: heavy

        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        d, K = X.shape[1], Y.shape[1]
        mlp = torch.nn.Sequential(torch.nn.Linear(d, self.hidden), torch.nn.GELU(), torch.nn.Linear(self.hidden, d))
        torch.nn.init.zeros_(mlp[2].weight)
        torch.nn.init.zeros_(mlp[2].bias)
        models = torch.nn.Parameter(torch.randn(K, d) * self.embedding_std)
        opt = torch.optim.AdamW([*mlp.parameters(), models], lr=self.lr, weight_decay=self.weight_decay)
        Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
        gen = torch.Generator().manual_seed(self.seed)
        top_k, last_k = min(self.top_k, K), min(self.last_k, K)
        step, last = 0, float("nan")
        while step < self.steps:
            for idx in torch.randperm(X.shape[0], generator=gen).split(self.batch_size):
                h = Xt[idx] + mlp(Xt[idx])
                sim = torch.nn.functional.normalize(h, dim=1) @ torch.nn.functional.normalize(models, dim=1).T
                loss = sample_llm_loss(sim / self.tau, Yt[idx], top_k, last_k)
                if self.cluster_loss_weight:
                    loss = loss + self.cluster_loss_weight * sample_sample_loss(h, clusters[idx.numpy()], self.H, rng)
                opt.zero_grad()
                loss.backward()
                opt.step()
                last, step = float(loss.detach()), step + 1
                if step >= self.steps:
                    break
        state = {k: v.detach().numpy().copy() for k, v in mlp.state_dict().items()}
        state["models"] = models.detach().numpy().copy()
        return state, last

    def similarities(self, data: RoutingData) -> np.ndarray:
        """cos(E(x), k_m) / tau, [n, K]."""
        import torch  # lazy: heavy

        st = {k: torch.from_numpy(v) for k, v in self.state_.items()}
        with torch.no_grad():
            x = torch.from_numpy(np.asarray(data.embeddings, dtype=np.float32))
            h = x + torch.nn.functional.gelu(x @ st["0.weight"].T + st["0.bias"]) @ st["2.weight"].T + st["2.bias"]
            sim = torch.nn.functional.normalize(h, dim=1) @ torch.nn.functional.normalize(st["models"], dim=1).T
        return sim.double().numpy() / self.tau

    def _predict_scores(self, data: RoutingData) -> np.ndarray:
        return _softmax(self.similarities(data))


def best_or_tie_labels(Y: np.ndarray) -> np.ndarray:
    """Class per query: m when model m alone has the best score, K when several share it."""
    best = Y == Y.max(axis=1, keepdims=True)
    return np.where(best.sum(axis=1) == 1, np.argmax(best, axis=1), Y.shape[1])


@ROUTERS.register
class BERTRouter(PeerRouter):
    """RouteLLM's BERT classifier on query text, K models (module docstring); reads ``texts``."""

    name = "bert"
    requires = ("texts",)
    q_kind = "P(model uniquely best), the tie's probability added to the cheapest model"

    def __init__(self, encoder: str | dict[str, Any] | None = None, lr: float = 5e-5, epochs: int = 3,
                 batch_size: int = 16, max_length: int = 512, weight_decay: float = 0.01, val_fraction: float = 0.1,
                 patience: int = 1, token_pooling: str = "mean", dropout: float = 0.1, device: str = "auto",
                 seed: int = 42):
        self.encoder, self.lr, self.epochs, self.batch_size = encoder, lr, epochs, batch_size
        self.max_length, self.weight_decay, self.val_fraction = max_length, weight_decay, val_fraction
        self.patience, self.token_pooling, self.dropout = patience, token_pooling, dropout
        self.device, self.seed = device, seed

    def _fit(self, data: RoutingData, Y: np.ndarray) -> None:
        from routerlab.lm.encoder import fine_tune  # lazy: routerlab.lm.encoder imports torch

        fit = fine_tune(list(data.require("texts", self.name)), best_or_tie_labels(Y), encoder=self.encoder,
                        lr=self.lr, epochs=self.epochs, batch_size=self.batch_size, max_length=self.max_length,
                        weight_decay=self.weight_decay, val_fraction=self.val_fraction, patience=self.patience,
                        pooling=self.token_pooling, dropout=self.dropout, device=self.device, seed=self.seed,
                        n_classes=Y.shape[1] + 1)
        self.state_, self.config_, self.tokenizer_ = fit["state"], fit["config"], fit["tokenizer"]
        self.history_, self.best_epoch_ = fit["history"], fit["best_epoch"]
        self.tie_model_ = int(cost_order(self.costs_, self.means_)[0])
        self.module_ = None

    def class_proba(self, data: RoutingData) -> np.ndarray:
        """[n, K + 1]: P(model m uniquely best) for each m, then P(tie)."""
        from routerlab.lm.encoder import build_classifier, predict_proba  # lazy: lm.encoder imports torch

        texts = list(data.require("texts", self.name))
        if getattr(self, "module_", None) is None:
            self.module_ = build_classifier(self.config_, self.state_, self.token_pooling, self.dropout,
                                            resolve_device(self.device))
        return predict_proba(self.module_, self.tokenizer_, texts, self.batch_size, self.max_length)

    def _predict_scores(self, data: RoutingData) -> np.ndarray:
        p = self.class_proba(data)
        q = p[:, :-1].copy()
        q[:, self.tie_model_] += p[:, -1]
        return q

    def __getstate__(self) -> dict[str, Any]:
        state = dict(vars(self))
        state["module_"] = None  # rebuilt from state_ on first use
        return state


JUDGES = ("predicted", "simulated")


@ROUTERS.register
class CascadeRouter(PeerRouter):
    """RouterBench's cascade, escalating by cost while the judge rejects (module docstring)."""

    name = "cascade"
    q_kind = "one-hot on the model the cascade ends at"

    def __init__(self, threshold: float = 0.5, judge: str = "predicted", quality_quantile: float = 0.95,
                 quality_threshold: float | None = None, error_rate: float = 0.0, budget: float | None = None,
                 C: float = 1.0, seed: int = 42):
        if judge not in JUDGES:
            raise ValueError(f"judge={judge!r}: expected one of {JUDGES}")
        if not 0.0 <= error_rate <= 1.0 or not 0.0 <= quality_quantile <= 1.0:
            raise ValueError(f"error_rate and quality_quantile must be in [0, 1], got {error_rate}, {quality_quantile}")
        self.threshold, self.judge, self.quality_quantile = threshold, judge, quality_quantile
        self.quality_threshold, self.error_rate, self.budget, self.C, self.seed = (
            quality_threshold, error_rate, budget, C, seed)

    @property
    def needs_true_scores(self) -> bool:  # type: ignore[override]
        return self.judge == "simulated"

    def _fit(self, data: RoutingData, Y: np.ndarray) -> None:
        self.quality_ = float(self.quality_threshold if self.quality_threshold is not None
                              else np.quantile(Y, self.quality_quantile))
        self.order_ = cost_order(self.costs_, self.means_)
        if self.judge == "simulated":
            return
        from sklearn.linear_model import LogisticRegression  # lazy: sklearn would add ~1.5 s to every parse

        X = np.asarray(data.embeddings, dtype=np.float64)
        self.mu_, self.sd_ = X.mean(axis=0), X.std(axis=0) + 1e-6
        Z = (X - self.mu_) / self.sd_
        self.judges_: list[Any] = []
        with single_threaded():
            for m in range(Y.shape[1]):
                good = (Y[:, m] >= self.quality_).astype(int)
                if good.min() == good.max():  # one class: a constant judge
                    self.judges_.append(float(good[0]))
                else:
                    self.judges_.append(LogisticRegression(C=self.C, max_iter=1000).fit(Z, good))

    def confidence(self, data: RoutingData, Y: Any = None) -> np.ndarray:
        """[n, K]: the judge's P(accept) of each model's answer (simulated judge: 0 or 1)."""
        self._check_fitted()
        if self.judge == "simulated":
            Y = self._check_true_scores(data, Y)
            good = Y >= self.quality_
            flip = np.stack([unit_hash(f"cascade:{self.seed}:{m}", data.ids) < self.error_rate
                             for m in range(Y.shape[1])], axis=1)
            return (good ^ flip).astype(np.float64)
        Z = (np.asarray(data.require("embeddings", self.name), dtype=np.float64) - self.mu_) / self.sd_
        return np.stack([np.full(Z.shape[0], j) if isinstance(j, float) else j.predict_proba(Z)[:, 1]
                         for j in self.judges_], axis=1)

    def cascade(self, data: RoutingData, Y: Any = None, threshold: float | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """(model each query ends at [n], models called [n, K] bool); cost = called @ per-model cost."""
        accept = self.confidence(data, Y) >= (self.threshold if threshold is None else threshold)
        budget = np.inf if self.budget is None else float(self.budget)
        n = accept.shape[0]
        end, spent = np.full(n, -1), np.zeros(n)
        called = np.zeros(accept.shape, dtype=bool)
        open_ = np.ones(n, dtype=bool)
        for m in self.order_:
            over = open_ & (spent > 0) & (spent + self.costs_[m] > budget)
            open_ &= ~over  # out of budget: keep the last answer
            called[open_, m] = True
            spent[open_] += self.costs_[m]
            end[open_] = m
            open_ &= ~accept[:, m]
        return end, called

    def _predict_scores(self, data: RoutingData) -> np.ndarray:
        end, _ = self.cascade(data)
        q = np.zeros((len(data), self.n_models_))
        q[np.arange(len(data)), end] = 1.0
        return q

    def _proba_from_truth(self, data: RoutingData, Y: np.ndarray) -> np.ndarray:
        end, _ = self.cascade(data, Y)
        q = np.zeros((len(data), self.n_models_))
        q[np.arange(len(data)), end] = 1.0
        return q

    def strong_win_rate(self, data: RoutingData, strong: int, weak: int, Y: Any = None) -> np.ndarray:
        """P(the cascade escalates past ``weak``) = 1 - the judge's P(accept) of the weak model's answer."""
        return 1.0 - self.confidence(data, Y)[:, weak]


@ROUTERS.register
class SVMRouter(PeerRouter):
    """An RBF support-vector classifier of each query's best model (module docstring)."""

    name = "svm"
    q_kind = "softmax of the SVM's one-vs-rest decision values (two classes: sigmoid)"

    def __init__(self, C: float = 1.0, kernel: str = "rbf", gamma: str | float = "scale", max_train: int = 10000,
                 seed: int = 42):
        self.C, self.kernel, self.gamma, self.max_train, self.seed = C, kernel, gamma, max_train, seed

    def _fit(self, data: RoutingData, Y: np.ndarray) -> None:
        X = np.asarray(data.embeddings, dtype=np.float64)
        labels = select_models((Y == Y.max(axis=1, keepdims=True)).astype(np.float64), self.costs_, self.means_)
        if self.max_train and X.shape[0] > self.max_train:
            keep = np.sort(np.random.default_rng(self.seed).choice(X.shape[0], self.max_train, replace=False))
            X, labels = X[keep], labels[keep]
        self.classes_ = np.unique(labels)
        self.svc_ = None
        if self.classes_.size > 1:
            from sklearn.svm import SVC  # lazy: sklearn would add ~1.5 s to every Snakefile parse

            self.svc_ = SVC(C=self.C, kernel=self.kernel, gamma=self.gamma, decision_function_shape="ovr",
                            random_state=self.seed).fit(X, labels)

    def _predict_scores(self, data: RoutingData) -> np.ndarray:
        X = np.asarray(data.embeddings, dtype=np.float64)
        q = np.zeros((X.shape[0], self.n_models_))
        if self.svc_ is None:
            q[:, self.classes_[0]] = 1.0
            return q
        d = self.svc_.decision_function(X)
        if self.classes_.size == 2:
            p1 = 1.0 / (1.0 + np.exp(-d))
            q[:, self.classes_[0]], q[:, self.classes_[1]] = 1.0 - p1, p1
        else:
            q[:, self.classes_] = _softmax(d)
        return q
