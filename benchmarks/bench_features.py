"""Feature extraction: engineered path vs a one-prompt-at-a-time output_hidden_states loop.

Same model, same prompts, measured side by side in one run (the machine is noisy, so only
the ratio is meant to travel). Reports prompt tokens/s of both, their ratio, and the useful
TFLOP/s each achieves (and its share of the device's bf16 peak when given or known).

    python benchmarks/bench_features.py [--model qwen2.5-coder-0.5b] [--n 64] [--threads 2]

On a GPU without a model hub, time a model built from its config with random weights on
synthetic prompts of realistic lengths (no tokenizer needed):

    python benchmarks/bench_features.py --random-config llama-3.1-8b --device cuda --dtype bfloat16 --n 256
"""

from __future__ import annotations

import argparse
import time

import numpy as np

# Architectures for random-weight timing (values from the models' published configs).
RANDOM_CONFIGS = {
    "tiny": dict(arch="llama", vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True),
    "qwen2.5-0.5b": dict(arch="qwen2", vocab_size=151936, hidden_size=896, intermediate_size=4864,
                         num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                         tie_word_embeddings=True),
    "llama-3.1-8b": dict(arch="llama", vocab_size=128256, hidden_size=4096, intermediate_size=14336,
                         num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                         tie_word_embeddings=False),
}
# Dense bf16 peak TFLOP/s (no sparsity) by device-name substring.
BF16_PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0}


def random_model(name: str, device: str, dtype: str):
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    spec = dict(RANDOM_CONFIGS[name])
    cfg = (Qwen2Config if spec.pop("arch") == "qwen2" else LlamaConfig)(**spec)
    torch.manual_seed(0)
    with torch.device(device):  # initialise on the device: an 8B model on the host takes minutes
        try:
            model = AutoModelForCausalLM.from_config(cfg, dtype=getattr(torch, dtype))
        except TypeError:  # transformers < 4.56 names it torch_dtype
            model = AutoModelForCausalLM.from_config(cfg, torch_dtype=getattr(torch, dtype))
    return model.eval()


def synthetic_prompts(n: int, vocab: int, seed: int = 0) -> list[list[int]]:
    """Token ids with prompt-like lengths (log-normal around ~120 tokens, 16..1024)."""
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(np.log(120), 0.7, n), 16, 1024).astype(int)
    return [rng.integers(0, vocab, L).tolist() for L in lengths]


def useful_flops(model, lengths: list[int]) -> float:
    """Forward FLOPs the features need: body matmuls and attention at every position, the LM head
    at the last position only (the naive loop computes it everywhere; that part is not counted)."""
    cfg = model.config
    lm_head = model.get_output_embeddings().weight.numel()
    embed = model.get_input_embeddings().weight.numel()
    body = sum(p.numel() for p in model.parameters()) - embed - (0 if cfg.tie_word_embeddings else lm_head)
    d, layers = cfg.hidden_size, cfg.num_hidden_layers
    total = 0.0
    for L in lengths:
        total += 2 * body * L + 2 * layers * L * L * d  # QK^T and AV, causal (half of 2 x 2 L^2 d)
        total += 2 * lm_head
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="qwen2.5-coder-0.5b", help="packaged model (ignored with --random-config)")
    ap.add_argument("--random-config", choices=sorted(RANDOM_CONFIGS), help="random weights, synthetic prompts")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--token-budget", type=int, default=8192)
    ap.add_argument("--max-batch-size", type=int, default=32)
    ap.add_argument("--peak-tflops", type=float, help="bf16 peak of the device (default: known GPUs)")
    args = ap.parse_args()

    import torch

    from routerlab.binary.features import FeatureExtractor

    torch.set_num_threads(args.threads)
    if args.random_config:
        model = random_model(args.random_config, args.device, args.dtype)
        ex = FeatureExtractor.from_model(model, pad_token_id=0, token_budget=args.token_budget,
                                         max_batch_size=args.max_batch_size)
        prompts = synthetic_prompts(args.n, model.config.vocab_size)
        label = f"{args.random_config} (random weights, synthetic prompts)"
    else:
        from _common import conversations, model_dir

        ex = FeatureExtractor(model_dir(args.model), device=args.device, dtype=args.dtype,
                              token_budget=args.token_budget, max_batch_size=args.max_batch_size)
        prompts = ex.encode(conversations(args.n))
        label = args.model

    def timed(fn) -> tuple[float, dict]:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        out = fn(prompts)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - t, out

    ex.extract_ids(prompts[:4])  # warm-up
    ex.extract_naive_ids(prompts[:2])
    fast_t, slow_t = [], []
    for _ in range(args.repeats):  # interleaved, so drift in machine load hits both alike
        t, fast = timed(ex.extract_ids); fast_t.append(t)
        t, slow = timed(ex.extract_naive_ids); slow_t.append(t)
    tokens = int(fast["n_tokens"].sum())
    diff = np.max(np.abs(fast["hidden_last"].astype(np.float32) - slow["hidden_last"].astype(np.float32)))
    f, s = min(fast_t), min(slow_t)
    flops = useful_flops(ex.model, [len(p) for p in prompts])
    peak = args.peak_tflops
    if peak is None and args.device.startswith("cuda"):
        name = torch.cuda.get_device_name()
        peak = next((v for k, v in BF16_PEAK_TFLOPS.items() if k in name), None)
        label += f" on {name}"
    print(f"model={label} prompts={args.n} prompt_tokens={tokens} device={args.device} dtype={args.dtype} "
          f"threads={args.threads}")
    for what, t in (("engineered", f), ("naive loop", s)):
        tflops = flops / t / 1e12
        share = f" = {tflops / peak:.1%} of {peak:g} bf16 peak" if peak else ""
        print(f"{what}: {t:.2f} s  {tokens / t:,.0f} tok/s  {tflops:.3f} useful TFLOP/s{share}")
    print(f"speed-up: {s / f:.2f}x   (max |last-token state diff| = {diff:.3g})")


if __name__ == "__main__":
    main()
