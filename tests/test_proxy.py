"""`routerlab route`: thresholds, the decision log, faults, and the routed path end to end.

The fast tests run the proxy in-process over fake upstreams (http.server) with a real saved
router that needs no model (the binary ``random`` router, seeded per request hash); the slow
one starts two real `routerlab serve` upstreams and the proxy CLI over a probe trained on the
weak model's hidden states.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from routerlab.binary.routers import make_router
from routerlab.core.io import write_frame
from routerlab.datasets import load_dataset
from routerlab.datasets.decision_logs import DECISION_COLUMNS, read_decision_log
from routerlab.proxy.app import calibrate, replay_scores
from routerlab.proxy.decisions import DecisionLog, request_hash
from routerlab.proxy.scoring import RouterScorer
from routerlab.proxy.server import ProxySettings, RoutingProxy, start_server
from routerlab.proxy.thresholds import CallRateWindow, call_rate_threshold, choose_threshold, predictions_for
from routerlab.proxy.upstream import Upstream

# --- thresholds -----------------------------------------------------------------------------------


def test_call_rate_threshold_escalates_exactly_the_target_share():
    scores = [0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6, 1.0]
    assert call_rate_threshold(scores, 0.3) == 0.3  # 0.1, 0.2, 0.3 are <= it
    assert call_rate_threshold(scores, 0.25) == 0.3  # ceil(2.5) = 3 escalated
    assert call_rate_threshold(scores, 0.0) == -math.inf
    assert call_rate_threshold(scores, 1.0) == 1.0
    with pytest.raises(ValueError, match="call-rate must be in"):
        call_rate_threshold(scores, 1.5)


def test_recall_threshold_matches_a_hand_computed_case():
    # label 0 = weak wrong (a positive to escalate). Sorted by score: ids c(0.1,wrong) a(0.2,wrong)
    # d(0.5,right) b(0.6,wrong) e(0.9,right): recall 2/3 at t=0.2, 3/3 at t=0.6.
    val = pd.DataFrame({"router_score": [0.2, 0.6, 0.1, 0.5, 0.9], "label": [0, 0, 0, 1, 1],
                        "weak_score": [0, 0, 0, 1, 1], "strong_score": [1, 1, 1, 1, 1]})
    t = choose_threshold(recall=0.6, calibration=val)
    assert (t.value, t.expected_call_rate) == (0.2, 0.4)
    t = choose_threshold(recall=0.95, calibration=val)
    assert (t.value, t.expected_call_rate) == (0.6, 0.8)
    with pytest.raises(ValueError, match="--recall needs labelled"):
        choose_threshold(recall=0.9, calibration=val[["router_score"]])
    with pytest.raises(ValueError, match="exactly one of"):
        choose_threshold(recall=0.9, call_rate=0.3, calibration=val)
    with pytest.raises(ValueError, match="needs calibration scores"):
        choose_threshold(call_rate=0.3, calibration=None)
    assert choose_threshold(threshold=0.25).value == 0.25


def test_predictions_are_found_next_to_the_router(tmp_path):
    run = tmp_path / "results" / "routers" / "mean_probe" / "all" / "seed0" / "router.joblib"
    preds = tmp_path / "results" / "predictions" / "mean_probe" / "all" / "seed0"
    preds.mkdir(parents=True)
    for name in ("b", "a"):
        (preds / f"{name}.parquet").touch()
    assert predictions_for(run) == [preds / "a.parquet", preds / "b.parquet"]
    assert predictions_for(tmp_path / "elsewhere" / "router.joblib") == []


def test_call_rate_window_warns_on_drift(caplog):
    w = CallRateWindow(target=0.3, size=10, tolerance=0.05)
    for i in range(10):
        w.add(i < 3)  # exactly on target
    assert w.warnings == 0 and w.snapshot()["call_rate"] == pytest.approx(0.3)
    for _ in range(10):
        w.add(True)
    assert w.snapshot()["call_rate"] == 1.0 and w.warnings == 1
    assert "drifts from the target" in caplog.text


# --- the decision log -----------------------------------------------------------------------------


def decision_row(i: int, prompt: str | None = None) -> dict:
    prompt = prompt or f"question {i}"
    messages = [{"role": "user", "content": prompt}]
    row = dict.fromkeys(DECISION_COLUMNS, 0)
    row.update(request_id=f"r{i}", request_hash=request_hash("chat", messages), time=float(i), endpoint="chat",
               messages=json.dumps(messages), prompt=prompt, router="{}", router_score=i / 10, threshold=0.5,
               routed_to="weak", chosen="weak", status=200, error="", cost_usd=0.0, routing_latency_s=0.0,
               latency_s=0.0)
    return row


def test_decision_log_batches_appends_and_reads_back_in_order(tmp_path):
    log = DecisionLog(tmp_path / "log", flush_rows=5, flush_s=60)
    for i in range(12):
        log.append(decision_row(i))
    # one new part per flush (at 5 and 10 rows); the last 2 rows wait for the next flush
    parts = sorted((tmp_path / "log").glob("decisions-*.parquet"))
    assert [len(pd.read_parquet(p)) for p in parts] == [5, 5]
    assert len(read_decision_log(tmp_path / "log")) == 10
    log.close()
    parts = sorted((tmp_path / "log").glob("decisions-*.parquet"))
    assert [len(pd.read_parquet(p)) for p in parts] == [5, 5, 2]
    df = read_decision_log(tmp_path / "log")
    assert df["request_id"].tolist() == [f"r{i}" for i in range(12)]
    assert not list((tmp_path / "log").glob(".*"))  # no temporary file left behind
    with pytest.raises(ValueError, match="missing"):
        log.append({"request_id": "x"})


def test_decision_log_flushes_on_a_timer(tmp_path):
    log = DecisionLog(tmp_path / "log", flush_rows=1000, flush_s=0.1)
    log.append(decision_row(0))
    deadline = time.time() + 5
    while not list((tmp_path / "log").glob("decisions-*.parquet")) and time.time() < deadline:
        time.sleep(0.05)
    assert read_decision_log(tmp_path / "log")["request_id"].tolist() == ["r0"]
    log.close()


def test_decision_log_is_readable_at_every_moment_of_concurrent_appends(tmp_path):
    log = DecisionLog(tmp_path / "log", flush_rows=2, flush_s=0.01)
    stop = threading.Event()
    reads, errors = [], []

    def reader():
        while not stop.is_set():
            for p in (tmp_path / "log").glob("decisions-*.parquet"):
                try:
                    reads.append(len(pd.read_parquet(p)))
                except FileNotFoundError:
                    pass  # renamed away between glob and read
                except (OSError, ValueError) as e:  # a torn file (pyarrow raises OSError/ArrowInvalid)
                    errors.append(e)

    t = threading.Thread(target=reader)
    t.start()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: log.append(decision_row(i)), range(160)))
    log.close()
    stop.set()
    t.join()
    assert not errors and reads
    df = read_decision_log(tmp_path / "log")
    assert sorted(df["request_id"]) == sorted(f"r{i}" for i in range(160))  # none lost, none twice


def test_decision_log_as_a_dataset_source(tmp_path):
    log = DecisionLog(tmp_path / "log", flush_rows=100)
    for i, prompt in enumerate(["What is 2 + 2?", "Name a prime.", "What is 2 + 2?"]):
        log.append(decision_row(i, prompt))
    log.close()
    spec = {"source": "decision_log", "path": str(tmp_path / "log"), "format": "generic", "task": "open",
            "columns": {"prompt": "prompt", "id": "request_hash"}}
    df = load_dataset("traffic", spec)
    assert df["prompt"].tolist() == ["What is 2 + 2?", "Name a prime."]  # one row per distinct request
    assert df["id"].tolist()[0] == request_hash("chat", [{"role": "user", "content": "What is 2 + 2?"}])
    with pytest.raises(Exception, match="no decision log here"):
        load_dataset("traffic", {**spec, "path": str(tmp_path / "nothing")})


# --- fake upstreams and a model-free router --------------------------------------------------------


class FakeUpstream:
    """An OpenAI-compatible stand-in: ``mode`` ok | fail (HTTP 500) | hang | bad (HTTP 400) | sse."""

    def __init__(self, name: str, mode: str = "ok", hang_s: float = 5.0):
        self.name, self.mode, self.hang_s, self.calls = name, mode, hang_s, 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.calls += 1
                if outer.mode == "hang":
                    time.sleep(outer.hang_s)
                if outer.mode in ("fail", "bad"):
                    code = 500 if outer.mode == "fail" else 400
                    data = json.dumps({"error": {"message": f"{outer.name} {outer.mode}"}}).encode()
                    self.send_response(code)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                text = f"{outer.name} answers"
                if outer.mode == "sse" and body.get("stream"):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    for word in text.split():
                        chunk = {"model": body["model"], "choices": [{"index": 0, "delta": {"content": word + " "}}]}
                        self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.close_connection = True
                    return
                choice = {"index": 0, "finish_reason": "stop"}
                choice.update({"message": {"role": "assistant", "content": text}} if "messages" in body else
                              {"text": text})
                data = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                                   "choices": [choice],
                                   "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.upstream = Upstream(name, f"http://127.0.0.1:{self.server.server_address[1]}/v1",
                                 price_input=1.0, price_output=2.0)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def random_router(tmp_path: Path) -> Path:
    path = tmp_path / "results" / "routers" / "random" / "all" / "seed0" / "router.joblib"
    make_router("random", seed=0).fit(None, None).save(path)
    return path


def post(url: str, body: dict | bytes, timeout: float = 30) -> tuple[int, dict, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, dict(r.headers), raw
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def chat(prompt: str, **extra) -> dict:
    return {"messages": [{"role": "user", "content": prompt}], "max_tokens": 1, **extra}


@pytest.fixture
def fakes():
    made = []

    def make(weak_mode="ok", strong_mode="ok", **kw):
        pair = [FakeUpstream("weak", weak_mode, **kw), FakeUpstream("strong", strong_mode, **kw)]
        made.extend(pair)
        return pair

    yield make
    for f in made:
        f.close()


def proxy_over(tmp_path, ups, threshold=0.5, log_dir=None, **settings):
    scorer = RouterScorer(str(random_router(tmp_path)))
    th = choose_threshold(threshold=threshold)
    log = DecisionLog(log_dir, flush_rows=50) if log_dir else None
    proxy = RoutingProxy(scorer, [u.upstream for u in ups], th, ProxySettings(**settings), log)
    server, url = start_server(proxy)
    return proxy, server, url


# --- faults ----------------------------------------------------------------------------------------


def test_bad_requests_get_a_4xx_naming_the_problem(tmp_path, fakes):
    proxy, server, url = proxy_over(tmp_path, fakes())
    assert post(url + "/chat/completions", b"{not json")[0] == 400
    code, _, body = post(url + "/chat/completions", {"messages": "hi"})
    assert code == 400 and b"`messages` must be a non-empty list" in body
    code, _, body = post(url + "/chat/completions", chat("x", n=3))
    assert code == 400 and b"`n` > 1 is not supported" in body
    code, _, body = post(url + "/completions", {"prompt": ["a", "b"]})
    assert code == 400 and b"one prompt per request" in body
    assert post(url + "/embeddings", chat("x"))[0] == 404
    assert proxy.metrics.requests.get("chat", "400") == 3
    server.shutdown()


def test_failing_upstream_is_retried_then_fails_over(tmp_path, fakes):
    weak, strong = fakes(weak_mode="fail")
    proxy, server, url = proxy_over(tmp_path, [weak, strong], threshold=-1.0, retries=2, backoff_s=0.001,
                                    log_dir=tmp_path / "log")  # -1: every request routed to weak
    code, headers, body = post(url + "/chat/completions", chat("hello"))
    assert code == 200 and json.loads(body)["model"] == "strong"
    assert headers["X-Routerlab-Model"] == "strong" and headers["X-Routerlab-Routed-To"] == "weak"
    assert weak.calls == 3 and strong.calls == 1  # 1 + 2 retries, then the other model
    assert proxy.metrics.upstream_errors.get("weak", "http_500") == 3
    assert proxy.metrics.failovers.get("weak", "strong") == 1
    assert 'routerlab_proxy_upstream_errors_total{model="weak",kind="http_500"} 3' in proxy.metrics.render()
    proxy.close()
    row = read_decision_log(tmp_path / "log").iloc[0]
    assert (row["routed_to"], row["chosen"], row["attempts"], row["status"]) == ("weak", "strong", 4, 200)
    assert row["cost_usd"] == pytest.approx((10 * 1.0 + 2 * 2.0) / 1e6)
    server.shutdown()


def test_hung_upstream_times_out_and_never_hangs_the_client(tmp_path, fakes):
    weak, strong = fakes(weak_mode="hang", hang_s=3.0)
    proxy, server, url = proxy_over(tmp_path, [weak, strong], threshold=-1.0, timeout_s=0.3, retries=1,
                                    backoff_s=0.001)
    t0 = time.perf_counter()
    code, headers, _ = post(url + "/chat/completions", chat("hello"))
    assert code == 200 and headers["X-Routerlab-Model"] == "strong"
    assert time.perf_counter() - t0 < 2.0  # two 0.3 s attempts, then strong
    assert proxy.metrics.upstream_errors.get("weak", "timeout") == 2
    server.shutdown()


def test_all_upstreams_down_is_a_502_and_client_errors_pass_through(tmp_path, fakes):
    weak, strong = fakes(weak_mode="fail", strong_mode="fail")
    _, server, url = proxy_over(tmp_path, [weak, strong], retries=0)
    code, _, body = post(url + "/chat/completions", chat("hello"))
    assert code == 502 and b"no upstream answered after 2 attempts" in body
    server.shutdown()
    weak, strong = fakes(weak_mode="fail")
    _, server, url = proxy_over(tmp_path, [weak, strong], threshold=-1.0, retries=0, failover=False)
    assert post(url + "/chat/completions", chat("hello"))[0] == 502 and strong.calls == 0
    server.shutdown()
    weak, strong = fakes(weak_mode="bad")
    _, server, url = proxy_over(tmp_path, [weak, strong], threshold=-1.0)
    code, _, body = post(url + "/chat/completions", chat("hello"))
    assert code == 400 and b"weak bad" in body and weak.calls == 1 and strong.calls == 0
    server.shutdown()


# --- the routed path without models (the slow test's lighter twin) ---------------------------------


def prompts(n: int, offset: int = 0) -> list[str]:
    return [f"What is {i} + {2 * i + 1}?" for i in range(offset, offset + n)]


def test_calibrated_call_rate_streaming_and_replay_with_a_model_free_router(tmp_path, fakes):
    weak, strong = fakes(strong_mode="sse")
    router_path = random_router(tmp_path)
    scorer = RouterScorer(str(router_path))
    # validation predictions where the workflow writes them
    val = prompts(400, offset=10_000)
    ids = [request_hash("chat", [{"role": "user", "content": p}]) for p in val]
    scores = [d.score for d in scorer.decide([[{"role": "user", "content": p}] for p in val], ids)]
    pred_dir = tmp_path / "results" / "predictions" / "random" / "all" / "seed0"
    write_frame(pred_dir / "arith.parquet", pd.DataFrame({"id": ids, "split": "validation", "router_score": scores,
                                                          "usable": True}))
    threshold = calibrate(scorer, call_rate=0.3)
    assert threshold.n_calibration == 400 and threshold.expected_call_rate == pytest.approx(0.3)
    proxy = RoutingProxy(scorer, [weak.upstream, strong.upstream], threshold, ProxySettings(window=200),
                         DecisionLog(tmp_path / "log", flush_rows=64))
    server, url = start_server(proxy)
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda p: post(url + "/chat/completions", chat(p)), prompts(200)))
    assert all(code == 200 for code, _, _ in answers)
    models = [json.loads(body)["model"] for _, _, body in answers]
    assert all(h["X-Routerlab-Model"] == m for (_, h, _), m in zip(answers, models))
    assert all(json.loads(b)["choices"][0]["message"]["content"] == f"{m} answers" for (_, _, b), m in zip(answers, models))
    realised = models.count("strong") / 200
    assert abs(realised - 0.3) <= 0.05, realised
    assert proxy.window.snapshot()["call_rate"] == pytest.approx(realised)
    assert f"routerlab_proxy_call_rate_window {realised!r}" in proxy.metrics.render()

    # streaming: an SSE upstream (strong) relayed, a JSON upstream (weak) turned into events
    code, headers, body = post(url + "/chat/completions", chat("stream me", stream=True))
    events = [line[6:] for line in body.decode().splitlines() if line.startswith("data: ")]
    assert code == 200 and headers["Content-Type"] == "text/event-stream" and events[-1] == "[DONE]"
    text = "".join(json.loads(e)["choices"][0].get("delta", {}).get("content") or "" for e in events[:-1])
    assert text.strip() == f"{headers['X-Routerlab-Model']} answers"
    assert all(json.loads(e)["model"] == headers["X-Routerlab-Model"] for e in events[:-1])
    code, headers, body = post(url + "/completions", {"prompt": "Once upon", "max_tokens": 1})
    assert code == 200 and json.loads(body)["choices"][0]["text"] == f"{headers['X-Routerlab-Model']} answers"
    with urllib.request.urlopen(url + "/models") as r:
        assert [m["id"] for m in json.load(r)["data"]] == ["router", "weak", "strong"]
    with urllib.request.urlopen(url.removesuffix("/v1") + "/health") as r:
        assert json.load(r)["threshold"] == threshold.value
    server.shutdown()
    proxy.close()

    # replay: the logged conversations re-scored offline give the live scores
    replayed = replay_scores(tmp_path / "log", scorer)
    assert len(replayed) == 202 and replayed["request_id"].is_unique
    np.testing.assert_array_equal(replayed["replayed_score"], replayed["router_score"])
    live = replayed[replayed["endpoint"] == "chat"].iloc[:200]
    assert ((live["router_score"] <= threshold.value) == (live["routed_to"] == "strong")).all()
    # recorded traffic calibrates too
    again = calibrate(scorer, call_rate=0.5, calibration=[tmp_path / "log"])
    assert again.n_calibration == 202 and again.expected_call_rate == pytest.approx(0.5)


# --- the real path: two `routerlab serve` upstreams, a probe on the weak model's hidden states ------


def start_process(args: list[str], ready: Path, log: Path, timeout: float = 180) -> tuple[subprocess.Popen, str]:
    with open(log, "w") as err:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen([sys.executable, "-m", "routerlab.cli", *args, "--port", "0", "--ready-file",
                                 str(ready)], stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.time() + timeout
    while not (ready.exists() and ready.read_text().endswith("\n")):  # written, not just created
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise RuntimeError(log.read_text()[-3000:])
        time.sleep(0.2)
    return proc, ready.read_text().strip()


def arithmetic(n: int, seed: int) -> list[dict]:
    from routerlab.core.runtime import records

    return records(load_dataset(f"arith{seed}", {"source": "builtin", "generator": "arithmetic", "n": n, "seed": seed}))


@pytest.fixture
def two_torch_threads():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_probe_routes_between_two_real_serve_upstreams(tiny_model_dir, tmp_path, monkeypatch, two_torch_threads):
    """A mean probe trained on the weak model's hidden states, calibrated to a 30 % call rate on its
    validation predictions (scored offline, as the `predict` rule does), serves those 200 validation
    queries live through two real upstreams: the proxy's own feature extraction, micro-batched across
    concurrent requests, must reproduce the offline scores closely enough to hit the target."""
    from routerlab.binary.features import FeatureExtractor
    from routerlab.core.router import RoutingData
    from routerlab.lm.prompts import build_messages

    # Four model processes share the machine: one torch thread per server and the proxy, two here
    # (two_torch_threads); oversubscribed threads make a busy 2-core runner many times slower.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    rows = arithmetic(240, seed=1)
    convs = [build_messages(r) for r in rows]
    labels = np.array([int(r["reference"]) < 20 for r in rows], dtype=float)  # a learnable stand-in label
    feats = FeatureExtractor(str(tiny_model_dir), dtype="float32").extract(convs)
    train, val = slice(0, 40), slice(40, 240)
    probe = make_router("mean_probe", C=0.05).fit(RoutingData(ids=[r["id"] for r in rows[train]],
                                                              hidden_mean=feats["hidden_mean"][train]), labels[train])
    run = "mean_probe/all/seed0"
    router_path = tmp_path / "results" / "routers" / run / "router.joblib"
    probe.save(router_path)
    val_scores = probe.score(RoutingData(ids=[r["id"] for r in rows[val]], hidden_mean=feats["hidden_mean"][val]))
    write_frame(tmp_path / "results" / "predictions" / run / "arith.parquet",
                pd.DataFrame({"id": [r["id"] for r in rows[val]], "split": "validation", "router_score": val_scores,
                              "label": labels[val], "usable": True}))

    procs = []
    try:
        urls = {}
        for name in ("weak", "strong"):
            proc, urls[name] = start_process(
                ["serve", "--model-dir", str(tiny_model_dir), "--served-name", name, "--dtype", "float32",
                 "--max-batch", "16", "--request-log", str(tmp_path / f"{name}.jsonl")],
                tmp_path / f"{name}.url", tmp_path / f"{name}.log")
            procs.append(proc)
        proxy, url = start_process(
            ["route", "--router", str(router_path), "--upstream", f"weak={urls['weak']}",
             "--upstream", f"strong={urls['strong']}", "--call-rate", "0.3", "--weak-model-dir", str(tiny_model_dir),
             "--dtype", "float32", "--decision-log", str(tmp_path / "decisions"), "--window", "200", "--threads", "1"],
            tmp_path / "proxy.url", tmp_path / "proxy.log")
        procs.append(proxy)

        bodies = [{"model": "router", "messages": c, "max_tokens": 1} for c in convs[val]]
        t0 = time.perf_counter()
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda b: post(url + "/chat/completions", b, timeout=120), bodies))
        elapsed = time.perf_counter() - t0
        assert [a[0] for a in answers] == [200] * 200
        models = [json.loads(body)["model"] for _, _, body in answers]
        assert [h["X-Routerlab-Model"] for _, h, _ in answers] == models
        # each request reached exactly the upstream the proxy names, and only that one
        for name in ("weak", "strong"):
            seen = [json.loads(line)["messages"] for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
            sent = [b["messages"] for b, m in zip(bodies, models) if m == name]
            assert sorted(map(json.dumps, seen)) == sorted(map(json.dumps, sent))
        realised = models.count("strong") / 200
        print(f"realised call rate {realised:.3f} (target 0.30), 200 requests in {elapsed:.1f} s")
        assert abs(realised - 0.3) <= 0.02, realised
        with urllib.request.urlopen(url.removesuffix("/v1") + "/metrics") as r:
            metrics = r.read().decode()
        assert f"routerlab_proxy_call_rate_window {realised!r}" in metrics
        assert 'routerlab_proxy_requests_total{endpoint="chat",status="200"} 200' in metrics
    finally:
        for p in procs[::-1]:
            p.terminate()  # the proxy flushes its decision log on SIGTERM
            p.wait(30)

    # replay: the logged conversations, scored offline by the same router, give the live scores
    scorer = RouterScorer(str(router_path), weak_model_dir=str(tiny_model_dir), dtype="float32")
    replayed = replay_scores(tmp_path / "decisions", scorer)
    offline = dict(zip([json.dumps(c) for c in convs[val]], val_scores))
    live_vs_offline = np.abs(replayed["router_score"] - [offline[json.dumps(json.loads(m))] for m in replayed["messages"]])
    print(f"live vs offline (predict-rule) scores: max diff {live_vs_offline.max():.2e}")
    assert len(replayed) == 200 and set(replayed["chosen"]) <= {"weak", "strong"}
    diff = np.abs(replayed["replayed_score"] - replayed["router_score"]).max()
    print(f"replay: max |live - replayed| score = {diff:.2e}")
    np.testing.assert_allclose(replayed["replayed_score"], replayed["router_score"], rtol=0, atol=1e-4)
    # and the live decisions follow the threshold
    assert ((replayed["router_score"] <= replayed["threshold"]) == (replayed["routed_to"] == "strong")).all()


def test_kmodel_router_picks_the_upstream_itself(tmp_path, fakes):
    from routerlab.core.router import RoutingData
    from routerlab.kmodel.routers import ROUTERS as KMODEL_ROUTERS

    ups = fakes()
    router = KMODEL_ROUTERS.make("random", seed=3)
    router.fit(RoutingData(ids=["a", "b"]), np.array([[1.0, 0.0], [0.0, 1.0]]))
    path = tmp_path / "kmodel.joblib"
    router.save(path)
    scorer = RouterScorer(str(path))
    with pytest.raises(ValueError, match="K-model router picks the model itself"):
        calibrate(scorer, call_rate=0.3)
    assert calibrate(scorer) is None
    with pytest.raises(ValueError, match="fitted on 2 candidates"):
        RoutingProxy(scorer, [ups[0].upstream], None)
    proxy = RoutingProxy(scorer, [u.upstream for u in ups], None)
    server, url = start_server(proxy)
    for p in prompts(6):
        code, headers, _ = post(url + "/chat/completions", chat(p))
        rhash = request_hash("chat", [{"role": "user", "content": p}])
        expected = ["weak", "strong"][int(router.predict(RoutingData(ids=[rhash]))[0])]
        assert code == 200 and headers["X-Routerlab-Model"] == expected
    server.shutdown()


@pytest.mark.parametrize("threshold, model", [(-1.0, "weak"), (2.0, "strong")])
def test_streaming_relays_events_or_turns_a_json_answer_into_events(tmp_path, fakes, threshold, model):
    """weak answers streamed requests with plain JSON (as `routerlab serve` does), strong with events."""
    proxy, server, url = proxy_over(tmp_path, fakes(strong_mode="sse"), threshold=threshold, log_dir=tmp_path / "log")
    code, headers, body = post(url + "/chat/completions", chat("stream me", stream=True))
    events = [line[6:] for line in body.decode().splitlines() if line.startswith("data: ")]
    assert code == 200 and headers["X-Routerlab-Model"] == model and events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks).strip() == f"{model} answers"
    assert {c["model"] for c in chunks} == {model}
    server.shutdown()
    proxy.close()
    row = read_decision_log(tmp_path / "log").iloc[0]
    assert (row["chosen"], row["status"]) == (model, 200)
    # usage reaches the log where the upstream reports it (the JSON answer does, this SSE stub does not)
    assert row["prompt_tokens"] == (10 if model == "weak" else -1)
