"""Timings of routerlab.metrics on large inputs.

    python benchmarks/bench_metrics.py [--n 1000000] [--routers 8] [--repeat 3]

Prints the best of ``--repeat`` wall-clock runs per case. The headline case is
``performance_curves_batch`` on 1,000,000 queries x 101 call rates (exact tie handling).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from routerlab.binary import metrics as BM
from routerlab.binary import operating_points as OP
from routerlab.token import metrics as TM


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="queries")
    ap.add_argument("--routers", type=int, default=8, help="routers in the batch case")
    ap.add_argument("--tokens", type=int, default=5_000_000, help="tokens in the token-threshold case")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    n = args.n
    w = (rng.random(n) < 0.6).astype(float)
    s = (rng.random(n) < 0.8).astype(float)
    r = rng.random(n)
    r_tied = np.round(r, 2)  # 101 distinct values: every grid point cuts into a tied group
    R = rng.random((args.routers, n))
    p_tok = rng.random(args.tokens)
    y_tok = (rng.random(args.tokens) < p_tok).astype(float)

    cases = [
        (f"performance_curves_batch  1 router  x {n:,} q x 101, continuous r",
         lambda: BM.performance_curves_batch(w, s, r)),
        (f"performance_curves_batch  1 router  x {n:,} q x 101, tied r (101 values)",
         lambda: BM.performance_curves_batch(w, s, r_tied)),
        (f"performance_curves_batch  {args.routers} routers x {n:,} q x 101",
         lambda: BM.performance_curves_batch(w, s, R)),
        (f"performance_curve compat  1 router  x {n:,} q x 101",
         lambda: BM.performance_curve(w, s, r, mode="compat")),
        (f"exact_curve               {n:,} q (n + 1 points)", lambda: BM.exact_curve(w, s, r_tied)),
        (f"auroc                     {n:,} q", lambda: BM.auroc(w, r)),
        (f"binary_report (all of section 1) {n:,} q", lambda: BM.binary_report(w, s, r)),
        (f"OperatingPointPolicy fit+apply {n:,} q",
         lambda: OP.OperatingPointPolicy().fit(w, s, r_tied).apply(w, s, r_tied)),
        (f"token_threshold_search exact {args.tokens:,} tokens",
         lambda: TM.token_threshold_search(p_tok, y_tok, mode="exact")),
    ]
    try:
        from sklearn.metrics import roc_auc_score

        cases.append((f"(reference) sklearn roc_auc_score {n:,} q", lambda: roc_auc_score(w, r)))
    except ImportError:
        pass

    print(f"numpy {np.__version__}; best of {args.repeat}")
    for name, fn in cases:
        print(f"{best_of(fn, args.repeat) * 1000:9.1f} ms  {name}", flush=True)


if __name__ == "__main__":
    main()
