"""Feature extraction: engineered path vs a one-prompt-at-a-time output_hidden_states loop.

Same model, same prompts, measured side by side in one run (the machine is noisy, so only
the ratio is meant to travel). Reports prompt tokens/s of both and their ratio.

    python benchmarks/bench_features.py [--model qwen2.5-coder-0.5b] [--n 64] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="qwen2.5-coder-0.5b")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

    import torch

    from _common import conversations, model_dir
    from routerlab.features import FeatureExtractor

    torch.set_num_threads(args.threads)
    ex = FeatureExtractor(model_dir(args.model), dtype="float32", max_batch_size=32, token_budget=8192)
    convs = conversations(args.n)
    ex.extract(convs[:4])  # warm-up
    ex.extract_naive(convs[:2])
    fast_t, slow_t = [], []
    for _ in range(args.repeats):  # interleaved, so drift in machine load hits both alike
        t = time.perf_counter(); fast = ex.extract(convs); fast_t.append(time.perf_counter() - t)
        t = time.perf_counter(); slow = ex.extract_naive(convs); slow_t.append(time.perf_counter() - t)
    tokens = int(fast["n_tokens"].sum())
    diff = np.max(np.abs(fast["hidden_last"].astype(np.float32) - slow["hidden_last"].astype(np.float32)))
    f, s = min(fast_t), min(slow_t)
    print(f"model={args.model} prompts={args.n} prompt_tokens={tokens} threads={args.threads}")
    print(f"engineered: {f:.2f} s  {tokens / f:,.0f} tok/s")
    print(f"naive loop: {s:.2f} s  {tokens / s:,.0f} tok/s")
    print(f"speed-up: {s / f:.2f}x   (max |last-token state diff| = {diff:.3g})")


if __name__ == "__main__":
    main()
