"""The workflow through `snakemake --profile slurm` on a real single-node SLURM cluster.

The cluster (munged + slurmctld + slurmd, Debian's SLURM) is brought up on this machine by
the project's scripts/slurm/single-node-up.sh (as root; it apt-installs what is missing) and
torn down by scripts/slurm/single-node-down.sh. Every rule that is not a localrule becomes its
own SLURM job through snakemake-executor-plugin-slurm; nothing is mocked. There is no slurmdbd,
so the evidence comes from `squeue --states=all` (finished jobs stay visible for MinJobAge =
1 h), `scontrol show job` and the jobcomp log.

Runs as root where the cluster can be brought up (always in CI, which sets CI=true: there a
cluster that cannot start is a failure, not a skip). Elsewhere it skips with the reason.
Each snakemake call is wrapped in `timeout -k 10` (a hung snakemake ignores SIGTERM).
"""

import os
import re
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT, SNAKEMAKE, copy_project, job_counts

# The project's own bring-up scripts; ROUTERLAB_SLURM_SCRIPTS points at other ones.
SLURM_SCRIPTS = Path(os.environ.get("ROUTERLAB_SLURM_SCRIPTS", ROOT / "scripts" / "slurm"))
IN_CI = os.environ.get("CI", "").lower() == "true"
# Seconds for the whole tiny workflow through SLURM (measured: 60 jobs in 11 min on 2 cores).
RUN_LIMIT = int(os.environ.get("ROUTERLAB_SLURM_TIMEOUT", "2400"))
JOBCOMP = Path("/var/log/slurm/jobcomp.log")
TINY = ["--configfile", ".test/config.yaml", "--replace-workflow-config"]


# --------------------------------------------------------------- no cluster needed


def test_workflow_profile_never_overrides_the_slurm_profile():
    """profiles/default is applied on every run and replaces the --profile's keys one by one."""
    default = yaml.safe_load((ROOT / "profiles/default/config.yaml").read_text()) or {}
    slurm = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    clashes = {k: (v, slurm[k]) for k, v in default.items() if k in slurm and slurm[k] != v}
    assert not clashes, f"profiles/default would override profiles/slurm: {clashes}"
    assert "default-resources" not in default and "set-resources" not in default


def planned_resources(output: str, rule: str) -> dict[str, str]:
    """Resources of the first `rule` job in a dry-run's output."""
    block = output.split(f"\nrule {rule}:\n", 1)[1].split("\n\n", 1)[0]
    line = next(x for x in block.splitlines() if x.strip().startswith("resources:"))
    return dict(kv.split("=", 1) for kv in line.split(":", 1)[1].strip().split(", "))


