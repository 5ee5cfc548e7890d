"""Process-level isolation for the code sandbox: a supervisor between the scorer and an
untrusted program, namespaces where the platform allows, a fallback where it does not.

``run_isolated`` runs one ``python <args>`` in a work dir and says how it ended;
``isolation_level`` says which level runs here ("namespaces" or "process").
"""

from __future__ import annotations

import ast
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

# ---------------------------------------------------------------------------------------
# process-level isolation
# ---------------------------------------------------------------------------------------
#
# The program never runs as a direct child of the scorer. `score_code` starts a small
# supervisor (``_LAUNCHER``, a separate ``python -I -S`` with an empty environment), which
#   1. at the "namespaces" level runs under ``unshare --pid --net --mount --ipc --uts --fork
#      --kill-child --mount-proc`` (plus ``--user --map-root-user`` when not root) and builds
#      a private file-system view: fresh tmpfs over /tmp, /var/tmp, /dev/shm, /root, /home and
#      /run (the interpreter's directories are bound back read-only), the work dir bound at
#      /tmp/<its name>, every other mount remounted read-only and nosuid;
#   2. forks the program into its own session with rlimits (address space, CPU, processes,
#      open files, file size, no core), then drops privileges: as root to a fresh random
#      uid/gid with no groups, otherwise into a nested user+mount namespace that locks the
#      read-only mounts; no_new_privs; then execs ``python -I -B program.py`` with a minimal
#      environment holding no secret;
#   3. reaps everything, enforces the wall clock, kills what is left and reports how the
#      program ended on a pipe. At the "namespaces" level the supervisor is pid 1 of the
#      program's pid namespace (the program cannot see or signal the scorer; when pid 1 exits
#      the kernel kills the whole namespace); at the "process" level it is a child
#      subreaper that kills every process of the sandbox uid (or every descendant) at the end.
# The scorer itself is never the program's parent and never shares its uid when it runs as
# root. The in-program guard (``_SANDBOX_GUARD``) only turns common accidents into clear
# error messages.

