"""The code sandbox holds against a completion that wants out (issue 17).

Each test is one attack that got through the in-process guard alone: ``posix``/``_io``
instead of the patched ``os``/``io``, a fork bomb, the scorer's environment read through
/proc, a SIGKILL to the parent, a raw socket class from ``socket.socket.__mro__``. Most run
with ``guard=False`` so that they test the process-level layers, not the guard's patches.

Forked children ``exec /bin/sleep 60 <token>``: ``sleep`` adds up its arguments, and the
token (a tiny fraction) makes them findable in /proc from outside any namespace. Attacks
that could kill the scorer run it in a child Python so that pytest survives today's code.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from routerlab.scoring import score_code
from routerlab.scoring.code_sandbox import isolation_level, network_namespace_available

ROOT = Path(__file__).resolve().parents[1]
PROMPT = 'def f(x):\n    """Return x."""\n'
TEST = "def check(candidate):\n    assert candidate(3) == 3\n"
PASS = "    return x\n"
NAMESPACES = network_namespace_available()
# root scorer: the program runs under its own fresh uid at the namespaces level
UID_SEPARATED = NAMESPACES and os.geteuid() == 0
needs_namespaces = pytest.mark.skipif(not NAMESPACES, reason="namespace isolation (`unshare`) does not work here")


def token() -> str:
    return f"0.000{secrets.randbelow(10**9):09d}"  # a valid extra `sleep` argument


def alive(tok: str) -> list[int]:
    """Processes whose command line holds ``tok`` (zombies included: they are gone for good
    only once reaped, and a reaped one has no /proc entry)."""
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                if tok.encode() in f.read():
                    out.append(int(p))
        except OSError:
            pass
    return out


@pytest.fixture()
def private_tmp(tmp_path, monkeypatch):
    """The sandbox's work dirs go here, so that a test can see what is left behind."""
    d = tmp_path / "work"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    return d


@pytest.fixture()
def sleepers():
    """A token for forked sleepers, and whatever of them survives is killed after the test."""
    tok = token()
    yield tok
    for pid in alive(tok):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def run(body: str, **kw):
    kw.setdefault("timeout", 10.0)
    return score_code(body, PROMPT, TEST, "f", **kw)


def fork_sleepers(n: int, tok: str) -> str:
    return (
        "    import posix\n"
        f"    for _ in range({n}):\n"
        "        if posix.fork() == 0:\n"
        "            posix.setsid()\n"  # out of the program's process group
        f"            posix.execv('/bin/sleep', ['sleep', '60', {tok!r}])\n"
    )


def run_in_child(body: str, workdirs: Path, env: dict[str, str] | None = None, **kw) -> tuple[int, dict | None]:
    """score_code in a separate Python started with ``env`` added; (its exit status, the result or None)."""
    script = (
        "import json, sys\n"
        "from routerlab.scoring import score_code\n"
        "res = score_code(sys.argv[1], sys.argv[2], sys.argv[3], 'f', **json.loads(sys.argv[4]))\n"
        "print('RESULT ' + json.dumps(res.as_dict()))\n"
    )
    env = {**os.environ, **(env or {}), "TMPDIR": str(workdirs)}
    p = subprocess.run([sys.executable, "-c", script, body, PROMPT, TEST, json.dumps(kw)], env=env, check=False,
                       capture_output=True, text=True, timeout=120)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    return p.returncode, (json.loads(lines[-1][7:]) if lines else None)


# --------------------------------------------------------------------------- processes

@pytest.mark.parametrize("level", ["auto", "process"])
def test_forked_children_do_not_outlive_the_program(level, sleepers, private_tmp):
    # 20 children in their own sessions, each exec'ing a long sleep; the program itself passes
    res = run(fork_sleepers(20, sleepers) + PASS, guard=False,
              network_namespace="auto" if level == "auto" else False)
    assert (res.score, res.status) == (1.0, "ok"), res
    assert alive(sleepers) == [], "the sandbox left the program's children running"
    assert list(private_tmp.iterdir()) == []


WORLD_PYTHON = next((p for p in ("/usr/bin/python3", "/usr/local/bin/python3") if os.access(p, os.X_OK)
                     and all(os.stat(d).st_mode & 0o001 for d in (os.path.dirname(os.path.realpath(p)), "/usr"))),
                    None)


@pytest.mark.skipif(os.geteuid() != 0 or WORLD_PYTHON is None,
                    reason="needs root and an interpreter other users may run (the process level's uid layer)")
