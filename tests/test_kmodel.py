"""K-model routing: outcome importers, pools, RouterEval routers, R2-Router, tables.

Fixture files in tests/data/kmodel/ follow each published format (small, hand-written);
malformed variants are derived from them per test. Expected values are computed by hand
or from the theory of the reference routers (oracle = upper bound, random = mean of means).
"""

import json
import math
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from routerlab.binary.routers import ROUTERS as BINARY_ROUTERS
from routerlab.binary.routers import make_router
from routerlab.core.errors import ConfigError
from routerlab.core.router import Router, RoutingData
from routerlab.kmodel import evaluate as ev
from routerlab.kmodel import features, pools, tables
from routerlab.kmodel.cost import UnknownModelError
from routerlab.kmodel.importers import read_source
from routerlab.kmodel.metrics import routereval_split
from routerlab.kmodel.outcomes import OutcomeFormatError, Outcomes, from_pipeline
from routerlab.kmodel.r2router import Candidate, CheckpointError, R2Router, resolve_checkpoint_dir
from routerlab.kmodel.routers import ROUTERS as KMODEL_ROUTERS
from routerlab.kmodel.routers import make_router as make_kmodel_router

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "kmodel"
RB = DATA / "routerbench_small.csv"
DC = DATA / "routerdc_gsm8k-train.json"
ARENA = [DATA / "routerarena" / "cheap-model.jsonl", DATA / "routerarena" / "pricey-model.jsonl"]
LONG = DATA / "long_small.csv"


# --- importers -----------------------------------------------------------------------------------