_LAUNCHER = r'''
import ctypes, os, resource, sys, time
import _signal as signal  # not `signal`: its enum import doubles this script's start-up time
C = eval(sys.argv[1], {"__builtins__": {}})  # a literal written by score_code
libc = ctypes.CDLL(None, use_errno=True)
MS = dict(ro=1, nosuid=2, nodev=4, noexec=8, noatime=1024, nodiratime=2048, relatime=1 << 21)
MS_REMOUNT, MS_BIND, MS_REC = 32, 4096, 16384

def report(**kw):
    os.write(C["status_fd"], repr(kw).encode())

def check(rc, what):
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")

def mount(src, dst, fstype, flags, data=None):
    enc = lambda s: None if s is None else os.fsencode(s)
    check(libc.mount(enc(src), enc(dst), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {dst}")

def private_view():
    keep = [(p, os.open(p, os.O_PATH)) for p in C["keep"]]
    wd = os.open(C["workdir"], os.O_PATH | os.O_DIRECTORY)
    hidden = []
    for d, mode in C["hide"]:
        if os.path.isdir(d) and not os.path.islink(d):
            mount("tmpfs", d, "tmpfs", MS["nosuid"] | MS["nodev"], f"size=16m,mode={mode}")
            hidden.append(d)
    for p, fd in keep:
        if any(p == h or p.startswith(h.rstrip("/") + "/") for h in hidden):
            if os.path.isdir(f"/proc/self/fd/{fd}"):
                os.makedirs(p, 0o755, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(p), 0o755, exist_ok=True)
                open(p, "a").close()
            mount(f"/proc/self/fd/{fd}", p, None, MS_BIND | MS_REC)
    os.makedirs(C["inner_workdir"], 0o755, exist_ok=True)
    mount(f"/proc/self/fd/{wd}", C["inner_workdir"], None, MS_BIND)
    mount(None, C["inner_workdir"], None, MS_REMOUNT | MS_BIND | MS["nosuid"] | MS["nodev"])
    for _, fd in keep:
        os.close(fd)
    os.close(wd)
    writable = set(C["writable"]) | {C["inner_workdir"]}
    failed = []
    for line in open("/proc/self/mountinfo").read().splitlines():
        f = line.split()
        path = f[4].encode().decode("unicode_escape")
        if path in writable:
            continue
        flags = MS_REMOUNT | MS_BIND | MS["ro"] | MS["nosuid"]
        flags |= sum(MS[o] for o in f[5].split(",") if o in MS)
        if libc.mount(None, os.fsencode(path), None, ctypes.c_ulong(flags), None) != 0:
            failed.append(path)
    return failed

def start_program():
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    os.setsid()
    os.chdir(C["inner_workdir"])  # before dropping the uid: its parents need not be searchable
    for name, soft, hard in C["rlimits"]:
        resource.setrlimit(getattr(resource, name), (soft, hard))
    if C["uid"] is not None:
        os.setgroups([])
        os.setresgid(C["uid"], C["uid"], C["uid"])
        os.setresuid(C["uid"], C["uid"], C["uid"])
    elif C["lock_mounts"]:
        check(libc.unshare(0x10000000 | 0x00020000), "unshare(user, mount)")
    check(libc.prctl(38, 1, 0, 0, 0), "prctl(no_new_privs)")
    os.execve(C["argv"][0], C["argv"], C["env"])

def children():
    me, out = str(os.getpid()), []
    for p in os.listdir("/proc"):
        try:
            if p.isdigit() and open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1] == me:
                out.append(int(p))
        except (OSError, IndexError):
            pass
    return out

def sweep():
    # kill every descendant: as the sandbox uid, kill(-1) reaches exactly its processes;
    # orphans are re-parented to this subreaper, so repeat until none is left
    for _ in range(1000):
        if C["uid"] is not None:
            k = os.fork()
            if k == 0:  # one kill(-1) per round: the rounds repeat it
                try:
                    os.setresgid(C["uid"], C["uid"], C["uid"])
                    os.setresuid(C["uid"], C["uid"], C["uid"])
                    os.kill(-1, signal.SIGKILL)
                finally:
                    os._exit(0)
            os.waitpid(k, 0)
        for k in children():
            try:
                os.kill(k, signal.SIGKILL)
            except OSError:
                pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            return
        time.sleep(0.005)

class Deadline(Exception):
    pass

waiting = True

def on_alarm(*_):
    if waiting:
        raise Deadline()

def main():
    global waiting
    libc.prctl(4, 0, 0, 0, 0)  # not dumpable: its /proc/<pid>/fd and environ are root's (status pipe)
    if C["subreaper"]:
        libc.prctl(36, 1, 0, 0, 0)
    try:
        failed = private_view() if C["private_view"] else []
    except OSError as e:
        return report(setup_error=f"private file-system view: {e}")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.close(C["status_fd"])
            start_program()
        except BaseException as e:
            os.write(w, f"{type(e).__name__}: {e}".encode())
        finally:
            os._exit(127)
    os.close(w)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, C["timeout"])
    try:
        while True:
            k, st = os.waitpid(-1, 0)
            if k == pid:
                waiting = False
                status = {"signal": os.WTERMSIG(st)} if os.WIFSIGNALED(st) else {"exit": os.WEXITSTATUS(st)}
                break
    except Deadline:
        waiting = False
        status = {"timeout": True}
    signal.setitimer(signal.ITIMER_REAL, 0)
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    exec_error = os.read(r, 4096).decode("utf-8", "replace")
    if C["subreaper"]:
        sweep()
    if exec_error:
        return report(setup_error=f"could not start the program: {exec_error}")
    report(readonly_failed=failed, **status)

main()
'''

ISOLATION_LEVELS = ("namespaces", "process")
_UNSHARE_FLAGS = ["--pid", "--net", "--mount", "--ipc", "--uts", "--fork", "--kill-child", "--mount-proc"]
_HIDE = [("/tmp", "1777"), ("/var/tmp", "1777"), ("/dev/shm", "1777"), ("/root", "755"), ("/home", "755"),
         ("/run", "755")]
_WRITABLE = ["/tmp", "/var/tmp", "/dev/shm"]  # fresh private tmpfs (16 MiB each)
_WARNED: set[str] = set()
_PROBED: dict[str, str] = {}  # isolation level -> "" (works) or why not; probed once per process
log = logging.getLogger(__name__)


