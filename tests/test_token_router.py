"""Token-level router (R2R): labels, features, classifier, threshold and the usage diagnosis.

Hand-made cases first (pure numpy / torch, fast), then real-model checks with SmolLM2-135M
(``tiny_model_dir``) as both weak and strong model:
- greedy continuation of the weak model itself => every label is 0 (a labeller that
  compared the wrong positions would not give that);
- sampled continuations => non-trivial labels that must equal a per-token loop's.

The workflow part runs through ``.test/config.yaml`` in tests/test_workflow.py: that
config's top-level pair (SmolLM2 weak, Qwen-Coder strong) does not share a tokenizer, and
the default config's `token_router` section is merged into every run, so .test sets
`token_router` explicitly (SmolLM2 for both, the strong side sampled) and the tiny run
builds results/tables/token_router.md like every other table. Here, the package entry
points that the rules call are run end to end on a temporary directory.
"""

import math

import numpy as np
import pandas as pd
import pytest
from conftest import written

from routerlab.core.errors import ConfigError
from routerlab.token.config import resolve as resolve_token_config
from routerlab.token.labels import (
    TokenSet,
    check_shared_tokenizer,
    final_answer_differs,
    token_table,
    write_token_tables,
)
from routerlab.token.metrics import token_threshold_search
from routerlab.token.router import (
    TokenRouter,
    diagnose,
    load_token_data,
    markdown_report,
    token_curve,
    token_report,
    train_and_predict,
    training_labels,
)

# ---------------------------------------------------------------------------
# labels on a hand-made pair of continuations
# ---------------------------------------------------------------------------

class FakeTok:
    """Only what the tokenizer check reads: a vocabulary."""

    def __init__(self, vocab):
        self.vocab = vocab

    def get_vocab(self):
        return dict(self.vocab)


def test_token_table_marks_divergence_per_position():
    # prompts p0 (2 tokens of continuation) and p1 (3 tokens); the weak model's greedy
    # next tokens were [5, 9] and [7, 7, 2] against strong [5, 6] and [7, 8, 2].
    continuations = pd.DataFrame({"id": ["p0", "p1"], "split": ["train", "test"]})
    strong = np.array([5, 6, 7, 8, 2], dtype=np.int32)
    weak = np.array([5, 9, 7, 7, 2], dtype=np.int32)
    arrays = {"row": np.array([0, 0, 1, 1, 1], np.int32), "position": np.array([0, 1, 0, 1, 2], np.int32),
              "token_id": strong, "weak_token_id": weak, "label": (weak != strong).astype(np.int8),
              "weak_logprob": np.zeros(5, np.float32), "strong_token_logprob": np.zeros(5, np.float32)}
    df = token_table(continuations, arrays)
    assert df[["id", "position", "label", "split"]].values.tolist() == [
        ["p0", 0, 0, "train"], ["p0", 1, 1, "train"], ["p1", 0, 0, "test"], ["p1", 1, 1, "test"], ["p1", 2, 0, "test"]]


def test_tokenizer_mismatch_names_both_models():
    a, b = FakeTok({"a": 0, "b": 1}), FakeTok({"a": 0, "c": 1})
    assert check_shared_tokenizer(a, FakeTok({"b": 1, "a": 0}), "w", "s")  # order of the dict does not matter
    with pytest.raises(ValueError, match=r"weak model 'smol' and strong model 'qwen' do not share a tokenizer.*'b'"):
        check_shared_tokenizer(a, b, "smol", "qwen")


@pytest.mark.parametrize("task,a,b,choices,expected", [
    ("math", "so 3 + 4 = 7. Answer: 7", "we get \\boxed{7}", None, 0.0),
    ("math", "Answer: 7", "Answer: 8", None, 1.0),
    ("math", "Answer: 0.5", "Answer: 1/2", None, 0.0),
    ("math", "Let me think.\nFirst we add the apples.", "We need to find\nthe total.", None, math.nan),
    ("math", "Answer: 7", "We need to find\nthe total.", None, 1.0),
    ("mc", "The answer is B", "B", ["x", "y", "z", "w"], 0.0),
    ("mc", "Answer: A", "Answer: C", ["x", "y", "z", "w"], 1.0),
    ("qa", "Paris", "paris.", None, 0.0),
])
def test_final_answer_differs(task, a, b, choices, expected):
    got = final_answer_differs(task, a, b, choices)
    assert (math.isnan(got) and math.isnan(expected)) or got == expected