def test_routerbench_import_hand_checked():
    out = read_source("routerbench", [RB])
    assert out.models == ["big-70b", "mid-13b", "org/small-7b"]
    assert out.meta["files"][str(RB)] == {"rows": 10, "dropped_missing": 1, "dropped_repeats": 1}
    q = out.queries.set_index("query_id")
    assert len(q) == 8 and "arc.dev.4" not in q.index  # row 9 lacks a score
    assert q.loc["arc.dev.0", "prompt"] == "Which gas do plants absorb?\nA) O2\nB) CO2"
    assert q.loc["mbpp.dev.1", "dataset"] == "mbpp" and q["split"].isna().all()
    row = out.queries["query_id"].tolist().index("arc.dev.2")
    np.testing.assert_array_equal(out.matrix("score")[row], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(out.matrix("cost")[row], [0.003, 0.0005, 0.0002])
    assert np.isnan(out.matrix("completion_tokens")).all()  # RouterBench has no token counts


def _rb_variant(tmp_path, edit):
    df = pd.read_csv(RB, dtype=str, keep_default_na=False)
    edit(df)
    path = tmp_path / "rb.csv"
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("edit,row,field,message", [
    (lambda d: d.loc.__setitem__((2, "mid-13b"), "abc"), "row 3", "'mid-13b'", "expected a number"),
    (lambda d: d.loc.__setitem__((0, "big-70b"), "2.0"), "row 1", "'big-70b'", "in [0.0, 1.0]"),
    (lambda d: d.loc.__setitem__((4, "big-70b|total_cost"), "-1"), "row 5", "'big-70b|total_cost'", ">= 0.0"),
    (lambda d: d.loc.__setitem__((1, "prompt"), "not a list"), "row 2", "'prompt'", "Python list"),
    (lambda d: d.__delitem__("eval_name"), None, "'eval_name'", "missing column"),
    (lambda d: d.loc.__setitem__((9, "big-70b"), "0.0"), "row 10", "'sample_id'", "repeats row 2"),
])
def test_routerbench_malformed_names_file_row_field(tmp_path, edit, row, field, message):
    path = _rb_variant(tmp_path, edit)
    with pytest.raises(OutcomeFormatError) as e:
        read_source("routerbench", [path])
    text = str(e.value)
    assert str(path) in text and f"field {field}" in text and message in text
    if row:
        assert f"{row}," in text


def test_routerbench_on_missing_error_names_the_row(tmp_path):
    with pytest.raises(OutcomeFormatError, match=r"rb\.csv: row 9, field 'score'"):
        read_source("routerbench", [_rb_variant(tmp_path, lambda d: None)], on_missing="error")


def test_routerdc_import_and_errors(tmp_path):
    out = read_source("routerdc", [DC])
    assert out.models == ["m-a", "m-b", "m-c"]
    assert out.queries["dataset"].unique().tolist() == ["routerdc_gsm8k"]
    # item 2 stores its scores as a Python-dict string
    np.testing.assert_array_equal(out.matrix("score"), [[1, 0, 1], [0, 1, 1], [0.5, 0.25, 0], [1, 1, 0]])
    assert np.isnan(out.matrix("cost")).all()
    items = json.loads(DC.read_text())
    for i, (patch, field) in enumerate([({"scores": {"m-a": 1.0, "m-b": 0.0}}, "'scores'"),
                                        ({"scores": {"m-a": "x", "m-b": 0.0, "m-c": 1.0}}, "'scores.m-a'"),
                                        ({"question": ""}, "'question'")]):
        bad = [dict(it) for it in items]
        bad[1].update(patch)
        path = tmp_path / f"dc{i}.json"
        path.write_text(json.dumps(bad))
        with pytest.raises(OutcomeFormatError) as e:
            read_source("routerdc", [path])
        assert f"{path}: row 1, field {field}" in str(e.value)


def test_routerarena_import_and_errors(tmp_path):
    out = read_source("routerarena", ARENA)
    assert out.models == ["cheap-model", "pricey-model"]
    q = out.queries.set_index("query_id")
    assert q.loc["MMLUPro_law_3", "dataset"] == "MMLUPro_law" and q.loc["AIME_2", "dataset"] == "AIME"
    np.testing.assert_array_equal(out.matrix("completion_tokens")[:, 1], [200, 210, 220, 230, 240])
    np.testing.assert_array_equal(out.matrix("prompt_tokens")[:, 0], [100, 101, 102, 103, 104])
    np.testing.assert_allclose(out.matrix("cost")[:, 0], [1e-4, 2e-4, 3e-4, 4e-4, 5e-4])
    lines = ARENA[1].read_text().splitlines()
    cases = [
        (2, lambda o: "{broken", "line 3", None),
        (1, lambda o: {**o, "evaluation_result": {**o["evaluation_result"], "score": "high"}}, "line 2",
         "'evaluation_result.score'"),
        (3, lambda o: {**o, "llm_selected": "other"}, "line 4", "'llm_selected'"),
        (0, lambda o: {**o, "token_usage": {"input_tokens": 1, "output_tokens": -5}}, "line 1",
         "'token_usage.output_tokens'"),
    ]
    for k, (i, patch, row, field) in enumerate(cases):
        bad = list(lines)
        new = patch(json.loads(bad[i]))
        bad[i] = new if isinstance(new, str) else json.dumps(new)
        path = tmp_path / f"arena{k}.jsonl"
        path.write_text("\n".join(bad) + "\n")
        with pytest.raises(OutcomeFormatError) as e:
            read_source("routerarena", [ARENA[0], path])
        assert f"{path}: {row}" in str(e.value) and (field is None or f"field {field}" in str(e.value))


def _routereval_pickle(path, n=(40, 5, 5), M=3, nested=True, seed=0):
    rng = np.random.default_rng(seed)
    splits = dict(zip(("train", "val", "test"), n))
    data = {f"{k}_score": (rng.random((v, M)) < 0.5).astype(float) for k, v in splits.items()}
    obj = {"prompt": {f"{k}_prompt": [f"{k} question {i}" for i in range(v)] for k, v in splits.items()},
           "embedding": {f"{k}_embed": rng.normal(size=(v, 4)) for k, v in splits.items()}}
    if nested:
        obj["easy"] = {3: {g: {"data": {k: v.copy() for k, v in data.items()}, "model": [f"{g}-m{j}" for j in range(M)]}
                           for g in ("all_strong", "all_weak", "strong_to_weak")}}
    else:
        obj["data"] = data
    path.write_bytes(pickle.dumps(obj))
    return path


def test_routereval_pickle_pools_and_splits_kept(tmp_path):
    path = _routereval_pickle(tmp_path / "arc_router_dataset.pkl")
    out = read_source("routereval", [path])
    assert out.pools == ["easy/3/all_strong", "easy/3/all_weak", "easy/3/strong_to_weak"]
    assert out.queries["split"].value_counts().to_dict() == {"train": 40, "validation": 5, "test": 5}
    assert out.queries["query_id"].iloc[0] == "arc:train:0" and out.queries["dataset"].iloc[0] == "arc"
    X = features.build(out.queries, "given", routereval_file=path)
    assert X.shape == (50, 4)
    src = ev.Source("re", out, X)
    res, sel = ev.evaluate_routereval(src, "easy", {"oracle": {}, "knn": {"params": {"k": 3}}})
    assert {r["pool"] for r in res["rows"]} == set(out.pools)
    assert res["notes"] == ["easy-5 skipped: the file defines no such pool"]
    for r in res["rows"]:
        if r["router"] == "oracle":
            models = sorted(out.table.loc[out.table.pool == r["pool"], "model"].unique())
            Y = out.matrix("score", pool=r["pool"], models=models)
            assert r["mu"] == pytest.approx(Y[45:].max(axis=1).mean())
    flat = read_source("routereval", [_routereval_pickle(tmp_path / "flat.pkl", nested=False)])
    assert flat.pools == [] and flat.models == ["model_0", "model_1", "model_2"]


def test_routereval_pickle_malformed(tmp_path):
    path = _routereval_pickle(tmp_path / "x.pkl")
    obj = pickle.loads(path.read_bytes())
    obj["easy"][3]["all_weak"]["data"]["test_score"] = np.zeros((4, 3))
    path.write_bytes(pickle.dumps(obj))
    with pytest.raises(OutcomeFormatError, match=r"x\.pkl, field 'easy\.3\.all_weak\.data\.test_score': shape"):
        read_source("routereval", [path])
    obj["easy"][3] = {"medium_group": obj["easy"][3]["all_strong"]}
    path.write_bytes(pickle.dumps(obj))
    with pytest.raises(OutcomeFormatError, match="unknown candidate group 'medium_group'"):
        read_source("routereval", [path])
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(OutcomeFormatError, match="junk.pkl: not a readable RouterEval pickle"):
        read_source("routereval", [tmp_path / "junk.pkl"])


def test_long_format_round_trip_and_errors(tmp_path):
    out = read_source("long", [LONG])
    np.testing.assert_array_equal(out.matrix("score"), [[1, 1], [0, 1], [1, 0]])
    out.queries = pools.assign_split(out.queries)
    out.save(tmp_path / "o")
    again = Outcomes.load(tmp_path / "o")
    pd.testing.assert_frame_equal(again.table, out.table)
    lines = LONG.read_text().splitlines()
    (tmp_path / "dup.csv").write_text("\n".join(lines + [lines[3]]) + "\n")
    with pytest.raises(OutcomeFormatError, match=r"dup\.csv: row 7, field 'query_id': duplicate row"):
        read_source("long", [tmp_path / "dup.csv"])
    (tmp_path / "gap.csv").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(OutcomeFormatError, match=r"1 queries lack scores .* query 'q2' has no row for \['b'\]"):
        read_source("long", [tmp_path / "gap.csv"])
    (tmp_path / "neg.csv").write_text("\n".join(lines[:2] + [lines[2].replace(",20,", ",-20,")] + lines[3:]) + "\n")
    with pytest.raises(OutcomeFormatError, match=r"neg\.csv: row 2, field 'completion_tokens': must be >= 0"):
        read_source("long", [tmp_path / "neg.csv"])


def test_from_pipeline_costs_from_tokens_and_prices(tmp_path):
    ids = ["d-0", "d-1", "d-2"]
    data = pd.DataFrame({"id": ids, "prompt": ["p0", "p1", "p2"], "split": ["train"] * 3})
    data.to_parquet(tmp_path / "data.parquet")
    for m, scores, ct in (("a", [1.0, 0.0, np.nan], [4, 2, 8]), ("b", [1.0, 1.0, 1.0], [10, 10, 10])):
        pd.DataFrame({"id": ids, "sample": 0, "score": scores, "status": "ok"}).to_parquet(tmp_path / f"s_{m}.parquet")
        pd.DataFrame({"id": ids, "sample": 0, "prompt_tokens": [10, 20, 30], "response_tokens": ct}).to_parquet(
            tmp_path / f"g_{m}.parquet")
    paths = lambda kind: {(m, "d"): tmp_path / f"{kind}_{m}.parquet" for m in "ab"}  # noqa: E731
    prices = {"a": {"input": 1.0, "output": 2.0}, "b": {"input": 3.0, "output": 5.0}}
    out = from_pipeline({"d": tmp_path / "data.parquet"}, paths("s"), paths("g"), prices)
    assert out.meta["dropped_unparsed"] == {"d": 1}  # d-2: model a's answer could not be scored
    assert out.queries["query_id"].tolist() == ["d-0", "d-1"] and out.queries["category"].tolist() == ["d", "d"]
    # d-1: a = 20 * 1.0 / 1e6 + 2 * 2.0 / 1e6; b = 20 * 3.0 / 1e6 + 10 * 5.0 / 1e6
    np.testing.assert_allclose(out.matrix("cost")[1], [24e-6, 110e-6])
    with pytest.raises(UnknownModelError, match="no price for model 'b'"):
        from_pipeline({"d": tmp_path / "data.parquet"}, paths("s"), paths("g"), {"a": prices["a"]})


# --- pools and split -------------------------------------------------------------------------------


def test_leaderboard_groups_hand_checked():
    Y = np.tile([0.9, 0.1, 0.5, 0.7, 0.3], (4, 1))
    board = pools.leaderboard(Y, ["m0", "m1", "m2", "m3", "m4"])
    ranked = board["model"].tolist()
    assert ranked == ["m0", "m3", "m2", "m4", "m1"]
    assert pools.select_pool(ranked, 3, "all_strong") == ("m0", "m3", "m2")
    assert pools.select_pool(ranked, 3, "all_weak") == ("m2", "m4", "m1")
    assert pools.select_pool(ranked, 3, "strong_to_weak") == ("m0", "m2", "m1")  # ranks 0, 2, 4
    ps, notes = pools.pools_for(ranked, "easy")
    assert [p.name for p in ps] == ["easy/3/all_strong", "easy/3/all_weak", "easy/3/strong_to_weak",
                                    "easy/5/all_strong", "easy/5/all_weak", "easy/5/strong_to_weak"]
    assert notes == ["easy-5: the source has exactly 5 models, so the three groups coincide"]
    _, notes = pools.pools_for(ranked, "hard")
    assert notes[0] == "hard-10 skipped: it needs 10 candidate models, the source has 5"
    assert pools.leaderboard(np.ones((2, 2)), ["b", "a"])["model"].tolist() == ["a", "b"]  # ties by name


def test_split_is_routereval_80_10_10_within_each_dataset():
    q = pd.DataFrame({"query_id": [f"q{i}" for i in range(30)], "dataset": ["a"] * 10 + ["b"] * 20,
                      "split": [None] * 30})
    s = pools.assign_split(q, seed=42)["split"]
    assert s[:10].value_counts().to_dict() == {"train": 8, "validation": 1, "test": 1}
    assert s[10:].value_counts().to_dict() == {"train": 16, "validation": 2, "test": 2}
    tr, va, te = routereval_split(30, 42, groups=q["dataset"].to_numpy())
    assert set(np.flatnonzero(s == "test")) == set(te) and set(np.flatnonzero(s == "train")) == set(tr)
    assert s.tolist() == pools.assign_split(q, seed=42)["split"].tolist()  # fixed seed: same split


# --- K-model routers -------------------------------------------------------------------------------


def synthetic(n=6000, M=4, d=8, seed=0):
    """Four query clusters; in cluster z model z is right 90 % of the time, the others 30 %."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(M, d))
    z = rng.integers(0, M, n)
    X = (centers[z] + rng.normal(size=(n, d))).astype(np.float32)
    p = np.full((M, M), 0.3)
    np.fill_diagonal(p, 0.9)
    Y = (rng.random((n, M)) < p[z]).astype(np.float32)
    return [f"q{i}" for i in range(n)], X, Y


@pytest.fixture(scope="module")
def routed():
    ids, X, Y = synthetic()
    tr, te = np.arange(4000), np.arange(4000, 6000)
    data = lambda rows: RoutingData(ids=[ids[i] for i in rows], embeddings=X[rows])  # noqa: E731
    out = {}
    for kind, params in [("oracle", {}), ("random", {}), ("r_o", {"p": 0.5}), ("knn", {"k": 10}), ("linear", {}),
                         ("mlp", {}), ("cluster", {"n_clusters": 4}), ("multilabel", {})]:
        r = make_kmodel_router(kind, **params).fit(data(tr), Y[tr])
        q = r.predict_proba(data(te), Y[te] if r.needs_true_scores else None)
        out[kind] = (r, q, r.predict(data(te), Y[te] if r.needs_true_scores else None))
    return ids, X, Y, te, data, out


def test_oracle_is_an_upper_bound(routed):
    _, _, Y, te, _, out = routed
    Yt = Y[te]
    mu = {k: Yt[np.arange(te.size), sel].mean() for k, (_, _, sel) in out.items()}
    assert mu["oracle"] == pytest.approx(Yt.max(axis=1).mean())
    assert all(mu["oracle"] >= v for v in mu.values())
    assert mu["oracle"] >= Yt.mean(axis=0).max()


def test_random_sits_at_the_mean_of_the_model_means(routed):
    _, _, Y, te, data, out = routed
    Yt = Y[te]
    sel = out["random"][2]
    mu = Yt[np.arange(te.size), sel].mean()
    # E[mu] = mean_j mean_i Y_ij for a uniform pick independent of the scores; SE <= 0.5 / sqrt(n)
    assert abs(mu - Yt.mean(axis=0).mean()) < 4 * 0.5 / math.sqrt(te.size)
    shares = np.bincount(sel, minlength=4) / te.size
    assert np.abs(shares - 0.25).max() < 4 * math.sqrt(0.25 * 0.75 / te.size)
    # a query's pick does not depend on which other queries are routed with it
    assert (out["random"][0].predict(data(te[:50])) == sel[:50]).all()
    # r_o(p): the oracle's pick with probability p, else the random pick: E[mu] = p * oracle + (1 - p) * random
    r_o = Yt[np.arange(te.size), out["r_o"][2]].mean()
    expected = 0.5 * Yt.max(axis=1).mean() + 0.5 * Yt.mean(axis=0).mean()
    assert abs(r_o - expected) < 4 * 0.5 / math.sqrt(te.size)


def test_r_o_endpoints_are_oracle_and_random(routed):
    ids, X, Y, te, data, out = routed
    tr = np.arange(4000)
    for p, ref in ((1.0, "oracle"), (0.0, "random")):
        r = make_kmodel_router("r_o", p=p).fit(data(tr), Y[tr])
        np.testing.assert_array_equal(r.predict(data(te), Y[te]), out[ref][2])


@pytest.mark.parametrize("kind", ["knn", "linear", "mlp", "cluster", "multilabel"])
def test_learned_routers_beat_the_best_single_model(routed, kind):
    _, _, Y, te, _, out = routed
    Yt = Y[te]
    r, q, sel = out[kind]
    np.testing.assert_allclose(q.sum(axis=1), 1.0)
    assert (q >= 0).all()
    # best single model ~0.45, a router that finds each cluster's model ~0.9
    assert Yt[np.arange(te.size), sel].mean() > Yt.mean(axis=0).max() + 0.3


@pytest.mark.parametrize("kind", ["oracle", "random", "r_o", "knn", "linear", "mlp", "cluster", "multilabel"])
def test_kmodel_router_save_load_round_trip(routed, kind, tmp_path):
    _, _, Y, te, data, out = routed
    r, q, _ = out[kind]
    r.save(tmp_path / "r.joblib")
    again = Router.load(tmp_path / "r.joblib")
    truth = Y[te] if again.needs_true_scores else None
    np.testing.assert_array_equal(again.predict_proba(data(te), truth), q)


def test_ties_go_to_the_cheaper_model_and_reference_routers_need_truth():
    data = RoutingData(ids=["a", "b"], embeddings=np.zeros((2, 2), np.float32))
    Y = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    r = make_kmodel_router("oracle").fit(data, Y, costs=[2.0, 1.0, 3.0])
    assert r.predict(data, Y).tolist() == [1, 1]
    r = make_kmodel_router("oracle").fit(data, Y, costs=[0.5, 1.0, 0.1])
    assert r.predict(data, Y).tolist() == [0, 2]
    with pytest.raises(ValueError, match="reads each query's true scores"):
        r.predict_proba(data)
    with pytest.raises(ValueError, match="at least 2 candidate models"):
        make_kmodel_router("knn").fit(data, Y[:, :1])
    with pytest.raises(ValueError, match="contain NaN"):
        make_kmodel_router("linear").fit(data, np.where(Y == 0, np.nan, Y))
    with pytest.raises(ValueError, match="needs features 'embeddings'"):
        make_kmodel_router("knn").fit(RoutingData(ids=["a", "b"]), Y)


def test_one_registry_two_tasks_and_custom_routers():
    from routerlab.kmodel.routers import BUILTIN, KModelRouter

    assert sorted(KMODEL_ROUTERS) == sorted(BUILTIN)
    assert "knn" not in BINARY_ROUTERS and BINARY_ROUTERS["random"].task == "binary"  # binary routers untouched
    with pytest.raises(ValueError, match="'knn' is a kmodel router: list it under kmodel.routers"):
        make_router("knn")
    with pytest.raises(ValueError, match="'mean_probe' is a binary router: list it under routers"):
        make_kmodel_router("mean_probe")

    class FirstModel(KModelRouter):
        name = "first_model"
        requires = ()

        def _predict_scores(self, data):
            s = np.zeros((len(data), self.n_models_))
            s[:, 0] = 1.0
            return s

    KMODEL_ROUTERS.register(FirstModel)
    try:
        data = RoutingData(ids=["a", "b", "c"])
        r = make_kmodel_router("first_model").fit(data, np.eye(3))
        assert r.predict(data).tolist() == [0, 0, 0]
        with pytest.raises(ValueError, match="already registered"):
            KMODEL_ROUTERS.register(type("Other", (KModelRouter,), {"name": "first_model"}))
    finally:
        KMODEL_ROUTERS.pop("first_model")


# --- R2-Router ---------------------------------------------------------------------------------------


def r2_data(n=400, seed=0):
    """Two categories told apart by feature 0; quality depends only on the category (noise within it),
    output tokens grow with feature 1 (a real signal for the token predictors)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    cat = np.where(X[:, 0] > 0, "math", "code")
    X[:, 0] += np.where(cat == "math", 2.0, -2.0)
    p = {"math": [0.2, 0.5, 0.9], "code": [0.3, 0.9, 0.4]}  # cheap, mid, pricey
    Y = (rng.random((n, 3)) < np.array([p[c] for c in cat])).astype(float)
    base = np.array([100.0, 200.0, 400.0])
    T = np.round(base[None, :] * (1.0 + 0.3 * np.tanh(X[:, [1]])) + rng.normal(scale=2.0, size=(n, 3)))
    cands = [Candidate(m, m) for m in ("cheap", "mid", "pricey")]
    return X, cat, Y, T, cands


@pytest.fixture(scope="module")
def r2():
    X, cat, Y, T, cands = r2_data()
    router = R2Router(trust_r2=0.2, min_rows=8).fit(X[:300], cat[:300], Y[:300], T[:300], cands, usage_kind="tokens",
                                                    price_out={"cheap": 1.0, "mid": 2.0, "pricey": 10.0})
    return router, X, cat, Y, T, cands


def test_r2_shrinks_noise_to_category_means_and_keeps_real_fits(r2):
    router, X, cat, Y, T, cands = r2
    m = pd.DataFrame(router.metrics_)
    quality, tokens = m[m.target == "quality"], m[m.target == "log1p tokens"]
    assert (quality.weight == 0.0).all()  # quality is pure noise within a category: CV R^2 <= 0
    assert (tokens.weight == 1.0).all() and (tokens.cv_r2 > 0.5).all()  # tokens follow feature 1
    q, cost = router.predict(X[300:], cat[300:])
    for c in ("math", "code"):
        rows = cat[300:] == c
        means = [Y[:300][cat[:300] == c, j].mean() for j in range(3)]
        np.testing.assert_allclose(q[rows], np.tile(means, (rows.sum(), 1)))  # exactly the category means
    # predicted cost = predicted tokens x output price; tokens track the truth closely
    tok = cost / np.array([1.0, 2.0, 10.0]) * 1e6
    assert np.median(np.abs(tok - T[300:]) / T[300:]) < 0.05
    assert router.classifier_cv_["mean_accuracy"] > 0.95


def test_r2_lambda_trades_quality_for_cost(r2):
    router, X, cat, *_ = r2
    best_quality = router.route(X[300:], 0.0)
    expected = np.where(cat[300:] == "math", 2, 1)  # math -> pricey, code -> mid
    assert (best_quality == expected).mean() > 0.95  # category classifier errors only
    assert (router.route(X[300:], 1.0) == 0).all()  # pure cost: the cheapest model
    # a small weight on cost keeps quality; at 1 - 1e-4 cost dominates (quality gaps ~0.5, cost gaps ~4e-3 $)
    assert (router.route(X[300:], 0.5) == best_quality).all()


def test_r2_min_rows_falls_back_to_the_category_mean():
    X, cat, Y, T, cands = r2_data(n=60)
    cat = np.where(np.arange(60) < 5, "rare", cat)
    router = R2Router(min_rows=8).fit(X, cat, Y, T, cands, usage_kind="cost")
    rare = [r for r in router.metrics_ if r["category"] == "rare"]
    assert all(r["weight"] == 0.0 and "min_rows" in r["reason"] for r in rare)


def test_r2_bundle_layout_round_trip_and_errors(r2, tmp_path):
    router, X, cat, *_ = r2
    bundle = tmp_path / "category_router"
    router.save(bundle, split={"train": ["a"], "test": ["b"]}, routing_results={"sweep": []})
    for f in ("classifier.joblib", "classifier_cv_results.json", "category_means.pkl", "predictor_metrics.pkl",
              "predictor_results.json", "routing_results.json", "train_test_split.pkl", "manifest.json"):
        assert (bundle / f).is_file(), f
    for c in ("math", "code"):
        d = bundle / "predictors" / c
        assert sorted(p.name for p in d.glob("*_quality.joblib")) == [f"{m}_quality.joblib" for m in
                                                                     ("cheap", "mid", "pricey")]
        assert len(list(d.glob("*_quality_meta.json"))) == 3 and len(list(d.glob("*_token.joblib"))) == 3
    again = R2Router.load(bundle)
    for lam in (0.0, 0.999, 1.0):
        np.testing.assert_array_equal(again.route(X[300:], lam), router.route(X[300:], lam))

    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["versions"]["scikit-learn"] = "0.24.2"
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    target = "results/kmodel/arena/r2router/category_router"
    with pytest.raises(CheckpointError) as e:
        R2Router.load(bundle, retrain_target=target)
    msg = str(e.value)
    assert "scikit-learn 0.24.2" in msg and f"snakemake --cores 2 {target} --forcerun kmodel_r2router_train" in msg
    assert "R2_CHECKPOINT_DIR" in msg

    router.save(bundle, split={}, routing_results={})
    (bundle / "predictors" / "math" / "mid_quality.joblib").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match=r"math/mid_quality\.joblib: cannot load .* retrain it from data"):
        R2Router.load(bundle)
    (bundle / "manifest.json").unlink()
    with pytest.raises(CheckpointError, match="no manifest.json"):
        R2Router.load(bundle)
    with pytest.raises(CheckpointError, match="no R2-Router checkpoint directory"):
        R2Router.load(tmp_path / "nowhere")
    with pytest.raises(CheckpointError, match=r"candidates \['cheap', 'mid', 'pricey'\] != the data's \['cheap'\]"):
        router.check_compatible([Candidate("cheap", "cheap")], "tokens", 6, bundle)