def _interpreter_paths(python: str) -> list[str]:
    """What the program's interpreter needs to see: its prefixes (stdlib, site-packages)."""
    real = os.path.realpath(python)
    # the unresolved path's prefix too: a venv's bin/python finds its pyvenv.cfg there
    paths = {real, os.path.dirname(os.path.dirname(real)), os.path.dirname(os.path.dirname(os.path.abspath(python)))}
    if os.path.realpath(sys.executable) == real:
        paths |= {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths = sorted({os.path.realpath(p) for p in paths if os.path.exists(p)})
    # only the outermost: a path inside another is bound with it (and binding onto a running
    # interpreter's own file would fail with ETXTBSY)
    return [p for p in paths if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in paths)]


def _sandbox_ids() -> int | None:
    """A fresh uid (= gid) for one program when the scorer is root: no file on the machine
    belongs to it, RLIMIT_NPROC counts only its processes, and the sweep can kill exactly them."""
    return 1_000_000 + secrets.randbelow(1_000_000_000) if os.geteuid() == 0 else None


def run_isolated(level: str, workdir: str, argv_tail: list[str], python: str, env: dict[str, str],
                  rlimits: list[tuple[str, int, int]], timeout: float, stdout, stderr) -> dict:
    """Run ``python argv_tail`` in ``workdir`` under the supervisor, ``rlimits`` (name, soft,
    hard) applied to the program, its output to the ``stdout``/``stderr`` files. How it ended:
    {"exit": code} or {"signal": n} or {"timeout": True} (plus "readonly_failed": mounts that
    could not be made read-only), {"setup_error": why} when the program could not be started,
    {"supervisor_died": returncode} when something killed the supervisor itself."""
    uid = _sandbox_ids()
    if level == "process" and uid is not None and not _reachable_by_others(python):
        uid = None  # e.g. an interpreter under /root: run as root, without the uid layer
        if python not in _WARNED:
            _WARNED.add(python)
            log.warning("code sandbox: %s is not readable by other users; the program runs as root", python)
    inner = "/tmp/" + os.path.basename(workdir) if level == "namespaces" else workdir
    if uid is not None and level == "process" and not _searchable_by_others(os.path.dirname(workdir)):
        # python opens its script by absolute path, which the sandbox uid may not traverse
        # (a 0700 TMPDIR): read it relative to the cwd the supervisor set before dropping the uid
        argv_tail = [a for a in argv_tail if a != "program.py"] + ["-c", _RELATIVE_SCRIPT]
    marker = f"ROUTERLAB_SANDBOX_RUN={secrets.token_hex(12)}"
    if uid is not None:
        os.chown(workdir, uid, uid)
    cfg = {
        "workdir": workdir, "inner_workdir": inner, "private_view": level == "namespaces",
        "keep": _interpreter_paths(python), "hide": _HIDE, "writable": _WRITABLE,
        "uid": uid, "lock_mounts": level == "namespaces" and uid is None, "subreaper": level == "process",
        "rlimits": rlimits, "timeout": max(0.01, float(timeout)), "argv": [python, *argv_tail],
        "env": {**env, "HOME": inner, "TMPDIR": inner, "ROUTERLAB_SANDBOX_RUN": marker.split("=", 1)[1]},
    }
    status_r, status_w = os.pipe()
    cfg["status_fd"] = status_w
    cmd = [sys.executable, "-I", "-S", "-B", "-c", _LAUNCHER, repr(cfg)]
    if level == "namespaces":
        cmd = [_unshare(), *_UNSHARE_FLAGS, *([] if os.geteuid() == 0 else ["--user", "--map-root-user"]), "--", *cmd]
    try:
        try:
            proc = subprocess.Popen(cmd, cwd="/", env={}, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                    start_new_session=True, close_fds=True, pass_fds=(status_w,))
        except OSError as e:
            raise RuntimeError(f"could not start the code sandbox ({cmd[0]}): {e}") from e
        finally:
            os.close(status_w)
        try:
            proc.wait(timeout=timeout + 15)  # the supervisor enforces `timeout`; this is a backstop
        except subprocess.TimeoutExpired:
            pass
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # with --kill-child this takes the namespace down
            except OSError:
                pass
            proc.wait()
        raw = b""
        while chunk := os.read(status_r, 65536):
            raw += chunk
    finally:
        os.close(status_r)
    if not raw and level == "process":  # the supervisor was killed: its orphans are the scorer's to end
        _kill_marked(marker)
        if uid is not None:
            _kill_uid(uid)
    if not raw:
        return {"supervisor_died": proc.returncode}
    return ast.literal_eval(raw.decode())


