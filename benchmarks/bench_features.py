"""Feature extraction: engineered path vs a one-prompt-at-a-time output_hidden_states loop,
both against the machine's practical limit.

Same model, same prompts, measured side by side in one run, interleaved (the machine is noisy,
so drift in load hits every figure alike). Per dtype it reports prompt tokens/s and useful
GFLOP/s of both paths, and the practical limit: the GFLOP/s ``torch.matmul`` reaches on the
model's own linear-layer shapes (weights [in, out], activations [tokens, in] with the engineered
path's mean batch size in tokens), same dtype, same threads. On CPU the forward pass is
compute-bound, so "share of the matmul limit" says how much of the machine a path uses; the
engineered/naive ratio alone does not. bf16 is measured only where the CPU has native bf16
(``avx512_bf16`` or ``amx_bf16`` in /proc/cpuinfo; without it bf16 matmuls are emulated and slow);
``--dtypes`` overrides. ``--profile`` prints where the engineered path's time goes (torch.profiler).

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
    "tiny": {"arch": "llama", "vocab_size": 1000, "hidden_size": 64, "intermediate_size": 128,
             "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "tie_word_embeddings": True},
    "qwen2.5-0.5b": {"arch": "qwen2", "vocab_size": 151936, "hidden_size": 896, "intermediate_size": 4864,
                     "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
                     "tie_word_embeddings": True},
    "llama-3.1-8b": {"arch": "llama", "vocab_size": 128256, "hidden_size": 4096, "intermediate_size": 14336,
                     "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
                     "tie_word_embeddings": False},
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


def native_bf16_flags() -> list[str]:
    """The CPU's native-bf16 flags (AVX512-BF16, AMX-BF16) from /proc/cpuinfo; empty without them."""
    from routerlab.lm.models import cpu_flags

    flags = cpu_flags()
    return [f for f in ("avx512_bf16", "amx_bf16") if f in flags]


def linear_shapes(model) -> dict[tuple[int, int], int]:
    """(in_features, out_features) -> count over the transformer body's linear layers (LM head excluded)."""
    import torch

    head = model.get_output_embeddings()
    counts: dict[tuple[int, int], int] = {}
    for module in model.modules():
        if isinstance(module, torch.nn.Linear) and module is not head:
            key = (module.in_features, module.out_features)
            counts[key] = counts.get(key, 0) + 1
    return counts


def matmul_seconds(shapes: dict[tuple[int, int], int], tokens: int, dtype, device: str, repeats: int = 3) -> float:
    """Seconds ``torch.matmul`` takes for every body linear layer once, on ``tokens`` activation rows
    (the best of ``repeats``): the floor of one batch's forward time on this machine."""
    import torch

    total = 0.0
    for (d_in, d_out), count in shapes.items():
        x = torch.randn(tokens, d_in, dtype=dtype, device=device)
        w = torch.randn(d_out, d_in, dtype=dtype, device=device)
        torch.matmul(x, w.t())  # warm-up (allocator, kernel choice)
        best = float("inf")
        for _ in range(repeats):
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t = time.perf_counter()
            torch.matmul(x, w.t())
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t)
        total += count * best
    return total


def matmul_limit_gflops(model, tokens: int, dtype, device: str) -> float:
    """GFLOP/s of the body's linear layers as plain matmuls on ``tokens`` rows: the practical limit."""
    shapes = linear_shapes(model)
    flops = sum(2 * tokens * d_in * d_out * c for (d_in, d_out), c in shapes.items())
    return flops / matmul_seconds(shapes, tokens, dtype, device) / 1e9