def test_meaningful_label_counts_undecided_as_positive():
    tokens = pd.DataFrame({"label": [0, 1, 1, 1], "meaningful": [0.0, 1.0, 0.0, math.nan]})
    assert training_labels(tokens, "exact").tolist() == [0, 1, 1, 1]
    assert training_labels(tokens, "meaningful").tolist() == [0, 1, 0, 1]
    with pytest.raises(ValueError, match="meaningful.enabled"):
        training_labels(tokens.drop(columns="meaningful"), "meaningful")


# ---------------------------------------------------------------------------
# threshold search on synthetic scores with a known answer
# ---------------------------------------------------------------------------

def test_threshold_search_known_answer():
    # 20 positives at scores 0.50..0.69 and 80 negatives at 0.00..0.79 (step 0.01).
    # recall >= 0.95 needs 19 of the 20 positives: p >= 0.51 keeps 19 positives, and
    # 0.51 is the grid's largest such threshold (0.515 > 0.51 would lose positive 0.51).
    pos = 0.50 + 0.01 * np.arange(20)
    neg = 0.01 * np.arange(80)
    p = np.r_[pos, neg]
    y = np.r_[np.ones(20), np.zeros(80)]
    res = token_threshold_search(p, y, r_min=0.95, mode="exact")
    assert res["qualified"] and res["threshold"] == pytest.approx(0.51)
    assert res["recall"] == pytest.approx(19 / 20)
    # flagged: 19 positives + negatives 0.51..0.79 (29 of them) => 48 of 100
    assert res["positive_rate"] == pytest.approx(48 / 100)
    assert res["usage_floor"] == pytest.approx(0.95 * 0.2)


def test_report_splits_usage_into_prevalence_classifier_threshold():
    rng = np.random.default_rng(0)

    def split(name, n, prev, sep):
        y = (rng.random(n) < prev).astype(float)
        p = 1 / (1 + np.exp(-(sep * (y - 0.5) + rng.normal(0, 1, n))))
        return pd.DataFrame({"dataset": "d", "id": [f"{name}{i}" for i in range(n)], "position": 0,
                             "split": name, "label": y, "p": p})

    pred = pd.concat([split("validation", 4000, 0.2, 3.0), split("test", 4000, 0.2, 3.0)], ignore_index=True)
    rep = token_report(pred, r_min=0.9, mode="grid")
    row = rep["rows"][0]
    test = pred[pred.split == "test"]
    assert row["prevalence_test"] == pytest.approx(test.label.mean())
    assert row["usage_oracle"] == pytest.approx(0.9 * test.label.mean())
    # hindsight = the lowest usage with recall >= 0.9 over every distinct test score
    p, y = test.p.to_numpy(), test.label.to_numpy()
    best = min(np.mean(p >= t) for t in np.unique(p) if (p[y == 1] >= t).mean() >= 0.9)
    assert row["usage_hindsight"] == pytest.approx(best)
    assert row["usage_oracle"] <= row["usage_hindsight"] <= 0.9 + 0.05  # better than random, worse than oracle
    assert row["gap_classifier"] + row["gap_threshold"] == pytest.approx(row["usage_test"] - row["usage_oracle"])
    assert abs(row["recall_test"] - 0.9) < 0.03  # same distribution: the threshold transfers
    text = markdown_report(rep)
    assert "oracle floor" in text and f"{row['usage_test']:.3f}" in text
    curve = token_curve(pred)
    assert curve["recall"].iloc[0] == 1.0 and curve["usage"].iloc[0] == 1.0  # lowest threshold flags all


