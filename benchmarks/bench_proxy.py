"""Load test of `routerlab route` on loopback: the latency the proxy adds, and fail-over under a kill.

    python benchmarks/bench_proxy.py [--clients 64] [--requests 1280] [--delay 0.02] [--json out.json]

Two upstreams (separate processes: minimal OpenAI-compatible stubs that answer after
``--delay`` seconds and append every request's nonce to a file) and the proxy (a
`routerlab route` process over the binary ``random`` router, threshold 0.5: about half the
requests go to each upstream; the decision log on). ``--clients`` threads, each with one
keep-alive connection, send ``--requests`` chat requests (each with a unique nonce) per phase:

1. direct: straight to the weak upstream (the baseline);
2. proxied: through the proxy; per-request latency minus the baseline at each quantile is the
   latency the proxy adds (p50 / p99 reported);
3. kill: through the proxy while the strong upstream is SIGKILLed after a third of the
   requests; requests routed to it fail over to the weak one.

Checks in every phase: every request answered exactly once with its own nonce (no loss, no
duplicate), and in the proxied phases one decision-log row per request. Bounded: a fixed
request count per phase and a wall-clock limit (``--phase-timeout``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np


def fake_upstream(name: str, ready: str, received: str, delay: float) -> None:
    """Run a stub upstream (in its own process): answers with the request's nonce after ``delay``."""
    fd = os.open(received, os.O_WRONLY | os.O_CREAT | os.O_APPEND)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            nonce = body["messages"][-1]["content"]
            os.write(fd, (nonce + "\n").encode())  # one write per line: O_APPEND keeps lines whole
            time.sleep(delay)
            data = json.dumps({"id": nonce, "object": "chat.completion", "created": 0, "model": body["model"],
                               "choices": [{"index": 0, "finish_reason": "stop",
                                            "message": {"role": "assistant", "content": nonce}}],
                               "usage": {"prompt_tokens": 8, "completion_tokens": 1, "total_tokens": 9}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    class Server(ThreadingHTTPServer):
        request_queue_size = 1024  # the default backlog of 5 drops connections from 64 clients
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Handler)
    Path(ready).write_text(f"http://127.0.0.1:{server.server_address[1]}/v1\n")
    server.serve_forever()


def wait_ready(proc: subprocess.Popen, ready: Path, log: Path, timeout: float = 120) -> str:
    deadline = time.time() + timeout
    while not (ready.exists() and ready.read_text().endswith("\n")):  # written, not just created
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise RuntimeError(f"{ready} never appeared:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    return ready.read_text().strip()


def start(args: list[str], ready: Path, log: Path) -> tuple[subprocess.Popen, str]:
    with open(log, "w") as err:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)
    return proc, wait_ready(proc, ready, log)


def run_phase(url: str, n: int, clients: int, timeout: float, on_progress=None) -> dict:
    """``n`` requests from ``clients`` threads with one keep-alive connection each."""
    parsed = urllib.parse.urlsplit(url)
    nonces = [uuid.uuid4().hex for _ in range(n)]
    results: list[dict | None] = [None] * n
    counter = iter(range(n))
    lock = threading.Lock()
    done = [0]
    deadline = time.time() + timeout

    def client() -> None:
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
        while time.time() < deadline:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            body = json.dumps({"model": "router", "max_tokens": 1,
                               "messages": [{"role": "user", "content": nonces[i]}]}).encode()
            t0 = time.perf_counter()
            try:
                conn.request("POST", parsed.path + "/chat/completions", body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                payload = resp.read()
                status, headers = resp.status, dict(resp.getheaders())
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
                results[i] = {"status": -1, "error": repr(e), "latency": time.perf_counter() - t0}
                continue
            latency = time.perf_counter() - t0
            answer = json.loads(payload) if status == 200 else {}
            content = answer.get("choices", [{}])[0].get("message", {}).get("content") if answer else None
            results[i] = {"status": status, "latency": latency, "echo": content == nonces[i],
                          "model": headers.get("X-Routerlab-Model", answer.get("model")),
                          "routed": headers.get("X-Routerlab-Routed-To"), "request_id": headers.get("X-Routerlab-Request-Id")}
            with lock:
                done[0] += 1
                k = done[0]
            if on_progress:
                on_progress(k)
        conn.close()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for f in [pool.submit(client) for _ in range(clients)]:
            f.result()
    wall = time.perf_counter() - t0
    answered = [r for r in results if r is not None]
    ok = [r for r in answered if r["status"] == 200 and r["echo"]]
    lat = np.array([r["latency"] for r in ok])
    return {"n": n, "answered": len(answered), "ok": len(ok), "not_sent": n - len(answered),
            "errors": Counter(r["status"] for r in answered if r["status"] != 200),
            "error_examples": sorted({r["error"] for r in answered if "error" in r})[:3],
            "wrong_echo": sum(1 for r in answered if r["status"] == 200 and not r["echo"]),
            "wall_s": wall, "throughput_rps": len(ok) / wall, "latencies": lat, "nonces": nonces, "results": results}


def quantiles(lat: np.ndarray) -> dict[str, float]:
    return {f"p{q}": float(np.percentile(lat, q) * 1e3) for q in (50, 90, 99)} | {"mean": float(lat.mean() * 1e3)}


def received(path: Path) -> Counter:
    return Counter(path.read_text().split()) if path.exists() else Counter()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--requests", type=int, default=1280, help="requests per phase")
    ap.add_argument("--delay", type=float, default=0.02, help="seconds each stub upstream takes to answer")
    ap.add_argument("--phase-timeout", type=float, default=300.0)
    ap.add_argument("--json", help="write the numbers here")
    ap.add_argument("--fake-upstream", nargs=4, metavar=("NAME", "READY", "RECEIVED", "DELAY"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.fake_upstream:
        name, ready, rec, delay = a.fake_upstream
        fake_upstream(name, ready, rec, float(delay))
        return 0

    from routerlab.binary.routers import make_router
    from routerlab.datasets.decision_logs import read_decision_log

    tmp = Path(tempfile.mkdtemp(prefix="bench-proxy-"))
    router = tmp / "results" / "routers" / "random" / "all" / "seed0" / "router.joblib"
    make_router("random", seed=0).fit(None, None).save(router)
    procs: dict[str, subprocess.Popen] = {}
    urls: dict[str, str] = {}
    report: dict = {"clients": a.clients, "requests_per_phase": a.requests, "upstream_delay_s": a.delay,
                    "cpus": os.cpu_count()}
    try:
        for name in ("weak", "strong"):
            procs[name], urls[name] = start(
                [sys.executable, __file__, "--fake-upstream", name, str(tmp / f"{name}.url"),
                 str(tmp / f"{name}.received"), str(a.delay)], tmp / f"{name}.url", tmp / f"{name}.log")
        procs["proxy"], proxy_url = start(
            [sys.executable, "-m", "routerlab.cli", "route", "--router", str(router), "--threshold", "0.5",
             "--upstream", f"weak={urls['weak']}", "--upstream", f"strong={urls['strong']}", "--port", "0",
             "--ready-file", str(tmp / "proxy.url"), "--decision-log", str(tmp / "decisions"), "--timeout", "5",
             "--retries", "1"], tmp / "proxy.url", tmp / "proxy.log")

        def summary(name: str, phase: dict, direct: np.ndarray | None = None) -> dict:
            out = {k: phase[k] for k in ("n", "answered", "ok", "not_sent", "wrong_echo")}
            out.update(errors=dict(phase["errors"]), error_examples=phase["error_examples"], wall_s=round(phase["wall_s"], 2),
                       throughput_rps=round(phase["throughput_rps"], 1), latency_ms=quantiles(phase["latencies"]))
            if direct is not None and len(phase["latencies"]):
                out["added_ms"] = {f"p{q}": float((np.percentile(phase["latencies"], q) - np.percentile(direct, q)) * 1e3)
                                   for q in (50, 90, 99)}
            print(f"[{name}] " + json.dumps(out), flush=True)
            return out

        direct = run_phase(urls["weak"], a.requests, a.clients, a.phase_timeout)
        report["direct"] = summary("direct", direct)
        before = {n: received(tmp / f"{n}.received") for n in ("weak", "strong")}
        proxied = run_phase(proxy_url, a.requests, a.clients, a.phase_timeout)
        report["proxied"] = summary("proxied", proxied, direct["latencies"])
        after = {n: received(tmp / f"{n}.received") for n in ("weak", "strong")}
        got = sum((after[n] - before[n] for n in after), Counter())
        report["proxied"]["upstream_receipts"] = {
            "missing": sum(1 for x in proxied["nonces"] if got[x] == 0),
            "duplicated": sum(1 for x in proxied["nonces"] if got[x] > 1),
            "share_strong": sum(1 for r in proxied["results"] if r and r.get("model") == "strong") / a.requests}

        killed_at = a.requests // 3

        def kill(k: int) -> None:
            if k == killed_at and procs["strong"].poll() is None:
                procs["strong"].send_signal(signal.SIGKILL)
                report["kill_after_answers"] = k

        killed = run_phase(proxy_url, a.requests, a.clients, a.phase_timeout, on_progress=kill)
        report["kill"] = summary("kill", killed, direct["latencies"])
        res = [r for r in killed["results"] if r]
        report["kill"]["failed_over"] = sum(1 for r in res if r.get("routed") == "strong" and r.get("model") == "weak")
        report["kill"]["routed_strong"] = sum(1 for r in res if r.get("routed") == "strong")

        procs["proxy"].send_signal(signal.SIGTERM)  # flushes the decision log
        procs["proxy"].wait(30)
        log = read_decision_log(tmp / "decisions")
        ids = [r["request_id"] for ph in (proxied, killed) for r in ph["results"] if r]
        report["decision_log"] = {"rows": len(log), "unique_request_ids": int(log["request_id"].nunique()),
                                  "client_ids_missing_from_log": len(set(ids) - set(log["request_id"])),
                                  "failovers_logged": int(((log["routed_to"] == "strong") & (log["chosen"] == "weak")).sum())}
        print("[decision log] " + json.dumps(report["decision_log"]), flush=True)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
    for ph in ("direct", "proxied", "kill"):
        r = report[ph]
        assert r["ok"] == r["n"], f"{ph}: {r['n'] - r['ok']} requests lost or failed: {r}"
    assert report["proxied"]["upstream_receipts"]["missing"] == 0
    assert report["proxied"]["upstream_receipts"]["duplicated"] == 0
    assert report["decision_log"]["rows"] == report["decision_log"]["unique_request_ids"] == 2 * a.requests
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
