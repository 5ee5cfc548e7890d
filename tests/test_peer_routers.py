"""The peers' routers (kmodel/peer_routers.py, kmodel/peer_routers_learned.py) on data with a known answer.

Synthetic queries sit in clusters; in cluster c model c answers correctly with probability 0.9, the
others with 0.2, so a router that finds the cluster reaches ~0.9 while random and every single model
sit near 0.43. Each router must beat random by a wide margin and stay below the oracle. The
Bradley-Terry fits are checked against a direct port of RouteLLM's ``compute_elo_mle_with_tie``
(scikit-learn's logistic regression), the cascade and the tiers against hand-worked cases.
"""

import math

import numpy as np
import pytest

from routerlab.core.router import Router, RoutingData
from routerlab.kmodel import peer_routers as pr
from routerlab.kmodel.peer_routers_learned import BERTRouter, best_or_tie_labels
from routerlab.kmodel.routers import ROUTERS, make_router

PEERS = ("mf", "sw_ranking", "elo", "routerdc", "bert", "cascade", "svm")
# Learned routers that must find the clusters (elo is query-independent: tested on its own data).
QUERY_ROUTERS = {"mf": {"epochs": 10}, "sw_ranking": {}, "routerdc": {"steps": 300}, "cascade": {}, "svm": {}}
COSTS = np.array([1.0, 2.0, 3.0])


def clustered(n=900, K=3, d=16, seed=0, good=0.9, bad=0.2):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(K, d)) * 3
    z = rng.integers(0, K, n)
    X = (centres[z] + rng.normal(size=(n, d))).astype(np.float32)
    p = np.full((K, K), bad)
    np.fill_diagonal(p, good)
    Y = (rng.random((n, K)) < p[z]).astype(np.float32)
    return RoutingData(ids=[f"q{i}" for i in range(n)], embeddings=X), Y


def mean_score(Y, sel):
    return float(Y[np.arange(len(sel)), sel].mean())


@pytest.fixture(scope="module")
def routed():
    data, Y = clustered()
    tr, te = np.arange(600), np.arange(600, 900)
    out = {}
    for kind, params in {**QUERY_ROUTERS, "oracle": {}, "random": {}}.items():
        r = make_router(kind, **params).fit(data.take(tr), Y[tr], costs=COSTS)
        truth = Y[te] if r.needs_true_scores else None
        out[kind] = (r, r.predict_proba(data.take(te), truth), r.predict(data.take(te), truth))
    return data.take(te), Y[te], out


def test_every_peer_router_is_registered_with_its_source():
    for kind in PEERS:
        cls = ROUTERS.get_entry(kind)
        assert cls.task == "kmodel" and cls.__doc__
        module_doc = __import__(cls.__module__, fromlist=["_"]).__doc__
        assert any(src in module_doc for src in ("RouteLLM", "RouterDC", "RouterBench", "LLMRouter"))
        assert make_router(kind).get_params() == type(make_router(kind))(**make_router(kind).get_params()).get_params()


@pytest.mark.parametrize("kind", sorted(QUERY_ROUTERS))
def test_peer_router_beats_random_and_the_oracle_beats_it(routed, kind):
    _, Yt, out = routed
    _, q, sel = out[kind]
    np.testing.assert_allclose(q.sum(axis=1), 1.0)
    assert (q >= 0).all()
    mu, mu_random, mu_oracle = mean_score(Yt, sel), mean_score(Yt, out["random"][2]), mean_score(Yt, out["oracle"][2])
    assert mu_oracle == pytest.approx(Yt.max(axis=1).mean())
    assert mu > mu_random + 0.3  # ~0.88 against ~0.43
    assert mu_oracle >= mu


@pytest.mark.parametrize("kind", sorted(QUERY_ROUTERS))
def test_peer_router_save_load_gives_identical_scores(routed, kind, tmp_path):
    data, _, out = routed
    r, q, _ = out[kind]
    r.save(tmp_path / "r.joblib")
    again = Router.load(tmp_path / "r.joblib")
    np.testing.assert_array_equal(again.predict_proba(data), q)


@pytest.mark.parametrize("kind,params", [("mf", {"epochs": 2}), ("routerdc", {"steps": 40}), ("svm", {}),
                                         ("sw_ranking", {}), ("cascade", {})])