def test_checkpoint_dir_from_config_then_environment(monkeypatch):
    monkeypatch.delenv("R2_CHECKPOINT_DIR", raising=False)
    assert resolve_checkpoint_dir(None, "arena") is None
    monkeypatch.setenv("R2_CHECKPOINT_DIR", "/ckpt/{source}/category_router")
    assert resolve_checkpoint_dir(None, "arena") == Path("/ckpt/arena/category_router")
    assert resolve_checkpoint_dir("/mine", "arena") == Path("/mine")


# --- end to end: sources -> tables ----------------------------------------------------------------------

ROUTERS = {"knn": {"params": {"k": 5}}, "linear": {}, "mlp": {"params": {"epochs": 5}}, "oracle": {}, "random": {},
           "r_o": {"params": {"p": 0.5}}, "cluster": {}, "multilabel": {"params": {"epochs": 5}}}
LAMBDAS = [0.0, 0.5, 0.9, 0.99, 0.999, 1.0]


def build_tables(name, out, X, tmp_path, prices=None, sizes=None):
    """The package path the workflow takes: evaluate -> R2 train/save/load/route -> tables."""
    src = ev.Source(name, out, X)
    paths = {}
    for diff in ("easy", "hard"):
        res, sel = ev.evaluate_routereval(src, diff, ROUTERS, sizes=(sizes or {}).get(diff))
        paths[diff] = tmp_path / f"{diff}.json"
        paths[diff].write_text(json.dumps(res, default=float))
    kind, why = ev.usage_mode(out, prices or {})
    router, split, val = ev.train_r2(src, prices or {}, {}, LAMBDAS)
    router.save(tmp_path / "category_router", split=split, routing_results=val)
    loaded = R2Router.load(tmp_path / "category_router")
    cost = ev.evaluate_cost(src, ROUTERS, loaded, prices or {}, LAMBDAS, usage_reason=why)
    paths["r2"] = tmp_path / "r2.json"
    paths["r2"].write_text(json.dumps(cost, default=float))
    for diff in ("easy", "hard"):
        df, notes = tables.routereval_table([paths[diff]])
        tables.write(df, notes, diff, tmp_path / f"routereval_{diff}.md", tmp_path / f"routereval_{diff}.csv")
    df, notes = tables.r2router_table([paths["r2"]])
    tables.write(df, notes, "r2", tmp_path / "r2router.md", tmp_path / "r2router.csv")
    tables.plot_accuracy_cost([paths["r2"]], tmp_path / "plot.png")
    return src, {k: json.loads(p.read_text()) for k, p in paths.items()}


