"""Sharded generation and features, gathered, equal the unsharded run (values and order).

The workflow's path, call for call: shard_rows -> generate_frame / FeatureExtractor.extract
per shard -> shard files -> gather_generations / concat_feature_dirs (what the gather rules run).
"""

import numpy as np
import pandas as pd
import pytest

from routerlab.binary.features import LOGIT_STATS, FeatureExtractor, FeatureSet, concat_feature_dirs, write_features
from routerlab.core.io import write_frame
from routerlab.core.runtime import records, shard_rows
from routerlab.datasets import load_dataset
from routerlab.lm.generation import TransformersBackend, gather_generations, generate_frame
from routerlab.lm.prompts import build_messages
from routerlab.lm.sampling import SamplingParams


def test_shards_are_contiguous_near_equal_blocks_that_restore_the_order():
    df = pd.DataFrame({"id": [f"q-{i}" for i in range(11)]})
    for n in range(1, 14):
        parts = [shard_rows(df, s, n) for s in range(n)]
        assert pd.concat(parts)["id"].tolist() == df["id"].tolist(), n
        sizes = [len(p) for p in parts]
        assert max(sizes) - min(sizes) <= 1 and sum(sizes) == 11, (n, sizes)
    assert [len(shard_rows(df, s, 3)) for s in range(3)] == [4, 4, 3]
    with pytest.raises(ValueError, match="shard 3 out of range for 3 shards"):
        shard_rows(df, 3, 3)


@pytest.fixture(scope="module")
def data():
    # 12 rows: ids arithmetic-0 .. arithmetic-11, so id order ("-10" < "-2") differs from dataset order
    math = load_dataset("arithmetic", {"source": "builtin", "generator": "arithmetic", "n": 12, "seed": 3})
    mc = load_dataset("choice", {"source": "builtin", "generator": "multiple_choice", "n": 4, "seed": 3})
    return pd.concat([math, mc], ignore_index=True)


def run_sharded(data, n_shards, backend, extractor, out):
    gen_paths, feat_dirs = [], []
    for s in range(n_shards):
        rows = shard_rows(data, s, n_shards)
        gen_paths.append(out / f"gen{s}.parquet")
        write_frame(gen_paths[-1], generate_frame(records(rows), backend, SamplingParams(max_new_tokens=6)))
        feat_dirs.append(out / f"feat{s}")
        arrays = extractor.extract([build_messages(r) for r in records(rows)])
        write_features(feat_dirs[-1], rows["id"].tolist(), arrays, {"model": "t", "style": "direct"})
    concat_feature_dirs(feat_dirs, out / "features", {"model": "t", "style": "direct"})
    return gather_generations(gen_paths), FeatureSet(out / "features")


@pytest.mark.slow
def test_sharded_run_equals_unsharded(tiny_model_dir, data, tmp_path):
    backend = TransformersBackend(str(tiny_model_dir), dtype="float32", max_batch_size=8)
    extractor = FeatureExtractor(str(tiny_model_dir), dtype="float32", max_batch_size=8)
    (tmp_path / "one").mkdir()
    (tmp_path / "three").mkdir()
    gen1, feat1 = run_sharded(data, 1, backend, extractor, tmp_path / "one")
    gen3, feat3 = run_sharded(data, 3, backend, extractor, tmp_path / "three")  # 6 + 5 + 5 rows

    assert gen1["id"].tolist() == sorted(data["id"])  # generations: id order, as generate_frame gives
    timing = ["latency_s"]  # wall-clock, the only column allowed to differ
    pd.testing.assert_frame_equal(gen3.drop(columns=timing), gen1.drop(columns=timing))

    assert feat1.ids == feat3.ids == data["id"].tolist()  # features: dataset order
    pd.testing.assert_frame_equal(feat3.logits[["id", "n_tokens"]], feat1.logits[["id", "n_tokens"]])
    # Other shards mean other batch shapes: float sums may differ in the last bits, no more.
    for key in ("hidden_mean", "hidden_last"):
        a, b = np.asarray(feat3.array(key), np.float32), np.asarray(feat1.array(key), np.float32)
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-3, err_msg=key)
    for col in [*LOGIT_STATS, "top_logits", "top_probs"]:
        a, b = np.stack(feat3.logits[col]), np.stack(feat1.logits[col])
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=col)
