"""The openai backend against a real HTTP server (`routerlab serve`) with a real model behind it,
and the server's own hardening (validation, isolation, backlog, queue bound, cancellation, fairness):
over HTTP against the real server (slow) and against an in-process server over a fake engine (fast)."""

import http.client
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import pytest

from routerlab.lm.generation import TransformersBackend, generate_frame
from routerlab.lm.openai_backend import EndpointError, OpenAIBackend, RequestCache
from routerlab.lm.sampling import SamplingParams
from routerlab.lm.serve import RequestError, build_server, parse_chat_request


def start_server(model_dir, tmp_path, name="tiny"):
    ready = tmp_path / f"{name}.url"
    log = tmp_path / f"{name}.requests.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "routerlab.cli", "serve", "--model-dir", str(model_dir),
                             "--port", "0", "--served-name", name, "--dtype", "float32", "--max-batch", "8",
                             "--chunk-tokens", "8", "--threads", "1",
                             "--request-log", str(log), "--ready-file", str(ready)],
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path / f"{name}.server.log", "w"))  # noqa: SIM115
    deadline = time.time() + 120
    while not ready.exists():
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise RuntimeError((tmp_path / f"{name}.server.log").read_text()[-2000:])
        time.sleep(0.2)
    return proc, ready.read_text().strip(), log