def test_process_level_as_root_runs_under_its_own_uid_and_kills_it_all(sleepers, private_tmp):
    body = (
        "    import os\n"
        "    assert os.getuid() >= 1_000_000 and os.getgid() == os.getuid() and os.getgroups() == [], os.getuid()\n"
        + fork_sleepers(10, sleepers)
        + "    import posix\n"
        "    try:\n"
        "        posix.kill(posix.getppid(), 9)\n"
        "    except PermissionError:\n"
        "        pass\n"
        "    else:\n"
        "        raise AssertionError('signalled the supervisor')\n"
        + PASS
    )
    res = run(body, guard=False, network_namespace=False, python=WORLD_PYTHON)
    assert (res.score, res.status) == (1.0, "ok"), res
    assert alive(sleepers) == []
    assert list(private_tmp.iterdir()) == []


@pytest.mark.skipif(not (UID_SEPARATED or (NAMESPACES and os.geteuid() != 0)),
                    reason="RLIMIT_NPROC binds only a sandbox uid or user namespace of its own")
def test_fork_bomb_is_bounded_by_rlimit_nproc(sleepers, private_tmp):
    body = (
        "    import posix\n"
        "    n = 0\n"
        "    for _ in range(100):\n"
        "        try:\n"
        "            pid = posix.fork()\n"
        "        except OSError:\n"
        "            break\n"
        "        if pid == 0:\n"
        f"            posix.execv('/bin/sleep', ['sleep', '60', {sleepers!r}])\n"
        "        n += 1\n"
        "    assert n < 16, f'{n} processes forked'\n"
        + PASS
    )
    res = run(body, guard=False, nproc=16)
    assert (res.score, res.status) == (1.0, "ok"), res
    assert alive(sleepers) == []
    assert list(private_tmp.iterdir()) == []


def test_the_default_guard_names_posix_fork(private_tmp):
    res = run("    import posix\n    posix.fork()\n" + PASS)
    assert (res.score, res.status) == (0.0, "error"), res
    assert "os.fork is disabled in the routerlab sandbox" in res.detail, res


@pytest.mark.parametrize("level", ["auto", "process"])
def test_killing_the_parent_leaves_the_scorer_alive_and_the_row_failed(level, tmp_path):
    body = "    import posix, time\n    posix.kill(posix.getppid(), 9)\n    time.sleep(1)\n" + PASS
    rc, res = run_in_child(body, tmp_path, guard=False, network_namespace="auto" if level == "auto" else False)
    assert rc == 0 and res is not None, f"the scorer died (exit {rc})"
    assert list(tmp_path.iterdir()) == [], "the work dir was left behind"
    if level == "process" or UID_SEPARATED:
        # a separate uid cannot signal the supervisor (PermissionError); without one the
        # supervisor dies, and the scorer reports that
        assert (res["score"], res["status"]) == (0.0, "error"), res
        assert "PermissionError" in res["detail"] or "sandbox supervisor died (signal 9)" in res["detail"], res
    else:
        # unprivileged user namespace: the supervisor is pid 1 there, which ignores the signal
        assert res["status"] in ("ok", "error"), res


@needs_namespaces
def test_the_program_cannot_see_the_scorer_in_proc(private_tmp):
    # its own pid namespace: pid 1 is the supervisor, the program pid 2; no other process exists
    body = (
        "    import os\n"
        "    assert os.getppid() == 1, os.getppid()\n"
        "    assert sorted(int(p) for p in os.listdir('/proc') if p.isdigit()) == [1, os.getpid()]\n"
        + PASS
    )
    res = run(body, guard=False)
    assert (res.score, res.status) == (1.0, "ok"), res


# --------------------------------------------------------------------------- environment

def test_the_scorer_environment_secret_is_unreadable(tmp_path):
    if not NAMESPACES and os.geteuid() != 0:
        pytest.skip("process isolation without a separate uid cannot hide a same-uid parent's /proc")
    secret = "sk-" + secrets.token_hex(16)
    # /proc/<pid>/environ shows a process's initial environment: the scorer must start with it
    # every ancestor the program can name, up to pid 1, and its own environment
    body = (
        "    import os\n"
        "    seen, pid = [open('/proc/self/environ', 'rb').read()], os.getppid()\n"
        "    while pid > 0:\n"
        "        try:\n"
        "            seen.append(open(f'/proc/{pid}/environ', 'rb').read())\n"
        "        except OSError:\n"
        "            pass\n"
        "        try:\n"
        "            pid = int(open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[1])\n"
        "        except OSError:\n"
        "            break\n"
        f"    assert not any({secret!r}.encode() in s for s in seen), 'secret leaked'\n"
        + PASS
    )
    rc, res = run_in_child(body, tmp_path, env={"ROUTERLAB_TEST_SECRET": secret}, guard=False)
    assert rc == 0 and (res["score"], res["status"]) == (1.0, "ok"), res
    # the direct attack: the parent's environment
    body = (
        "    import os\n"
        "    try:\n"
        "        seen = open('/proc/%d/environ' % os.getppid()).read()\n"
        "    except OSError:\n"
        "        seen = ''\n"  # unreadable is as good as empty
        f"    assert {secret!r} not in seen, 'secret leaked'\n"
        + PASS
    )
    rc, res = run_in_child(body, tmp_path, env={"ROUTERLAB_TEST_SECRET": secret})
    assert rc == 0 and (res["score"], res["status"]) == (1.0, "ok"), res
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- file system

