"""Code scoring: HumanEval-style execution in an isolated subprocess.

Fresh temp dir, ``python -I``, rlimits (memory, CPU, processes, files, file size), a wall
timeout, an environment with no secret, a separate session and (as root) a separate uid,
a supervisor between the scorer and the program that kills everything the program started
and, where the platform allows, pid/network/mount/ipc/uts namespaces with a private
read-only file-system view. See ``sandbox_isolation`` (the comment above its ``_LAUNCHER``) for the
layers and the fallback; ``isolation_level()`` says which one runs here.
"""

from __future__ import annotations

import logging
import math
import os
import re
import signal
import sys
import tempfile

from routerlab.scoring.result import ScoreResult, is_missing, strip_think
from routerlab.scoring.sandbox_isolation import (
    ISOLATION_LEVELS,
    isolation_level,
    network_namespace_available,
    remove_tree,
    run_isolated,
)

__all__ = [
    "ISOLATION_LEVELS",
    "build_program",
    "extract_code",
    "isolation_level",
    "network_namespace_available",
    "score_code",
]
log = logging.getLogger(__name__)
_WARNED: set[str] = set()  # warn once per process, not once per row

_FENCE_RE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


def extract_code(response: str, entry_point: str | None = None) -> str:
    """Code from a fenced block (python-tagged first; the block defining ``entry_point``
    if several), else the raw response."""
    text = strip_think(str(response))
    blocks = [(lang.lower(), body) for lang, body in _FENCE_RE.findall(text)]
    if not blocks:
        return text.strip("\n")
    py = [b for lang, b in blocks if lang in ("python", "py", "python3")] or [b for _, b in blocks]
    if entry_point:
        defining = [b for b in py if re.search(rf"^\s*def\s+{re.escape(entry_point)}\s*\(", b, re.MULTILINE)]
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
    defines = re.search(rf"^def\s+{re.escape(entry_point)}\s*\(", code, re.MULTILINE) is not None
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


# Prepended to every program. A guard against accidents that turns them into clear error
# messages, not a security boundary (ctypes, gc or a class's __mro__ get past any in-process
# patch): the boundary is the process-level isolation below.
_SANDBOX_GUARD = r'''
def _routerlab_sandbox():
    import builtins, io, _io, os, posix, shutil, socket, _socket, subprocess
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
        for mod in (os, posix):  # os re-exports posix: patch both names
            if hasattr(mod, name):
                setattr(mod, name, denied(f"os.{name}"))
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
    builtins.open = io.open = _io.open = guarded_open
    real_os_open = os.open
    def guarded_os_open(path, flags, *a, **k):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC) and not inside(path):
            raise PermissionError(f"writing outside the sandbox directory is not allowed: {path!r}")
        return real_os_open(path, flags, *a, **k)
    os.open = posix.open = guarded_os_open
    def path_guard(fn, what):
        def f(*paths, **k):
            for p in paths[:2]:
                if isinstance(p, (str, bytes, os.PathLike)) and not inside(p):
                    raise PermissionError(f"{what} outside the sandbox directory is not allowed: {p!r}")
            return fn(*paths, **k)
        return f
    for name in ("remove", "unlink", "rmdir", "rename", "replace", "mkdir", "makedirs", "removedirs",
                 "symlink", "link", "chmod", "truncate"):
        for mod in (os, posix):
            if hasattr(mod, name):
                setattr(mod, name, path_guard(getattr(mod, name), f"os.{name}"))
    shutil.rmtree = denied("shutil.rmtree")
    shutil.move = path_guard(shutil.move, "shutil.move")
_routerlab_sandbox()
del _routerlab_sandbox
'''

def _tail(f, limit: int = 4000) -> str:
    f.seek(0, os.SEEK_END)
    f.seek(max(0, f.tell() - limit))
    return f.read().decode("utf-8", "replace")


def _exception_line(stderr: str) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    for ln in reversed(lines):
        if re.match(r"^[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning)\b", ln) or ln.startswith(
                ("AssertionError", "MemoryError", "Traceback")):
            return ln.strip()[:300]
    return (lines[-1].strip() if lines else "")[:300]