@pytest.fixture(scope="module")
def server(tiny_model_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("server")
    proc, url, log = start_server(tiny_model_dir, tmp)
    yield url, log
    proc.terminate()
    proc.wait(10)


def rows(n):
    return [{"id": f"q{i:03d}", "task": "math", "prompt": f"What is {i} + {2 * i}?", "choices": []} for i in range(n)]


def logged(log: Path):
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.slow
def test_generation_and_cache(server, tiny_model_dir, tmp_path):
    url, log = server
    before = len(logged(log))
    backend = OpenAIBackend(base_url=url, model="tiny", concurrency=4, cache_dir=str(tmp_path / "cache"))
    params = SamplingParams(max_new_tokens=6)
    first = generate_frame(rows(6), backend, params)
    assert len(first) == 6 and first["response"].str.len().gt(0).all()
    assert (first["prompt_tokens"] > 10).all() and (first["response_tokens"] <= 6).all()
    assert backend.stats["sent"] == 6 and len(logged(log)) - before == 6
    # The direct style's "Answer:" opening reaches the server as the final assistant message, and
    # the server continues it exactly as the in-process backend does (greedy, float32).
    assert all(r["messages"][-1] == {"role": "assistant", "content": "Answer:"} for r in logged(log)[before:])
    local = generate_frame(rows(6), TransformersBackend(str(tiny_model_dir), dtype="float32"), params)
    assert first["response"].tolist() == local["response"].tolist()
    again = OpenAIBackend(base_url=url, model="tiny", cache_dir=str(tmp_path / "cache"))
    second = generate_frame(rows(6), again, params)
    assert again.stats == {"sent": 0, "cached": 6, "retries": 0}
    assert len(logged(log)) - before == 6  # nothing new reached the server
    assert second["response"].tolist() == first["response"].tolist()
    # a change of sampling parameters is a different request
    third = OpenAIBackend(base_url=url, model="tiny", cache_dir=str(tmp_path / "cache"))
    generate_frame(rows(2), third, SamplingParams(max_new_tokens=5))
    assert third.stats["sent"] == 2


@pytest.mark.slow
def test_unknown_model_is_a_clear_error(server, tmp_path):
    url, _ = server
    backend = OpenAIBackend(base_url=url, model="other", cache_dir=str(tmp_path / "c"), max_retries=0)
    with pytest.raises(EndpointError, match="HTTP 404.*other"):
        generate_frame(rows(1), backend, SamplingParams(max_new_tokens=2))


@pytest.mark.slow
def test_unreachable_endpoint_names_url_and_fix(tmp_path):
    backend = OpenAIBackend(base_url="http://127.0.0.1:9/v1", model="m", cache_dir=str(tmp_path / "c"),
                            max_retries=2, backoff_base=0.01)
    with pytest.raises(EndpointError, match=r"http://127.0.0.1:9/v1: unreachable after 3 attempts.*base_url"):
        generate_frame(rows(1), backend, SamplingParams(max_new_tokens=2))
    assert backend.stats["retries"] == 2


CHILD = """
import sys
from routerlab.lm.sampling import SamplingParams
from routerlab.lm.generation import generate_frame, TransformersBackend
from routerlab.lm.openai_backend import OpenAIBackend
rows = [{"id": f"q{i:03d}", "task": "math", "prompt": f"Name a number bigger than {i}.", "choices": []} for i in range(40)]
b = OpenAIBackend(base_url=sys.argv[1], model="tiny", concurrency=2, cache_dir=sys.argv[2])
generate_frame(rows, b, SamplingParams(max_new_tokens=12))
print("SENT", b.stats["sent"])
"""


@pytest.mark.slow
def test_killed_run_resumes_without_resending_finished_requests(server, tmp_path):
    url, log = server
    cache = tmp_path / "cache"
    start = len(logged(log))
    child = subprocess.Popen([sys.executable, "-c", CHILD, url, str(cache)], stdout=subprocess.PIPE, text=True)
    # kill once a few requests have finished
    deadline = time.time() + 120
    while len(list(cache.rglob("*.json"))) < 6 and time.time() < deadline:
        time.sleep(0.1)
    child.send_signal(signal.SIGKILL)
    child.wait()
    cached_before = [RequestCache(cache).get(p.stem)["request"]["body"]["messages"] for p in cache.rglob("*.json")]
    assert 6 <= len(cached_before) < 40, "kill happened too late to test resuming"
    # requests in flight at the kill may still be answered (and logged) by the server: let it settle
    settled = -1
    while settled != len(logged(log)):  # a batch of 12-token answers can take seconds on 2 cores
        settled = len(logged(log))
        time.sleep(6.0)
    out = subprocess.run([sys.executable, "-c", CHILD, url, str(cache)], capture_output=True, text=True, check=True)
    sent = int(out.stdout.split("SENT")[1])
    assert sent == 40 - len(cached_before)  # only unfinished requests were sent again
    resent = [json.dumps(r["messages"], sort_keys=True) for r in logged(log)[settled:]]
    assert len(resent) == sent
    finished = {json.dumps(m, sort_keys=True) for m in cached_before}
    assert not finished & set(resent), "a request finished before the kill was sent again"
    assert len({json.dumps(r["messages"], sort_keys=True) for r in logged(log)[start:]}) == 40


@pytest.mark.slow
def test_xverify_judge_through_the_server_scores_every_row(server, tmp_path):
    """The judge path of the score rule: xVerify prompts to a real endpoint, verdicts parsed per row."""
    import pandas as pd

    from routerlab.lm.judge import Judge
    from routerlab.scoring import XVERIFY_PROMPT, parse_xverify
    from routerlab.scoring.frames import score_frame

    url, log = server
    before = len(logged(log))
    data = pd.DataFrame({"id": ["a", "b", "c"], "task": "math", "prompt": ["1 + 1?", "2 * 3?", "10 - 4?"],
                         "reference": ["2", "6", "6"], "choices": [[], [], []], "meta": ["{}"] * 3})
    gens = pd.DataFrame({"id": ["a", "b", "c"], "sample": 0, "response": ["2", "5", "The answer is 6."]})
    judge = Judge(OpenAIBackend(base_url=url, model="tiny", cache_dir=str(tmp_path / "cache")), "xverify",
                  {"max_new_tokens": 8})
    scores = score_frame(data, gens, judge=judge)
    sent = logged(log)[before:]
    assert len(sent) == 3
    prompts = sorted(m["messages"][0]["content"] for m in sent)
    assert prompts[0] == XVERIFY_PROMPT.format(question="1 + 1?", output="2", answer="2")
    assert list(scores["id"]) == ["a", "b", "c"] and scores["judge_reply"].str.len().gt(0).all()
    for row in scores.itertuples():  # every verdict is the parse of the stored reply: nothing invented
        parsed = parse_xverify(row.judge_reply)
        assert row.status == parsed.status and (row.score == parsed.score or pd.isna(row.score) and pd.isna(parsed.score))


@pytest.mark.slow
def test_open_task_without_judge_names_the_config_key():
    import pandas as pd

    from routerlab.scoring.frames import score_frame

    data = pd.DataFrame({"id": ["x1"], "task": "open", "prompt": ["Write a haiku."], "reference": [None],
                         "choices": [[]], "meta": ["{}"]})
    gens = pd.DataFrame({"id": ["x1"], "sample": 0, "response": ["..."]})
    with pytest.raises(ValueError, match=r"row 'x1'.*judge\.datasets"):
        score_frame(data, gens)


# --- the server's hardening ---------------------------------------------------------------------

CHAT = "/v1/chat/completions"
HI = [{"role": "user", "content": "Say hi."}]
# (body, status, the field the error must name): each of these returned 500 or 200 before validation
MALFORMED = [
    ({"messages": "hello"}, 400, "messages"),
    ({"messages": [{"role": "user"}]}, 400, "messages[0].content"),
    ({"messages": []}, 400, "messages"),
    ({"messages": [{"role": "robot", "content": "x"}]}, 400, "messages[0].role"),
    ({"max_tokens": 4}, 400, "messages"),
    ({"messages": HI, "max_tokens": -5}, 400, "max_tokens"),
    ({"messages": HI, "max_tokens": "8"}, 400, "max_tokens"),
    ({"messages": HI, "temperature": -1}, 400, "temperature"),
    ({"messages": HI, "temperature": float("nan")}, 400, "temperature"),
    ({"messages": HI, "top_p": 0}, 400, "top_p"),
    ({"messages": HI, "n": 3}, 400, "n"),
    ({"messages": HI, "stream": True}, 400, "stream"),
    ({"messages": HI, "model": "other"}, 404, "model"),
]


def call(url, path, body=None, raw=None, method=None, timeout=120.0):
    """(status, headers, decoded JSON body) of one request on a fresh connection."""
    u = urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    conn.request(method or ("GET" if data is None else "POST"), path, body=data,
                 headers={"Content-Type": "application/json"} if data is not None else {})
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, json.loads(payload)


def open_request(url, body) -> socket.socket:
    """Send a chat request on a raw socket and return it unread (the caller may just close it)."""
    u = urlparse(url)
    sock = socket.create_connection((u.hostname, u.port), timeout=30)
    data = json.dumps(body).encode()
    sock.sendall(f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
    return sock


def wait_for(predicate, timeout: float, what: str):
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.05)


def assert_names_field(status, body, want_status, field):
    assert status == want_status, body
    err = body["error"]
    assert err["param"] == field and field in err["message"] and err["type"], err


@pytest.mark.parametrize("body,status,field", MALFORMED, ids=[f"{f}-{i}" for i, (_, _, f) in enumerate(MALFORMED)])
def test_parse_chat_request_names_the_field(body, status, field):
    with pytest.raises(RequestError) as e:
        parse_chat_request(body, "tiny")
    assert_names_field(e.value.status, e.value.body(), status, field)


def test_parse_chat_request_defaults_and_content_parts():
    chat = parse_chat_request({"model": "tiny", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}], "max_completion_tokens": 7}, "tiny")
    assert chat.messages == [{"role": "user", "content": "ab"}]
    assert (chat.max_tokens, chat.temperature, chat.top_p, chat.seed) == (7, 0.0, 1.0, 0)
    assert parse_chat_request({"messages": HI}, "tiny").max_tokens == 256


