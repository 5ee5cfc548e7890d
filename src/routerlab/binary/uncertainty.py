"""Inputs of the self-based routers (RouterXBench "verb-based"): sampled answers and self-checks.

* ``sample_frame``: N answers per query from the weak model at temperature > 0 (the
  generation backends' ``n``; with ``logprobs`` each answer's mean token log-probability
  under the model's untempered distribution).
* ``cluster_frame``: groups each query's answers into meaning classes (Kuhn et al., 2023):
  a sample joins the first cluster whose first member it is equivalent to. Equivalence:

  - ``answer``: the final answer extracted by ``routerlab.scoring`` (math: the stated
    answer, equal under ``math_equal``; mc: the option letter; qa: the SQuAD-normalised
    answer phrase). Responses with no extractable answer are equal only to identical
    (normalised) responses.
  - ``nli``: bidirectional entailment under an NLI classifier (the papers' method; a hub
    id or local directory, e.g. ``microsoft/deberta-large-mnli``), question prepended.
  - ``embedding``: cosine similarity of sentence embeddings >= ``threshold`` -- the
    offline fallback when no NLI model is available (a packaged embedder ships; no NLI
    model does). Coarser: answers that differ in one entity can still be similar.
  - ``auto``: ``answer`` for math/mc/qa rows, else ``nli`` when ``nli_model`` is set,
    else ``embedding``.
* ``semantic_entropy``: entropy (nats) of the cluster distribution, from cluster counts
  (discrete, Farquhar et al., 2024) or from length-normalised sequence likelihoods
  summed per cluster and normalised over the samples (likelihood-weighted).
* ``SelfChecker``: after the weak model's own answer, asks a follow-up question ("Is your
  answer correct? ... Yes or No") and reads P(Yes) from the next-token distribution at
  the last position (one forward pass, ``logits_to_keep=1``), normalised over the Yes
  and No tokens (Kadavath et al., 2022, "P(True)").
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from routerlab.core.batching import padded_batches
from routerlab.core.runtime import records
from routerlab.lm.embeddings import embed_texts
from routerlab.lm.generation import generate_frame
from routerlab.lm.models import load_causal_lm, resolve_device
from routerlab.lm.prompts import answer_prefix, build_messages, chat_text
from routerlab.scoring import extract_choice, extract_math_answer, extract_qa_answer, math_equal, normalize_answer

log = logging.getLogger(__name__)

EQUIVALENCE_METHODS = ("auto", "answer", "embedding", "nli")
ANSWER_TASKS = ("math", "mc", "qa")
DEFAULT_SELF_CHECK_PROMPT = "Is your answer correct? Reply with only Yes or No."
YES_WORDS, NO_WORDS = ("Yes",), ("No",)


# --- sampling -------------------------------------------------------------------------------


def sample_frame(rows: Sequence[dict[str, Any]], backend, params, *, style: str = "direct",
                 progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """``params.n`` sampled answers per row (``SamplingParams`` with temperature > 0)."""
    if params.temperature <= 0 or params.n < 2:
        raise ValueError(f"uncertainty.sampling: semantic entropy needs several distinct samples (n >= 2, "
                         f"temperature > 0); got n={params.n}, temperature={params.temperature}")
    df = generate_frame(rows, backend, params, style=style, progress=progress)
    if "mean_logprob" not in df:
        df["mean_logprob"] = np.nan  # backends without log-probabilities
    return df


# --- semantic equivalence -------------------------------------------------------------------


def greedy_clusters(equivalent: np.ndarray) -> list[int]:
    """Cluster ids from a pairwise equivalence matrix: sample i joins the first cluster whose
    first member is equivalent to it (in both directions for asymmetric relations)."""
    reps: list[int] = []
    labels: list[int] = []
    for i in range(len(equivalent)):
        for c, r in enumerate(reps):
            if equivalent[r, i] and equivalent[i, r]:
                labels.append(c)
                break
        else:
            reps.append(i)
            labels.append(len(reps) - 1)
    return labels


def answer_key(response: str, task: str, choices: Sequence[str] | None = None) -> str | None:
    """The final answer a response states, by the task's extractor (None = no answer found)."""
    if task == "math":
        return extract_math_answer(response)
    if task == "mc":
        choices = list(choices) if choices is not None and len(choices) else None
        return extract_choice(response, len(choices) if choices else 4, choices)
    if task == "qa":
        return normalize_answer(extract_qa_answer(response)) or None
    raise ValueError(f"task {task!r} has no answer extractor (tasks {ANSWER_TASKS}); "
                     "use equivalence method 'embedding' or 'nli'")


def answer_equivalence(responses: Sequence[str], task: str, choices: Sequence[str] | None = None) -> np.ndarray:
    keys = [answer_key(r, task, choices) for r in responses]
    texts = [normalize_answer(r) for r in responses]
    n = len(responses)
    eq = np.eye(n, dtype=bool)
    for i in range(n):
        for j in range(i + 1, n):
            a, b = keys[i], keys[j]
            if a is None or b is None:
                same = a is None and b is None and texts[i] == texts[j]
            elif a == b:
                same = True
            else:
                same = task == "math" and bool(math_equal(a, b)[0])
            eq[i, j] = eq[j, i] = same
    return eq