def check_reference_rows(src, results):
    """Oracle >= every single model and every router; random within 4 SE of the mean of model means."""
    Y_all = src.outcomes.matrix("score")
    te = src.positions("test")
    for diff in ("easy", "hard"):
        for r in results[diff]["rows"]:
            assert r["oracle"] >= r["best_single_test_mean"] - 1e-12
            assert r["mu"] <= r["oracle"] + 1e-12
            if r["router"] == "oracle":
                assert r["mu"] == pytest.approx(r["oracle"]) and r["ep"] == 0.0
            if r["router"] == "random":
                pool = next(p for p in results[diff]["pools"] if p["pool"] == r["pool"])
                cols = [src.outcomes.models.index(m) for m in pool["models"]]
                expected = Y_all[te][:, cols].mean()
                assert abs(r["mu"] - expected) < 4 * 0.5 / math.sqrt(len(te)) + 1e-9
    rows = {r["router"]: r for r in results["r2"]["rows"]}
    singles = [r for r in results["r2"]["rows"] if r["kind"] == "single"]
    for s in singles:
        j = src.outcomes.models.index(s["router"])
        assert s["accuracy"] == pytest.approx(Y_all[te, j].mean())
        assert rows["oracle"]["accuracy"] >= s["accuracy"]
    lam1 = rows["r2router λ=1"]
    assert lam1["cost_per_1k"] <= min(s["cost_per_1k"] for s in singles) * 1.0001


