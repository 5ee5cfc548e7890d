"""GPU slot allocator: pure logic, tested with fake device ids and real processes."""

import os
import signal
import subprocess
import sys

import pytest

from routerlab.core.gpu import lease_gpus

HOLDER = """
import sys, time
from routerlab.core.gpu import lease_gpus
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
    p, devs = hold(tmp_path, 2, "0,1")
    assert sorted(devs) == ["0", "1"]
    with pytest.raises(TimeoutError):
        lease_gpus(1, lock_dir=tmp_path, devices=["0", "1"], timeout_s=0.2, poll_s=0.05, export=False)
    p.send_signal(signal.SIGKILL)  # no clean-up code runs: the kernel drops the locks
    p.wait()
    lease = lease_gpus(2, lock_dir=tmp_path, devices=["0", "1"], timeout_s=0.2, poll_s=0.05, export=False)
    assert lease.devices == ["0", "1"]
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


def test_users_cuda_visible_devices_is_the_pool(tmp_path, monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.delenv("ROUTERLAB_GPUS", raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")  # the user restricted the run to two devices
    first = lease_gpus(1, lock_dir=tmp_path, export=False)
    second = lease_gpus(1, lock_dir=tmp_path, export=False)
    assert first.devices + second.devices == ["2", "3"]
    with pytest.raises(TimeoutError, match=r"no 1 free GPU slot\(s\) among \['2', '3'\]"):
        lease_gpus(1, lock_dir=tmp_path, timeout_s=0.1, poll_s=0.05, export=False)
    first.release()
    second.release()


# A throwaway workflow whose jobs lease devices exactly as workflow/scripts/generate.py does.
GPU_SNAKEFILE = """
rule all:
    input:
        expand("leases/{gpus}gpu/job{i}.txt", gpus=config["gpus"], i=range(config["jobs"])),

rule gpu_job:
    output:
        "leases/{gpus}gpu/job{i}.txt",
    resources:
        gpu=lambda wildcards: int(wildcards.gpus),
    params:
        jobs=config["jobs"],
    script:
        "lease.py"
"""
LEASE_SCRIPT = """
import os, time
from pathlib import Path
from routerlab.core.gpu import lease_gpus

gpu_lease = lease_gpus(snakemake.resources.get("gpu", 0))
out = Path(snakemake.output[0])
holders = out.parent / "holding"
holders.mkdir(exist_ok=True)
(holders / out.name).write_text(os.environ["CUDA_VISIBLE_DEVICES"])
# Stay until every job holds its lease (or 60 s): the jobs provably overlap in time.
deadline = time.time() + 60
while len(list(holders.iterdir())) < snakemake.params.jobs and time.time() < deadline:
    time.sleep(0.05)
out.write_text(os.environ["CUDA_VISIBLE_DEVICES"] + " " + str(len(list(holders.iterdir()))))
"""


@pytest.mark.parametrize("gpus,jobs", [(1, 4), (2, 2)])
def test_snakemake_resources_gpu_4_runs_jobs_on_distinct_devices(tmp_path, gpus, jobs):
    """`snakemake --cores 4 --resources gpu=4`: concurrent jobs, disjoint leases, all freed at the end."""
    (tmp_path / "Snakefile").write_text(GPU_SNAKEFILE)
    (tmp_path / "lease.py").write_text(LEASE_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k not in ("SLURM_JOB_ID", "CUDA_VISIBLE_DEVICES")}
    env["ROUTERLAB_GPUS"] = "3,5,7,9"  # fake ids: the allocator is pure logic
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "4", "--resources", "gpu=4",
                           "--config", f"gpus={gpus}", f"jobs={jobs}"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    leases = [(tmp_path / f"leases/{gpus}gpu/job{i}.txt").read_text().split() for i in range(jobs)]
    assert all(seen == str(jobs) for _, seen in leases), f"jobs did not all run at once: {leases}"
    devices = [d for devs, _ in leases for d in devs.split(",")]
    assert all(len(devs.split(",")) == gpus for devs, _ in leases)
    assert sorted(devices) == ["3", "5", "7", "9"]  # distinct: no device handed out twice
    # Every job has ended, so every slot is free again.
    lease = lease_gpus(4, lock_dir=tmp_path / ".snakemake" / "gpu-slots", devices=["3", "5", "7", "9"],
                       timeout_s=0.1, poll_s=0.05, export=False)
    lease.release()
