"""GPU slot leases: give each concurrently running job its own devices.

Snakemake's ``--resources gpu=4`` limits how many GPU jobs run at once but never sets
``CUDA_VISIBLE_DEVICES``, so four jobs would all land on device 0. ``lease_gpus(n)`` takes a
non-blocking ``flock`` on ``n`` slot files (one per device) and exports the devices; the
kernel releases the locks when the process exits or is killed, so a dead job never leaks
a GPU. Inside a SLURM job that SLURM gave GPUs (``SLURM_JOB_ID`` and ``CUDA_VISIBLE_DEVICES``
set) those devices are used as they are.

Devices come from ``ROUTERLAB_GPUS`` (e.g. "0,1,2,3"), else a ``CUDA_VISIBLE_DEVICES`` the
user set for the whole run, else ``nvidia-smi -L``. Slot files live in one folder per host,
so nodes that share a file system never block each other's devices. Call it before
anything initialises CUDA.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Sequence

DEFAULT_LOCK_DIR = Path(".snakemake") / "gpu-slots"


def _split(ids: str) -> list[str]:
    return [d.strip() for d in ids.split(",") if d.strip()]


def available_devices() -> list[str]:
    for var in ("ROUTERLAB_GPUS", "CUDA_VISIBLE_DEVICES"):  # a user's CUDA_VISIBLE_DEVICES=2,3 limits the pool
        if os.environ.get(var) is not None:
            return _split(os.environ[var])
    if shutil.which("nvidia-smi"):
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False).stdout
        return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]
    return []


class GpuLease:
    """Holds the slot locks; keep the object alive for the job's lifetime."""

    def __init__(self, devices: list[str], handles: list[int], scheduler: bool = False):
        self.devices = devices
        self._handles = handles
        self.scheduler = scheduler

    def release(self) -> None:
        for fd in self._handles:
            os.close(fd)  # closing drops the flock
        self._handles = []

    def __enter__(self) -> "GpuLease":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def lease_gpus(n: int, lock_dir: str | os.PathLike = DEFAULT_LOCK_DIR, devices: Sequence[str] | None = None,
               timeout_s: float = 3600.0, poll_s: float = 0.5, export: bool = True) -> GpuLease:
    """Lease ``n`` devices; wait up to ``timeout_s`` for free slots. ``n == 0`` leases nothing."""
    if n <= 0:
        if export:
            os.environ["CUDA_VISIBLE_DEVICES"] = ""
        return GpuLease([], [])
    if devices is None and os.environ.get("SLURM_JOB_ID") and os.environ.get("CUDA_VISIBLE_DEVICES"):
        return GpuLease(_split(os.environ["CUDA_VISIBLE_DEVICES"]), [], scheduler=True)
    devices = list(devices) if devices is not None else available_devices()
    if len(devices) < n:
        raise RuntimeError(f"job needs {n} GPU(s) but only {len(devices)} are known ({devices}); "
                           "set ROUTERLAB_GPUS=0,1,... or lower the rule's gpu resource")
    lock_dir = Path(lock_dir) / socket.gethostname()
    lock_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_s
    while True:
        held: list[tuple[str, int]] = []
        for dev in devices:
            fd = os.open(lock_dir / f"gpu{dev}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            held.append((dev, fd))
            if len(held) == n:
                break
        if len(held) == n:
            lease = GpuLease([d for d, _ in held], [fd for _, fd in held])
            if export:
                os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(lease.devices)
            return lease
        for _, fd in held:  # all or nothing: never sit on part of a request (deadlock)
            os.close(fd)
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {n} free GPU slot(s) among {devices} after {timeout_s:.0f}s (locks in {lock_dir})")
        time.sleep(poll_s)