def test_peer_router_is_deterministic_given_its_seed(kind, params):
    data, Y = clustered(n=300)
    a = make_router(kind, **params).fit(data, Y).predict_proba(data)
    b = make_router(kind, **params).fit(data, Y).predict_proba(data)
    np.testing.assert_array_equal(a, b)
    if "seed" in make_router(kind).get_params() and kind in ("mf", "routerdc"):
        c = make_router(kind, **params, seed=7).fit(data, Y).predict_proba(data)
        assert not np.array_equal(a, c)


# --- two models: weak/strong routers ---------------------------------------------------------------


@pytest.fixture(scope="module")
def pair():
    """Two models: the weak one (cheap) is good on cluster 0 only, the strong one on both."""
    rng = np.random.default_rng(1)
    n, d = 600, 12
    centres = rng.normal(size=(2, d)) * 3
    z = rng.integers(0, 2, n)
    X = (centres[z] + rng.normal(size=(n, d))).astype(np.float32)
    Y = np.stack([rng.random(n) < np.where(z == 0, 0.9, 0.1), rng.random(n) < 0.9], axis=1).astype(np.float32)
    return RoutingData(ids=[f"p{i}" for i in range(n)], embeddings=X), Y, z


@pytest.mark.parametrize("kind,params", [("mf", {"epochs": 10}), ("sw_ranking", {}), ("routerdc", {"steps": 300}),
                                         ("svm", {}), ("cascade", {})])
def test_two_models_win_rate_is_a_weak_strong_router(pair, kind, params):
    from sklearn.metrics import roc_auc_score

    data, Y, z = pair
    tr, te = np.arange(400), np.arange(400, 600)
    r = make_router(kind, **params).fit(data.take(tr), Y[tr], costs=[0.1, 1.0])
    win = r.strong_win_rate(data.take(te), strong=1, weak=0)
    assert ((win >= 0) & (win <= 1)).all()
    assert roc_auc_score(z[te], win) > 0.9  # the strong model is needed on cluster 1
    if kind != "cascade":  # q_strong is RouteLLM's win rate; the cascade's q is its one-hot decision
        np.testing.assert_allclose(win, r.predict_proba(data.take(te))[:, 1], rtol=1e-12, atol=1e-12)
    if kind == "mf":  # RouteLLM's pred_win_rate: sigmoid(s(strong) - s(weak))
        s = r.model_scores(data.take(te))
        np.testing.assert_allclose(win, 1 / (1 + np.exp(-(s[:, 1] - s[:, 0]))), rtol=1e-9)
    if kind == "sw_ranking":  # RouteLLM: 1 - 1 / (1 + 10^((R_strong - R_weak) / 400))
        R = r.tier_ratings(data.take(te))[:, r.tiers_]
        np.testing.assert_allclose(win, 1 - 1 / (1 + 10 ** ((R[:, 1] - R[:, 0]) / 400)), rtol=1e-9)


# --- Bradley-Terry, Elo, tiers, similarity weights ------------------------------------------------


def routellm_elo(model_a, model_b, winner, sample_weight=None):
    """RouteLLM's ``compute_elo_mle_with_tie`` (similarity_weighted/utils.py), ported line by line with
    scikit-learn's logistic regression (penalty none = C inf; tight tolerance) and integer model ids."""
    from sklearn.linear_model import LogisticRegression

    model_a, model_b, winner = (np.concatenate([v, v]) for v in (model_a, model_b, winner))
    n, p = model_a.size, int(max(model_a.max(), model_b.max())) + 1
    X = np.zeros([n, p])
    X[np.arange(n), model_a] = +math.log(10)
    X[np.arange(n), model_b] = -math.log(10)
    Y = np.zeros(n)
    Y[winner == "model_a"] = 1.0
    tie = winner == "tie"
    tie[n // 2:] = False
    Y[tie] = 1.0
    lr = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-12, max_iter=100000)
    lr.fit(X, Y, sample_weight=None if sample_weight is None else np.concatenate([sample_weight, sample_weight]))
    return 400 * lr.coef_[0] + 1000


