"""GPU slot allocator: pure logic, tested with fake device ids and real processes."""

import os
import signal
import subprocess
import sys
import time

import pytest

from routerlab.gpu import lease_gpus

HOLDER = """
import sys, time
from routerlab.gpu import lease_gpus
lease = lease_gpus(int(sys.argv[2]), lock_dir=sys.argv[1], devices=sys.argv[3].split(","))
print(",".join(lease.devices), flush=True)
time.sleep(600)
"""


def hold(lock_dir, n, devices):
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock_dir), str(n), devices], stdout=subprocess.PIPE,
                         text=True)
    return p, p.stdout.readline().strip().split(",")


def test_concurrent_jobs_get_distinct_devices(tmp_path):
    procs = [hold(tmp_path, 1, "0,1,2,3") for _ in range(4)]
    try:
        got = [d for _, devs in procs for d in devs]
        assert sorted(got) == ["0", "1", "2", "3"]
        with pytest.raises(TimeoutError, match="no 1 free GPU"):
            lease_gpus(1, lock_dir=tmp_path, devices=["0", "1", "2", "3"], timeout_s=0.3, poll_s=0.1, export=False)
    finally:
        for p, _ in procs:
            p.kill()
            p.wait()


def test_killed_job_frees_its_device(tmp_path):
    p, devs = hold(tmp_path, 2, "0,1,2")
    with pytest.raises(TimeoutError):
        lease_gpus(2, lock_dir=tmp_path, devices=["0", "1", "2"], timeout_s=0.2, poll_s=0.05, export=False)
    p.send_signal(signal.SIGKILL)
    p.wait()
    lease = lease_gpus(2, lock_dir=tmp_path, devices=["0", "1", "2"], timeout_s=2, export=False)
    assert sorted(lease.devices) == sorted(devs) or len(lease.devices) == 2
    lease.release()


def test_tensor_parallel_lease_is_all_or_nothing_and_exports(tmp_path, monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    p, devs = hold(tmp_path, 1, "0,1")
    try:
        with pytest.raises(TimeoutError):
            lease_gpus(2, lock_dir=tmp_path, devices=["0", "1"], timeout_s=0.2, poll_s=0.05)
        # the failed attempt must not keep the free slot locked
        lease = lease_gpus(1, lock_dir=tmp_path, devices=["0", "1"], timeout_s=1)
        assert lease.devices == [d for d in ["0", "1"] if d not in devs]
        assert os.environ["CUDA_VISIBLE_DEVICES"] == lease.devices[0]
        lease.release()
    finally:
        p.kill()
        p.wait()


def test_slurm_allocation_is_honoured(monkeypatch, tmp_path):
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,6")
    lease = lease_gpus(2, lock_dir=tmp_path)
    assert lease.devices == ["5", "6"] and lease.scheduler


def test_too_few_devices_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.setenv("ROUTERLAB_GPUS", "0")
    with pytest.raises(RuntimeError, match="needs 2 GPU.*ROUTERLAB_GPUS"):
        lease_gpus(2, lock_dir=tmp_path)
