"""Stress `routerlab serve` on loopback: many concurrent clients, valid and malformed requests.

Starts the server over a packaged model, then ``--clients`` threads send ``--requests`` requests
in all (each on a fresh connection, to stress the listen backlog), a share of them malformed.
Checks: no connection reset or other transport error, every valid request answered 200, every
malformed one a 4xx. Prints counts and p50/p99 latency per kind; exits 1 when a check fails.
Bounded: the clients stop taking new requests after ``--time-limit`` seconds.

    python benchmarks/bench_serve.py [--model smollm2-135m] [--clients 64] [--requests 256]
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

# Each returned 500 or 200 before the server validated requests; (body or raw bytes, expected status)
MALFORMED = [
    ({"messages": "hello"}, 400),
    ({"messages": [{"role": "user"}]}, 400),
    ({"messages": []}, 400),
    ({"max_tokens": -5}, 400),
    ({"temperature": -1}, 400),
    ({"temperature": float("nan")}, 400),
    ({"model": "no-such-model"}, 404),
    (b'{"messages": [', 400),
    ({"messages": [{"role": "user", "content": "word " * 200_000}]}, 400),  # ~1 MB: over the context
]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def start_server(model: str, workdir: Path, args) -> tuple[subprocess.Popen, int]:
    ready = workdir / "url"
    proc = subprocess.Popen([sys.executable, "-m", "routerlab.cli", "serve", "--model-dir", model, "--port", "0",
                             "--served-name", "bench", "--dtype", "float32", "--max-batch", str(args.max_batch),
                             "--threads", str(args.threads), "--ready-file", str(ready)],
                            stdout=subprocess.DEVNULL, stderr=open(workdir / "server.log", "w"))  # noqa: SIM115
    deadline = time.time() + 300
    while not ready.exists():
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise SystemExit((workdir / "server.log").read_text()[-2000:])
        time.sleep(0.2)
    return proc, int(ready.read_text().strip().rsplit(":", 1)[1].split("/")[0])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--requests", type=int, default=256, help="requests in all")
    ap.add_argument("--malformed-every", type=int, default=4, help="every k-th request is malformed (0: none)")
    ap.add_argument("--max-tokens", type=int, default=8)
    ap.add_argument("--max-batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2, help="the server's torch threads")
    ap.add_argument("--time-limit", type=float, default=300.0, help="seconds; no new request after this")
    args = ap.parse_args()

    from _common import conversations, model_dir

    model = model_dir(args.model)
    prompts = conversations(32)
    plan = []  # (kind, body bytes, expected status)
    bad = itertools.cycle(MALFORMED)
    for i in range(args.requests):
        if args.malformed_every and i % args.malformed_every == args.malformed_every - 1:
            body, status = next(bad)
            raw = body if isinstance(body, bytes) else json.dumps(
                {"model": "bench", "messages": prompts[i % len(prompts)], **body}).encode()
            plan.append(("malformed", raw, status))
        else:
            plan.append(("valid", json.dumps({"model": "bench", "messages": prompts[i % len(prompts)],
                                              "max_tokens": args.max_tokens}).encode(), 200))

    results: list[tuple[str, int | str, int, float]] = []  # kind, status or error name, expected, seconds
    lock = threading.Lock()
    todo = iter(plan)
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = start_server(model, Path(tmp), args)
        barrier = threading.Barrier(args.clients)
        stop_at = time.time() + args.time_limit

        def client() -> None:
            barrier.wait()
            while time.time() < stop_at:
                with lock:
                    item = next(todo, None)
                if item is None:
                    return
                kind, raw, expected = item
                start = time.perf_counter()
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=args.time_limit)
                    conn.request("POST", "/v1/chat/completions", body=raw,
                                 headers={"Content-Type": "application/json"})
                    resp = conn.getresponse()
                    resp.read()
                    conn.close()
                    outcome: int | str = resp.status
                except Exception as e:  # noqa: BLE001 - every transport failure is counted, by name
                    outcome = type(e).__name__
                with lock:
                    results.append((kind, outcome, expected, time.perf_counter() - start))

        t0 = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        proc.terminate()
        proc.wait(30)

    errors = Counter(o for _, o, _, _ in results if isinstance(o, str))
    valid = [r for r in results if r[0] == "valid"]
    malformed = [r for r in results if r[0] == "malformed"]
    valid_ok = sum(o == 200 for _, o, _, _ in valid)
    malformed_ok = sum(isinstance(o, int) and 400 <= o < 500 and o == exp for _, o, exp, _ in malformed)
    statuses = Counter(o for _, o, _, _ in results if isinstance(o, int))
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"model={args.model} cpus={cpus} server_threads={args.threads} clients={args.clients} "
          f"max_tokens={args.max_tokens} max_batch={args.max_batch} load_avg_1m={os.getloadavg()[0]:.1f}")
    print(f"sent {len(results)}/{len(plan)} in {wall:.1f} s ({len(results) / wall:.2f} req/s); "
          f"statuses {dict(sorted(statuses.items()))}; transport errors {dict(errors) or 0}")
    for name, rows in (("valid", valid), ("malformed", malformed)):
        lat = [s for _, o, _, s in rows if isinstance(o, int)]
        print(f"{name:9s}: {len(rows)} sent, p50 {percentile(lat, 0.5):.3f} s, p99 {percentile(lat, 0.99):.3f} s, "
              f"max {max(lat, default=float('nan')):.3f} s")
    checks = {"no transport error (reset, timeout)": not errors,
              "every request sent within the time limit": len(results) == len(plan),
              f"every valid request answered 200 ({valid_ok}/{len(valid)})": valid_ok == len(valid),
              f"every malformed request its 4xx ({malformed_ok}/{len(malformed)})": malformed_ok == len(malformed)}
    for what, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}: {what}")
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()