@pytest.mark.shared_data
def test_imported_routerbench_builds_the_tables_end_to_end(shared_data, tmp_path):
    files = [shared_data / "routerbench_outcomes" / "routerbench_zs" / f for f in ("mbpp_train.csv",
                                                                                    "winograde_train.csv")]
    out = read_source("routerbench", files)
    out.queries = pools.assign_split(out.queries, 42)
    assert len(out.models) == 11 and len(out.queries) == 299 + 887
    X = features.build(out.queries, "tfidf", dim=64)
    src, results = build_tables("routerbench", out, X, tmp_path)
    check_reference_rows(src, results)
    easy = pd.read_csv(tmp_path / "routereval_easy.csv")
    assert set(easy.pool) == {"easy-3", "easy-5"} and set(easy.group) >= {"mean", "all_strong", "all_weak",
                                                                         "strong_to_weak"}
    hard = (tmp_path / "routereval_hard.md").read_text()
    assert "| hard-100 | – | skipped: it needs 100 candidate models, the source has 11 |" in hard
    assert results["r2"]["usage"] == "cost"  # RouterBench has costs, no token counts
    assert "r2router (λ* on validation" in (tmp_path / "r2router.md").read_text()
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fixture_sources_build_the_tables(tmp_path):
    """RouterArena fixture (tokens + prices -> token predictors) through every table, tiny pools."""
    out = read_source("routerarena", ARENA)
    out.queries = out.queries.assign(split=["train", "train", "validation", "test", "test"])
    X = features.build(out.queries, "tfidf", dim=4)
    prices = {"cheap-model": {"input": 0.1, "output": 0.4}, "pricey-model": {"input": 1.0, "output": 5.0}}
    src, results = build_tables("arena", out, X, tmp_path, prices, sizes={"easy": [2, 3], "hard": [10]})
    assert results["r2"]["usage"] == "tokens"
    check_reference_rows(src, results)
    md = (tmp_path / "routereval_easy.md").read_text()
    assert "| easy-3 | – | skipped: it needs 3 candidate models, the source has 2 |" in md


