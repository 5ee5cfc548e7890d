"""Generation throughput: batched (token budget, length-sorted) vs one prompt at a time,
and the per-call overhead of the openai backend's request-cache hit path.

    python benchmarks/bench_generation.py [--model qwen2.5-coder-0.5b] [--n 32] [--max-new-tokens 16]
"""

from __future__ import annotations

import argparse
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="qwen2.5-coder-0.5b")
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch
    from _common import conversations, model_dir

    from routerlab.lm.generation import TransformersBackend
    from routerlab.lm.openai_backend import OpenAIBackend, RequestCache
    from routerlab.lm.sampling import SamplingParams

    torch.set_num_threads(args.threads)
    convs = conversations(args.n)
    params = SamplingParams(max_new_tokens=args.max_new_tokens)
    be = TransformersBackend(model_dir(args.model), dtype="float32", max_batch_size=16)
    be.generate(convs[:2], params)  # warm-up
    be.max_batch_size = 16
    t = time.perf_counter(); batched = be.generate(convs, params); tb = time.perf_counter() - t
    be.max_batch_size = 1
    t = time.perf_counter(); single = be.generate(convs, params); ts = time.perf_counter() - t
    toks_b = sum(r["response_tokens"] for r in batched)
    toks_s = sum(r["response_tokens"] for r in single)
    same = sum(a["response"] == b["response"] for a, b in zip(batched, single))
    print(f"model={args.model} prompts={args.n} max_new_tokens={args.max_new_tokens} threads={args.threads}")
    print(f"batched (<=16): {tb:.1f} s, {toks_b / tb:.1f} new tok/s, {args.n / tb:.2f} prompts/s")
    print(f"one at a time : {ts:.1f} s, {toks_s / ts:.1f} new tok/s, {args.n / ts:.2f} prompts/s")
    print(f"speed-up (prompts/s): {ts / tb:.2f}x; identical greedy answers: {same}/{args.n}")

    # Request cache: fill it with the answers above, then time a run that is all hits.
    with tempfile.TemporaryDirectory() as d:
        ob = OpenAIBackend(base_url="http://127.0.0.1:9/v1", model="bench", cache_dir=d)
        cache = RequestCache(d)
        for i, c in enumerate(convs):
            cache.put(RequestCache.key(ob._payload(c, params, 0)), {k: batched[i][k] for k in ("response", "prompt_tokens", "response_tokens", "finish_reason", "latency_s")})
        t = time.perf_counter(); hits = ob.generate(convs * 10, params); th = time.perf_counter() - t
        assert ob.stats["sent"] == 0 and len(hits) == 10 * args.n
        print(f"request-cache hit path: {1e6 * th / len(hits):.0f} us per call ({len(hits)} calls, no network)")


if __name__ == "__main__":
    main()
