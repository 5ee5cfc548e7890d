"""The peers' preference routers on query embeddings: RouteLLM's mf and sw_ranking, a global Elo.

Every router here is a :class:`KModelRouter` for any number K >= 2 of candidates, trained from an
outcome table's score matrix ``Y`` [n, K] (no preference data needed). A *battle* on query i is a
pair of models (a, b) with ``Y[i, a] != Y[i, b]``: the higher score wins; equal scores are a tie
(RouteLLM's reading of preference data). With K = 2 each router is a weak/strong router:
``strong_win_rate(data, strong, weak)`` is RouteLLM's ``calculate_strong_win_rate`` (route to the
strong model iff it is >= alpha), and it equals ``predict_proba(data)[:, strong]``.

- ``mf`` (RouteLLM's matrix factorisation, ``routers/matrix_factorization``): score
  s(m, q) = w^T (normalize(P_m) * W e_q); P a learned model embedding (dim 128), W a linear map of
  the query embedding (no bias), w: 128 -> 1 (no bias). Trained on battles (ties dropped) with
  BCE on w^T((P^_win - P^_lose) * W(e_q + alpha N(0, I))), Adam lr 3e-4, weight decay 1e-5,
  batch 64, 100 epochs, alpha 0.1, seed 42. q = softmax_m s(m, q), so for two models
  q_strong = sigmoid(s_strong - s_weak) = RouteLLM's win rate. RouteLLM holds out 5 % of the
  battles only to print a test accuracy (nothing is selected on it); here every battle trains.
- ``sw_ranking`` (RouteLLM's similarity-weighted ranking, ``routers/similarity_weighted``):
  models ranked by a global Elo and cut into ``num_tiers`` = 10 tiers (a DP minimising the
  within-tier variance of the sorted ratings); for a query, every training battle weighs
  w_i = 10 * 10^(S_i / max_j S_j), S_i its cosine similarity to the query, and a weighted
  Bradley-Terry fit over the tiers (RouteLLM's ``compute_elo_mle_with_tie``: each battle doubled,
  a tie = one win each, R = 400 beta + 1000) gives the ratings. q = softmax_m (R_tier(m) ln 10 / 400),
  so q_strong / (q_strong + q_weak) = 1 - 1 / (1 + 10^((R_s - R_w) / 400)), RouteLLM's formula;
  two models in one tier get 0.5. RouteLLM refits a logistic regression per query; here the
  weighted win counts of every query are one matrix product and the fits are a vectorised Newton
  solve (the same maximum-likelihood ratings; see tests/test_peer_routers.py).
- ``elo``: one global Bradley-Terry/Elo rating per model from every training battle (RouteLLM's
  ``compute_elo_mle_with_tie``), query-independent; picks the best-rated model whose mean training
  cost is within ``max_cost`` (the cheapest model when none is).

Sources: lm-sys/RouteLLM @0b64fda (``routers/routers.py``, ``matrix_factorization/model.py``,
``train_matrix_factorization.py``, ``similarity_weighted/utils.py``); Ong et al., "RouteLLM:
Learning to Route LLMs with Preference Data", 2024.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from routerlab.core.router import RoutingData
from routerlab.kmodel.routers import ROUTERS, KModelRouter

LN10 = math.log(10.0)


class PeerRouter(KModelRouter):
    """A K-model router that also answers RouteLLM's question for any pair of its candidates."""

    q_kind = "a distribution over the candidates (the router's own probabilities)"

    def strong_win_rate(self, data: RoutingData, strong: int, weak: int) -> np.ndarray:
        """P(route to ``strong`` rather than ``weak``) per query: RouteLLM's win rate, in [0, 1]."""
        q = self.predict_proba(data)
        pair = q[:, strong] + q[:, weak]
        return np.where(pair > 0, q[:, strong] / np.where(pair > 0, pair, 1.0), 0.5)


def unit_rows(X: Any) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)


