"""RouterEval's K-model baselines behind the router registry (task ``"kmodel"``).

Each router picks one of M candidate models per query. scikit-learn style:

    router = make_router("knn", k=5)
    router.fit(train_data, Y_train, costs=mean_cost_per_model)   # Y [n, M] scores
    q = router.predict_proba(test_data)                           # [n, M] distribution
    pick = router.predict(test_data)                              # [n] model indices

``predict`` is ``argmax q`` with docs/metrics.md §2's tie rule (cheaper model, then the higher
training mean, then the lower index). How each router forms ``q`` (``q_kind``):

- ``knn``: mean score of the k nearest training queries (cosine on embeddings);
- ``linear``: ridge regression of the score vector on standardised embeddings;
- ``mlp``: a one-hidden-layer network regressing the score vector (MSE, Adam);
- ``cluster``: k-means on embeddings (RouterEval's C-RoBERTa-cluster), each cluster's mean
  training score per model;
- ``multilabel``: a multi-label classifier (RouterEval's RoBERTa-MLC) on the frozen encoder's
  embeddings, P(model scores >= threshold) per model;

for these five q is the predicted quality clipped at 0 and normalised per query (uniform
when every prediction is <= 0). ``oracle`` (one-hot on the best model of the query's true
scores, ties as above), ``random`` (one-hot, uniform pick, seeded per query id) and
``r_o`` (the oracle's pick with probability p, else the random pick) are references: oracle
and r_o read the true scores, so they are upper bounds, not deployable routers.

A custom K-model router subclasses :class:`KModelRouter`, sets ``name`` and implements
``_fit`` / ``_predict_scores``; ``ROUTERS.register`` adds it to this branch's registry.
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar, Sequence

import numpy as np

from routerlab.core.registry import Registry
from routerlab.core.router import Router, RoutingData
from routerlab.kmodel.metrics import select_models

ROUTERS = Registry("kmodel router", hint=lambda other: ": list it under routers" if other == "binary router" else "")


def _scores_matrix(Y: Any, n: int, router: str, dtype: Any = np.float32) -> np.ndarray:
    Y = np.asarray(Y, dtype=dtype)
    if Y.ndim != 2 or Y.shape[0] != n:
        raise ValueError(f"router {router!r}: scores must be [n_queries={n}, n_models], got shape {Y.shape}")
    if Y.shape[1] < 2:
        raise ValueError(f"router {router!r}: K-model routing needs at least 2 candidate models, got {Y.shape[1]}")
    if not np.isfinite(Y).all():
        bad = np.flatnonzero(~np.isfinite(Y).all(axis=1))[:5]
        raise ValueError(f"router {router!r}: scores contain NaN/inf (rows {bad.tolist()})")
    return Y


def normalise_quality(S: np.ndarray) -> np.ndarray:
    """Predicted quality -> distribution: clip at 0, divide by the row sum; all <= 0 -> uniform."""
    S = np.clip(np.asarray(S, dtype=np.float64), 0.0, None)
    tot = S.sum(axis=1, keepdims=True)
    return np.where(tot > 0, S / np.where(tot > 0, tot, 1.0), 1.0 / S.shape[1])


def unit_hash(salt: str, ids: Sequence[str]) -> np.ndarray:
    """A uniform number in [0, 1) per id, independent of which other ids are routed with it."""
    return np.array([int(hashlib.sha256(f"{salt}:{i}".encode()).hexdigest()[:12], 16) / 16**12 for i in ids])


def _one_hot(idx: np.ndarray, M: int) -> np.ndarray:
    q = np.zeros((idx.size, M))
    q[np.arange(idx.size), idx] = 1.0
    return q


class KModelRouter(Router):
    """Base class: choose one of M candidates per query."""

    task = "kmodel"
    requires: ClassVar[tuple[str, ...]] = ("embeddings",)
    needs_true_scores: ClassVar[bool] = False
    q_kind: ClassVar[str] = "predicted quality clipped at 0, normalised per query (uniform if all <= 0)"

    def fit(self, data: RoutingData, Y: Any, *, costs: Any = None) -> "KModelRouter":  # type: ignore[override]
        """``Y`` [n, M] training scores; ``costs`` [M] (e.g. mean USD per query) break ties."""
        for key in self.requires:
            data.require(key, self.name)
        Y = _scores_matrix(Y, len(data), self.name)
        M = Y.shape[1]
        self.n_models_ = M
        self.means_ = Y.mean(axis=0).astype(np.float64)
        c = np.zeros(M) if costs is None else np.asarray(costs, dtype=np.float64)
        if c.shape != (M,):
            raise ValueError(f"router {self.name!r}: costs must have one value per model ({M}), got shape {c.shape}")
        self.costs_ = np.nan_to_num(c, nan=0.0)
        self._fit(data, Y)
        self.fitted_ = True
        return self

    def _fit(self, data: RoutingData, Y: np.ndarray) -> None:
        pass

    def _predict_scores(self, data: RoutingData) -> np.ndarray:
        raise NotImplementedError

    def _check_true_scores(self, data: RoutingData, Y: Any) -> np.ndarray:
        if Y is None:
            raise ValueError(f"router {self.name!r} reads each query's true scores (a reference, not a deployable "
                             "router): pass Y to predict_proba/predict")
        # float64: in float32 scores 1e-11 apart tie, the tie goes to the cheaper model, and the oracle then
        # lands just below the oracle metric max_j Y_ij (computed in float64)
        Y = _scores_matrix(Y, len(data), self.name, dtype=np.float64)
        if Y.shape[1] != self.n_models_:
            raise ValueError(f"router {self.name!r}: fitted on {self.n_models_} models, got scores for {Y.shape[1]}")
        return Y

    def predict_proba(self, data: RoutingData, Y: Any = None) -> np.ndarray:
        """[n, M] distribution over candidates (``Y``: true scores, read by oracle and r_o only)."""
        self._check_fitted()
        if self.needs_true_scores:
            return self._proba_from_truth(data, self._check_true_scores(data, Y))
        for key in self.requires:
            data.require(key, self.name)
        return normalise_quality(self._predict_scores(data))

    def _proba_from_truth(self, data: RoutingData, Y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict(self, data: RoutingData, Y: Any = None) -> np.ndarray:
        """Chosen model index per query: argmax q, ties -> cheaper, then higher training mean."""
        return select_models(self.predict_proba(data, Y), self.costs_, self.means_)

    def score(self, data: RoutingData) -> np.ndarray:
        raise TypeError(f"router {self.name!r} is a K-model router: use predict_proba/predict, not score")


def _oracle_pick(Y: np.ndarray, costs: np.ndarray, means: np.ndarray) -> np.ndarray:
    best = (Y == Y.max(axis=1, keepdims=True)).astype(np.float64)
    return select_models(best, costs, means)


@ROUTERS.register
class OracleRouter(KModelRouter):
    name = "oracle"
    requires = ()
    trainable = False
    needs_true_scores = True
    q_kind = "one-hot on the best model of the true scores (ties: cheaper, then higher training mean)"

    def _proba_from_truth(self, data: RoutingData, Y: np.ndarray) -> np.ndarray:
        return _one_hot(_oracle_pick(Y, self.costs_, self.means_), self.n_models_)


@ROUTERS.register
class RandomPickRouter(KModelRouter):
    name = "random"
    requires = ()
    trainable = False
    q_kind = "one-hot on a uniform random model, seeded per query id"

    def __init__(self, seed: int = 0):
        self.seed = seed

    def _picks(self, ids: Sequence[str]) -> np.ndarray:
        u = unit_hash(f"kmodel-random:{self.seed}", ids)
        return np.minimum((u * self.n_models_).astype(int), self.n_models_ - 1)

    def predict_proba(self, data: RoutingData, Y: Any = None) -> np.ndarray:
        self._check_fitted()
        return _one_hot(self._picks(data.ids), self.n_models_)


@ROUTERS.register
class ROracleRouter(RandomPickRouter):
    """RouterEval's r_o: the oracle's pick with probability p, otherwise a uniform random pick."""

    name = "r_o"
    needs_true_scores = True
    q_kind = "one-hot: oracle pick with probability p, else uniform random pick (seeded per query id)"

    def __init__(self, p: float = 0.5, seed: int = 0):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.p, self.seed = p, seed

    def predict_proba(self, data: RoutingData, Y: Any = None) -> np.ndarray:
        self._check_fitted()
        Y = self._check_true_scores(data, Y)
        use_oracle = unit_hash(f"kmodel-r_o:{self.seed}", data.ids) < self.p
        pick = np.where(use_oracle, _oracle_pick(Y, self.costs_, self.means_), self._picks(data.ids))
        return _one_hot(pick, self.n_models_)


def _unit_rows(X: Any) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)


@ROUTERS.register
class KNNRouter(KModelRouter):
    """RouterEval's kNN: mean scores of the k most similar training queries (cosine)."""

    name = "knn"

    def __init__(self, k: int = 5, chunk: int = 256):
        self.k, self.chunk = k, chunk

    def _fit(self, data: RoutingData, Y: np.ndarray) -> None:
        self.X_ = _unit_rows(data.embeddings)
        self.Y_ = Y

    def _predict_scores(self, data: RoutingData) -> np.ndarray:
        Xq = _unit_rows(data.embeddings)
        k = min(self.k, self.X_.shape[0])
        out = np.empty((Xq.shape[0], self.Y_.shape[1]), dtype=np.float32)
        for s in range(0, Xq.shape[0], self.chunk):  # bounded memory: chunk x n_train similarities
            sims = Xq[s:s + self.chunk] @ self.X_.T
            nn = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            out[s:s + self.chunk] = self.Y_[nn].mean(axis=1)
        return out