@pytest.mark.parametrize("profile", ["slurm", "profiles/slurm"])
def test_profile_resolves_from_the_project_root(profile):
    """`--profile slurm` (the ./slurm link) and `--profile profiles/slurm` give the same plan,
    with the slurm profile's resources intact next to the automatic workflow profile."""
    out = subprocess.run([*SNAKEMAKE, "-n", "--profile", profile, *TINY], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert f"Using profiles {profile} and workflow specific profile profiles/default" in out.stderr
    generate = planned_resources(out.stdout, "generate")
    assert generate["slurm_partition"] == "debug" and generate["runtime"] == "240"  # set-resources
    assert generate["mem_mb"] == "8000" and generate["gpu"] == "0"  # the rule's own
    score = planned_resources(out.stdout, "score")
    assert score["runtime"] == "30" and score["mem_mb"] == "2000"  # the profile's default-resources


def test_bring_up_scripts_ship_with_the_project():
    """The cluster scripts are the project's own (no folder beside the checkout) and parse."""
    for name in ("single-node-up.sh", "single-node-down.sh"):
        script = SLURM_SCRIPTS / name
        assert script.is_file(), f"{script} is missing"
        check = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stderr


# ------------------------------------------------------------------ the cluster


def squeue(*job_ids: str) -> dict[str, tuple[str, str]]:
    """job id -> (state, rule) for finished and running jobs, from `squeue --states=all`."""
    out = subprocess.run(["squeue", "-h", "--states=all", "-o", "%i|%T|%k", "-j", ",".join(job_ids)],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    jobs = {}
    for line in out.splitlines():
        jid, state, comment = line.split("|", 2)
        jobs[jid] = (state, comment.removeprefix("rule_").split("_wildcards_")[0])
    return jobs


def submitted(log: str) -> list[str]:
    return re.findall(r"has been submitted with SLURM jobid (\d+)", log)


def snakemake_with_timeout(cwd: Path, *args: str, limit: int) -> subprocess.CompletedProcess:
    proc = subprocess.run(["timeout", "-k", "10", str(limit), *SNAKEMAKE, *args], cwd=cwd, capture_output=True,
                          text=True)
    (cwd / f"snakemake-{time.time_ns()}.log").write_text(proc.stdout + proc.stderr)  # kept for debugging
    assert proc.returncode not in (124, 137), f"snakemake {' '.join(args)} hung past {limit} s:\n{proc.stderr[-4000:]}"
    return proc


def cannot_start_reason() -> str | None:
    """Why this machine cannot run a cluster (a failure in CI, a skip elsewhere), or None."""
    if os.geteuid() != 0:
        return "starting a SLURM cluster (daemons, /etc/slurm, apt-get) needs root"
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return "snakemake-executor-plugin-slurm is not installed (pip install -c constraints.txt -e '.[dev]')"
    return None


@pytest.fixture(scope="module")
def cluster():
    reason = cannot_start_reason()
    if reason:
        (pytest.fail if IN_CI else pytest.skip)(f"SLURM tests: {reason}")
    already_up = shutil.which("scontrol") and "is UP" in subprocess.run(
        ["scontrol", "ping"], capture_output=True, text=True, timeout=60).stdout
    up = subprocess.run(["bash", str(SLURM_SCRIPTS / "single-node-up.sh")], capture_output=True, text=True,
                        timeout=600)
    if up.returncode != 0:
        (pytest.fail if IN_CI else pytest.skip)(
            f"single-node-up.sh failed:\n{up.stdout[-2000:]}\n{up.stderr[-3000:]}")
    yield
    if not already_up:  # leave a cluster that was running before alone
        subprocess.run(["bash", str(SLURM_SCRIPTS / "single-node-down.sh")], capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    """The tiny config through the literal `snakemake --profile slurm`, from a project copy."""
    wd = copy_project(tmp_path_factory.mktemp("slurm"))
    os.symlink("profiles/slurm", wd / "slurm")  # as in the repository
    plan = job_counts(subprocess.run([*SNAKEMAKE, "-n", "--profile", "slurm", *TINY], cwd=wd, capture_output=True,
                                     text=True, timeout=300, check=True).stdout)
    t0 = time.time()
    proc = snakemake_with_timeout(wd, "--profile", "slurm", *TINY, limit=RUN_LIMIT)
    print(f"tiny workflow through SLURM: {time.time() - t0:.0f} s, exit {proc.returncode}")
    return wd, plan, proc


@pytest.mark.slurm
@pytest.mark.slow
def test_tiny_workflow_runs_through_slurm(slurm_run):
    wd, plan, proc = slurm_run
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    ids = submitted(log)
    jobs = squeue(*ids)
    assert sorted(jobs) == sorted(ids), "squeue does not know every submitted job"
    assert {state for state, _ in jobs.values()} == {"COMPLETED"}, jobs
    per_rule = Counter(rule for _, rule in jobs.values())
    # model and GPU rules are SLURM jobs; each rule ran exactly as often as the dry-run planned
    assert {"materialise_model", "generate", "features", "score", "train", "predict"} <= set(per_rule), per_rule
    assert {r: n for r, n in per_rule.items() if plan.get(r) != n} == {}, (per_rule, plan)
    finished = {m.group(1) for m in re.finditer(r"^JobId=(\d+) .*JobState=COMPLETED", JOBCOMP.read_text(), re.M)}
    assert set(ids) <= finished, "the jobcomp log lacks some jobs"
    # the profile's resources reached sbatch (a default-resources in profiles/default would drop them)
    score_job = next(j for j, (_, rule) in jobs.items() if rule == "score")
    show = subprocess.run(["scontrol", "show", "job", score_job], capture_output=True, text=True, check=True).stdout
    assert "TimeLimit=00:30:00" in show and "Partition=debug" in show and "mem=2000M" in show, show
    generate_job = next(j for j, (_, rule) in jobs.items() if rule == "generate")
    show = subprocess.run(["scontrol", "show", "job", generate_job], capture_output=True, text=True, check=True).stdout
    assert "TimeLimit=04:00:00" in show and "NumCPUs=2" in show and "mem=8000M" in show, show


@pytest.mark.slurm
@pytest.mark.slow
def test_slurm_run_equals_the_killed_and_resumed_local_run(slurm_run, tiny_workflow_run):
    """The uninterrupted SLURM run against the local run that was SIGKILLed and resumed: every
    table byte for byte, every stage's parquet output frame for frame."""
    wd, _, proc = slurm_run
    assert proc.returncode == 0
    local = tiny_workflow_run[0]
    tables = sorted(p.relative_to(local) for p in (local / "results/tables").iterdir())
    assert {"main.md", "main.csv", "main.tex", "routereval_easy.csv", "r2router.csv"} <= {p.name for p in tables}
    assert tables == sorted(p.relative_to(wd) for p in (wd / "results/tables").iterdir())
    for rel in tables:
        assert (wd / rel).read_bytes() == (local / rel).read_bytes(), rel
    stages = ("data", "generations", "scores", "labels", "predictions")
    frames = sorted(p.relative_to(local) for stage in stages for p in (local / "results" / stage).rglob("*.parquet"))
    assert any(p.parts[1] == "generations" for p in frames) and any(p.parts[1] == "predictions" for p in frames)
    assert frames == sorted(p.relative_to(wd) for stage in stages for p in (wd / "results" / stage).rglob("*.parquet"))
    for rel in frames:  # latency_s is a wall-clock measurement of the run, not an output of the data
        slurm, resumed = (pd.read_parquet(d / rel).drop(columns=["latency_s"], errors="ignore") for d in (wd, local))
        pd.testing.assert_frame_equal(slurm, resumed, obj=str(rel))


@pytest.mark.slurm
@pytest.mark.slow
def test_slurm_rerun_submits_nothing(slurm_run):
    wd, _, proc = slurm_run
    assert proc.returncode == 0
    again = snakemake_with_timeout(wd, "--profile", "slurm", *TINY, limit=300)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
    assert submitted(again.stdout + again.stderr) == []


# A throwaway workflow on the project's profile: a job that fails until fixed, and a job
# that needs more time than its first attempt gets (SLURM kills it at the time limit).
FAILURES = r"""
rule quick:
    output:
        "quick.txt",
    shell:
        "echo $SLURM_JOB_ID > {output}"


rule flaky:
    output:
        "flaky.txt",
    shell:
        "test -e fixed || {{ echo 'failing on purpose' >&2; exit 3; }}; echo $SLURM_JOB_ID > {output}"


rule slow:
    output:
        "slow.txt",
    resources:
        runtime=lambda wildcards, attempt: 1 if attempt == 1 else 5,  # minutes
    shell:
        # outlives a 1-minute limit; fine once a retry grants more time
        "if [ {resources.runtime} -lt 2 ]; then sleep 600; fi; echo $SLURM_JOB_ID > {output}"
"""


@pytest.mark.slurm
@pytest.mark.slow
def test_failed_and_timed_out_jobs_are_reported_retried_and_resumed(cluster, tmp_path):
    (tmp_path / "Snakefile").write_text(FAILURES)
    profile = str(ROOT / "profiles" / "slurm")  # the path form of --profile

    # 1. A failing job: snakemake exits non-zero (not by timeout); SLURM has it FAILED.
    first = snakemake_with_timeout(tmp_path, "--profile", profile, "--retries", "0", "quick.txt", "flaky.txt",
                                   limit=600)
    log = first.stdout + first.stderr
    assert first.returncode != 0, log[-4000:]
    assert "Error in rule flaky" in log
    states = {rule: state for state, rule in squeue(*submitted(log)).values()}
    assert states == {"quick": "COMPLETED", "flaky": "FAILED"}, states
    quick_mtime = (tmp_path / "quick.txt").stat().st_mtime_ns

    # 2. Fixed, plus a job that SLURM kills at its 1-minute limit: the profile's `retries: 1`
    #    resubmits it with attempt 2 (5 minutes); quick.txt is not redone.
    (tmp_path / "fixed").touch()
    second = snakemake_with_timeout(tmp_path, "--profile", profile, "quick.txt", "flaky.txt", "slow.txt", limit=900)
    log = second.stdout + second.stderr
    assert second.returncode == 0, log[-4000:]
    jobs = squeue(*submitted(log))
    per_rule = sorted((rule, state) for state, rule in jobs.values())
    assert per_rule == [("flaky", "COMPLETED"), ("slow", "COMPLETED"), ("slow", "TIMEOUT")], per_rule
    assert (tmp_path / "quick.txt").stat().st_mtime_ns == quick_mtime
    slow_id = (tmp_path / "slow.txt").read_text().strip()
    assert jobs[slow_id] == ("COMPLETED", "slow")  # written by the retry, inside SLURM
    assert re.search(rf"JobId={slow_id} .*TimeLimit=5 ", JOBCOMP.read_text())
