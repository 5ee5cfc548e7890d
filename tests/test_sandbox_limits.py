"""The code sandbox's resource limits and how ``score_code`` maps each way a program dies.

``score_code`` has no separate CPU budget: it sets RLIMIT_CPU to ``ceil(timeout) + 1``
seconds (soft; hard one more), so a single-threaded busy loop always meets the wall clock
first (tests/test_scoring.py covers that). To reach the CPU-time branch deterministically,
the sandboxed program lowers its own soft limit (an unprivileged process may always lower
it), and a separate test pins the limits the sandbox itself sets.

The sandbox guard disables ``os.kill``, so programs that kill themselves use
``signal.raise_signal``, which it leaves alone. The program is never pid 1 of its pid
namespace (the sandbox's supervisor is), so the kernel delivers these signals as usual.
"""

from __future__ import annotations

import time

import pytest

from routerlab.scoring import score_code

PROMPT = 'def f(x):\n    """Return x."""\n'
TEST = "def check(candidate):\n    assert candidate(3) == 3\n"
PASS = "    return x\n"  # appended to a body so that the program passes when it survives
MiB = 1024 * 1024


def run(body: str, **kw):
    kw.setdefault("timeout", 10.0)
    kw.setdefault("network_namespace", False)  # the same result strings with or without `unshare`
    return score_code(body, PROMPT, TEST, "f", **kw)


def test_the_sandbox_sets_every_rlimit_it_promises():
    # timeout 2.5 s -> CPU limit ceil(2.5) + 1 = 4 s soft, 5 s hard
    body = (
        "    import resource as R\n"
        "    assert R.getrlimit(R.RLIMIT_CPU) == (4, 5), R.getrlimit(R.RLIMIT_CPU)\n"
        f"    assert R.getrlimit(R.RLIMIT_FSIZE) == ({3 * MiB}, {3 * MiB}), R.getrlimit(R.RLIMIT_FSIZE)\n"
        "    assert R.getrlimit(R.RLIMIT_NOFILE) == (40, 40), R.getrlimit(R.RLIMIT_NOFILE)\n"
        f"    assert R.getrlimit(R.RLIMIT_AS) == ({900 * MiB}, {900 * MiB}), R.getrlimit(R.RLIMIT_AS)\n"
        "    assert R.getrlimit(R.RLIMIT_CORE) == (0, 0), R.getrlimit(R.RLIMIT_CORE)\n"
        "    assert R.getrlimit(R.RLIMIT_NPROC) == (24, 24), R.getrlimit(R.RLIMIT_NPROC)\n"
        + PASS
    )
    for level in (False, "auto"):  # process isolation, and namespaces where they work
        res = run(body, timeout=2.5, fsize_mb=3, nofile=40, memory_mb=900, nproc=24, network_namespace=level)
        assert (res.score, res.status) == (1.0, "ok"), res


def test_cpu_time_limit_is_a_timeout_not_an_error():
    # SIGXCPU at the (lowered) soft limit; the wall clock (20 s) is far away
    body = (
        "    import resource\n"
        "    resource.setrlimit(resource.RLIMIT_CPU, (1, resource.getrlimit(resource.RLIMIT_CPU)[1]))\n"
        "    while True:\n        pass\n"
    )
    res = run(body, timeout=20.0)
    assert (res.score, res.status) == (0.0, "timeout"), res
    # 21 = ceil(20) + 1, the limit the sandbox set (the program lowered it further)
    assert res.detail == "CPU-time limit of 21 s exceeded (signal 24)", res


def test_cpu_time_hard_limit_sigkill_is_a_timeout_too():
    # A program that ignores SIGXCPU is SIGKILLed at the hard limit (one second above the soft one).
    body = (
        "    import resource, signal\n"
        "    signal.signal(signal.SIGXCPU, signal.SIG_IGN)\n"
        "    resource.setrlimit(resource.RLIMIT_CPU, (1, 2))\n"
        "    while True:\n        pass\n"
    )
    res = run(body, timeout=20.0)
    assert (res.score, res.status) == (0.0, "timeout"), res
    assert res.detail == "CPU-time limit of 21 s exceeded (signal 9)", res


def test_wall_clock_limit_names_the_wall_clock():
    # sleeping burns no CPU, so only the wall clock can stop it
    t = time.monotonic()
    res = run("    import time\n    time.sleep(60)\n", timeout=1.0)
    assert time.monotonic() - t < 8.0
    assert (res.score, res.status) == (0.0, "timeout"), res
    assert res.detail == "wall-clock limit of 1 s exceeded", res


def test_file_size_limit_plain_python_gets_efbig():
    # CPython ignores SIGXFSZ, so a write past RLIMIT_FSIZE fails with EFBIG: the file stops at
    # exactly the limit, and an uncaught error is an "error"
    body = (
        "    import errno\n"
        "    with open('small.bin', 'wb') as fh:\n"
        f"        fh.write(b'x' * {MiB // 2})\n"  # under the limit: fine
        "    try:\n"
        "        with open('big.bin', 'wb') as fh:\n"
        f"            fh.write(b'x' * {2 * MiB})\n"
        "    except OSError as e:\n"
        "        assert e.errno == errno.EFBIG, e\n"
        "    else:\n"
        "        raise AssertionError('wrote past the file-size limit')\n"
        "    import os\n"
        f"    assert os.path.getsize('big.bin') == {MiB}, os.path.getsize('big.bin')\n"
        + PASS
    )
    res = run(body, fsize_mb=1)
    assert (res.score, res.status) == (1.0, "ok"), res
    res = run(f"    open('big.bin', 'wb').write(b'x' * {2 * MiB})\n" + PASS, fsize_mb=1)
    assert (res.score, res.status) == (0.0, "error"), res
    assert res.detail == "exit 1: OSError: [Errno 27] File too large", res


def test_file_size_limit_sigxfsz_branch():
    # with SIGXFSZ's default action restored, the write kills the process: the SIGXFSZ branch
    body = (
        "    import signal\n"
        "    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)\n"
        f"    open('big.bin', 'wb').write(b'x' * {2 * MiB})\n"
        + PASS
    )
    res = run(body, fsize_mb=1)
    assert (res.score, res.status) == (0.0, "error"), res
    assert res.detail == "file-size limit of 1 MiB exceeded", res


@pytest.mark.parametrize("sig", ["SIGSEGV", "SIGTERM", "SIGABRT"])
def test_killed_by_signal_is_an_error(sig):
    import signal

    num = int(getattr(signal, sig))
    res = run(f"    import signal\n    signal.raise_signal(signal.{sig})\n" + PASS)
    assert (res.score, res.status) == (0.0, "error"), res
    assert res.detail == f"killed by signal {num}: ", res


def test_killed_by_signal_reports_the_last_stderr_line():
    body = (
        "    import signal, sys\n"
        "    print('about to crash', file=sys.stderr, flush=True)\n"
        "    signal.raise_signal(signal.SIGSEGV)\n"
        + PASS
    )
    res = run(body)
    assert (res.score, res.status) == (0.0, "error"), res
    assert res.detail == "killed by signal 11: about to crash", res