def score_code(response: str, prompt: str, test: str, entry_point: str, timeout: float = 10.0,
               memory_mb: int = 1024, *, network_namespace: bool | str = "auto", fsize_mb: int = 8,
               nofile: int = 64, nproc: int = 32, python: str | None = None, guard: bool = True) -> ScoreResult:
    """Run ``check(entry_point)`` on the response's code in an isolated subprocess.

    ``status``: "ok" (ran; score 1.0 if the tests passed, 0.0 on an AssertionError),
    "error" (any other crash, e.g. SyntaxError, MemoryError, a blocked socket, a refused
    fork: 0.0), "timeout" (wall or CPU limit: 0.0), "unparsed" (no code: 0.0).
    ``network_namespace`` picks the isolation level (see the comment above ``_LAUNCHER``):
    "auto" uses namespaces when they work here and falls back to "process" isolation,
    True (or "namespaces") requires them, False (or "process") skips them. Results of the
    namespace level end in " [netns]". ``nproc`` caps the processes and threads of the
    program (RLIMIT_NPROC; it counts only the sandbox's own uid or user namespace).
    ``guard=False`` drops the in-program guard; only for testing the process-level layers.
    """
    if is_missing(response) or not str(response).strip():
        return ScoreResult(0.0, None, "unparsed", "empty response")
    if not entry_point:
        raise ValueError("score_code needs the entry_point (meta['entry_point'] for HumanEval rows)")
    code = extract_code(response, entry_point)
    if not code.strip():
        return ScoreResult(0.0, None, "unparsed", "no code found")
    program = build_program(code, prompt, test, entry_point)
    level = isolation_level(network_namespace)
    tag = " [netns]" if level == "namespaces" else ""
    cpu_s = max(1, math.ceil(timeout) + 1)  # the wall clock normally fires first
    mem, fs = int(memory_mb) * 1024 * 1024, int(fsize_mb) * 1024 * 1024
    rlimits = [("RLIMIT_AS", mem, mem), ("RLIMIT_CPU", cpu_s, cpu_s + 1), ("RLIMIT_NOFILE", nofile, nofile),
               ("RLIMIT_FSIZE", fs, fs), ("RLIMIT_CORE", 0, 0), ("RLIMIT_NPROC", nproc, nproc)]
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    }
    workdir = tempfile.mkdtemp(prefix="routerlab-code-")
    try:
        with open(os.path.join(workdir, "program.py"), "w", encoding="utf-8") as f:
            f.write((_SANDBOX_GUARD + "\n" if guard else "") + program)
        # stdout/stderr live outside the work dir: the program can neither swap nor read them by path
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            st = run_isolated(level, workdir, ["-I", "-B", "program.py"], python or sys.executable, env,
                               rlimits, timeout, out, err)
            stderr = _tail(err)
    finally:
        remove_tree(workdir)
    if st.get("readonly_failed") and str(st["readonly_failed"]) not in _WARNED:
        _WARNED.add(str(st["readonly_failed"]))
        log.warning("code sandbox: could not make these mounts read-only: %s", st["readonly_failed"])
    if "supervisor_died" in st:
        rc = st["supervisor_died"]
        how = f"signal {-rc}" if rc < 0 else f"exit {rc}"
        return ScoreResult(0.0, None, "error", f"sandbox supervisor died ({how}){tag}: {_exception_line(stderr)}")
    if "setup_error" in st:
        log.warning("code sandbox (%s isolation): %s", level, st["setup_error"])
        return ScoreResult(0.0, None, "error", f"sandbox could not run the program{tag}: {st['setup_error']}"[:400])
    if st.get("timeout"):
        return ScoreResult(0.0, None, "timeout", f"wall-clock limit of {timeout:g} s exceeded{tag}")
    rc = st["exit"] if "exit" in st else -st["signal"]
    if rc == 0:
        return ScoreResult(1.0, None, "ok", f"passed{tag}")
    if rc in (-signal.SIGXCPU, -signal.SIGKILL) and not stderr.strip():
        return ScoreResult(0.0, None, "timeout", f"CPU-time limit of {cpu_s} s exceeded (signal {-rc}){tag}")
    if rc == -signal.SIGXFSZ:
        return ScoreResult(0.0, None, "error", f"file-size limit of {fsize_mb} MiB exceeded{tag}")
    if rc < 0:
        return ScoreResult(0.0, None, "error", f"killed by signal {-rc}{tag}: {_exception_line(stderr)}")
    exc = _exception_line(stderr)
    if exc.startswith("AssertionError"):
        return ScoreResult(0.0, None, "ok", f"failed: {exc}{tag}")
    return ScoreResult(0.0, None, "error", f"exit {rc}: {exc}{tag}")
