"""Atomic file output and small table I/O helpers shared by every stage.

Every output is written to a temporary file in the same directory and renamed into
place, so a killed job never leaves a truncated file that Snakemake would trust.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=suffix or "".join(path.suffixes) + ".tmp", dir=path.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_array(path: str | os.PathLike, array: Any) -> None:
    """One ``.npy`` file, atomically (readers memory-map it)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_json(path: str | os.PathLike) -> Any:
    with open(path) as f:
        return json.load(f)


def write_frame(path: str | os.PathLike, df: pd.DataFrame, meta: dict[str, Any] | None = None) -> None:
    """Write a data frame as parquet atomically; ``meta`` goes into the schema metadata as JSON."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    if meta:
        existing = table.schema.metadata or {}
        table = table.replace_schema_metadata(
            {**existing, b"routerlab": json.dumps(meta, sort_keys=True, default=_json_default).encode()}
        )
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_frame(path: str | os.PathLike) -> pd.DataFrame:
    try:
        return pq.read_table(path).to_pandas()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: table not found; re-run the rule that produces it") from None
    except (pa.ArrowInvalid, OSError) as e:
        raise ValueError(f"{path}: not a readable parquet table ({e}); delete it and re-run") from None


def read_frame_meta(path: str | os.PathLike) -> dict[str, Any]:
    md = pq.read_schema(path).metadata or {}
    raw = md.get(b"routerlab")
    return json.loads(raw) if raw else {}
