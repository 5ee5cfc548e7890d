"""The leaderboard: bootstrap statistics, both families on a source with a known answer, leakage,
published-number checks, and the workflow rules on a small long-format table."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from routerlab.kmodel.evaluate import Source
from routerlab.kmodel.outcomes import Outcomes
from routerlab.leaderboard import reproduce
from routerlab.leaderboard.board import binary_board, default_pair, kmodel_board
from routerlab.leaderboard.leakage import leakage_report, normalise_text
from routerlab.leaderboard.run import evaluate_source
from routerlab.leaderboard.stats import mean_estimate, paired_mean_test, paired_test_from, resample_indices

ROOT = Path(__file__).resolve().parents[1]
CHEAP = {"knn": {"kind": "knn", "params": {"k": 5}}, "cluster": {"kind": "cluster", "params": {}}}
CASCADE = {"cascade": {"kind": "cascade", "params": {"threshold": 0.5}}}


# --- statistics --------------------------------------------------------------------------------


def test_resamples_and_mean_interval_hand_checked():
    idx = np.array([[0, 0, 1], [2, 2, 2], [1, 2, 0]])
    e = mean_estimate(np.array([0.0, 1.0, 1.0]), idx)
    # resample means: 1/3, 1, 2/3 -> percentile 2.5 / 97.5 by linear interpolation
    assert e.value == pytest.approx(2 / 3)
    assert e.lo == pytest.approx(np.percentile([1 / 3, 1, 2 / 3], 2.5))
    assert e.hi == pytest.approx(np.percentile([1 / 3, 1, 2 / 3], 97.5))
    assert resample_indices(5, 7, 0).shape == (7, 5)
    with pytest.raises(ValueError, match="at least one query"):
        resample_indices(0, 10, 0)


def test_paired_test_p_value_is_the_corrected_share_of_non_improvements():
    t = paired_test_from(0.1, np.array([0.2, -0.1, 0.0, 0.3]))
    assert t.diff == 0.1 and t.p == pytest.approx((2 + 1) / (4 + 1))
    a, b = np.ones(50), np.zeros(50)
    t = paired_mean_test(a, b, resample_indices(50, 99, 1))
    assert t.diff == 1.0 and t.p == pytest.approx(1 / 100) and t.lo == t.hi == 1.0


# --- a source where each query cluster has one best model ---------------------------------------------


def clustered_source(n: int = 300, seed: int = 0, name: str = "syn") -> Source:
    rng = np.random.default_rng(seed)
    clusters = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 6)) + 4 * np.eye(6)[clusters]
    models, costs = ["m-a", "m-b", "m-c"], [0.001, 0.01, 0.1]
    rows = [{"query_id": f"q{i}", "model": m, "score": float(rng.random() < (0.9 if j == clusters[i] else 0.2)),
             "prompt_tokens": 10.0, "completion_tokens": 5.0, "cost": costs[j]}
            for i in range(n) for j, m in enumerate(models)]
    split = np.array(["train"] * 6 + ["validation"] + ["test"] * 3)[np.arange(n) % 10]
    q = pd.DataFrame({"query_id": [f"q{i}" for i in range(n)], "dataset": "syn", "category": "c",
                      "prompt": [f"question number {i}" for i in range(n)], "split": split})
    return Source(name, Outcomes(pd.DataFrame(rows), q), X)


@pytest.fixture(scope="module")
def source():
    return clustered_source()


def test_kmodel_family_routers_beat_random_and_oracle_beats_them(source):
    board, picks = kmodel_board(source, CHEAP, n_boot=300, seed=0)
    rows = board.set_index("router")
    te = source.positions("test")
    Y = source.outcomes.matrix("score")[te]
    # references, hand-computed
    assert rows.loc["oracle", "score"] == pytest.approx(Y.max(axis=1).mean())
    assert rows.loc["random", "score"] == pytest.approx(Y.mean())
    for j, m in enumerate(source.outcomes.models):
        assert rows.loc[m, "score"] == pytest.approx(Y[:, j].mean())
    for r in ("knn", "cluster"):
        assert rows.loc[r, "score"] > rows.loc["random", "score"] + 0.2
        assert rows.loc[r, "vs_random_p"] < 0.01 and rows.loc[r, "vs_best_single_p"] < 0.01
        assert rows.loc[r, "score_lo"] <= rows.loc[r, "score"] <= rows.loc[r, "score_hi"]
        assert rows.loc["oracle", "score"] >= rows.loc[r, "score"]
    assert rows.loc["oracle", "rank"] == 1
    # cost and arena score of a single model, by hand: m-b costs 0.01 per query -> 10 per 1k
    from routerlab.kmodel.cost import arena_score

    assert rows.loc["m-b", "cost_per_1k"] == pytest.approx(10.0)
    assert rows.loc["m-b", "arena_score"] == pytest.approx(arena_score(Y[:, 1].mean(), 10.0, 0.1))
    assert math.isnan(rows.loc["random", "arena_score"])
    # LLMRouterBench on one dataset: AvgAcc = the score; Gain@R against the expected random pick
    knn = rows.loc["knn"]
    assert knn["avg_acc"] == pytest.approx(knn["score"])
    assert knn["gain_random"] == pytest.approx(knn["score"] / Y.mean() - 1)
    assert knn["gap_oracle"] == pytest.approx(1 - knn["score"] / Y.max(axis=1).mean())
    assert knn["vb"] == pytest.approx(knn["score"] / Y.mean(axis=0).max())
    # a cascade pays for every model it called (RouterBench), not only the one it ends at
    board_c, _ = kmodel_board(source, CASCADE, n_boot=10, seed=0)
    from routerlab.kmodel.routers import make_router

    r = make_router("cascade", threshold=0.5).fit(source.data(source.positions("train")),
                                                  source.outcomes.matrix("score")[source.positions("train")],
                                                  costs=np.array([0.001, 0.01, 0.1]))
    end, called = r.cascade(source.data(te))
    cascade_row = board_c.set_index("router").loc["cascade"]
    assert cascade_row["cost_per_1k"] == pytest.approx((called @ np.array([0.001, 0.01, 0.1])).mean() * 1000)
    assert cascade_row["cost_per_1k"] > np.array([0.001, 0.01, 0.1])[end].mean() * 1000  # some queries called 2+
    # picks reproduce the scores
    knn = picks[picks.router == "knn"]
    assert len(knn) == te.size and knn["score"].mean() == pytest.approx(rows.loc["knn", "score"])


def test_binary_family_apgr_random_half_oracle_top(source):
    weak, strong = default_pair(source)
    board = binary_board(source, weak, strong, CHEAP, {"embedding_mlp": {"params": {"max_iter": 200}}},
                         n_boot=50, seed=0)
    rows = board.set_index("router")
    assert rows.loc["random", "apgr"] == pytest.approx(0.5)
    assert rows.loc["oracle", "rank"] == 1
    assert rows.loc["knn", "apgr"] > 0.6 and rows.loc["knn", "vs_random_p"] < 0.05
    assert "embedding_mlp (binary)" in rows.index
    assert math.isnan(rows.loc["knn", "vs_best_single_diff"])  # n/a in this family
    # operating points: a 50 % budget chosen on validation lands near 50 % on test; the oracle's
    # 90 %-recall point escalates exactly the queries the strong model wins, so its recall is 1 on test too
    assert 0.3 < rows.loc["knn", "op_budget_0.5_call_rate"] < 0.7
    assert rows.loc["oracle", "op_recall_0.9_recall"] == 1.0
    assert rows.loc["oracle", "op_budget_0.5_performance"] >= rows.loc["knn", "op_budget_0.5_performance"]
    with pytest.raises(ValueError, match="weak and strong are the same model"):
        binary_board(source, weak, weak, CHEAP, {}, n_boot=0)
    with pytest.raises(ValueError, match="'nope' is not one of its models"):
        binary_board(source, "nope", strong, CHEAP, {}, n_boot=0)


def test_default_pair_strong_best_weak_cheapest(source):
    weak, strong = default_pair(source)
    tr = source.positions("train")
    means = source.outcomes.matrix("score")[tr].mean(axis=0)
    assert strong == source.outcomes.models[int(np.argmax(means))]
    assert weak == next(m for m in ("m-a", "m-b", "m-c") if m != strong)  # costs rise a -> c


# --- leakage -------------------------------------------------------------------------------------


def test_leakage_exact_after_normalisation_and_near_by_text_cosine():
    train = ["What is 2 + 2?", "Name the capital of France.",
             "A farmer has 17 sheep and all but 9 run away; how many sheep does the farmer have left now"]
    test = ["what is 2+2", "WHAT IS 2 + 2 ?!", "name the capital of france", "Something else entirely",
            "A farmer has 17 sheep and all but 9 run away; how many sheep does the farmer have left today"]
    assert normalise_text("  WHAT is 2 + 2?! ") == "what is 2 2"
    from routerlab.leaderboard.leakage import text_similarity

    sim = text_similarity([normalise_text(t) for t in train], [normalise_text(t) for t in test])
    assert sim[3] == 0.0 and 0.9 < sim[4] < 1.0  # one word of nineteen changed
    rep = leakage_report(train, test, threshold=0.9)
    assert rep["exact"] == 3 and rep["exact_rows"] == [0, 1, 2]
    assert rep["near"] == 1 and rep["near_rows"] == [4] and rep["leaked_share"] == pytest.approx(4 / 5)
    assert leakage_report(train, test, threshold=1.0)["near"] == 0
    with pytest.raises(ValueError, match="threshold"):
        leakage_report(train, test, threshold=1.5)


# --- published numbers ---------------------------------------------------------------------------


def test_routellm_commercial_router_scores_reproduce():
    checks = {c.figure.split(" (")[0]: c for c in reproduce.routellm_commercial_checks()}
    martian, unify = checks["MT-bench score of martian"], checks["MT-bench score of unify"]
    assert (martian.status, martian.our_n) == ("pass", 160) and martian.ours == pytest.approx(8.3125)
    # one judge failure (-1) dropped: 159 ratings, 8.757862 as published
    assert (unify.status, unify.our_n) == ("pass", 159) and unify.ours == pytest.approx(8.757862, abs=5e-7)
    assert reproduce.fastchat_mean(pd.Series([10, -1, 8]))[0] == 9.0


def test_check_status_rules():
    assert reproduce.Check("f", "s", 1.0, 100, 1.004, 100, 0.01).status == "pass"
    assert reproduce.Check("f", "s", 1.0, 100, 1.02, 100, 0.01).status == "fail"
    assert reproduce.Check("f", "s", 1.0, 100, 1.0, 90, 0.01).status == "n differs: not comparable"
    assert reproduce.Check("f", "s", 1.0, None, math.nan, 5, 0.01).status == "fail"


def test_random_ep_and_routerarena_cost_checks(source):
    ep = reproduce.random_ep_check("syn", source.outcomes)
    assert ep.status == "pass" and ep.published == pytest.approx(math.log2(3))
    out = source.outcomes
    prices = {"m-a": {"input": 10.0, "output": 160.0}, "m-b": {"input": 0.0, "output": 0.0}}
    checks = {c.figure: c for c in reproduce.routerarena_cost_checks("syn", out, prices)}
    # m-a: 10 prompt x 10/1M + 5 completion x 160/1M = 0.0009 per query vs cached 0.001: 10 % off -> fail
    a = checks["syn: total inference cost of m-a (USD)"]
    assert a.ours == pytest.approx(0.0009 * 300) and a.status == "fail"
    assert checks["syn: total inference cost of m-c (USD)"].status == "source not available"


def test_evaluate_source_result_is_complete_and_warns_on_leakage(source, caplog):
    src = clustered_source(200, seed=1, name="dup")
    q = src.outcomes.queries
    te = src.positions("test")
    q["prompt"] = [f"{p} about subject {i * 7919 % 1000}" for i, p in enumerate(q["prompt"])]
    q.loc[te[0], "prompt"] = q.loc[src.positions("train")[0], "prompt"].upper()  # an exact leak
    res, _ = evaluate_source(src, {"routers": CHEAP, "binary_routers": {}, "n_boot": 50, "n_boot_binary": 20})
    fams = {r["family"] for r in res["rows"]}
    assert fams == {"kmodel", "binary"} and res["leakage"]["exact"] == 1
    assert "1 exact" in caplog.text
    res, _ = evaluate_source(src, {"routers": CHEAP, "pair": False, "n_boot": 10})
    assert {r["family"] for r in res["rows"]} == {"kmodel"}


# --- the workflow rules ----------------------------------------------------------------------------


def test_leaderboard_and_reproduce_tables_from_the_workflow(tmp_path):
    """A long-format outcome table through kmodel_outcomes -> features -> leaderboard_source -> tables."""
    src = clustered_source(240, seed=2)
    long = src.outcomes.table.merge(src.outcomes.queries, on="query_id")
    # the text carries the cluster (tf-idf features are all the workflow's routers see)
    topic = {f"q{i}": ["alpha", "beta", "gamma"][c] for i, c in enumerate(np.argmax(src.X[:, :3], axis=1))}
    long["prompt"] = [f"{topic[qid]} {topic[qid]} question {qid}" for qid in long["query_id"]]
    long.to_csv(tmp_path / "outcomes.csv", index=False)

    cfg = {"kmodel": {"pool": [], "imports": {"syn": {"format": "long", "paths": [str(tmp_path / "outcomes.csv")],
                                                       "features": "tfidf"}}, "feature_dim": 8},
           "leaderboard": {"sources": ["syn"], "routers": {"knn": {"params": {"k": 5}}}, "binary_routers": {},
                           "n_boot": 100, "n_boot_binary": 20}}
    for name in ("Snakefile", "config", "workflow", "envs"):
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, tmp_path / name)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    targets = ["results/tables/leaderboard.md", "results/tables/reproduce.md"]
    # an overlay on config/config.yaml; targets before --configfile, which reads every later argument
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", *targets, "--configfile", "c.yaml"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    md = (tmp_path / "results/tables/leaderboard.md").read_text()
    board = pd.read_csv(tmp_path / "results/tables/leaderboard_kmodel.csv").set_index("router")
    assert board.loc["oracle", "rank"] == 1 and board.loc["knn", "score"] > board.loc["random", "score"]
    assert "| syn | kmodel | oracle | 1 |" in md and "| syn | binary | random |" in md
    rep = pd.read_csv(tmp_path / "results/tables/reproduce.csv")
    assert set(rep["status"]) == {"pass"} and len(rep) == 3  # Martian, Unify, random E_p
