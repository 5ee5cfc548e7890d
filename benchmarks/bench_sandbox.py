"""Per-completion cost of the code sandbox.

    python benchmarks/bench_sandbox.py [--n 40] [--isolation auto|namespaces|process|all]

Scores ``--n`` HumanEval-style completions (half correct, half failing their tests), one
after another, and prints the mean and median wall-clock seconds per completion for each
isolation level, next to a bare ``python -I -B program.py`` of the same programs (no
isolation at all), so that the difference is the sandbox's overhead on this machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from routerlab.scoring import build_program, score_code

TASKS = [
    ('def add(a, b):\n    """Return a + b."""\n', "def check(c):\n    assert c(2, 3) == 5\n", "add",
     "    return a + b\n", "    return a - b\n"),
    ('def rev(s):\n    """Reverse s."""\n', "def check(c):\n    assert c('abc') == 'cba'\n", "rev",
     "    return s[::-1]\n", "    return s\n"),
    ('def evens(xs):\n    """The even numbers of xs."""\n', "def check(c):\n    assert c([1, 2, 4]) == [2, 4]\n",
     "evens", "    return [x for x in xs if x % 2 == 0]\n", "    return xs\n"),
]


def completions(n: int) -> list[tuple[str, str, str, str, float]]:
    out = []
    for i in range(n):
        prompt, test, entry, good, bad = TASKS[i % len(TASKS)]
        out.append((good if i % 2 == 0 else bad, prompt, test, entry, 1.0 if i % 2 == 0 else 0.0))
    return out


def bare(items) -> list[float]:
    times = []
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "program.py")
        for body, prompt, test, entry, _ in items:
            with open(path, "w") as f:
                f.write(build_program(body, prompt, test, entry))
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-I", "-B", path], capture_output=True, check=False)
            times.append(time.perf_counter() - t0)
    return times


def sandboxed(items, level) -> list[float]:
    times = []
    score_code(*items[0][:4], network_namespace=level)  # the one-off probe is not per completion
    for body, prompt, test, entry, want in items:
        t0 = time.perf_counter()
        res = score_code(body, prompt, test, entry, network_namespace=level)
        times.append(time.perf_counter() - t0)
        if res.score != want:
            raise SystemExit(f"unexpected result {res} for {entry} (wanted {want})")
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40, help="completions per case")
    ap.add_argument("--isolation", default="all", choices=["auto", "namespaces", "process", "all"])
    args = ap.parse_args()
    items = completions(args.n)
    levels = {"auto": ["auto"], "namespaces": [True], "process": [False], "all": [True, False]}[args.isolation]
    rows = [("bare python -I (no sandbox)", bare(items))]
    for level in levels:
        name = {True: "namespaces", False: "process", "auto": "auto"}[level]
        try:
            rows.append((f"score_code, {name} isolation", sandboxed(items, level)))
        except RuntimeError as e:
            print(f"{name}: not available here ({e})")
    print(f"{args.n} completions each, python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    for name, t in rows:
        print(f"  {name:<36} mean {statistics.mean(t) * 1000:7.1f} ms   median {statistics.median(t) * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
