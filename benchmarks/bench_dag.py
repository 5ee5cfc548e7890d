"""DAG build and no-op re-run time of the workflow against its job count (paper-sized configs).

    python benchmarks/bench_dag.py [--sizes 2x2x1,5x3x2,10x5x3,20x9x5] [--profile-largest]

Each size RxDxS is R routers x D datasets x S training seeds, evaluated like RouterXBench:
every router trained on each dataset alone and on the union (D + 1 training sets), tested
on every dataset. For each size, in a scratch copy of the project:

- ``dag``: wall time of ``snakemake -n`` (parse, config checks, DAG build, dry-run report);
- ``noop``: wall time of ``snakemake`` when every output exists and is up to date (empty
  files and folders made from ``--summary``, all with one mtime; checked with ``-n`` first,
  so no real job can start): the re-run that must say "Nothing to be done".

Prints one row per size with both times and the milliseconds per job; a per-job time that
grows with the job count means something is worse than linear. (The faked outputs carry no
job metadata, so the no-op run skips the per-output metadata reads a real re-run does.) ``--profile-largest``
writes a cProfile of the largest dry-run to ``dag.prof`` (``python -m pstats dag.prof``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# Router kinds cycled through to make R routers (mixed: training-free, probes, seeded MLPs).
KINDS = ["max_prob", "entropy", "confidence_margin", "coe", "mean_probe", "dirichlet_probe", "embedding_mlp",
         "random", "logits_margin", "top10_variance", "max_logit", "layer_probe"]


def paper_config(routers: int, datasets: int, seeds: int) -> dict:
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    # Keep the default's datasets (other config sections may name them), add seeded variants.
    extra = {f"d{i:02d}": {"source": "builtin", "generator": ("arithmetic", "multiple_choice")[i % 2], "n": 20,
                           "seed": i} for i in range(2, datasets)}
    cfg["datasets"] = {**cfg["datasets"], **extra}
    names = list(cfg["datasets"])[:datasets]
    cfg["datasets"] = {n: cfg["datasets"][n] for n in names}
    cfg["routers"] = {f"r{i:02d}": {"kind": KINDS[i % len(KINDS)]} for i in range(routers)}
    cfg["training"] = {"sets": {**{n: [n] for n in names}, "all": names}, "seeds": list(range(seeds))}
    cfg["evaluation"] = {"test": names}
    return cfg


def scratch_project(dest: Path, cfg: dict) -> Path:
    dest.mkdir(parents=True)
    for name in ("Snakefile", "workflow", "envs", "profiles", "config"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dest / name)
    (dest / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    return dest


def snakemake(cwd: Path, *args: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=3600)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"snakemake {' '.join(args)} failed in {cwd}:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return elapsed, proc.stdout + proc.stderr


def directory_rules(wd: Path) -> set[str]:
    """Rules whose outputs are directory(...) (read from the rule files)."""
    found = set()
    for f in (wd / "workflow" / "rules").glob("*.smk"):
        for block in re.split(r"^rule ", f.read_text(), flags=re.M)[1:]:
            out = re.search(r"^    output:\n((?:        .*\n)+)", block, re.M)
            if out and "directory(" in out.group(1):
                found.add(block.split(":")[0].strip())
    return found


def fake_all_outputs(wd: Path) -> None:
    """Create every output the DAG lists (empty files / folders), all with one mtime, so that
    the workflow looks finished. No job runs. (``--touch`` would also record metadata, but it
    schedules every job: over 15 min for 8,000 jobs.)"""
    dirs = directory_rules(wd)
    _, summary = snakemake(wd, "--summary")
    outputs = []
    for line in summary.splitlines():
        parts = line.split("\t")
        if len(parts) < 6 or parts[0] == "output_file":
            continue
        path, rule = wd / parts[0], parts[2]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(exist_ok=True) if rule in dirs else path.touch()
        outputs.append(path)
    now = time.time()
    for path in outputs:
        os.utime(path, (now, now))


def job_total(dry_run_output: str) -> int:
    m = re.search(r"^total\s+(\d+)\s*$", dry_run_output, re.M)
    if not m:
        raise RuntimeError("no job total in the dry-run output:\n" + dry_run_output[-2000:])
    return int(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="2x2x1,5x3x2,10x5x3,20x9x5", help="comma-separated RxDxS")
    ap.add_argument("--profile-largest", action="store_true", help="cProfile the largest dry-run into dag.prof")
    args = ap.parse_args()

    sizes = [tuple(int(x) for x in s.split("x")) for s in args.sizes.split(",")]
    print(f"{'size':>9} {'jobs':>7} {'dag_s':>7} {'noop_s':>7} {'dag_ms/job':>10} {'noop_ms/job':>11}")
    with tempfile.TemporaryDirectory(prefix="bench-dag-") as tmp:
        for r, d, s in sizes:
            wd = scratch_project(Path(tmp) / f"{r}x{d}x{s}", paper_config(r, d, s))
            dag_s, out = snakemake(wd, "-n", "--quiet=rules")
            jobs = job_total(out)
            fake_all_outputs(wd)
            _, out = snakemake(wd, "-n")  # never start real jobs: the timed run must be a no-op
            if "Nothing to be done" not in out:
                raise RuntimeError(f"the faked outputs are not all up to date:\n{out[-3000:]}")
            noop_s, out = snakemake(wd)
            print(f"{r}x{d}x{s:<5} {jobs:>7} {dag_s:>7.2f} {noop_s:>7.2f} {1000 * dag_s / jobs:>10.2f} "
                  f"{1000 * noop_s / jobs:>11.2f}", flush=True)
        if args.profile_largest:
            r, d, s = max(sizes, key=lambda x: x[0] * x[1] * x[2])
            wd = Path(tmp) / f"{r}x{d}x{s}"
            subprocess.run([sys.executable, "-m", "cProfile", "-o", str(Path.cwd() / "dag.prof"), "-m", "snakemake",
                            "--cores", "2", "-n", "--quiet=rules"], cwd=wd, check=True, capture_output=True)
            print(f"profile of the {r}x{d}x{s} dry-run: dag.prof")


if __name__ == "__main__":
    main()
