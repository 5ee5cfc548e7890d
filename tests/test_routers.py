"""Router registry and interface, on synthetic features with a known signal."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from routerlab.binary.routers import ROUTERS, make_router, required_features
from routerlab.core.router import Router, RoutingData


def synthetic(n=300, layers=6, hidden=16, seed=0):
    """Weak model correct iff a hidden direction (present in the middle layers) is positive."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.5).astype(float)
    h = rng.normal(size=(n, layers + 1, hidden)).astype(np.float32)
    h[:, 2:5, 0] += 2.0 * (2 * y[:, None] - 1)  # signal in layers 2-4 only
    p1 = np.where(y == 1, rng.uniform(0.6, 1.0, n), rng.uniform(0.2, 0.7, n))
    logits = pd.DataFrame({
        "max_logit": 10 * p1, "max_prob": p1, "entropy": 1 - p1, "confidence_margin": p1 - 0.1,
        "logits_margin": 5 * p1, "top10_variance": p1 / 10,
    })
    emb = rng.normal(size=(n, 8)).astype(np.float32)
    emb[:, 0] += 1.5 * (2 * y - 1)
    # self-based inputs: 5 sampled answers agree more often when the weak model is right
    clusters = [sorted(rng.integers(0, 1 if yi else 3, 5).tolist()) for yi in y]
    samples = pd.DataFrame({"clusters": clusters, "mean_logprobs": [(-rng.random(5)).tolist() for _ in y]})
    texts = [f"question {i}: {'easy' if yi else 'hard'} sum" for i, yi in enumerate(y)]
    data = RoutingData(ids=[f"q{i}" for i in range(n)], logits=logits, hidden_mean=h, hidden_last=h[:, :, ::-1].copy(),
                       embeddings=emb, samples=samples, self_check=pd.DataFrame({"p_yes": p1}), texts=texts)
    return data, y


@pytest.mark.parametrize("kind", ["max_logit", "max_prob", "entropy", "confidence_margin", "logits_margin",
                                  "top10_variance"])
def test_logit_routers_are_oriented_as_weak_confidence(kind):
    data, y = synthetic()
    r = make_router(kind).fit(data, y)
    assert roc_auc_score(y, r.score(data)) > 0.8  # entropy is negated: low entropy = keep weak


@pytest.mark.parametrize("kind,params", [("mean_probe", {}), ("dirichlet_probe", {"epochs": 150}),
                                         ("embedding_mlp", {"max_iter": 300}), ("layer_probe", {"layer": 3})])
def test_trained_routers_learn_held_out_signal(kind, params):
    data, y = synthetic()
    train, test = np.arange(200), np.arange(200, 300)
    r = make_router(kind, **params).fit(data.take(train), y[train])
    assert roc_auc_score(y[test], r.score(data.take(test))) > 0.85


def test_layer_probe_on_a_signal_free_layer_is_near_chance():
    data, y = synthetic()
    r = make_router("layer_probe", layer=6).fit(data.take(np.arange(200)), y[:200])
    assert abs(roc_auc_score(y[200:], r.score(data.take(np.arange(200, 300)))) - 0.5) < 0.2


def test_dirichlet_expected_weights_and_uncertainty():
    data, y = synthetic()
    r = make_router("dirichlet_probe", epochs=100).fit(data, y)
    w = r.layer_weights(data)
    assert w.shape == (300, 6)
    np.testing.assert_allclose(w.sum(1), 1.0, rtol=1e-5)
    # learned, not by construction: the fusion weights go to the layers that carry the signal
    # (hidden layers 2-4 = positions 1-3 of the six transformer layers; measured 0.98 of the mass)
    mean_w = w.mean(0)
    assert mean_w[1:4].sum() > 0.8 and mean_w[1:4].min() > mean_w[[0, 4, 5]].max(), mean_w
    u = r.uncertainty(data)
    assert (u > 0).all() and u.shape == (300,)
    # inference is deterministic (expected weights, no sampling)
    np.testing.assert_array_equal(r.score(data), r.score(data))