def cost_order(costs: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Model indices from cheapest to dearest; equal costs: lower training mean first, then index."""
    return np.lexsort((np.arange(costs.size), means, costs))


def model_pairs(K: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.triu_indices(K, k=1)
    return a, b


def is_binary(Y: np.ndarray) -> bool:
    return bool(np.isin(Y, (0.0, 1.0)).all())


def total_pair_counts(Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Over all queries: ``W[a, b]`` = queries where a scores above b, ``T[a, b]`` = equal scores; [K, K]."""
    Y = np.asarray(Y, dtype=np.float64)
    if is_binary(Y):  # matrix products: time n K^2 / BLAS, memory K^2
        return Y.T @ (1.0 - Y), Y.T @ Y + (1.0 - Y).T @ (1.0 - Y)
    K = Y.shape[1]
    W, T = np.zeros((K, K)), np.zeros((K, K))
    for a in range(K):  # one model against all at a time: memory n K
        W[a] = (Y[:, [a]] > Y).sum(axis=0)
        T[a] = (Y[:, [a]] == Y).sum(axis=0)
    return W, T


def group_pair_counts(Y: np.ndarray, group: np.ndarray, G: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per query, for each pair of groups g < h (``model_pairs(G)`` order): battles a group-g model
    wins against a group-h model, loses, ties; [n, G(G-1)/2] each. Battles inside a group are skipped."""
    Y = np.asarray(Y, dtype=np.float64)
    ga, gb = model_pairs(G)
    onehot = np.eye(G)[group]  # [K, G]
    if is_binary(Y):
        c, m = Y @ onehot, onehot.sum(axis=0)  # correct models per group and query; group sizes
        wrong = m[None, :] - c
        return c[:, ga] * wrong[:, gb], wrong[:, ga] * c[:, gb], c[:, ga] * c[:, gb] + wrong[:, ga] * wrong[:, gb]
    col = np.full((G, G), -1)
    col[ga, gb] = np.arange(ga.size)
    lo, hi, tie = (np.zeros((Y.shape[0], ga.size)) for _ in range(3))
    K = Y.shape[1]
    for a in range(K):
        for b in range(a + 1, K):
            g, h = group[a], group[b]
            if g == h:
                continue
            x, y = (Y[:, a], Y[:, b]) if g < h else (Y[:, b], Y[:, a])
            c = col[min(g, h), max(g, h)]
            lo[:, c] += x > y
            hi[:, c] += x < y
            tie[:, c] += x == y
    return lo, hi, tie


def bradley_terry(A: np.ndarray, B: np.ndarray, pa: np.ndarray, pb: np.ndarray, T: int, *, l2: float = 1e-6,
                  max_iter: int = 100, tol: float = 1e-9) -> np.ndarray:
    """Bradley-Terry log10-strengths beta [Q, T], one fit per row of ``A``/``B``.

    ``A[q, p]``: (weighted) wins of player ``pa[p]`` over ``pb[p]``; ``B[q, p]``: the reverse.
    Maximises sum_p A log s(c(b_a - b_b)) + B log s(c(b_b - b_a)), c = ln 10 (RouteLLM's features
    +-ln 10 and no intercept, so R = 400 beta + 1000 is an Elo rating). ``l2`` (tiny) pins the
    free shift to sum(beta) = 0 and keeps ratings finite when a player never loses; damped Newton.
    One row (a global rating) uses a sparse incidence matrix, so K = 1000 players fit too.
    """
    from scipy import sparse  # lazy: scipy comes with scikit-learn

    Q = A.shape[0]
    E = sparse.csr_matrix((np.r_[np.ones(pa.size), -np.ones(pb.size)],
                           (np.r_[np.arange(pa.size), np.arange(pb.size)], np.r_[pa, pb])), shape=(pa.size, T))
    dense = None if Q == 1 else E.toarray()  # several rows: few players (tiers), dense is faster
    beta = np.zeros((Q, T))
    N = A + B
    reg = l2 * np.eye(T)

    def diffs(bt: np.ndarray) -> np.ndarray:
        return LN10 * (bt @ dense.T if dense is not None else (E @ bt.T).T)

    def loss(bt: np.ndarray) -> np.ndarray:
        d = diffs(bt)
        return (A * np.logaddexp(0.0, -d) + B * np.logaddexp(0.0, d)).sum(axis=1) + 0.5 * l2 * (bt ** 2).sum(axis=1)

    current = loss(beta)
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-diffs(beta)))
        w = (LN10 ** 2) * N * p * (1.0 - p)
        if dense is not None:
            grad = -LN10 * ((A - N * p) @ dense) + l2 * beta
            H = np.einsum("qp,pt,ps->qts", w, dense, dense) + reg
        else:
            grad = -LN10 * (E.T @ (A - N * p)[0])[None, :] + l2 * beta
            H = (E.T @ sparse.diags(w[0]) @ E).toarray()[None] + reg
        step = np.linalg.solve(H, grad[..., None])[..., 0]
        t = np.ones(Q)
        for _ in range(30):  # backtracking per row: the loss must not rise
            trial = beta - t[:, None] * step
            new = loss(trial)
            worse = new > current + 1e-12
            if not worse.any():
                break
            t = np.where(worse, t / 2.0, t)
        stuck = new > current  # no descent found: keep the row where it is
        trial, new = np.where(stuck[:, None], beta, trial), np.where(stuck, current, new)
        beta, improvement = trial, current - new
        current = new
        if np.all(np.abs(improvement) <= tol * (1.0 + np.abs(current))):
            break
    return beta


def elo_from_counts(wins_a: np.ndarray, wins_b: np.ndarray, ties: np.ndarray, pa: np.ndarray, pb: np.ndarray,
                    T: int) -> np.ndarray:
    """RouteLLM's ``compute_elo_mle_with_tie`` (SCALE 400, BASE 10, INIT 1000), one fit per row.

    Each battle is doubled: a win counts twice for the winner, a tie once for each side.
    ``wins_a``/``wins_b``/``ties`` [Q, P]: (weighted) battle counts of the pairs (pa, pb).
    """
    return 400.0 * bradley_terry(2.0 * wins_a + ties, 2.0 * wins_b + ties, pa, pb, T) + 1000.0


def global_elo(Y: np.ndarray) -> np.ndarray:
    """One Elo rating per model from every battle of every query (pairs that never met are left out)."""
    K = Y.shape[1]
    W, T = total_pair_counts(Y)
    pa, pb = model_pairs(K)
    met = (W[pa, pb] + W[pb, pa] + T[pa, pb]) > 0
    pa, pb = pa[met], pb[met]
    return elo_from_counts(W[pa, pb][None], W[pb, pa][None], T[pa, pb][None], pa, pb, K)[0]


def rating_tiers(ratings: np.ndarray, num_tiers: int) -> np.ndarray:
    """Tier of each model: ratings sorted best first, cut into min(num_tiers, K) contiguous groups
    minimising the summed within-group variance (RouteLLM's ``compute_tiers``); tier 0 = best."""
    order = np.argsort(-ratings, kind="stable")
    r = ratings[order].astype(np.float64)
    n, m = r.size, max(1, min(num_tiers, r.size))
    s1, s2 = np.r_[0.0, np.cumsum(r)], np.r_[0.0, np.cumsum(r ** 2)]
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    size = np.maximum(j - i + 1, 1)
    var = np.where(j >= i, (s2[j + 1] - s2[i]) / size - ((s1[j + 1] - s1[i]) / size) ** 2, np.inf)
    var = np.where(j > i, np.maximum(var, 0.0), np.where(j == i, 0.0, np.inf))  # var[i, j] of r[i..j]
    cost = np.full((m, n), np.inf)  # cost[k, j]: best split of r[:j+1] into k+1 groups
    back = np.zeros((m, n), dtype=int)
    cost[0] = var[0]
    for k in range(1, m):
        # total[s, j] = cost[k-1, s] + var[s+1, j]: the last group is r[s+1..j]
        total = cost[k - 1][:-1, None] + var[1:, :]
        back[k] = np.argmin(total, axis=0)
        cost[k] = total[back[k], np.arange(n)]
    tiers_sorted = np.zeros(n, dtype=int)
    j = n - 1
    for k in range(m - 1, 0, -1):
        s = back[k, j]
        tiers_sorted[s + 1:j + 1] = k
        j = s
    tiers = np.empty(n, dtype=int)
    tiers[order] = tiers_sorted
    return tiers


def rating_proba(R: np.ndarray) -> np.ndarray:
    """Elo ratings [n, K] -> q with q_a / (q_a + q_b) = 1 / (1 + 10^((R_b - R_a) / 400))."""
    z = R * LN10 / 400.0
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


@ROUTERS.register
class EloRouter(PeerRouter):
    """A global Bradley-Terry/Elo ranking from every training battle (RouteLLM's
    ``compute_elo_mle_with_tie``): query-independent; the best-rated model within ``max_cost``.

    ``max_cost``: a ceiling on a model's mean training cost (the costs passed to ``fit``); None =
    no ceiling. q = the Bradley-Terry probabilities over the affordable models (0 for the others).
    """

    name = "elo"
    requires = ()
    q_kind = "Bradley-Terry probabilities 10^(R_m/400), normalised over the models within max_cost"

    def __init__(self, max_cost: float | None = None):
        self.max_cost = max_cost

    def _fit(self, data: RoutingData, Y: np.ndarray) -> None:
        K = Y.shape[1]
        self.ratings_ = global_elo(Y)
        allowed = np.ones(K, dtype=bool) if self.max_cost is None else self.costs_ <= self.max_cost
        if not allowed.any():
            allowed = self.costs_ == self.costs_.min()
        q = np.where(allowed, rating_proba(self.ratings_[None, :])[0], 0.0)
        self.q_ = q / q.sum()

    def _predict_scores(self, data: RoutingData) -> np.ndarray:
        return np.tile(self.q_, (len(data), 1))


@ROUTERS.register
class SWRankingRouter(PeerRouter):
    """RouteLLM's similarity-weighted ranking router (``SWRankingRouter``), for K models.

    Training battles are the train queries' model pairs; a query's battles weigh
    10 * 10^(S / max S) (S = cosine similarity of the query embeddings; when max S <= 0 every
    battle weighs 10). ``num_tiers`` = 10 as RouteLLM; with K <= 10 every model is its own tier.
    ``chunk``: test queries per similarity block (memory only).
    """

    name = "sw_ranking"
    q_kind = "softmax of the per-query weighted Bradley-Terry tier ratings (Elo scale / 400 * ln 10)"

    def __init__(self, num_tiers: int = 10, chunk: int = 256):
        if num_tiers < 1:
            raise ValueError(f"num_tiers must be >= 1, got {num_tiers}")
        self.num_tiers, self.chunk = num_tiers, chunk

    def _fit(self, data: RoutingData, Y: np.ndarray) -> None:
        self.global_ratings_ = global_elo(Y)
        self.tiers_ = rating_tiers(self.global_ratings_, self.num_tiers)
        self.n_tiers_ = int(self.tiers_.max()) + 1
        # RouteLLM renames each battle's models to their tiers; a tier against itself carries no signal.
        self.tier_pa_, self.tier_pb_ = model_pairs(self.n_tiers_)
        self.wins_a_, self.wins_b_, self.ties_ = group_pair_counts(Y, self.tiers_, self.n_tiers_)
        self.X_ = unit_rows(data.embeddings)

    def weights(self, Xq: np.ndarray) -> np.ndarray:
        """RouteLLM's ``get_weightings``: 10 * 10^(S / max S) per training query, one row per query."""
        S = unit_rows(Xq) @ self.X_.T
        top = S.max(axis=1, keepdims=True)
        return np.where(top > 0, 10.0 * 10.0 ** (S / np.where(top > 0, top, 1.0)), 10.0)

    def tier_ratings(self, data: RoutingData) -> np.ndarray:
        """Weighted Bradley-Terry Elo rating of every tier for every query, [n, n_tiers]."""
        Xq = np.asarray(data.embeddings, dtype=np.float32)
        if self.n_tiers_ == 1:
            return np.full((Xq.shape[0], 1), 1000.0)
        out = []
        for s in range(0, Xq.shape[0], self.chunk):
            W = self.weights(Xq[s:s + self.chunk]).astype(np.float64)
            out.append(elo_from_counts(W @ self.wins_a_, W @ self.wins_b_, W @ self.ties_, self.tier_pa_,
                                       self.tier_pb_, self.n_tiers_))
        return np.concatenate(out) if out else np.zeros((0, self.n_tiers_))

    def _predict_scores(self, data: RoutingData) -> np.ndarray:
        return rating_proba(self.tier_ratings(data)[:, self.tiers_])


def battles(Y: np.ndarray, max_battles: int | None, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(query, winner, loser) of every battle (scores differ; ties dropped), or, when there are more
    than ``max_battles``, of a seeded sample of about that many (uniform (query, pair) draws kept where
    the scores differ); and the full count."""
    Y = np.asarray(Y, dtype=np.float64)
    W, _ = total_pair_counts(Y)
    total = int(W.sum())
    n, K = Y.shape
    if max_battles and total > max_battles:
        # Uniform (query, pair) draws, kept where the scores differ: a uniform sample of the battles.
        rng = np.random.default_rng(seed)
        pa, pb = model_pairs(K)
        draws = int(np.ceil(max_battles * n * pa.size / total))
        q, p = rng.integers(0, n, draws), rng.integers(0, pa.size, draws)
        a, b = pa[p], pb[p]
        diff = Y[q, a] - Y[q, b]
        q, a, b, diff = q[diff != 0], a[diff != 0], b[diff != 0], diff[diff != 0]
        return q, np.where(diff > 0, a, b), np.where(diff > 0, b, a), total
    parts = []
    for a in range(K - 1):
        diff = Y[:, [a]] - Y[:, a + 1:]
        q, j = np.nonzero(diff != 0)
        b = a + 1 + j
        a_won = diff[q, j] > 0
        parts.append((q, np.where(a_won, a, b), np.where(a_won, b, a)))
    if not parts:
        return np.zeros(0, int), np.zeros(0, int), np.zeros(0, int), 0
    q, w, lo = (np.concatenate(x) for x in zip(*parts))
    return q, w, lo, total


@contextmanager
def single_threaded() -> Iterator[None]:
    """Run small fits (a tiny network, k-means, a logistic regression) on one thread: their steps are
    too small to split, and on a busy machine thread synchronisation made them 10-40x slower."""
    import torch  # lazy: heavy
    from threadpoolctl import threadpool_limits  # lazy: comes with scikit-learn

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(before)


def fit_mf(X: np.ndarray, win: np.ndarray, lose: np.ndarray, query: np.ndarray, K: int, *, dim: int, lr: float,
           weight_decay: float, batch_size: int, epochs: int, noise: float, seed: int) -> dict[str, Any]:
    """RouteLLM's ``MFModel_Train`` + ``train_loops`` on frozen query embeddings; returns its weights."""
    import torch  # lazy: heavy

    torch.manual_seed(seed)
    P = torch.nn.Embedding(K, dim)
    proj = torch.nn.Linear(X.shape[1], dim, bias=False)
    head = torch.nn.Linear(dim, 1, bias=False)
    params = [*P.parameters(), *proj.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    win_t, lose_t, q_t = (torch.from_numpy(np.asarray(v, dtype=np.int64)) for v in (win, lose, query))
    gen = torch.Generator().manual_seed(seed)
    n = win_t.numel()
    last = float("nan")
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for s in range(0, n, batch_size):
            idx = perm[s:s + batch_size]
            e = Xt[q_t[idx]]
            e = e + torch.randn(e.shape, generator=gen) * noise  # RouteLLM: noise stabilises training
            diff = (torch.nn.functional.normalize(P(win_t[idx]), p=2, dim=1)
                    - torch.nn.functional.normalize(P(lose_t[idx]), p=2, dim=1))
            logit = head(diff * proj(e)).squeeze(-1)
            loss = loss_fn(logit, torch.ones_like(logit))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * idx.numel()
        last = total / n
    return {"P": P.weight.detach().numpy().copy(), "W": proj.weight.detach().numpy().copy(),
            "w": head.weight.detach().numpy()[0].copy(), "final_loss": last}


@ROUTERS.register
class MatrixFactorisationRouter(PeerRouter):
    """RouteLLM's matrix-factorisation router (``MatrixFactorizationRouter``), for K models.

    Defaults are RouteLLM's (``train_matrix_factorization.py``): dim 128, Adam lr 3e-4, weight
    decay 1e-5, batch 64, 100 epochs, noise alpha 0.1, seed 42. Battles: every pair of models
    whose scores differ on a training query (ties dropped, as RouteLLM); above ``max_battles``
    (large pools: n K^2 / 2 pairs) a seeded uniform sample of that many (``n_battles_`` keeps the
    count before sampling). Training takes epochs * battles / batch steps (~3 ms each on one CPU
    thread). No battle at all (every model scores alike on every training query): q is uniform
    and the tie rule picks.
    """

    name = "mf"
    q_kind = "softmax over models of the bilinear score w^T(normalize(P_m) * W e_q)"

    def __init__(self, dim: int = 128, lr: float = 3e-4, weight_decay: float = 1e-5, batch_size: int = 64,
                 epochs: int = 100, noise: float = 0.1, max_battles: int | None = 1_000_000, seed: int = 42):
        self.dim, self.lr, self.weight_decay, self.batch_size = dim, lr, weight_decay, batch_size
        self.epochs, self.noise, self.max_battles, self.seed = epochs, noise, max_battles, seed

    def _fit(self, data: RoutingData, Y: np.ndarray) -> None:
        X = np.asarray(data.embeddings, dtype=np.float32)
        K = Y.shape[1]
        query, win, lose, self.n_battles_ = battles(Y, self.max_battles, self.seed)
        if not query.size:
            self.P_, self.W_, self.w_ = None, None, None
            return
        with single_threaded():
            fit = fit_mf(X, win, lose, query, K, dim=self.dim, lr=self.lr, weight_decay=self.weight_decay,
                         batch_size=self.batch_size, epochs=self.epochs, noise=self.noise, seed=self.seed)
        self.P_, self.W_, self.w_, self.final_loss_ = fit["P"], fit["W"], fit["w"], fit["final_loss"]

    def model_scores(self, data: RoutingData) -> np.ndarray:
        """s(m, q) [n, K] (RouteLLM's ``MFModel.forward``); zeros when training had no battle."""
        X = np.asarray(data.embeddings, dtype=np.float64)
        if self.P_ is None:
            return np.zeros((X.shape[0], self.n_models_))
        P = self.P_.astype(np.float64)
        Pn = P / np.maximum(np.linalg.norm(P, axis=1, keepdims=True), 1e-12)
        return (X @ self.W_.T.astype(np.float64)) @ (Pn * self.w_[None, :].astype(np.float64)).T

    def _predict_scores(self, data: RoutingData) -> np.ndarray:
        s = self.model_scores(data)
        z = np.exp(s - s.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)
