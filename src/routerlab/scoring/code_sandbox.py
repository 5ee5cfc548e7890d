"""Code scoring: HumanEval-style execution in a subprocess.

Fresh temp dir, ``python -I``, rlimits (memory, CPU, files, file size), wall timeout with
process-group kill, stripped environment, sockets/subprocesses disabled in-process and,
when available, a private network namespace (``unshare -n``).
"""

from __future__ import annotations

import math
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from typing import Callable

from routerlab.scoring.result import ScoreResult, is_missing, strip_think

_FENCE_RE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)


def extract_code(response: str, entry_point: str | None = None) -> str:
    """Code from a fenced block (python-tagged first; the block defining ``entry_point``
    if several), else the raw response."""
    text = strip_think(str(response))
    blocks = [(lang.lower(), body) for lang, body in _FENCE_RE.findall(text)]
    if not blocks:
        return text.strip("\n")
    py = [b for lang, b in blocks if lang in ("python", "py", "python3")] or [b for _, b in blocks]
    if entry_point:
        defining = [b for b in py if re.search(rf"^\s*def\s+{re.escape(entry_point)}\s*\(", b, re.M)]
        if defining:
            return defining[0].strip("\n")
    return max(py, key=len).strip("\n")


def _compiles(src: str) -> bool:
    try:
        compile(src, "<candidate>", "exec")
        return True
    except (SyntaxError, ValueError):
        return False


def build_program(code: str, prompt: str, test: str, entry_point: str) -> str:
    """The checked program: prompt-completion logic + test + ``check(entry_point)``.

    If ``code`` defines ``entry_point`` at top level it is a full solution: it follows the
    prompt (whose imports and helper functions it may use; the prompt's stub, a
    docstring-only function, is overridden), or just the prompt's imports when the prompt
    is not valid Python. Otherwise ``code`` is a completion appended to the prompt.
    """
    prompt = prompt or ""
    defines = re.search(rf"^def\s+{re.escape(entry_point)}\s*\(", code, re.M) is not None
    if defines:
        if _compiles(prompt):
            head = prompt
        else:
            head = "\n".join(ln for ln in prompt.splitlines() if re.match(r"(?:import|from)\s+\w", ln))
        body = head.rstrip("\n") + "\n\n" + code
    else:
        body = prompt + code
        if not _compiles(body):
            lines = code.splitlines()
            if lines and lines[0].strip() and not lines[0].startswith((" ", "\t")):
                # completion whose first line lost its indentation
                body = prompt + "    " + code.lstrip("\n")
                if not _compiles(body):
                    body = prompt + "\n".join(("    " + ln) if ln.strip() else ln for ln in lines)
                if not _compiles(body):
                    body = prompt + code
    return body.rstrip("\n") + "\n\n\n" + (test or "").strip("\n") + f"\n\n\ncheck({entry_point})\n"


# Prepended to every program. A guard against accidents, not a security boundary: the
# real isolation is the rlimits, the temp dir, and (when available) `unshare -n`.
_SANDBOX_GUARD = r'''
def _routerlab_sandbox():
    import builtins, io, os, shutil, socket, _socket, subprocess
    def denied(what):
        def f(*a, **k):
            raise PermissionError(f"{what} is disabled in the routerlab sandbox")
        return f
    net = denied("network access")
    class DeniedSocket(socket.socket):
        def __init__(self, *a, **k):
            raise PermissionError("network access is disabled in the routerlab sandbox")
    for mod in (socket, _socket):
        mod.socket = DeniedSocket
        for name in ("create_connection", "create_server", "socketpair", "fromfd", "getaddrinfo",
                     "gethostbyname", "gethostbyname_ex", "gethostbyaddr", "getnameinfo"):
            if hasattr(mod, name):
                setattr(mod, name, net)
    for name in ("system", "popen", "fork", "forkpty", "execv", "execve", "execvp", "execvpe", "execl",
                 "execle", "execlp", "execlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe", "spawnl",
                 "spawnle", "spawnlp", "spawnlpe", "posix_spawn", "posix_spawnp", "kill", "killpg"):
        if hasattr(os, name):
            setattr(os, name, denied(f"os.{name}"))
    subprocess.Popen = denied("subprocess")
    for name in ("run", "call", "check_call", "check_output", "getoutput", "getstatusoutput"):
        setattr(subprocess, name, denied("subprocess"))
    root = os.path.realpath(os.getcwd())
    def inside(p):
        try:
            p = os.path.realpath(os.fsdecode(p))
        except (TypeError, ValueError):
            return False
        return p == root or p.startswith(root + os.sep)
    real_open = builtins.open
    def guarded_open(file, mode="r", *a, **k):
        if not isinstance(file, int) and any(c in mode for c in "wax+") and not inside(file):
            raise PermissionError(f"writing outside the sandbox directory is not allowed: {file!r}")
        return real_open(file, mode, *a, **k)
    builtins.open = io.open = guarded_open
    real_os_open = os.open
    def guarded_os_open(path, flags, *a, **k):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC) and not inside(path):
            raise PermissionError(f"writing outside the sandbox directory is not allowed: {path!r}")
        return real_os_open(path, flags, *a, **k)
    os.open = guarded_os_open
    def path_guard(fn, what):
        def f(*paths, **k):
            for p in paths[:2]:
                if isinstance(p, (str, bytes, os.PathLike)) and not inside(p):
                    raise PermissionError(f"{what} outside the sandbox directory is not allowed: {p!r}")
            return fn(*paths, **k)
        return f
    for name in ("remove", "unlink", "rmdir", "rename", "replace", "mkdir", "makedirs", "removedirs",
                 "symlink", "link", "chmod", "truncate"):
        if hasattr(os, name):
            setattr(os, name, path_guard(getattr(os, name), f"os.{name}"))
    shutil.rmtree = denied("shutil.rmtree")
    shutil.move = path_guard(shutil.move, "shutil.move")
_routerlab_sandbox()
del _routerlab_sandbox
'''