class FakeEngine:
    """Tokens are characters. Every prompt is answered with 'x' forever (no stop token) unless it
    contains '!' (then a stop token follows the first 'x'); a batch holding 'boom' raises."""

    stop_ids = frozenset({0})
    longest_token_chars = 1

    def __init__(self, context=1000):
        self.context = context
        self.gate = threading.Event()
        self.gate.set()
        self.batches: list[int] = []

    def encode(self, messages):
        return [ord(c) for m in messages for c in m["content"]]

    def decode(self, ids):
        return "".join(map(chr, ids))

    def generate(self, encoded, max_new, temperature, top_p, seed):
        self.batches.append(len(encoded))
        assert self.gate.wait(30)
        if any("boom" in self.decode(e) for e in encoded):
            raise RuntimeError("boom")
        time.sleep(0.01)
        return [[ord("x"), 0] if "!" in self.decode(e) else [ord("x")] * max_new for e in encoded]


@pytest.fixture
def fake_server():
    """Start in-process servers over a FakeEngine: ``fake_server(engine=..., **build_server options)``."""
    started = []

    def start(engine=None, **options):
        engine = engine or FakeEngine()
        server = build_server(engine, served_name="fake", **options)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append((server, engine))
        return f"http://127.0.0.1:{server.server_address[1]}/v1", engine, server.scheduler

    yield start
    for server, engine in started:
        engine.gate.set()
        server.shutdown()
        server.server_close()


