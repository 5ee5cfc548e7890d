"""Per-token feature extraction for the token router: one teacher-forced batched pass vs a per-token loop.

Both paths produce the same thing for every continuation token (weak greedy token =>
divergence label, last-layer hidden state, embedding of the weak token, top-k
log-probabilities), on the same model, prompts and continuations, measured side by side
in one run (the machine is noisy, so the ratio is what travels):

- engineered (``TokenFeatureExtractor.extract``): prompt + continuation in one forward pass
  per token-budget batch; the LM head runs only at the continuation positions; argmax,
  top-k and embedding lookup on the device; one host copy per batch;
- naive (``extract_naive``): one prompt at a time, one decoding step per continuation token
  (KV cache), a host copy per step: what a per-token generate loop does.

Throughput is continuation tokens labelled per second.

GPU estimate (no device was available for this measurement), printed for the model measured:
FLOPs per labelled token ~ 2 x body parameters x (prompt + continuation) / continuation
(the prompt is processed too) + 2 x LM-head parameters + attention (~4 x layers x hidden x
context). The engineered pass multiplies [8192 tokens, hidden] activations by each weight
matrix: arithmetic intensity ~ 8192 FLOP/byte of bf16 weights, far above an H100/H200's ridge point (~990 TFLOP/s / 3.35-4.8 TB/s ~ 200-300
FLOP/byte), so it is compute-bound: tokens/s ~ MFU x peak / FLOPs per token. The per-token
loop at batch 1 multiplies one token by each weight matrix (intensity ~1 FLOP/byte): it is
bandwidth-bound at best (tokens/s <= bandwidth / weight bytes) and in practice bound by
kernel launches (~12 kernels per layer x ~5 us). The printed numbers are that arithmetic,
not a measurement.

    python benchmarks/bench_token_features.py [--model qwen2.5-coder-0.5b] [--n 12] [--cont 32]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

# Public spec-sheet figures (dense bf16, no sparsity) used for the GPU estimate.
GPUS = {"H100 SXM": (989e12, 3.35e12), "H200": (989e12, 4.8e12)}
MFU = 0.4  # a typical achieved fraction of peak for a large-batch transformer forward pass
LAUNCH_S = 5e-6  # per CUDA kernel launch, eager PyTorch
KERNELS_PER_LAYER = 12


def gpu_estimate(model, mean_prompt: float, mean_cont: float) -> list[str]:
    cfg = model.config
    params = sum(p.numel() for p in model.parameters())  # tied weights counted once
    embed = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    body = params - embed.numel() - (0 if head.data_ptr() == embed.data_ptr() else head.numel())
    # The body runs over prompt + continuation, the LM head only at labelled positions; attention
    # ~4 x layers x hidden x context per token.
    flops = (2 * body * (mean_prompt + mean_cont) / mean_cont + 2 * head.numel()
             + 4 * cfg.num_hidden_layers * cfg.hidden_size * (mean_prompt + mean_cont / 2))
    weight_bytes = 2 * (body + head.numel())  # bf16
    lines = [f"GPU estimate (arithmetic, not measured): {flops / 1e9:.2f} GFLOP per labelled token, "
             f"{weight_bytes / 1e9:.2f} GB of bf16 weights read per forward step"]
    for name, (peak, bw) in GPUS.items():
        batched = MFU * peak / flops
        loop_bw = bw / weight_bytes
        loop_launch = 1 / (KERNELS_PER_LAYER * cfg.num_hidden_layers * LAUNCH_S)
        loop = min(loop_bw, loop_launch)
        lines.append(f"  {name}: batched pass ~{batched:,.0f} tok/s (compute-bound at {MFU:.0%} MFU); "
                     f"per-token loop <= {loop:,.0f} tok/s (min of bandwidth {loop_bw:,.0f} and launch "
                     f"{loop_launch:,.0f}); ratio ~{batched / loop:,.0f}x")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="qwen2.5-coder-0.5b")
    ap.add_argument("--n", type=int, default=12, help="prompts")
    ap.add_argument("--cont", type=int, default=32, help="continuation tokens per prompt")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--top-k", type=int, default=100)
    args = ap.parse_args()

    import torch
    from _common import model_dir

    from routerlab.core.runtime import records
    from routerlab.datasets import load_dataset
    from routerlab.lm.generation import TransformersBackend
    from routerlab.lm.prompts import build_messages
    from routerlab.lm.sampling import SamplingParams
    from routerlab.token.labels import TokenFeatureExtractor

    torch.set_num_threads(args.threads)
    backend = TransformersBackend(model_dir(args.model), dtype="float32", max_batch_size=16)
    tok = backend.tokenizer
    # Chain-of-thought prompts, as the token router's default: continuations run to full length.
    rows = records(load_dataset("arithmetic", {"source": "builtin", "generator": "arithmetic", "n": args.n, "seed": 0}))
    prompts = [tok(t, add_special_tokens=False)["input_ids"]
               for t in backend.render([build_messages(r, "cot") for r in rows])]
    # Continuations: the model's own sampled text, so both paths label real, varied tokens.
    gen = backend.generate_ids(prompts, SamplingParams(max_new_tokens=args.cont, temperature=1.0, seed=0))
    conts = [r["token_ids"] for r in gen]
    ex = TokenFeatureExtractor(tok, backend.model, token_budget=8192, max_batch_size=16, top_k=args.top_k)
    ex.extract(prompts[:2], conts[:2])  # warm-up
    ex.extract_naive(prompts[:1], conts[:1])
    fast_t, slow_t = [], []
    for _ in range(args.repeats):  # interleaved, so drift in machine load hits both alike
        t = time.perf_counter(); fast = ex.extract(prompts, conts); fast_t.append(time.perf_counter() - t)
        t = time.perf_counter(); slow = ex.extract_naive(prompts, conts); slow_t.append(time.perf_counter() - t)
    n_tok = len(fast["label"])
    assert np.array_equal(fast["label"], slow["label"]), "the two paths disagree on labels"
    diff = np.max(np.abs(fast["hidden"].astype(np.float32) - slow["hidden"].astype(np.float32)))
    f, s = min(fast_t), min(slow_t)
    print(f"model={args.model} prompts={args.n} labelled_tokens={n_tok} mean_prompt={np.mean([len(p) for p in prompts]):.0f}"
          f" top_k={args.top_k} threads={args.threads} prevalence={fast['label'].mean():.3f}")
    print(f"engineered (one teacher-forced batched pass): {f:.2f} s  {n_tok / f:,.1f} tok/s")
    print(f"naive (per-token decoding loop):              {s:.2f} s  {n_tok / s:,.1f} tok/s")
    print(f"speed-up: {s / f:.2f}x   labels identical; max |hidden diff| = {diff:.3g}")
    for line in gpu_estimate(backend.model, np.mean([len(p) for p in prompts]), n_tok / len(conts)):
        print(line)


if __name__ == "__main__":
    main()