def test_report_per_dataset_rows_use_the_shared_threshold():
    rng = np.random.default_rng(1)
    parts = []
    for d, prev in (("a", 0.1), ("b", 0.4)):
        for sp in ("validation", "test"):
            y = (rng.random(500) < prev).astype(float)
            parts.append(pd.DataFrame({"dataset": d, "id": "x", "position": 0, "split": sp, "label": y,
                                       "p": 1 / (1 + np.exp(-(3 * (y - 0.5) + rng.normal(0, 1, 500))))}))
    pred = pd.concat(parts, ignore_index=True)
    rep = token_report(pred, r_min=0.9)
    assert [r["dataset"] for r in rep["rows"]] == ["all", "a", "b"]
    tau = rep["rows"][0]["threshold"]
    for row in rep["rows"][1:]:
        test = pred[(pred.split == "test") & (pred.dataset == row["dataset"])]
        assert row["threshold"] == tau
        assert row["usage_test"] == pytest.approx((test.p >= tau).mean())
        assert row["prevalence_test"] == pytest.approx(test.label.mean())
    # the datasets' prevalences differ 4x, so do their oracle floors: the table shows the gap is prevalence
    assert rep["rows"][2]["usage_oracle"] > 3 * rep["rows"][1]["usage_oracle"]


def test_diagnose_flags_missed_recall():
    row = {"usage_test": 0.30, "usage_hindsight": 0.25, "usage_oracle": 0.10, "prevalence_test": 0.105,
           "recall_test": 0.90}
    text = diagnose(row, 0.95)
    assert "+0.150" in text and "+0.050" in text and "misses the target" in text


# ---------------------------------------------------------------------------
# classifier: trains on CPU on a tiny set, beats the prevalence baseline, saves/loads
# ---------------------------------------------------------------------------

def synthetic_token_dir(path, n_prompts=60, length=20, seed=0):
    """Token tables whose label depends (noisily) on the top-1 log-prob and one hidden direction."""
    rng = np.random.default_rng(seed)
    n = n_prompts * length
    hidden = rng.normal(0, 1, (n, 16)).astype(np.float32)
    topk = np.sort(rng.normal(-3, 1.5, (n, 8)), axis=1)[:, ::-1].astype(np.float32)
    topk[:, 0] = -np.abs(rng.normal(0, 1, n))  # top-1 log-prob <= 0
    logit = 2.5 * (topk[:, 0] + 0.8) + 1.5 * hidden[:, 0] - 1.5  # prevalence ~0.25
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    splits = np.array(["train", "validation", "test"])[rng.choice(3, n_prompts, p=[0.6, 0.2, 0.2])]
    tokens = pd.DataFrame({"id": np.repeat([f"q{i}" for i in range(n_prompts)], length),
                           "split": np.repeat(splits, length), "position": np.tile(np.arange(length), n_prompts),
                           "token_id": 1, "weak_token_id": 1 + label, "label": label,
                           "weak_logprob": topk[:, 0], "strong_token_logprob": 0.0})
    arrays = {"hidden": hidden, "token_embedding": rng.normal(0, 1, (n, 4)).astype(np.float32),
              "topk_logprobs": topk}
    write_token_tables(path, tokens, arrays, {"model": "synthetic"})
    return path


def test_classifier_trains_on_cpu_and_beats_prevalence_baseline(tmp_path):
    d = synthetic_token_dir(tmp_path / "synth")
    params = {"hidden_dim": 32, "n_blocks": 1, "max_epochs": 40, "patience": 5, "lr": 3e-3, "batch_size": 128,
              "seed": 0}
    router, pred = train_and_predict([d], params)
    test = pred[pred.split == "test"]
    train_prev = pred[pred.split == "train"].label.mean()
    # prevalence baseline: every token gets p = training prevalence; AUROC 0.5
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(test.label, test.p) > 0.75
    # the weighted loss shifts probabilities up, so compare ranking-free usage at the recall target:
    rep = token_report(pred, r_min=0.9)
    row = rep["rows"][0]
    assert row["usage_hindsight"] < 0.9 - 0.1  # a random/prevalence scorer needs usage 0.9
    assert row["usage_oracle"] <= row["usage_hindsight"]
    assert 1 <= router.best_epoch_ <= len(router.history_) <= 40
    # early stopping keeps the best validation epoch's weights
    best = min(router.history_, key=lambda h: h["val_loss"])
    assert router.best_epoch_ == best["epoch"]
    assert 0 < train_prev < 1

    # save / load gives identical scores; same seed gives identical training
    router.save(tmp_path / "r.pt")
    again = TokenRouter.load(tmp_path / "r.pt")
    _, X = load_token_data([d], router.inputs)
    np.testing.assert_array_equal(again.predict_proba(X), router.predict_proba(X))
    _, pred2 = train_and_predict([d], params)
    np.testing.assert_array_equal(pred2.p.to_numpy(), pred.p.to_numpy())


