"""Reading raw records from files in their original formats (jsonl[.gz], json, csv, parquet)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import pandas as pd

from ._core import DatasetError

FILE_TYPES = ("jsonl", "json", "csv", "tsv", "parquet")
_DEFAULT_GLOBS = ("*.jsonl", "*.jsonl.gz", "*.ndjson", "*.json", "*.json.gz", "*.csv", "*.csv.gz", "*.parquet")


@dataclass
class RawRow:
    """One source record and where it came from (for error messages and default ids)."""

    data: Any  # dict for most formats, list for header-less CSV
    file: str  # display name of the file / hub dataset
    index: int  # 0-based position within ``file``
    stem: str | None = None  # file stem when several files are read (part of default ids)
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.file}: row {self.index + 1}"


def file_type(path: str | Path, override: str | None = None) -> str:
    if override:
        if override not in FILE_TYPES:
            raise DatasetError(f"file_type {override!r} is not one of {list(FILE_TYPES)}")
        return override
    name = Path(str(path)).name.lower()
    for suf in (".gz", ".bz2"):
        if name.endswith(suf):
            name = name[: -len(suf)]
    for ext, kind in ((".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "json"), (".csv", "csv"),
                      (".tsv", "tsv"), (".parquet", "parquet"), (".pq", "parquet")):
        if name.endswith(ext):
            return kind
    raise DatasetError(
        f"{path}: cannot tell the file type from its name; use one of .jsonl, .jsonl.gz, .json, .csv, .tsv, "
        f".parquet, or set `file_type:` ({', '.join(FILE_TYPES)}) in the dataset spec"
    )


def _open_text(path: Path):
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _clean(v: Any) -> Any:
    """NaN/NA → None, numpy scalars/arrays → Python objects (parquet/pandas records)."""
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if hasattr(v, "tolist") and not isinstance(v, (str, bytes)):
        return v.tolist()
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        try:
            return v.item()
        except (ValueError, TypeError):
            return v
    return v


def read_file(path: str | Path, *, kind: str | None = None, header: bool = True,
              display: str | None = None) -> Iterator[tuple[int, Any]]:
    """Yield (0-based row index, record) from one file.

    jsonl: one JSON object per non-blank line; json: an array of objects (or an object
    holding one such array); csv/tsv: dict rows when ``header`` else lists; parquet: dicts.
    """
    path = Path(path)
    display = display or str(path)
    kind = file_type(path, kind)
    if not path.is_file():
        raise DatasetError(f"{display}: file not found; check `path:` in the dataset spec")
    try:
        if kind == "jsonl":
            with _open_text(path) as f:
                n = 0
                for lineno, line in enumerate(f, start=1):
                    if not line.strip():
                        continue
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError as e:
                        raise DatasetError(f"{display}: line {lineno} is not valid JSON ({e}); "
                                           "each line of a .jsonl file must hold one JSON object") from None
                    yield n, rec
                    n += 1
        elif kind == "json":
            with _open_text(path) as f:
                try:
                    obj = json.load(f)
                except json.JSONDecodeError as e:
                    raise DatasetError(f"{display}: not valid JSON ({e}); if it holds one object per line, "
                                       "name it .jsonl or set `file_type: jsonl`") from None
            if isinstance(obj, dict):
                lists = [v for v in obj.values() if isinstance(v, list)]
                if len(lists) != 1:
                    raise DatasetError(f"{display}: expected a JSON array of records (or an object holding "
                                       f"exactly one array), got an object with keys {sorted(obj)[:10]}")
                obj = lists[0]
            if not isinstance(obj, list):
                raise DatasetError(f"{display}: expected a JSON array of records, got {type(obj).__name__}")
            yield from enumerate(obj)
        elif kind in ("csv", "tsv"):
            delim = "\t" if kind == "tsv" else ","
            with _open_text(path) as f:
                reader = csv.DictReader(f, delimiter=delim) if header else csv.reader(f, delimiter=delim)
                for i, rec in enumerate(reader):
                    yield i, (dict(rec) if header else list(rec))
        elif kind == "parquet":
            df = pd.read_parquet(path)
            for i, rec in enumerate(df.to_dict("records")):
                yield i, {k: _clean(v) for k, v in rec.items()}
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DatasetError(f"{display}: cannot read as {kind} ({type(e).__name__}: {e})") from None


def expand_path(path: str | Path, globs: Sequence[str] | None = None, recursive: bool = False) -> list[Path]:
    """A file → [file]; a directory → its matching files, sorted by relative path."""
    p = Path(path).expanduser()
    if p.is_file():
        return [p]
    if p.is_dir():
        pats = list(globs or _DEFAULT_GLOBS)
        found: set[Path] = set()
        for pat in pats:
            found.update(x for x in (p.rglob(pat) if recursive else p.glob(pat)) if x.is_file())
        files = sorted(found, key=lambda x: x.relative_to(p).as_posix())
        if not files:
            raise DatasetError(f"{p}: directory holds no files matching {pats}" + (" (searched recursively)"
                                                                                   if recursive else ""))
        return files
    raise DatasetError(f"{p}: no such file or directory; check `path:` in the dataset spec")


def stem(path: Path) -> str:
    name = path.name
    for suf in (".gz", ".bz2", ".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet", ".pq"):
        if name.lower().endswith(suf):
            name = name[: -len(suf)]
    return name