def embedding_equivalence(embeddings: np.ndarray, threshold: float) -> np.ndarray:
    """Unit-norm embeddings ``[n, d]``: equivalent where cosine similarity >= threshold."""
    return embeddings @ embeddings.T >= threshold


class NLIEquivalence:
    """Bidirectional entailment under a sequence-classification NLI model."""

    def __init__(self, model: str, device: str = "auto", batch_size: int = 32):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer


        self.device = resolve_device(device)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model)
            self.model = AutoModelForSequenceClassification.from_pretrained(model).to(self.device).eval()
        except OSError as e:
            raise OSError(f"uncertainty.equivalence.nli_model = {model!r} cannot be loaded ({e}); offline, point "
                          "it at a local copy of an NLI model, or use method 'embedding'") from None
        labels = {i: str(v).lower() for i, v in self.model.config.id2label.items()}
        entail = [i for i, v in labels.items() if v.startswith("entail")]
        if len(entail) != 1:
            raise ValueError(f"NLI model {model!r}: no single 'entailment' label in id2label {labels}")
        self.entailment = entail[0]
        self.batch_size = batch_size

    def entails(self, premises: Sequence[str], hypotheses: Sequence[str]) -> np.ndarray:
        import torch

        out = []
        for s in range(0, len(premises), self.batch_size):
            enc = self.tokenizer(list(premises[s:s + self.batch_size]), list(hypotheses[s:s + self.batch_size]),
                                 truncation=True, padding=True, return_tensors="pt").to(self.device)
            with torch.inference_mode():
                out.append((self.model(**enc).logits.argmax(-1) == self.entailment).cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0, dtype=bool)

    def equivalence(self, question: str, responses: Sequence[str]) -> np.ndarray:
        n = len(responses)
        pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
        text = [f"{question} {r}" for r in responses]
        verdict = self.entails([text[i] for i, _ in pairs], [text[j] for _, j in pairs])
        eq = np.eye(n, dtype=bool)
        for (i, j), v in zip(pairs, verdict):
            eq[i, j] = v
        return eq


def resolve_method(method: str, task: str, nli_model: str | None) -> str:
    if method not in EQUIVALENCE_METHODS:
        raise ValueError(f"uncertainty.equivalence.method = {method!r}: expected one of {EQUIVALENCE_METHODS}")
    if method != "auto":
        return method
    if task in ANSWER_TASKS:
        return "answer"
    return "nli" if nli_model else "embedding"


def cluster_frame(samples: pd.DataFrame, data: pd.DataFrame, equivalence: dict[str, Any]) -> pd.DataFrame:
    """Meaning classes of each query's samples: id, sample, method, answer, cluster, mean_logprob."""
    method = equivalence.get("method", "auto")
    threshold = float(equivalence.get("threshold", 0.9))
    nli_model = equivalence.get("nli_model")
    rows = data.set_index("id")
    missing = sorted(set(samples["id"]) - set(rows.index))
    if missing:
        raise ValueError(f"samples for ids not in the dataset (first: {missing[:3]}); re-run `sample`")
    samples = samples.sort_values(["id", "sample"], kind="stable").reset_index(drop=True)
    groups = list(samples.groupby("id", sort=False))
    methods = {qid: resolve_method(method, rows.loc[qid, "task"], nli_model) for qid, _ in groups}

    embeddings = None
    if "embedding" in methods.values():
        embeddings = embed_texts(samples["response"].fillna("").astype(str).tolist(),
                                 dict(equivalence.get("embedder") or {"source": "pypi", "name": "all-minilm-l6-v2"}))
    nli = None
    if "nli" in methods.values():
        if not nli_model:
            raise ValueError("uncertainty.equivalence.method = 'nli' needs uncertainty.equivalence.nli_model "
                             "(a hub id such as microsoft/deberta-large-mnli, or a local directory)")
        nli = NLIEquivalence(nli_model, device=equivalence.get("device", "auto"))

    clusters = np.zeros(len(samples), dtype=int)
    answers: list[str | None] = [None] * len(samples)
    for qid, g in groups:
        row = rows.loc[qid]
        responses = g["response"].fillna("").astype(str).tolist()
        how = methods[qid]
        if how == "answer":
            choices = row.get("choices")
            eq = answer_equivalence(responses, row["task"], choices)
            for k, r in zip(g.index, responses):
                answers[k] = answer_key(r, row["task"], choices)
        elif how == "embedding":
            eq = embedding_equivalence(embeddings[g.index.to_numpy()], threshold)
        else:
            eq = nli.equivalence(str(row["prompt"]), responses)
        clusters[g.index.to_numpy()] = greedy_clusters(eq)
    out = samples[["id", "sample"]].copy()
    out["method"] = samples["id"].map(methods)
    out["answer"] = answers
    out["cluster"] = clusters
    out["mean_logprob"] = samples["mean_logprob"].astype(float) if "mean_logprob" in samples else np.nan
    return out


# --- semantic entropy -----------------------------------------------------------------------