# --- workflow: config checks and the DAG of an import-only run (dry runs) ----------------------------------


def _dry_run(wd, cfg, *targets, replace=True):
    (wd / "c.yaml").write_text(yaml.safe_dump(cfg))
    flags = ["--replace-workflow-config"] if replace else []  # an overlay merges into config/config.yaml
    # targets before --configfile, which takes every following argument as a config file
    return subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "2", *targets, "--configfile",
                           "c.yaml", *flags], cwd=wd, capture_output=True, text=True, timeout=300)


@pytest.fixture
def project(tmp_path):
    wd = tmp_path / "p"
    wd.mkdir()
    for name in ("Snakefile", "config", "workflow", "profiles", "envs"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, wd / name)
    return wd


# The dev copies' paths for config/routereval.yaml (the shipped file points at the public files' layout).
ROUTEREVAL_DEV = ROOT / "tests" / "configs" / "routereval-dev.yaml"


@pytest.mark.shared_data
def test_routereval_config_dry_run_imports_only(project, shared_data):
    cfg = yaml.safe_load((project / "config" / "routereval.yaml").read_text())
    dev = yaml.safe_load(ROUTEREVAL_DEV.read_text())["kmodel"]["imports"]
    assert sorted(dev) == sorted(cfg["kmodel"]["imports"]), "the dev overlay must cover every shipped source"
    for name, spec in cfg["kmodel"]["imports"].items():  # the paths a user gives, here the dev overlay's
        spec["paths"] = [str(shared_data / Path(p).relative_to("../shared/data")) for p in dev[name]["paths"]]
    proc = _dry_run(project, cfg, "results/tables/routereval_easy.md", "results/tables/routereval_hard.md",
                    "results/tables/r2router.md", replace=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = proc.stdout
    assert "rule generate" not in text and "rule kmodel_outcomes" in text
    n_sources = len(cfg["kmodel"]["imports"])
    assert text.count("rule kmodel_outcomes:") == n_sources and text.count("rule kmodel_r2router_route:") == n_sources


def test_shipped_routereval_config_names_the_key_and_the_download(project):
    """Without the public files, the shipped overlay stops before any job, naming the config key,
    the path and where the files come from; it never points outside the project."""
    text = (project / "config" / "routereval.yaml").read_text()
    assert "../" not in text and "shared/" not in text
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "2", "results/tables/r2router.md",
                           "--configfile", "config/routereval.yaml"], cwd=project, capture_output=True, text=True,
                          timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "kmodel.imports.routerbench.paths: 'data/RouterDC/datasets/routerbench_zs/*.csv' matches no file" in out
    assert "download the routerbench outcome files or point it at your copy" in out
    assert "https://github.com/shuhao02/RouterDC" in out
    assert not (project / "results").exists()


