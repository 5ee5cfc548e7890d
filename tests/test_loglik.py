"""Multiple choice by answer log-likelihood (lm.loglik) on the real tiny model (SmolLM2-135M)."""

import string

import numpy as np
import pytest

from routerlab.core.errors import ConfigError
from routerlab.lm.loglik import answer_frame, option_token_ids, pick_answers
from routerlab.lm.prompts import build_messages, chat_text
from routerlab.lm.sampling import SamplingParams

ROWS = [
    {"id": "a", "task": "mc", "prompt": "Which number is largest?", "choices": ["3", "9", "1", "4"]},
    {"id": "b", "task": "math", "prompt": "What is 2 + 3?", "choices": []},
    {"id": "c", "task": "mc", "prompt": "Which planet is known as the red planet?",
     "choices": ["Venus", "Mars", "Jupiter", "Saturn"]},
    {"id": "d", "task": "mc", "prompt": "Water boils at sea level at about how many degrees Celsius? "
     "Think of a kettle in a kitchen.", "choices": ["50", "100", "150"]},
    {"id": "e", "task": "mc", "prompt": "Which of these is a mammal?",
     "choices": ["Shark", "Trout", "Dolphin", "Octopus", "Salmon"]},
]


def one_by_one_scores(model, tokenizer, row) -> np.ndarray:
    """The reference: one forward pass per option over prompt + " <letter>" tokenised together,
    the continuation's log-probability summed over its tokens (how the harness scores a request)."""
    import torch

    text = chat_text(tokenizer, build_messages(row))
    prompt_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    scores = []
    for letter in string.ascii_uppercase[:len(row["choices"])]:
        full = tokenizer(text + " " + letter, add_special_tokens=False)["input_ids"]
        assert full[:len(prompt_ids)] == prompt_ids  # the continuation does not merge into the prompt
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=torch.tensor([full])).logits[0].float(), dim=-1)
        scores.append(sum(float(logp[pos - 1, full[pos]]) for pos in range(len(prompt_ids), len(full))))
    return np.array(scores)


def test_loglik_answers_equal_argmax_of_one_by_one_scores(tiny_model_dir):
    from routerlab.binary.features import FeatureExtractor
    from routerlab.lm.generation import TransformersBackend

    backend = TransformersBackend(str(tiny_model_dir), dtype="float32", max_batch_size=3)
    params = SamplingParams(max_new_tokens=4, logprobs=True)
    out = answer_frame(ROWS, backend, params, mc_answers="loglik")
    # Same columns and order as the generation path; the math row is still generated.
    assert out["id"].tolist() == ["a", "b", "c", "d", "e"]
    assert {"id", "sample", "response", "prompt_tokens", "response_tokens", "finish_reason", "latency_s",
            "backend", "cost_usd", "mean_logprob"} <= set(out.columns)
    mc = out[out["id"] != "b"].set_index("id")
    assert (mc["finish_reason"] == "loglik").all() and (mc["response_tokens"] == 1).all()
    assert out.set_index("id").loc["b", "finish_reason"] in ("stop", "length")

    expected, reference = {}, {}
    for row in ROWS:
        if row["task"] != "mc":
            continue
        ref = one_by_one_scores(backend.model, backend.tokenizer, row)
        reference[row["id"]] = ref
        expected[row["id"]] = string.ascii_uppercase[int(np.argmax(ref))]
        assert mc.loc[row["id"], "mean_logprob"] == pytest.approx(ref.max(), abs=1e-3)
    assert mc["response"].to_dict() == expected
    # Not a degenerate model that always says one letter: the reference answers differ.
    assert len(set(expected.values())) > 1 or len({tuple(np.round(r, 2)) for r in reference.values()}) > 1

    # The feature pass computes the same last-position logits: its option scores are the answers.
    ex = FeatureExtractor.from_model(backend.model, backend.tokenizer.pad_token_id, tokenizer=backend.tokenizer,
                                     max_batch_size=2)
    mc_rows = [r for r in ROWS if r["task"] == "mc"]
    encoded = ex.encode([build_messages(r) for r in mc_rows])
    texts = [chat_text(backend.tokenizer, build_messages(r)) for r in mc_rows]
    option_ids = [option_token_ids(backend.tokenizer, len(r["choices"]), t) for r, t in zip(mc_rows, texts)]
    feats = ex.extract_ids(encoded, option_ids=option_ids)
    for row, scores in zip(mc_rows, feats["option_logprobs"]):
        np.testing.assert_allclose(scores, reference[row["id"]], atol=1e-3)


def test_pick_answers_argmax_and_sampling():
    scores = np.log(np.array([0.1, 0.6, 0.3]))
    assert pick_answers(scores, 3, 0.0, 0) == [1, 1, 1]
    assert pick_answers(np.array([-1.0, -1.0]), 1, 0.0, 0) == [0]  # ties: the first option
    draws = pick_answers(scores, 2000, 1.0, 0)
    assert draws == pick_answers(scores, 2000, 1.0, 0)  # seeded
    freq = np.bincount(draws, minlength=3) / 2000
    np.testing.assert_allclose(freq, [0.1, 0.6, 0.3], atol=0.04)


class _Tok:
    """A tokenizer stub: one token per character."""

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [ord(c) for c in text]}


def test_option_token_ids_follow_the_prompt_end():
    tok = _Tok()
    with pytest.raises(ValueError, match="not one"):
        option_token_ids(tok, 2, "Answer:")  # " A" is two characters here
    assert option_token_ids(tok, 3, "Answer:\n") == [65, 66, 67]


def test_answer_frame_rejects_bad_settings():
    with pytest.raises(ConfigError, match="mc_answers"):
        answer_frame(ROWS, object(), SamplingParams(), mc_answers="vote")
    with pytest.raises(ConfigError, match="direct style"):
        answer_frame(ROWS, object(), SamplingParams(), style="cot", mc_answers="loglik")
    with pytest.raises(ConfigError, match="transformers backend"):
        answer_frame([ROWS[0]], object(), SamplingParams(), mc_answers="loglik")