def chat(content, **extra):
    return {"model": "fake", "messages": [{"role": "user", "content": content}], **extra}


def test_queue_full_is_503_with_retry_after(fake_server):
    url, engine, scheduler = fake_server(max_queue=2)
    engine.gate.clear()  # generation blocks: admitted requests stay admitted
    with ThreadPoolExecutor(2) as pool:
        held = [pool.submit(call, url, CHAT, chat(f"q{i}", max_tokens=2)) for i in range(2)]
        wait_for(lambda: scheduler.stats()["active"] == 2, 10, "two admitted requests")
        status, headers, body = call(url, CHAT, chat("one too many", max_tokens=2))
        assert status == 503 and int(headers["retry-after"]) >= 1, (status, headers)
        assert body["error"]["code"] == "queue_full" and "max_queue=2" in body["error"]["message"]
        engine.gate.set()
        assert [f.result(10)[0] for f in held] == [200, 200]
    assert call(url, CHAT, chat("room again", max_tokens=2))[0] == 200
    assert scheduler.stats() | {"queued": 0} == {"queued": 0, "active": 0, "max_queue": 2, "served": 3,
                                                 "cancelled": 0, "failed": 0, "rejected_full": 1}


def test_a_failing_batch_is_retried_one_by_one(fake_server):
    url, engine, scheduler = fake_server(batch_wait_s=5.0, max_batch=5)  # the batch closes when all 5 are in
    prompts = ["a", "b", "boom", "c", "d"]
    with ThreadPoolExecutor(len(prompts)) as pool:
        results = list(pool.map(lambda p: call(url, CHAT, chat(p, max_tokens=3)), prompts))
    assert [r[0] for r in results] == [200, 200, 500, 200, 200]
    assert "boom" in results[2][2]["error"]["message"]
    assert all(r[2]["choices"][0]["message"]["content"] == "xxx" for r in results if r[0] == 200)
    assert engine.batches == [5, 1, 1, 1, 1, 1]  # the whole burst first, then each alone
    assert scheduler.stats()["failed"] == 1 and scheduler.stats()["served"] == 4


def test_max_tokens_is_clamped_to_the_context_and_long_prompts_refused(fake_server):
    url, _, _ = fake_server(engine=FakeEngine(context=20), max_request_bytes=4000)
    status, _, body = call(url, CHAT, chat("hello", max_tokens=1_000_000))
    assert status == 200 and body["usage"] == {"prompt_tokens": 5, "completion_tokens": 15, "total_tokens": 20}
    assert body["choices"][0]["finish_reason"] == "length"
    assert call(url, CHAT, chat("hi!", max_tokens=9))[2]["choices"][0]["finish_reason"] == "stop"
    status, _, body = call(url, CHAT, chat("y" * 20))  # 20 tokens: no room for an answer
    assert status == 400 and body["error"]["code"] == "context_length_exceeded" and "20 tokens" in body["error"]["message"]
    status, _, body = call(url, CHAT, chat("y" * 500))  # over context x longest token: refused before encoding
    assert status == 400 and body["error"]["code"] == "context_length_exceeded"
    status, _, body = call(url, CHAT, chat("y" * 5000))
    assert status == 413 and "--max-request-bytes" in body["error"]["message"]
    status, _, body = call(url, CHAT, raw=b'{"messages": [')
    assert status == 400 and body["error"]["code"] == "invalid_json"
    assert call(url, "/v1/nowhere", chat("a"))[0] == 404


