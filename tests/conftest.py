import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ROUTERLAB_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real dev datasets not found at {SHARED_DATA} (they live in the project's shared/ folder, "
                    "beside the checkout; set ROUTERLAB_SHARED_DATA to point elsewhere)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """SmolLM2-135M from its PyPI package, materialised once per test session (~40 s)."""
    from routerlab.lm.models import materialise

    out = tmp_path_factory.mktemp("models") / "smollm2-135m"
    materialise({"source": "pypi-gguf", "name": "smollm2-135m"}, out, dtype="float32")
    return out


def written(x: float):
    """``x`` as a table CSV holds it: routerlab.io.CSV_FLOAT_FORMAT keeps 10 significant digits
    (relative error < 5e-10), so a read-back value is compared at that precision, no tighter."""
    return pytest.approx(x, rel=1e-9, abs=1e-12, nan_ok=True)


# --- the tiny real workflow run (test_workflow.py, test_slurm.py) ---

SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def copy_project(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "config", "workflow", "profiles", "envs", ".test"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dest / name)
    return dest


def smk(workdir: Path, *args: str, check: bool = True, timeout: int = 1800) -> subprocess.CompletedProcess:
    if "--configfile" in args:  # test configs are complete: they replace config/config.yaml, not extend it
        args = (*args, "--replace-workflow-config")
    proc = subprocess.run([*SNAKEMAKE, "--cores", "2", *args], cwd=workdir, capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def job_counts(output: str) -> dict[str, int]:
    counts, on = {}, False
    for line in output.splitlines():
        if line.startswith("job ") and "count" in line:
            on = True
            continue
        if on:
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                counts[parts[0]] = int(parts[1])
            elif counts:
                break
    return counts


@pytest.fixture(scope="session")
def tiny_workflow_run(tmp_path_factory):
    """The tiny config run locally: started, SIGKILLed once the first scores exist, resumed.

    Returns (workdir, {finished output: mtime before the kill}, the resumed run). One run per
    session: test_workflow.py checks it, test_slurm.py compares the SLURM run's tables with it.
    """
    wd = copy_project(tmp_path_factory.mktemp("wf"))
    cmd = [*SNAKEMAKE, "--cores", "2", "--configfile", ".test/config.yaml", "--replace-workflow-config"]
    first = subprocess.Popen(cmd, cwd=wd, stdout=subprocess.DEVNULL, stderr=open(wd / "first.log", "w"),
                             start_new_session=True)
    deadline = time.time() + 1500
    while not list((wd / "results" / "scores").rglob("*.parquet")):
        assert first.poll() is None, (wd / "first.log").read_text()[-3000:]
        assert time.time() < deadline, "no score table after 25 min"
        time.sleep(1)
    time.sleep(2)
    os.killpg(first.pid, signal.SIGKILL)  # the whole job tree, as a crash or a preempted node would
    first.wait()
    # A SIGKILLed snakemake leaves its lock behind; a user unlocks, then re-runs.
    smk(wd, "--unlock", "--configfile", ".test/config.yaml")
    # Every finished output, gathered generations included (the most expensive ones); temp()
    # shards are left out: the gather that consumes them deletes them. "Finished" is what Snakemake
    # recorded as finished (`--summary` plan "no update"): a job killed between renaming its output
    # into place and recording it is incomplete, and re-running it is right.
    summary = smk(wd, "--summary", "--configfile", ".test/config.yaml").stdout.splitlines()
    up_to_date = {line.split("\t")[0] for line in summary[1:] if line.endswith("\tno update")}
    finished = {p: p.stat().st_mtime_ns for p in (wd / "results").rglob("*.parquet")
                if "feature_shards" not in p.parts and not p.name.startswith("shard")
                and str(p.relative_to(wd)) in up_to_date}
    assert finished, "nothing had finished before the kill"
    resumed = smk(wd, "--configfile", ".test/config.yaml")
    return wd, finished, resumed
