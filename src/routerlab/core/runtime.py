"""Run-time helpers every rule script uses: logging to the rule's log, progress, threads, shards."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from routerlab.core.io import read_frame

log = logging.getLogger("routerlab")

def setup_logging(log_file: str | Path | None) -> logging.Logger:
    """Log to the rule's log file (and stderr when run by hand)."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers = [logging.FileHandler(log_file, mode="w")]
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)
    return log


def progress_logger(what: str, every_s: float = 10.0) -> Callable[[int, int], None]:
    """A progress callback that logs count, rate and ETA at most every ``every_s`` seconds."""
    start = time.perf_counter()
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.perf_counter() - start
        if done == total or now - last[0] >= every_s:
            last[0] = now
            rate = done / now if now > 0 else float("nan")
            eta = (total - done) / rate if rate and rate > 0 else float("nan")
            log.info("%s: %d/%d (%.1f%%) %.2f/s, eta %.0fs", what, done, total, 100 * done / max(total, 1), rate, eta)

    return report


def set_threads(n: int) -> None:
    import torch  # lazy: heavy, and only model-running rules need it

    torch.set_num_threads(max(1, int(n)))


def shard_rows(df: pd.DataFrame, shard: int, n_shards: int) -> pd.DataFrame:
    """Contiguous block ``shard`` of ``n_shards`` near-equal blocks, so that concatenating the
    shards in shard order restores dataset order (the feature files keep row order = ids)."""
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard {shard} out of range for {n_shards} shards")
    size, extra = divmod(len(df), n_shards)
    start = shard * size + min(shard, extra)
    return df.iloc[start:start + size + (shard < extra)]

def concat_shards(paths: Sequence[str | Path], order: Sequence[str] | None = None) -> pd.DataFrame:
    """The shard tables of one output concatenated, rows in ``order`` of their ``id`` when given."""
    df = pd.concat([read_frame(p) for p in paths], ignore_index=True)
    if order is not None:
        rank = {k: i for i, k in enumerate(order)}
        df = df.iloc[np.argsort(df["id"].map(rank).to_numpy(), kind="stable")]
    return df.reset_index(drop=True)

def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = df.to_dict("records")
    for r in out:
        if "choices" in r and r["choices"] is not None:
            r["choices"] = list(r["choices"])
    return out