def test_a_long_request_yields_to_others_and_stops_when_its_client_leaves(fake_server):
    url, engine, scheduler = fake_server(engine=FakeEngine(context=100_000), chunk_tokens=4)
    huge = open_request(url, chat("count", max_tokens=1_000_000))
    wait_for(lambda: len(engine.batches) >= 3, 10, "the huge request to be generating")
    start = time.time()
    status, _, body = call(url, CHAT, chat("short", max_tokens=3))
    assert status == 200 and body["choices"][0]["message"]["content"] == "xxx"
    assert time.time() - start < 5, "a short request waited behind a huge one"
    assert scheduler.stats()["active"] == 1  # the huge one is still going
    huge.close()
    wait_for(lambda: scheduler.stats()["active"] == 0, 5, "the abandoned request to be dropped")
    assert scheduler.stats()["cancelled"] == 1
    chunks = len(engine.batches)
    time.sleep(0.3)
    assert len(engine.batches) == chunks, "still generating for a client that left"


# Against the real server: the same cases over HTTP, with a real model and tokenizer behind them.

@pytest.mark.slow
@pytest.mark.parametrize("body,status,field", MALFORMED, ids=[f"{f}-{i}" for i, (_, _, f) in enumerate(MALFORMED)])
def test_server_refuses_malformed_requests_with_4xx(server, body, status, field):
    url, _ = server
    got, _, reply = call(url, CHAT, {"model": "tiny", **body} if "model" not in body else body)
    assert_names_field(got, reply, status, field)


@pytest.mark.slow
def test_server_refuses_bad_json_and_huge_prompts_quickly(server):
    url, _ = server
    status, _, body = call(url, CHAT, raw=b"{not json")
    assert status == 400 and body["error"]["code"] == "invalid_json"
    start = time.time()
    status, _, body = call(url, CHAT, {"model": "tiny", "messages": [{"role": "user", "content": "word " * 200_000}]})
    assert status == 400 and body["error"]["code"] == "context_length_exceeded", body
    assert time.time() - start < 10
    status, _, body = call(url, "/health")
    assert status == 200 and body["status"] == "ok" and body["active"] == 0


@pytest.mark.slow
def test_one_bad_request_in_a_burst_fails_alone(server):
    url, _ = server
    bodies = [{"model": "tiny", "messages": [{"role": "user", "content": f"What is {i} + 1?"}], "max_tokens": 2}
              for i in range(9)]
    bodies[4] = {"model": "tiny", "messages": [{"role": "user"}], "max_tokens": 2}
    with ThreadPoolExecutor(9) as pool:
        results = list(pool.map(lambda b: call(url, CHAT, b), bodies))
    assert [r[0] for r in results] == [200] * 4 + [400] + [200] * 4, [r[2] for r in results]
    assert results[4][2]["error"]["param"] == "messages[0].content"


@pytest.mark.slow
def test_fifty_concurrent_connections_are_all_answered(server):
    url, _ = server
    barrier = threading.Barrier(50)

    def one(i):
        barrier.wait(30)
        return call(url, CHAT, {"model": "tiny", "messages": [{"role": "user", "content": f"Number {i}?"}],
                                "max_tokens": 1}, timeout=300)[0]

    with ThreadPoolExecutor(50) as pool:
        statuses = list(pool.map(one, range(50)))  # a ConnectionResetError would raise here
    assert statuses == [200] * 50


@pytest.mark.slow
def test_server_drops_a_request_whose_client_left_and_serves_others_meanwhile(server):
    url, _ = server
    counting = {"model": "tiny", "max_tokens": 1_000_000, "messages": [
        {"role": "user", "content": "Count from 1 to 100000, separated by commas."},
        {"role": "assistant", "content": "1, 2, 3, 4, 5, 6, 7, 8, 9, 10,"}]}
    huge = open_request(url, counting)
    wait_for(lambda: call(url, "/health")[2].get("active") == 1, 60, "the huge request to be admitted")
    before = call(url, "/health")[2]
    status, _, body = call(url, CHAT, {"model": "tiny", "messages": HI, "max_tokens": 2}, timeout=60)
    assert status == 200 and body["usage"]["completion_tokens"] <= 2
    assert call(url, "/health")[2]["active"] == 1, "the counting request finished: it cannot test cancelling"
    huge.close()
    wait_for(lambda: call(url, "/health")[2]["active"] == 0, 60, "the server to drop the abandoned request")
    assert call(url, "/health")[2]["cancelled"] == before["cancelled"] + 1