def profile_engineered(ex, prompts, rows: int = 15) -> None:
    """Where the engineered path's time goes: operators by self time (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        ex.extract_ids(prompts)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="qwen2.5-coder-0.5b", help="packaged model (ignored with --random-config)")
    ap.add_argument("--random-config", choices=sorted(RANDOM_CONFIGS), help="random weights, synthetic prompts")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtypes", help="comma-separated, e.g. float32,bfloat16 (default: float32, plus bfloat16 "
                    "on a GPU or a CPU with native bf16)")
    ap.add_argument("--dtype", help="one dtype (same as --dtypes with one entry)")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--token-budget", type=int, default=8192)
    ap.add_argument("--max-batch-size", type=int, default=32)
    ap.add_argument("--max-padding", type=float,
                    help="padding share that splits a batch (core.batching; default lm.loglik.MAX_PADDING); "
                    "1 = token budget only")
    ap.add_argument("--peak-tflops", type=float, help="bf16 peak of the device (default: known GPUs)")
    ap.add_argument("--profile", action="store_true", help="also profile the engineered path once per dtype")
    args = ap.parse_args()

    import torch

    from routerlab.binary.features import FeatureExtractor
    from routerlab.core.batching import token_budget_batches
    from routerlab.lm.loglik import MAX_PADDING

    max_padding = MAX_PADDING if args.max_padding is None else args.max_padding

    torch.set_num_threads(args.threads)
    bf16_flags = native_bf16_flags()
    if args.dtypes or args.dtype:
        dtypes = (args.dtypes or args.dtype).split(",")
    else:
        dtypes = ["float32"] + (["bfloat16"] if args.device.startswith("cuda") or bf16_flags else [])
    cpu_note = (f"native bf16: {', '.join(bf16_flags)}" if bf16_flags
                else "no native bf16 (no avx512_bf16/amx_bf16 in /proc/cpuinfo): bf16 not measured")
    print(f"threads={args.threads} device={args.device} {cpu_note if args.device == 'cpu' else ''}")

    for dtype_name in dtypes:
        dtype = getattr(torch, dtype_name)
        if args.random_config:
            model = random_model(args.random_config, args.device, dtype_name)
            ex = FeatureExtractor.from_model(model, pad_token_id=0, token_budget=args.token_budget,
                                             max_batch_size=args.max_batch_size, max_padding=max_padding)
            prompts = synthetic_prompts(args.n, model.config.vocab_size)
            label = f"{args.random_config} (random weights, synthetic prompts)"
        else:
            from _common import conversations, model_dir

            ex = FeatureExtractor(model_dir(args.model), device=args.device, dtype=dtype_name,
                                  token_budget=args.token_budget, max_batch_size=args.max_batch_size,
                                  max_padding=max_padding)
            prompts = ex.encode(conversations(args.n))
            label = args.model
        lengths = [len(p) for p in prompts]
        batches = token_budget_batches(lengths, args.token_budget, args.max_batch_size, max_padding=max_padding)
        batch_tokens = int(np.mean([len(b) * max(lengths[i] for i in b) for b in batches]))
        prompt_tokens = int(np.mean(lengths))

        def timed(fn, prompts=prompts) -> tuple[float, dict]:
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            t = time.perf_counter()
            out = fn(prompts)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            return time.perf_counter() - t, out

        ex.extract_ids(prompts[:4])  # warm-up
        ex.extract_naive_ids(prompts[:2])
        fast_t, slow_t, limit, limit_naive = [], [], [], []
        for _ in range(args.repeats):  # interleaved, so drift in machine load hits every figure alike
            t, fast = timed(ex.extract_ids); fast_t.append(t)
            limit.append(matmul_limit_gflops(ex.model, batch_tokens, dtype, args.device))
            t, slow = timed(ex.extract_naive_ids); slow_t.append(t)
            limit_naive.append(matmul_limit_gflops(ex.model, prompt_tokens, dtype, args.device))
        tokens = int(fast["n_tokens"].sum())
        diff = np.max(np.abs(fast["hidden_last"].astype(np.float32) - slow["hidden_last"].astype(np.float32)))
        f, s = min(fast_t), min(slow_t)
        lim, lim_naive = max(limit), max(limit_naive)
        flops = useful_flops(ex.model, lengths)
        peak = args.peak_tflops
        if peak is None and args.device.startswith("cuda"):
            name = torch.cuda.get_device_name()
            peak = next((v for k, v in BF16_PEAK_TFLOPS.items() if k in name), None)
            label += f" on {name}"
        print(f"\nmodel={label} dtype={dtype_name} prompts={args.n} prompt_tokens={tokens} "
              f"batches={len(batches)} (mean {batch_tokens} padded tokens, max_padding={max_padding})")
        print(f"matmul limit: {lim:.1f} GFLOP/s on the body's linear shapes at {batch_tokens} tokens "
              f"({lim_naive:.1f} at {prompt_tokens} tokens, one prompt)")
        for what, t in (("engineered", f), ("naive loop", s)):
            gflops = flops / t / 1e9
            share = f", {gflops * 1e-3 / peak:.1%} of {peak:g} bf16 peak" if peak else ""
            print(f"{what}: {t:.2f} s  {tokens / t:,.0f} tok/s  {gflops:.1f} useful GFLOP/s = "
                  f"{gflops / lim:.0%} of the matmul limit{share}")
        print(f"speed-up: {s / f:.2f}x   (max |last-token state diff| = {diff:.3g})")
        if args.profile:
            profile_engineered(ex, prompts)
        del ex


if __name__ == "__main__":
    main()