@pytest.mark.skipif(not UID_SEPARATED and not NAMESPACES, reason="no read-only file-system view on this machine")
@pytest.mark.parametrize("how", ["_io.open({p!r}, 'w')", "posix.open({p!r}, posix.O_WRONLY | posix.O_CREAT, 0o644)"])
@pytest.mark.parametrize("where", ["repo", "tmp"])
def test_writes_outside_the_work_dir_do_not_land(how, where, private_tmp):
    target = (ROOT if where == "repo" else Path(tempfile.gettempdir()).parent) / f"SANDBOX_LEAK_{secrets.token_hex(4)}"
    try:
        for guard in (False, True):  # the guard patches _io/posix too now; the mount view holds without it
            res = run("    import _io, posix\n    " + how.format(p=str(target)) + "\n" + PASS, guard=guard)
            assert not target.exists(), f"the program wrote {target}"
            assert (res.score, res.status) == (0.0, "error"), res
        assert list(private_tmp.iterdir()) == []
    finally:
        if target.exists():
            target.unlink()


@needs_namespaces
def test_the_file_system_view_is_private_and_read_only(private_tmp):
    name = f"sandbox-probe-{secrets.token_hex(4)}"
    dirs = ["/etc", "/usr", str(ROOT), "/"]
    body = (
        "    import errno, os\n"
        f"    for d in {dirs!r}:\n"
        "        try:\n"
        f"            os.close(os.open(os.path.join(d, {name!r}), os.O_WRONLY | os.O_CREAT | os.O_EXCL))\n"
        "        except OSError as e:\n"
        # a checkout under /tmp, /root or /home is not even visible: those are fresh tmpfs in the sandbox
        "            assert e.errno in (errno.EROFS, errno.EACCES) or not os.path.isdir(d), (d, e)\n"
        "        else:\n"
        "            raise AssertionError(f'{d} is writable')\n"
        "    assert os.listdir('/tmp') == [os.path.basename(os.getcwd())], os.listdir('/tmp')\n"
        "    assert not os.path.isdir('/home') or not os.listdir('/home')\n"
        "    open('scratch.txt', 'w').write('the work dir is writable')\n"
        + PASS
    )
    try:
        res = run(body, guard=False)
        assert (res.score, res.status) == (1.0, "ok"), res
        assert list(private_tmp.iterdir()) == []
    finally:
        for d in dirs:
            if os.path.exists(os.path.join(d, name)):
                os.unlink(os.path.join(d, name))


def test_the_work_dir_goes_even_when_the_program_locks_it(private_tmp):
    body = (
        "    import os\n"
        "    os.makedirs('a/b')\n"
        "    open('a/b/f', 'w').write('x')\n"
        "    os.chmod('a/b', 0)\n"
        "    os.chmod('a', 0o500)\n"
        + PASS
    )
    res = run(body, guard=False)
    assert (res.score, res.status) == (1.0, "ok"), res
    assert list(private_tmp.iterdir()) == []


# --------------------------------------------------------------------------- network

@pytest.fixture()
def listener():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(5)
    yield srv.getsockname()[1]
    srv.close()


@needs_namespaces
def test_a_raw_socket_class_cannot_reach_loopback(listener, private_tmp):
    # with the guard, socket.socket is its DeniedSocket and __mro__[2] the real _socket.socket
    body = (
        "    import socket\n"
        "    raw = socket.socket.__mro__[2]\n"
        "    s = raw(socket.AF_INET, socket.SOCK_STREAM)\n"
        "    s.settimeout(2)\n"
        f"    s.connect(('127.0.0.1', {listener}))\n"
        + PASS
    )
    res = run(body)
    assert (res.score, res.status) == (0.0, "error"), res
    assert "OSError" in res.detail and res.detail.endswith("[netns]"), res


# --------------------------------------------------------------------------- level

def test_the_isolation_level_is_recorded():
    level = isolation_level()
    assert level == ("namespaces" if NAMESPACES else "process")
    assert isolation_level(False) == "process"
    with pytest.raises(ValueError, match="isolation must be one of"):
        isolation_level("chroot")
    res = run(PASS)
    assert res.detail == ("passed [netns]" if NAMESPACES else "passed"), res


def test_sandbox_overhead_is_small(private_tmp):
    # a loose bound for a loaded 2-core CI machine; bench_sandbox.py measures it properly
    t = time.monotonic()
    for _ in range(3):
        assert run(PASS).score == 1.0
    assert (time.monotonic() - t) / 3 < 5.0