@pytest.mark.parametrize("patch,expected", [
    ({"pool": ["smollm2-135m", "ghost"]}, "kmodel.pool: model 'ghost' is not a key of models"),
    ({"routers": {"x": {"kind": "nope"}}}, "kmodel.routers.x: unknown kmodel router 'nope'"),
    ({"imports": {"rb": {"format": "routerbench", "paths": ["missing/*.csv"]}}},
     "kmodel.imports.rb.paths: 'missing/*.csv' matches no file"),
    ({"prices": {}}, "kmodel.prices: no price for pool model(s)"),
    ({"r2router": {"params": {"trust_r2": 0}}}, "kmodel.r2router.params: trust_r2 must be > 0"),
])
def test_bad_kmodel_config_fails_before_any_job(project, patch, expected):
    cfg = yaml.safe_load((project / "config" / "config.yaml").read_text())
    cfg["kmodel"].update(patch)
    proc = _dry_run(project, cfg)
    assert proc.returncode != 0 and expected in proc.stdout + proc.stderr
    assert not (project / "results").exists()


def test_config_resolution_of_sources():
    from routerlab.kmodel.config import resolve

    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    k = resolve(cfg)
    assert list(k["sources"]) == ["pipeline"]
    assert k["sources"]["pipeline"]["models"] == sorted(cfg["kmodel"]["pool"])
    assert k["sources"]["pipeline"]["features"] == "embeddings"
    assert resolve({k2: v for k2, v in cfg.items() if k2 != "kmodel"}) is None
    cfg["kmodel"]["imports"] = {"pipeline": {"format": "long", "paths": [str(LONG)]}}
    with pytest.raises(ConfigError, match="kmodel.imports.pipeline: name reserved"):
        resolve(cfg)