_NETNS_PREFIX: list[str] | None = None  # probed once per process; [] = unavailable


def _netns_prefix() -> list[str]:
    global _NETNS_PREFIX
    if _NETNS_PREFIX is None:
        exe = shutil.which("unshare")
        prefix: list[str] = []
        if exe and sys.platform.startswith("linux"):
            for flags in ("-n", "-rn"):  # as root; else via an unprivileged user namespace
                try:
                    if subprocess.run([exe, flags, "true"], capture_output=True, timeout=10).returncode == 0:
                        prefix = [exe, flags, "--"]
                        break
                except (OSError, subprocess.SubprocessError):
                    pass
        _NETNS_PREFIX = prefix
    return _NETNS_PREFIX


def network_namespace_available() -> bool:
    """Whether ``unshare -n`` works here (root, or unprivileged user namespaces)."""
    return bool(_netns_prefix())


def _limits(memory_mb: int, cpu_s: int, nofile: int, fsize_mb: int) -> Callable[[], None]:
    def apply() -> None:  # runs in the child between fork and exec: keep it minimal
        mem = int(memory_mb) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        fs = int(fsize_mb) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (fs, fs))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def _tail(path: str, limit: int = 4000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _exception_line(stderr: str) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    for ln in reversed(lines):
        if re.match(r"^[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning)\b", ln) or ln.startswith(
                ("AssertionError", "MemoryError", "Traceback")):
            return ln.strip()[:300]
    return (lines[-1].strip() if lines else "")[:300]


def score_code(response: str, prompt: str, test: str, entry_point: str, timeout: float = 10.0,
               memory_mb: int = 1024, *, network_namespace: bool | str = "auto", fsize_mb: int = 8,
               nofile: int = 64, python: str | None = None, guard: bool = True) -> ScoreResult:
    """Run ``check(entry_point)`` on the response's code in a sandboxed subprocess.

    ``status``: "ok" (ran; score 1.0 if the tests passed, 0.0 on an AssertionError),
    "error" (any other crash, e.g. SyntaxError, MemoryError, a blocked socket: 0.0),
    "timeout" (wall or CPU limit: 0.0), "unparsed" (no code: 0.0).
    ``network_namespace``: "auto" uses ``unshare -n`` when it works, True requires it.
    ``guard=False`` drops the in-process guard (sockets, subprocesses, writes outside the
    temp dir); only for testing the other layers.
    """
    if is_missing(response) or not str(response).strip():
        return ScoreResult(0.0, None, "unparsed", "empty response")
    if not entry_point:
        raise ValueError("score_code needs the entry_point (meta['entry_point'] for HumanEval rows)")
    code = extract_code(response, entry_point)
    if not code.strip():
        return ScoreResult(0.0, None, "unparsed", "no code found")
    program = build_program(code, prompt, test, entry_point)
    use_ns = network_namespace_available() if network_namespace == "auto" else bool(network_namespace)
    if use_ns and not network_namespace_available():
        raise RuntimeError("network_namespace=True but `unshare -n` is not available on this machine")
    workdir = tempfile.mkdtemp(prefix="routerlab-code-")
    try:
        prog_path = os.path.join(workdir, "program.py")
        with open(prog_path, "w", encoding="utf-8") as f:
            f.write((_SANDBOX_GUARD + "\n" if guard else "") + program)
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        }
        cmd = [python or sys.executable, "-I", "-B", prog_path]
        if use_ns:
            cmd = _netns_prefix() + cmd
        cpu_s = max(1, int(math.ceil(timeout)) + 1)  # the wall clock normally fires first
        out_path, err_path = os.path.join(workdir, ".stdout"), os.path.join(workdir, ".stderr")
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            try:
                proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=err, start_new_session=True, close_fds=True,
                                        preexec_fn=_limits(memory_mb, cpu_s, nofile, fsize_mb))
            except OSError as e:
                raise RuntimeError(f"could not start the code sandbox ({cmd[0]}): {e}") from e
            try:
                rc = proc.wait(timeout=timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)  # the program and anything it started
                except (ProcessLookupError, PermissionError):
                    pass
                proc.wait()
        stderr = _tail(err_path)
        ns = " [netns]" if use_ns else ""
        if timed_out:
            return ScoreResult(0.0, None, "timeout", f"wall-clock limit of {timeout:g} s exceeded{ns}")
        rc = proc.returncode
        if rc == 0:
            return ScoreResult(1.0, None, "ok", f"passed{ns}")
        if rc in (-signal.SIGXCPU, -signal.SIGKILL) and not stderr.strip():
            return ScoreResult(0.0, None, "timeout", f"CPU-time limit of {cpu_s} s exceeded (signal {-rc}){ns}")
        if rc == -signal.SIGXFSZ:
            return ScoreResult(0.0, None, "error", f"file-size limit of {fsize_mb} MiB exceeded{ns}")
        if rc < 0:
            return ScoreResult(0.0, None, "error", f"killed by signal {-rc}{ns}: {_exception_line(stderr)}")
        exc = _exception_line(stderr)
        if exc.startswith("AssertionError"):
            return ScoreResult(0.0, None, "ok", f"failed: {exc}{ns}")
        return ScoreResult(0.0, None, "error", f"exit {rc}: {exc}{ns}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