def test_classifier_rejects_one_class_and_unfitted(tmp_path):
    X = {"hidden": np.zeros((10, 3)), "token": np.zeros((10, 2)), "logits": np.zeros((10, 4))}
    with pytest.raises(ValueError, match="one class only"):
        TokenRouter().fit(X, np.zeros(10), X, np.zeros(10))
    with pytest.raises(RuntimeError, match="not fitted"):
        TokenRouter().predict_proba(X)
    with pytest.raises(ValueError, match="needs inputs"):
        TokenRouter(inputs=["hidden", "token"]).fit({"hidden": X["hidden"]}, np.r_[np.zeros(5), np.ones(5)],
                                                   X, np.zeros(10))


def test_token_set_errors_name_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="token_labels"):
        TokenSet(tmp_path / "missing")
    d = synthetic_token_dir(tmp_path / "s", n_prompts=3, length=2)
    (d / "hidden.npy").unlink()
    with pytest.raises(FileNotFoundError, match="re-run the `token_labels` rule"):
        TokenSet(d).array("hidden")


def test_resolve_config_defaults_and_errors():
    base = {"models": {"a": {}, "b": {}}, "weak": "a", "strong": "b", "datasets": {"x": {}},
            "token_router": {"datasets": ["x"], "label": "exact", "meaningful": {"enabled": False}}}
    tr = resolve_token_config(base)
    assert (tr["weak"], tr["strong"]) == ("a", "b")
    with pytest.raises(ConfigError, match=r"token_router.datasets: 'y'"):
        resolve_token_config({**base, "token_router": {**base["token_router"], "datasets": ["y"]}})
    with pytest.raises(ValueError, match=r"token_router.strong = 'c'"):
        resolve_token_config({**base, "token_router": {**base["token_router"], "strong": "c"}})
    with pytest.raises(ValueError, match="meaningful.enabled"):
        resolve_token_config({**base, "token_router": {**base["token_router"], "label": "meaningful"}})


# ---------------------------------------------------------------------------
# real model: SmolLM2-135M as weak and strong
# ---------------------------------------------------------------------------

ROWS = [
    {"id": "a", "task": "math", "prompt": "Tom has 3 apples and buys 4 more. How many apples does he have?",
     "choices": [], "split": "train"},
    {"id": "b", "task": "math", "prompt": "What is 12 - 5?", "choices": [], "split": "validation"},
    {"id": "c", "task": "mc", "prompt": "Which number is largest?", "choices": ["3", "9", "1", "4"],
     "split": "test"},
]


@pytest.fixture(scope="module")
def smol(tiny_model_dir):
    import torch

    from routerlab.lm.generation import TransformersBackend
    from routerlab.token.labels import TokenFeatureExtractor

    torch.manual_seed(0)
    backend = TransformersBackend(str(tiny_model_dir), dtype="float32", max_batch_size=4)
    return backend, TokenFeatureExtractor(backend.tokenizer, backend.model, max_batch_size=2, top_k=8)


@pytest.mark.slow
def test_weak_equals_strong_greedy_gives_no_divergence(smol):
    from routerlab.lm.sampling import SamplingParams
    from routerlab.token.labels import strong_continuations

    backend, ex = smol
    cont = strong_continuations(ROWS, backend, SamplingParams(max_new_tokens=12), "cot")
    assert cont["continuation_ids"].map(len).min() > 0
    out = ex.extract(cont.prompt_ids.tolist(), cont.continuation_ids.tolist())
    n = int(cont["continuation_ids"].map(len).sum())
    assert len(out["label"]) == n and out["label"].sum() == 0  # the model agrees with its own greedy tokens
    assert out["hidden"].shape == (n, backend.model.config.hidden_size) and out["topk_logprobs"].shape == (n, 8)
    # the weak token's log-prob is the top-1 of the top-k, and (greedy) equals the strong token's
    np.testing.assert_allclose(out["weak_logprob"], out["topk_logprobs"][:, 0], atol=2e-2)
    np.testing.assert_allclose(out["weak_logprob"], out["strong_token_logprob"], atol=1e-5)
    assert (np.diff(out["topk_logprobs"].astype(np.float32), axis=1) <= 1e-3).all()  # sorted descending
    emb = backend.model.get_input_embeddings().weight.detach().numpy()
    np.testing.assert_allclose(out["token_embedding"].astype(np.float32), emb[out["weak_token_id"]], atol=1e-2)