def routellm_battles(Y):
    q, a, b, w = [], [], [], []
    for i in range(Y.shape[0]):
        for x in range(Y.shape[1]):
            for y in range(x + 1, Y.shape[1]):
                q.append(i), a.append(x), b.append(y)
                w.append("model_a" if Y[i, x] > Y[i, y] else "model_b" if Y[i, x] < Y[i, y] else "tie")
    return np.array(q), np.array(a), np.array(b), np.array(w)


def test_elo_matches_routellm_and_picks_the_best_rated_within_cost():
    rng = np.random.default_rng(0)
    Y = (rng.random((300, 4)) < np.array([0.3, 0.5, 0.6, 0.8])).astype(np.float32)
    _, a, b, w = routellm_battles(Y)
    ref = routellm_elo(a, b, w)
    data = RoutingData(ids=[str(i) for i in range(300)])
    r = make_router("elo").fit(data, Y, costs=[1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(r.ratings_, ref, atol=1e-3)
    assert np.argsort(r.ratings_).tolist() == [0, 1, 2, 3]
    assert r.predict(data).tolist() == [3] * 300  # query-independent: the best-rated model
    assert mean_score(Y, r.predict(data)) > mean_score(Y, make_router("random").fit(data, Y).predict(data)) + 0.15
    capped = make_router("elo", max_cost=2.5).fit(data, Y, costs=[1.0, 2.0, 3.0, 4.0])
    assert capped.predict(data).tolist() == [1] * 300  # the best-rated of the affordable models
    q_capped = capped.predict_proba(data)[0]
    assert q_capped[2] == q_capped[3] == 0.0
    # q_1 / (q_0 + q_1) = 1 / (1 + 10^((R_0 - R_1) / 400))
    assert q_capped[1] / (q_capped[0] + q_capped[1]) == pytest.approx(
        1 / (1 + 10 ** ((r.ratings_[0] - r.ratings_[1]) / 400)))
    nothing_affordable = make_router("elo", max_cost=0.5).fit(data, Y, costs=[1.0, 2.0, 3.0, 4.0])
    assert nothing_affordable.predict(data).tolist() == [0] * 300  # the cheapest model


def test_sw_ranking_refit_matches_routellm_per_query():
    data, Y = clustered(n=120, K=4, d=8, seed=3)
    r = make_router("sw_ranking").fit(data, Y)
    assert sorted(r.tiers_.tolist()) == [0, 1, 2, 3]  # K <= 10 tiers: every model its own tier
    query = data.take([5, 77])
    S = pr.unit_rows(query.embeddings) @ pr.unit_rows(data.embeddings).T
    q, a, b, w = routellm_battles(Y)
    for row in range(2):
        weight = 10 * 10 ** (S[row] / S[row].max())  # RouteLLM's get_weightings
        np.testing.assert_allclose(r.weights(query.embeddings)[row], weight, rtol=1e-6)
        ref = routellm_elo(r.tiers_[a], r.tiers_[b], w, sample_weight=weight[q])
        np.testing.assert_allclose(r.tier_ratings(query)[row], ref, atol=1e-3)


def test_sw_weights_guard_a_query_unlike_every_training_query():
    data, Y = clustered(n=60, K=2, d=4)
    data.embeddings = np.abs(data.embeddings) + 0.1  # every training row in the positive orthant
    r = make_router("sw_ranking").fit(data, Y)
    opposite = -np.ones((1, 4), dtype=np.float32)  # cosine < 0 with every training query: max S < 0
    np.testing.assert_array_equal(r.weights(opposite), np.full((1, 60), 10.0))
    assert np.isfinite(r.tier_ratings(RoutingData(ids=["x"], embeddings=opposite))).all()


def brute_force_counts(Y, group, G):
    lo, hi, tie = (np.zeros((Y.shape[0], G * (G - 1) // 2)) for _ in range(3))
    col = {pair: k for k, pair in enumerate(zip(*np.triu_indices(G, 1)))}
    for i in range(Y.shape[0]):
        for a in range(Y.shape[1]):
            for b in range(Y.shape[1]):
                if group[a] < group[b]:
                    c = col[(group[a], group[b])]
                    lo[i, c] += Y[i, a] > Y[i, b]
                    hi[i, c] += Y[i, a] < Y[i, b]
                    tie[i, c] += Y[i, a] == Y[i, b]
    return lo, hi, tie


@pytest.mark.parametrize("binary", [True, False])
def test_battle_counts_match_brute_force(binary):
    rng = np.random.default_rng(4)
    Y = rng.random((40, 7)).round(1)
    Y = (Y > 0.5).astype(float) if binary else Y
    group = np.array([0, 1, 1, 2, 0, 2, 1])
    for got, want in zip(pr.group_pair_counts(Y, group, 3), brute_force_counts(Y, group, 3)):
        np.testing.assert_array_equal(got, want)
    W, T = pr.total_pair_counts(Y)
    assert W[2, 5] == (Y[:, 2] > Y[:, 5]).sum() and T[2, 5] == (Y[:, 2] == Y[:, 5]).sum()
    q, win, lose, total = pr.battles(Y, None, 0)
    assert total == q.size == W.sum() and (Y[q, win] > Y[q, lose]).all()
    q, win, lose, total = pr.battles(Y, 50, 0)  # a sample of about 50 battles, every one real
    assert total == W.sum() and 25 < q.size < 100 and (Y[q, win] > Y[q, lose]).all()


def test_large_pools_fit_elo_and_tiers():
    rng = np.random.default_rng(5)
    skill = rng.random(60)
    Y = (rng.random((400, 60)) < skill).astype(np.float32)
    data = RoutingData(ids=[str(i) for i in range(400)], embeddings=rng.normal(size=(400, 8)).astype(np.float32))
    assert np.corrcoef(make_router("elo").fit(data, Y).ratings_, skill)[0, 1] > 0.95
    r = make_router("sw_ranking").fit(data, Y)
    assert r.n_tiers_ == 10 and r.wins_a_.shape == (400, 45)
    assert np.corrcoef(r.tiers_, -skill)[0, 1] > 0.9  # tier 0 = best
    np.testing.assert_allclose(r.predict_proba(data.take([0, 1])).sum(axis=1), 1.0)


def test_rating_tiers_minimise_within_tier_variance():
    ratings = np.array([1000.0, 1010.0, 1200.0, 1190.0, 800.0, 805.0])
    assert pr.rating_tiers(ratings, 3).tolist() == [1, 1, 0, 0, 2, 2]  # {1200, 1190}, {1010, 1000}, {805, 800}
    assert pr.rating_tiers(ratings, 1).tolist() == [0] * 6
    assert pr.rating_tiers(ratings, 10).tolist() == [3, 2, 0, 1, 5, 4]  # K <= tiers: rank order
    # two tiers: best split of sorted [1200, 1190, 1010, 1000, 805, 800] by summed variance is after 1000
    assert pr.rating_tiers(ratings, 2).tolist() == [0, 0, 0, 0, 1, 1]


def test_bradley_terry_hand_checked_and_finite_when_a_model_never_loses():
    # two wins (doubled: 4) and a tie (one each): P(0 beats 1) = 5/6, so 10^((R0 - R1)/400) = 5
    Y = np.array([[1, 0], [1, 0], [1, 1]], dtype=np.float32)
    r = make_router("elo").fit(RoutingData(ids=["a", "b", "c"]), Y)
    assert r.ratings_[0] - r.ratings_[1] == pytest.approx(400 * math.log10(5), abs=1e-3)
    assert r.ratings_.mean() == pytest.approx(1000.0)
    # no tie: the likelihood grows without bound; the tiny ridge keeps the ratings finite and far apart
    r = make_router("elo").fit(RoutingData(ids=["a", "b"]), Y[:2])
    assert np.isfinite(r.ratings_).all() and r.ratings_[0] > r.ratings_[1] + 1000


def test_mf_without_battles_is_uniform_and_ties_go_to_the_cheaper_model():
    data, _ = clustered(n=50, K=3)
    Y = np.ones((50, 3), dtype=np.float32)
    r = make_router("mf", epochs=1).fit(data, Y, costs=[3.0, 1.0, 2.0])
    assert r.n_battles_ == 0
    np.testing.assert_allclose(r.predict_proba(data), 1 / 3)
    assert r.predict(data).tolist() == [1] * 50


# --- cascade ------------------------------------------------------------------------------------------


def test_cascade_escalates_by_cost_until_the_judge_accepts_hand_checked():
    data = RoutingData(ids=["a", "b", "c", "d"], embeddings=np.zeros((4, 2), np.float32))
    # models given in the order dear, cheap, mid: the cascade calls 1, then 2, then 0
    costs = [5.0, 1.0, 2.0]
    Y = np.array([[0, 1, 0],   # cheap model good: stop at 1
                  [1, 0, 1],   # mid good: 1 -> 2
                  [1, 0, 0],   # only the dear one: 1 -> 2 -> 0
                  [0, 0, 0]],  # nobody: every model called, the last answer kept
                 dtype=np.float32)
    r = make_router("cascade", judge="simulated", quality_threshold=1.0).fit(data, Y, costs=costs)
    assert r.order_.tolist() == [1, 2, 0]
    end, called = r.cascade(data, Y)
    assert end.tolist() == [1, 2, 0, 0]
    assert called.astype(int).tolist() == [[0, 1, 0], [0, 1, 1], [1, 1, 1], [1, 1, 1]]
    assert (called @ np.array(costs)).tolist() == [1.0, 3.0, 8.0, 8.0]
    assert r.predict(data, Y).tolist() == [1, 2, 0, 0]
    # budget 3.5: after 1 + 2 spent, the dear call (5) would exceed it: keep the mid model's answer
    tight = make_router("cascade", judge="simulated", quality_threshold=1.0, budget=3.5).fit(data, Y, costs=costs)
    assert tight.cascade(data, Y)[0].tolist() == [1, 2, 2, 2]
    # budget below the cheapest call: the first call is still made (nothing spent yet)
    broke = make_router("cascade", judge="simulated", quality_threshold=1.0, budget=0.5).fit(data, Y, costs=costs)
    assert broke.cascade(data, Y)[0].tolist() == [1, 1, 1, 1]
    # a judge that always errs accepts every bad answer: every query stops at the cheapest model
    liar = make_router("cascade", judge="simulated", quality_threshold=1.0, error_rate=1.0).fit(data, Y, costs=costs)
    assert liar.cascade(data, Y)[0].tolist() == [2, 1, 1, 1]
    with pytest.raises(ValueError, match="reads each query's true scores"):
        r.predict_proba(data)


def test_cascade_quality_bar_is_routerbench_quantile():
    data, Y = clustered(n=200)
    scores = np.linspace(0, 1, 200 * 3).reshape(200, 3).astype(np.float32)
    r = make_router("cascade").fit(data, scores)
    assert r.quality_ == pytest.approx(np.quantile(scores, 0.95))
    r = make_router("cascade").fit(data, Y)
    assert r.quality_ == 1.0  # binary scores: a good answer is a correct one


def test_cascade_threshold_sweep_trades_cost_for_quality(routed):
    data, Yt, out = routed
    r = out["cascade"][0]
    costs, quality = [], []
    for t in (0.0, 0.5, 1.01):
        end, called = r.cascade(data, threshold=t)
        costs.append(float((called @ COSTS).mean()))
        quality.append(mean_score(Yt, end))
    assert costs[0] == 1.0 and costs[2] == 6.0  # accept all: cheapest only; accept none: every model
    assert costs[0] < costs[1] < costs[2]
    assert quality[1] > quality[0] + 0.3


# --- BERT classifier ------------------------------------------------------------------------------------


def test_bert_labels_and_tie_mass_to_the_cheapest_model():
    Y = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 0], [0.2, 0.9, 0.5]], dtype=np.float32)
    assert best_or_tie_labels(Y).tolist() == [0, 3, 3, 1]
    r = BERTRouter()
    r.n_models_, r.tie_model_ = 3, 1
    r.class_proba = lambda data: np.array([[0.1, 0.2, 0.3, 0.4]])
    np.testing.assert_allclose(r._predict_scores(None), [[0.1, 0.6, 0.3]])


TOPICS = {0: ["Solve for x: {a}x + {b} = {c}.", "What is {a} times {b} plus {c}?", "Integrate x^{a} from 0 to {b}."],
          1: ["Write a short poem about the {w} at dawn.", "Compose a haiku about a {w}.", "Write lyrics about a {w}."],
          2: ["Translate '{w}' into French.", "How do you say '{w}' in German?", "Give the Spanish word for '{w}'."]}
WORDS = ["river", "mountain", "city", "cat", "ocean", "forest", "train", "window"]


def topic_queries(n=150, seed=0):
    """Texts of three kinds; model k answers its own kind correctly with probability 0.95, others 0.1."""
    rng = np.random.default_rng(seed)
    texts, z = [], np.arange(n) % 3
    for k in z:
        template = TOPICS[k][rng.integers(3)]
        texts.append(template.format(a=rng.integers(2, 9), b=rng.integers(2, 9), c=rng.integers(10, 99),
                                     w=WORDS[rng.integers(len(WORDS))]))
    p = np.full((3, 3), 0.1)
    np.fill_diagonal(p, 0.95)
    Y = (rng.random((n, 3)) < p[z]).astype(np.float32)
    return RoutingData(ids=[f"t{i}" for i in range(n)], texts=texts), Y


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    """A 1-layer random BERT with the packaged encoder's tokenizer: the K-class head's mechanics, fast."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from routerlab.lm.encoder import encoder_path

    out = tmp_path_factory.mktemp("tiny_bert")
    tokenizer = AutoTokenizer.from_pretrained(encoder_path(None))
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64)).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


def _bert_checks(r, data, Y, tmp_path):
    tr, te = np.arange(100), np.arange(100, 150)
    r.fit(data.take(tr), Y[tr], costs=COSTS)
    q = r.predict_proba(data.take(te))
    np.testing.assert_allclose(q.sum(axis=1), 1.0)
    mu = mean_score(Y[te], r.predict(data.take(te)))
    assert mu > Y[te].mean(axis=0).max() + 0.3  # ~0.9 against ~0.4 for any single model or random
    r.save(tmp_path / "bert.joblib")
    np.testing.assert_array_equal(Router.load(tmp_path / "bert.joblib").predict_proba(data.take(te)), q)
    with pytest.raises(ValueError, match="'bert' needs features 'texts'"):
        make_router("bert").fit(RoutingData(ids=["a", "b"], embeddings=np.zeros((2, 2))), Y[:2])


def test_bert_k_class_head_learns_on_a_tiny_encoder(tiny_encoder, tmp_path):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # a 1-layer model: threads only add synchronisation
    try:
        data, Y = topic_queries()
        r = make_router("bert", encoder=tiny_encoder, epochs=8, batch_size=16, max_length=32, lr=3e-3, device="cpu",
                        val_fraction=0.0)
        _bert_checks(r, data, Y, tmp_path)
    finally:
        torch.set_num_threads(before)


@pytest.mark.slow
def test_bert_router_on_the_packaged_encoder(tmp_path):
    data, Y = topic_queries()
    r = make_router("bert", epochs=2, max_length=32, lr=1e-4, device="cpu")
    _bert_checks(r, data, Y, tmp_path)


def test_encoder_one_logit_path_unchanged_by_the_class_head(tiny_encoder):
    """lm.encoder serves the binary encoder_classifier (one logit, BCE) and bert (n classes, cross-entropy)."""
    from routerlab.lm.encoder import build_classifier, fine_tune, predict_proba

    data, _ = topic_queries(n=24)
    y = (np.arange(24) % 3 == 0).astype(float)
    kw = {"encoder": tiny_encoder, "lr": 1e-3, "epochs": 1, "batch_size": 8, "max_length": 16, "weight_decay": 0.0,
          "val_fraction": 0.0, "patience": 1, "pooling": "mean", "dropout": 0.0, "device": "cpu", "seed": 0}
    one = fine_tune(data.texts, y, **kw)
    assert tuple(one["state"]["head.weight"].shape) == (1, 32)
    p = predict_proba(build_classifier(one["config"], one["state"], "mean", 0.0, "cpu"), one["tokenizer"],
                      data.texts, 8, 16)
    assert p.shape == (24,) and ((p > 0) & (p < 1)).all()
    many = fine_tune(data.texts, np.arange(24) % 4, n_classes=4, **kw)
    P = predict_proba(build_classifier(many["config"], many["state"], "mean", 0.0, "cpu"), many["tokenizer"],
                      data.texts, 8, 16)
    assert P.shape == (24, 4)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-6)  # a float32 softmax
