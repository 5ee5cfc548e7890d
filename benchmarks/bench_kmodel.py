"""K-model routers at RouterEval's hard-1000 scale: 1000 candidate models x 100,000 queries.

    flock /tmp/routerlab-heavy.lock python benchmarks/bench_kmodel.py [--queries 100000] [--models 1000]

Synthetic outcomes with structure to learn: queries fall in 20 topics (384-d embeddings =
topic centre + noise, like sentence embeddings); model j answers a topic-z query correctly
with probability sigmoid(a_j + b_jz). RouterEval's 80/10/10 split (seed 42). Each router
(knn, linear, mlp) runs in its own process, limited to 2 threads, so its peak RSS is its own:
fit on the 80,000 training queries, predict the 10,000 test queries, then mu / vb / ep.
Reports wall time per phase and peak RSS (ru_maxrss) per router, plus the oracle, the best
single model and the random router for reference. The data are built once (memory-mapped
.npy files in a temporary directory) and not counted in the routers' time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

THREADS = "2"


def build(out: Path, n: int, M: int, dim: int, topics: int = 20, seed: int = 0) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(topics, dim)).astype(np.float32)
    z = rng.integers(0, topics, n)
    a = rng.normal(0.0, 1.0, M)
    b = rng.normal(0.0, 1.5, (M, topics))
    X = np.lib.format.open_memmap(out / "X.npy", mode="w+", dtype=np.float32, shape=(n, dim))
    Y = np.lib.format.open_memmap(out / "Y.npy", mode="w+", dtype=np.float32, shape=(n, M))
    for s in range(0, n, 10_000):
        zz = z[s:s + 10_000]
        X[s:s + 10_000] = centres[zz] + 0.8 * rng.normal(size=(zz.size, dim)).astype(np.float32)
        p = 1.0 / (1.0 + np.exp(-(a[None, :] + b[:, zz].T)))
        Y[s:s + 10_000] = rng.random(p.shape) < p
    X.flush(), Y.flush()
    from routerlab.kmodel.metrics import routereval_split

    tr, va, te = routereval_split(n, 42)
    np.save(out / "split.npy", np.concatenate([tr, va, te]))
    Yte = np.asarray(Y[np.sort(te)])
    means = Yte.mean(axis=0)
    return {"oracle_mu": float(Yte.max(axis=1).mean()), "best_single_mu": float(means.max()),
            "random_mu_expected": float(means.mean()), "n_train": int(tr.size), "n_test": int(te.size)}


def child(kind: str, data: Path, params: dict) -> None:
    """One router: fit, predict, metrics; prints one JSON line."""
    import torch

    from routerlab.core.router import RoutingData
    from routerlab.kmodel.metrics import kmodel_report
    from routerlab.kmodel.routers import make_router

    torch.set_num_threads(int(THREADS))
    X = np.load(data / "X.npy", mmap_mode="r")
    Y = np.load(data / "Y.npy", mmap_mode="r")
    order = np.load(data / "split.npy")
    n = X.shape[0]
    tr, te = np.sort(order[: int(0.8 * n)]), np.sort(order[int(0.9 * n):])
    t0 = time.perf_counter()
    Xtr, Ytr = np.asarray(X[tr]), np.asarray(Y[tr])
    ids = [f"q{i}" for i in range(n)]
    train = RoutingData(ids=[ids[i] for i in tr], embeddings=Xtr)
    test = RoutingData(ids=[ids[i] for i in te], embeddings=np.asarray(X[te]))
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    router = make_router(kind, **params).fit(train, Ytr)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    q = router.predict_proba(test)
    predict_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    rep = kmodel_report(np.asarray(Y[te]), q)
    metrics_s = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"router": kind, "params": params, "load_s": load_s, "fit_s": fit_s, "predict_s": predict_s,
                      "metrics_s": metrics_s, "mu": rep["mu"], "vb": rep["vb"], "ep": rep["ep"],
                      "selection_entropy": rep["selection_entropy"], "peak_rss_mb": peak_mb}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=100_000)
    ap.add_argument("--models", type=int, default=1000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--routers", default="knn,linear,mlp")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--params", default="{}", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, Path(args.data), json.loads(args.params))
        return
    env = {**os.environ, "OMP_NUM_THREADS": THREADS, "OPENBLAS_NUM_THREADS": THREADS, "MKL_NUM_THREADS": THREADS}
    with tempfile.TemporaryDirectory(prefix="bench-kmodel-") as tmp:
        t0 = time.perf_counter()
        ref = build(Path(tmp), args.queries, args.models, args.dim)
        print(f"data: {args.queries:,} queries x {args.models:,} models, {args.dim}-d features, built in "
              f"{time.perf_counter() - t0:.1f}s; train {ref['n_train']:,}, test {ref['n_test']:,}")
        print(f"reference: oracle mu {ref['oracle_mu']:.4f}, best single model {ref['best_single_mu']:.4f}, "
              f"random (expected) {ref['random_mu_expected']:.4f}")
        print(f"{'router':8} {'fit s':>8} {'predict s':>10} {'metrics s':>10} {'total s':>8} {'peak RSS MB':>12} "
              f"{'mu':>7} {'vb':>6} {'ep':>6}")
        for kind in args.routers.split(","):
            cmd = [sys.executable, __file__, "--child", kind, "--data", tmp]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                print(f"{kind}: failed\n{proc.stderr[-3000:]}")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            total = r["fit_s"] + r["predict_s"] + r["metrics_s"]
            print(f"{kind:8} {r['fit_s']:8.1f} {r['predict_s']:10.1f} {r['metrics_s']:10.2f} {total:8.1f} "
                  f"{r['peak_rss_mb']:12.0f} {r['mu']:7.4f} {r['vb']:6.3f} {r['ep']:6.3f}   "
                  f"(process wall {wall:.1f}s incl. start-up and loading {r['load_s']:.1f}s)")


if __name__ == "__main__":
    main()