@pytest.mark.slow
def test_sampled_strong_gives_known_divergences_matching_the_token_loop(smol):
    from routerlab.lm.sampling import SamplingParams
    from routerlab.token.labels import strong_continuations

    backend, ex = smol
    cont = strong_continuations(ROWS, backend, SamplingParams(max_new_tokens=12, temperature=1.5, seed=1), "cot")
    prompts, conts = cont.prompt_ids.tolist(), cont.continuation_ids.tolist()
    fast = ex.extract(prompts, conts)
    slow = ex.extract_naive(prompts, conts)
    assert 0 < fast["label"].sum() < len(fast["label"])
    # labels: the weak greedy token differs from the (sampled) strong token, exactly where the loop says
    np.testing.assert_array_equal(fast["weak_token_id"], slow["weak_token_id"])
    np.testing.assert_array_equal(fast["label"], slow["label"])
    for key in ("hidden", "topk_logprobs", "token_embedding"):
        a, b = fast[key].astype(np.float32), slow[key].astype(np.float32)
        assert np.max(np.abs(a - b)) <= 2e-2 * (np.abs(b).max() + 1), key


@pytest.mark.slow
def test_rule_entry_points_end_to_end(tiny_model_dir, tmp_path):
    """run_continuations -> run_labels (with meaningful divergence) -> token directory -> train/report."""
    from routerlab.datasets import load_dataset
    from routerlab.token.labels import run_continuations, run_labels

    data = load_dataset("arithmetic", {"source": "builtin", "generator": "arithmetic", "n": 8, "seed": 0})
    data["split"] = ["train", "train", "train", "train", "validation", "validation", "test", "test"]
    rt = {"device": "cpu", "dtype": "float32"}
    cont, meta = run_continuations(data, tiny_model_dir, tiny_model_dir, {"weak": "smol", "strong": "smol"}, rt,
                                   {"max_new_tokens": 10, "temperature": 1.2, "seed": 0}, "cot", 8, 4096, 8)
    assert len(cont) == 8 and meta["tokenizer"] and meta["sampling"]["temperature"] == 1.2
    tokens, arrays, tmeta = run_labels(cont, meta, tiny_model_dir, "smol", rt, 4096, 8, 8,
                                       {"enabled": True, "max_new_tokens": 8})
    assert set(tokens.split) == {"train", "validation", "test"}
    diverging = tokens.label == 1
    assert diverging.any()
    assert (tokens.loc[~diverging, "meaningful"] == 0).all()  # only divergences are judged
    judged = tokens.loc[diverging, "meaningful"]
    assert set(judged.dropna().unique()) <= {0.0, 1.0}
    write_token_tables(tmp_path / "arithmetic", tokens, arrays, tmeta)
    ts = TokenSet(tmp_path / "arithmetic")
    assert isinstance(ts.array("hidden"), np.memmap) and ts.array("hidden").dtype == np.float16
    assert ts.meta["prevalence"] == pytest.approx(tokens.label.mean())
    with pytest.raises(ValueError, match="weak model 'other' does not share the tokenizer"):
        run_labels(cont, {**meta, "tokenizer": "0" * 64}, tiny_model_dir, "other", rt, 4096, 8, 8, {})


def test_select_prompts_keeps_every_split_in_proportion():
    from routerlab.token.labels import select_prompts

    data = pd.DataFrame({"id": [f"r{i}" for i in range(10)],
                         "split": ["train", "test", "train", "validation", "train", "test", "train", "test",
                                   "validation", "train"]})
    got = select_prompts(data, 5)
    # shares .5/.3/.2 of 5 = 2.5/1.5/1.0 -> floors 2/1/1, the remaining one to the largest remainder
    # (test and train tie at .5; the first in split order, test, gets it); dataset order kept
    assert got["id"].tolist() == ["r0", "r1", "r2", "r3", "r5"]
    assert select_prompts(data, 3)["split"].value_counts().to_dict() == {"train": 1, "test": 1, "validation": 1}
    assert len(select_prompts(data, 50)) == 10