def semantic_entropy(clusters: Sequence[int], mean_logprobs: Sequence[float] | None = None) -> float:
    """Entropy (nats) of the meaning-class distribution of one query's samples.

    Without log-probabilities: class frequencies (discrete semantic entropy). With them:
    each sample weighs exp(mean token log-probability), class mass = sum of its samples'
    weights, normalised over all samples (likelihood-weighted semantic entropy).
    """
    clusters = np.asarray(clusters)
    if clusters.size == 0:
        raise ValueError("semantic entropy of zero samples")
    _, inverse = np.unique(clusters, return_inverse=True)
    if mean_logprobs is None:
        mass = np.bincount(inverse).astype(float)
    else:
        lp = np.asarray(mean_logprobs, dtype=float)
        if lp.shape != clusters.shape or not np.isfinite(lp).all():
            raise ValueError("likelihood-weighted semantic entropy needs a finite log-probability per sample; "
                             "sample with uncertainty.sampling.logprobs: true (transformers or vllm backend)")
        mass = np.bincount(inverse, weights=np.exp(lp - lp.max()))
    p = mass / mass.sum()
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


# --- self-check (P(Yes)) ----------------------------------------------------------------------


def answer_token_ids(tokenizer, words: Sequence[str]) -> list[int]:
    """Single-token spellings of ``words`` (as is, lower case, upper case, with a leading space)."""
    ids = set()
    for w in words:
        for variant in {w, w.lower(), w.upper(), " " + w, " " + w.lower(), " " + w.upper()}:
            enc = tokenizer.encode(variant, add_special_tokens=False)
            if len(enc) == 1:
                ids.add(enc[0])
    return sorted(ids)


def self_check_conversation(row: dict[str, Any], response: str, prompt: str, style: str = "direct") -> list[dict]:
    """The prompt the model answered, its answer as the assistant turn, then the follow-up question."""
    # The stored response is what followed the style's opening; the turn holds both.
    answered = f"{answer_prefix(row, style)} {response}".strip()
    return [*build_messages(row, style, prefill=False), {"role": "assistant", "content": answered},
            {"role": "user", "content": prompt}]


class SelfChecker:
    """P(Yes) after a follow-up question, from a causal LM's next-token distribution."""

    def __init__(self, model_dir: str, device: str = "auto", dtype: str = "auto", token_budget: int = 8192,
                 max_batch_size: int = 16):
        self.tokenizer, self.model = load_causal_lm(model_dir, device=device, dtype=dtype)
        self.device = self.model.device
        self.token_budget, self.max_batch_size = token_budget, max_batch_size
        self.yes_ids = answer_token_ids(self.tokenizer, YES_WORDS)
        self.no_ids = answer_token_ids(self.tokenizer, NO_WORDS)
        if not self.yes_ids or not self.no_ids or set(self.yes_ids) & set(self.no_ids):
            raise ValueError(f"{model_dir}: the tokenizer has no distinct single-token Yes/No "
                             f"(yes {self.yes_ids}, no {self.no_ids})")

    def p_yes(self, conversations: Sequence[list[dict]],
              progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
        """Per conversation: p_yes = P(Yes) / (P(Yes) + P(No)), and the raw masses."""
        import torch


        tok = self.tokenizer
        encoded = [tok(chat_text(tok, c), add_special_tokens=False)["input_ids"] for c in conversations]
        yes = torch.tensor(self.yes_ids, device=self.device)
        no = torch.tensor(self.no_ids, device=self.device)
        masses = np.zeros((len(encoded), 2), dtype=np.float64)
        for batch, ids, mask in padded_batches(encoded, tok.pad_token_id, self.device, self.token_budget,
                                               self.max_batch_size, progress=progress):
            with torch.inference_mode():
                logits = self.model(input_ids=ids, attention_mask=mask,
                                    use_cache=False, logits_to_keep=1).logits[:, -1, :]
                probs = torch.softmax(logits.float(), dim=-1)
                pair = torch.stack([probs[:, yes].sum(-1), probs[:, no].sum(-1)], dim=1).double().cpu().numpy()
            masses[np.asarray(batch)] = pair
        total = masses.sum(1)
        return pd.DataFrame({"p_yes": masses[:, 0] / np.where(total > 0, total, 1.0),
                             "yes_mass": masses[:, 0], "no_mass": masses[:, 1]})


def self_check_frame(data: pd.DataFrame, generations: pd.DataFrame, checker: SelfChecker, prompt: str,
                     style: str = "direct", progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """P(Yes) for each dataset row's scored answer (generation sample 0): id, p_yes, yes_mass, no_mass."""
    answers = generations.sort_values(["id", "sample"], kind="stable").groupby("id", sort=False)["response"].first()
    missing = [i for i in data["id"] if i not in answers.index]
    if missing:
        raise ValueError(f"no generation for {len(missing)} ids (first: {missing[:3]}); the generations are "
                         "older than the dataset: re-run `generate`")
    rows = records(data)
    conversations = [self_check_conversation(r, answers[r["id"]], prompt, style) for r in rows]
    out = checker.p_yes(conversations, progress=progress)
    out.insert(0, "id", data["id"].astype(str).tolist())
    return out