def _kill_marked(marker: str) -> None:
    """SIGKILL every process whose initial environment holds ``marker`` (repeat: a process
    may fork while we look)."""
    needle = marker.encode() + b"\0"
    for _ in range(50):
        found = 0
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                with open(f"/proc/{p}/environ", "rb") as f:
                    if needle in f.read():
                        os.kill(int(p), signal.SIGKILL)
                        found += 1
            except OSError:
                pass
        if not found:
            return
        time.sleep(0.01)


_RELATIVE_SCRIPT = ("import sys; sys.argv[0] = 'program.py'; "
                    "exec(compile(open('program.py', 'rb').read(), 'program.py', 'exec'), "
                    "{'__name__': '__main__', '__file__': 'program.py', '__builtins__': __builtins__})")


def _searchable_by_others(directory: str) -> bool:
    p = os.path.realpath(directory)
    while True:
        if not os.stat(p).st_mode & 0o001:
            return False
        if p == "/":
            return True
        p = os.path.dirname(p)


def _reachable_by_others(path: str) -> bool:
    p = os.path.realpath(path)
    while True:
        st = os.stat(p)
        if not st.st_mode & (0o001 if p != os.path.realpath(path) else 0o005):
            return False
        if p == "/":
            return True
        p = os.path.dirname(p)


def _unshare() -> str:
    return shutil.which("unshare") or "unshare"


def _probe(level: str) -> str:
    """'' when ``level`` works on this machine, else why not (cached per process)."""
    if level not in _PROBED:
        why = ""
        if level == "namespaces" and not (sys.platform.startswith("linux") and shutil.which("unshare")):
            why = "no `unshare` binary (util-linux) on a Linux host"
        if not why:
            workdir = tempfile.mkdtemp(prefix="routerlab-code-probe-")
            try:
                with tempfile.TemporaryFile() as out:
                    st = run_isolated(level, workdir, ["-I", "-S", "-c", "pass"], sys.executable,
                                       {"PATH": "/usr/bin:/bin"}, [], 30.0, out, out)
                    out.seek(0)
                    text = out.read().decode("utf-8", "replace").strip()[-300:]
                if st.get("exit") != 0:
                    why = f"probe failed: {st} {text}".strip()
            except (OSError, RuntimeError, ValueError) as e:
                why = f"probe failed: {e}"
            finally:
                remove_tree(workdir)
        _PROBED[level] = why
        if why and level == "namespaces":
            log.warning("code sandbox: namespace isolation unavailable (%s); falling back to process isolation", why)
        elif level == "namespaces":
            log.info("code sandbox: namespace isolation (pid, net, mount, ipc, uts; read-only view) in use")
    return _PROBED[level]


def network_namespace_available() -> bool:
    """Whether the "namespaces" isolation level (pid, network, mount, ipc, uts namespaces
    via ``unshare``, with a private read-only file-system view) works here."""
    return not _probe("namespaces")


def isolation_level(requested: str | bool = "auto") -> str:
    """The isolation level ``score_code`` uses: "namespaces" when available (or required),
    "process" (own session, rlimits, separate uid when root, subreaper sweep) otherwise."""
    if requested in ("auto", None):
        return "namespaces" if network_namespace_available() else "process"
    if requested is True or requested == "namespaces":
        if not network_namespace_available():
            raise RuntimeError(f"namespace isolation was required but does not work here: {_probe('namespaces')}")
        return "namespaces"
    if requested is False or requested == "process":
        return "process"
    raise ValueError(f"isolation must be one of {('auto', *ISOLATION_LEVELS)}, got {requested!r}")


def remove_tree(path: str) -> None:
    """Remove the work dir whatever the program did to its permissions."""
    def fix(func, p, _exc):
        try:
            os.chmod(os.path.dirname(p), 0o700)
            if os.path.isdir(p) and not os.path.islink(p):
                os.chmod(p, 0o700)
            func(p)
        except OSError:
            pass
    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=fix)
    else:
        shutil.rmtree(path, onerror=fix)
    if os.path.lexists(path):
        shutil.rmtree(path, ignore_errors=True)


def _kill_uid(uid: int) -> None:
    """Backstop when the supervisor itself had to be killed: SIGKILL every process of ``uid``."""
    setpriv = shutil.which("setpriv")
    if setpriv:
        for _ in range(5):
            subprocess.run([setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "kill", "-9", "-1"],
                           env={"PATH": "/usr/bin:/bin"}, capture_output=True, timeout=10, check=False)