# ---------------------------------------------------------------------------
# the workflow: .test/config.yaml's token router, built in a temporary copy
# ---------------------------------------------------------------------------

def _job_counts(output: str) -> dict[str, int]:
    counts, on = {}, False
    for line in output.splitlines():
        if line.startswith("job ") and "count" in line:
            on = True
        elif on and len(line.split()) == 2 and line.split()[1].isdigit():
            counts[line.split()[0]] = int(line.split()[1])
        elif on and counts:
            break
    return counts


@pytest.mark.slow
def test_workflow_builds_token_router_table(tmp_path):
    """Snakemake builds the table and plot; the table is recomputed from the predictions it reports on."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[1]
    for name in ("Snakefile", "config", "workflow", "profiles", "envs", ".test"):
        (shutil.copytree if (root / name).is_dir() else shutil.copy)(root / name, tmp_path / name)
    targets = ["results/tables/token_router.md", "results/plots/token_router_recall_usage.png"]

    def smk(*args):
        proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=1200)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
        return proc.stdout + proc.stderr

    smk(*targets, "--configfile", ".test/config.yaml")  # --configfile takes several values: last
    res = tmp_path / "results"
    cont = pd.read_parquet(res / "token_router/continuations/arithmetic.parquet")
    tokens = pd.read_parquet(res / "token_router/tokens/arithmetic/tokens.parquet")
    pred = pd.read_parquet(res / "token_router/predictions.parquet")
    assert len(cont) == 8 and len(tokens) == cont["continuation_ids"].map(len).sum()
    assert (tokens.label == (tokens.weak_token_id != tokens.token_id)).all()
    assert 0 < tokens.label.mean() < 1  # sampled strong side: real divergences
    assert pred[["id", "position", "label"]].values.tolist() == tokens[["id", "position", "label"]].values.tolist()

    row = pd.read_csv(res / "tables/token_router.csv").iloc[0]
    val, test = pred[pred.split == "validation"], pred[pred.split == "test"]
    prevalence = test.label.astype(float).mean()  # labels are stored as float32; the table computes in float64
    assert row.n_test == len(test) and row.prevalence_test == written(prevalence)
    assert row.usage_oracle == written(0.95 * prevalence)
    # tau* recomputed with a plain loop over METRICS' grid: the lowest usage with recall >= 0.95,
    # the lowest tau among equals; none qualifying must show as NaN, never a fallback.
    best = None
    positives = int(val.label.sum())
    assert positives > 0
    for tau in np.linspace(0.01, 0.99, 100):
        flagged_val = [pi >= tau for pi in val.p]
        hits = sum(f and yi == 1 for f, yi in zip(flagged_val, val.label))
        usage = sum(flagged_val) / len(flagged_val)
        if hits >= 0.95 * positives - 1e-9 and (best is None or usage < best[1]):
            best = (tau, usage)
    if best is not None:
        flagged = test.p >= best[0]
        assert row.threshold == written(best[0])
        assert row.usage_test == written(flagged.mean())
        assert row.recall_test == written(flagged[test.label == 1].mean())
    else:
        assert np.isnan(row.threshold) and np.isnan(row.usage_test)
    md = (res / "tables/token_router.md").read_text()
    assert f"| all | {row.n_val} | {row.n_test} |" in md
    assert (res / "plots/token_router_recall_usage.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # a changed recall target re-runs only the threshold table and the plot
    cfg = yaml.safe_load((tmp_path / ".test/config.yaml").read_text())
    cfg["token_router"]["recall_target"] = 0.9
    (tmp_path / "changed.yaml").write_text(yaml.safe_dump(cfg))
    out = smk("-n", *targets, "--configfile", "changed.yaml")
    assert _job_counts(out) == {"token_router_table": 1, "token_router_plot": 1, "total": 2}