def test_coe_score_by_hand():
    """CoE-R = mean(magnitudes) - mean(angles), each normalised by the first-to-last layer change."""
    # query 0: h0 = (1, 0), h1 = (1, 1), h2 = (0, 2). Steps (0, 1) and (-1, 1), span (-1, 2):
    #   magnitudes 1/sqrt5, sqrt2/sqrt5; angles 45 deg and 45 deg over the 90 deg span: 1/2 each
    #   -> (1 + sqrt2) / (2 sqrt5) - 1/2
    # query 1: h0 = (1, 0), h1 = (2, 0), h2 = (4, 0). Steps 1 and 2 over a span of 3 -> mean 1/2;
    #   no turn at all: angles 0 (the zero span angle is guarded) -> 1/2
    h = np.array([[[1, 0], [1, 1], [0, 2]], [[1, 0], [2, 0], [4, 0]]], dtype=np.float32)
    data = RoutingData(ids=["a", "b"], hidden_mean=h)
    r = make_router("coe").fit(data, np.array([0.0, 1.0]))
    expected = [(1 + np.sqrt(2)) / (2 * np.sqrt(5)) - 0.5, 0.5]
    np.testing.assert_allclose(r.score(data), expected, rtol=1e-12)
    # a straight trajectory (query 1) is more confident than a turning one (query 0)
    assert r.score(data)[1] > r.score(data)[0]


@pytest.mark.parametrize("kind", [pytest.param(k, marks=pytest.mark.slow) if k == "encoder_classifier" else k
                                  for k in sorted(ROUTERS)])  # the encoder fine-tunes a real MiniLM
def test_save_load_round_trip(kind, tmp_path):
    data, y = synthetic(n=120)
    params = {"dirichlet_probe": {"epochs": 5},
              "encoder_classifier": {"epochs": 1, "max_length": 16, "device": "cpu"}}.get(kind, {})
    r = make_router(kind, **params).fit(data, y)
    r.save(tmp_path / "r.joblib")
    again = Router.load(tmp_path / "r.joblib")
    np.testing.assert_array_equal(r.score(data), again.score(data))


def test_one_class_labels_error_names_router():
    data, _ = synthetic(n=50)
    with pytest.raises(ValueError, match="mean_probe.*one class"):
        make_router("mean_probe").fit(data, np.ones(50))


def test_missing_features_error_names_router_and_feature():
    data, y = synthetic(n=50)
    data.embeddings = None
    data.source = {"features": "results/features/weak/x"}
    with pytest.raises(ValueError, match="embedding_mlp.*'embeddings'.*results/features/weak/x"):
        make_router("embedding_mlp").fit(data, y)


def test_unfitted_and_unknown():
    data, _ = synthetic(n=10)
    with pytest.raises(RuntimeError, match="not fitted"):
        make_router("mean_probe").score(data)
    with pytest.raises(ValueError, match="unknown binary router 'nope'"):
        make_router("nope")
    with pytest.raises(ValueError, match="bad parameters"):
        make_router("mean_probe", bogus=1)


def test_corrupt_router_file(tmp_path):
    p = tmp_path / "r.joblib"
    p.write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="cannot load router"):
        Router.load(p)


def test_random_router_scores_do_not_depend_on_batch():
    data, y = synthetic(n=40)
    r = make_router("random", seed=3).fit(data, y)
    np.testing.assert_array_equal(r.score(data)[10:20], r.score(data.take(np.arange(10, 20))))


def test_required_features():
    assert required_features("mean_probe", {"pooling": "last"}) == {"hidden_last"}
    assert required_features("embedding_mlp") == {"embeddings"}
    assert required_features("entropy") == {"logits"}


def test_random_router_is_independent_of_the_split_hash():
    # Regression: both once hashed "seed:id", so every test query outscored every validation query.
    from routerlab.datasets import assign_splits

    ids = [f"q{i}" for i in range(400)]
    splits = np.array(assign_splits(ids, {"train": 0.5, "validation": 0.2, "test": 0.3}, 0))
    r = make_router("random", seed=0).fit(RoutingData(ids=ids), np.zeros(400))
    scores = r.score(RoutingData(ids=ids))
    assert abs(scores[splits == "test"].mean() - scores[splits == "validation"].mean()) < 0.1