class _Standardised(KModelRouter):
    def _standardise_fit(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        self.mu_ = X.mean(axis=0)
        self.sd_ = X.std(axis=0) + 1e-6
        return (X - self.mu_) / self.sd_

    def _standardise(self, X: Any) -> np.ndarray:
        return (np.asarray(X, dtype=np.float32) - self.mu_) / self.sd_


@ROUTERS.register
class LinearRouter(_Standardised):
    """RouterEval's LinearR: ridge regression of every model's score (closed form)."""

    name = "linear"

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha

    def _fit(self, data: RoutingData, Y: np.ndarray) -> None:
        X = self._standardise_fit(data.embeddings)
        self.intercept_ = Y.mean(axis=0)
        gram = (X.T @ X).astype(np.float64) + self.alpha * np.eye(X.shape[1])
        self.coef_ = np.linalg.solve(gram, (X.T @ (Y - self.intercept_)).astype(np.float64)).astype(np.float32)

    def _predict_scores(self, data: RoutingData) -> np.ndarray:
        return self._standardise(data.embeddings) @ self.coef_ + self.intercept_


def _fit_mlp(X: np.ndarray, T: np.ndarray, *, hidden: int, epochs: int, min_steps: int, batch_size: int, lr: float,
             weight_decay: float, seed: int, loss: str) -> tuple[dict[str, Any], float]:
    """One-hidden-layer network trained with Adam; returns its state and the last epoch's mean loss."""
    import torch  # lazy: heavy

    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, T.shape[1]))
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = torch.nn.MSELoss() if loss == "mse" else torch.nn.BCEWithLogitsLoss()
    Xt, Tt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)), torch.from_numpy(
        np.ascontiguousarray(T, dtype=np.float32))
    n = Xt.shape[0]
    steps_per_epoch = max(1, -(-n // batch_size))
    n_epochs = max(epochs, -(-min_steps // steps_per_epoch))  # small data: enough steps to fit at all
    gen = torch.Generator().manual_seed(seed)
    last = float("nan")
    for _ in range(n_epochs):
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for s in range(0, n, batch_size):
            idx = perm[s:s + batch_size]
            opt.zero_grad()
            batch_loss = loss_fn(net(Xt[idx]), Tt[idx])
            batch_loss.backward()
            opt.step()
            total += batch_loss.item() * idx.numel()
        last = total / n
    return {k: v.detach().clone() for k, v in net.state_dict().items()}, last


def _mlp_forward(state: dict[str, Any], X: np.ndarray, chunk: int = 4096) -> np.ndarray:
    import torch  # lazy: heavy

    w1, b1, w2, b2 = state["0.weight"], state["0.bias"], state["2.weight"], state["2.bias"]
    out = []
    with torch.no_grad():
        for s in range(0, X.shape[0], chunk):
            x = torch.from_numpy(np.ascontiguousarray(X[s:s + chunk], dtype=np.float32))
            out.append((torch.relu(x @ w1.T + b1) @ w2.T + b2).numpy())
    return np.concatenate(out) if out else np.zeros((0, w2.shape[0]), dtype=np.float32)


@ROUTERS.register
class MLPRouter(_Standardised):
    """RouterEval's MLPR: a feed-forward network regressing every model's score."""

    name = "mlp"

    def __init__(self, hidden: int = 256, epochs: int = 10, min_steps: int = 300, batch_size: int = 256,
                 lr: float = 1e-3, weight_decay: float = 1e-4, seed: int = 0):
        self.hidden, self.epochs, self.min_steps, self.batch_size = hidden, epochs, min_steps, batch_size
        self.lr, self.weight_decay, self.seed = lr, weight_decay, seed

    def _fit(self, data: RoutingData, Y: np.ndarray) -> None:
        self.state_, self.final_loss_ = _fit_mlp(
            self._standardise_fit(data.embeddings), Y, hidden=self.hidden, epochs=self.epochs,
            min_steps=self.min_steps, batch_size=self.batch_size, lr=self.lr, weight_decay=self.weight_decay,
            seed=self.seed, loss="mse")

    def _predict_scores(self, data: RoutingData) -> np.ndarray:
        return _mlp_forward(self.state_, self._standardise(data.embeddings))


@ROUTERS.register
class ClusterRouter(KModelRouter):
    """RouterEval's C-RoBERTa-cluster: k-means on encoder embeddings, each cluster's mean scores."""

    name = "cluster"

    def __init__(self, n_clusters: int = 3, seed: int = 0):
        self.n_clusters, self.seed = n_clusters, seed

    def _fit(self, data: RoutingData, Y: np.ndarray) -> None:
        from sklearn.cluster import KMeans  # lazy: sklearn would add ~1.5 s to every Snakefile parse

        X = _unit_rows(data.embeddings)
        k = max(1, min(self.n_clusters, X.shape[0]))
        self.kmeans_ = KMeans(n_clusters=k, n_init=10, random_state=self.seed).fit(X)
        labels = self.kmeans_.labels_
        self.cluster_means_ = np.stack([Y[labels == c].mean(axis=0) if (labels == c).any() else Y.mean(axis=0)
                                        for c in range(k)])

    def _predict_scores(self, data: RoutingData) -> np.ndarray:
        return self.cluster_means_[self.kmeans_.predict(_unit_rows(data.embeddings))]


@ROUTERS.register
class MultiLabelRouter(_Standardised):
    """RouterEval's RoBERTa-MLC on a frozen encoder: P(model m scores >= threshold) per model.

    The encoder is not fine-tuned (CPU budget); the multi-label head is a one-hidden-layer
    network with a sigmoid per model, trained with binary cross-entropy.
    """

    name = "multilabel"
    q_kind = "predicted P(score >= threshold) per model, normalised per query (uniform if all 0)"

    def __init__(self, threshold: float = 0.5, hidden: int = 128, epochs: int = 10, min_steps: int = 300,
                 batch_size: int = 256, lr: float = 1e-3, weight_decay: float = 1e-4, seed: int = 0):
        self.threshold, self.hidden, self.epochs, self.min_steps = threshold, hidden, epochs, min_steps
        self.batch_size, self.lr, self.weight_decay, self.seed = batch_size, lr, weight_decay, seed

    def _fit(self, data: RoutingData, Y: np.ndarray) -> None:
        self.state_, self.final_loss_ = _fit_mlp(
            self._standardise_fit(data.embeddings), (Y >= self.threshold).astype(np.float32), hidden=self.hidden,
            epochs=self.epochs, min_steps=self.min_steps, batch_size=self.batch_size, lr=self.lr,
            weight_decay=self.weight_decay, seed=self.seed, loss="bce")

    def _predict_scores(self, data: RoutingData) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-_mlp_forward(self.state_, self._standardise(data.embeddings))))


BUILTIN = ("knn", "linear", "mlp", "oracle", "random", "r_o", "cluster", "multilabel",
           # the peers' routers, registered on import of routerlab.kmodel (kmodel/peer_routers*.py)
           "mf", "sw_ranking", "elo", "routerdc", "bert", "cascade", "svm")


def make_router(kind: str, **params: Any) -> Router:
    """A K-model router by registry name, with its hyper-parameters."""
    return ROUTERS.make(kind, **params)
