"""The openai backend's retries, request fields, API key and cache against a real scripted HTTP server.

The server (http.server in a thread on 127.0.0.1) answers from a script of (status, body) replies
and records every request it receives, so the tests count what really reached the wire.
"""

import email.utils
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from routerlab.lm.openai_backend import EndpointError, OpenAIBackend, RequestCache, retry_after_seconds
from routerlab.lm.sampling import SamplingParams

PARAMS = SamplingParams(max_new_tokens=4)
CONV = [{"role": "user", "content": "What is 2 + 3?"}]


def completion(content="five", model="m"):
    return {"id": "cmpl-1", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}}


class ScriptedServer:
    """Replies with script entries in order (the last one repeats); records each request.

    An entry is (status, body) or (status, body, headers); a dict body is sent as JSON, a
    str as it is (still labelled application/json, as a misbehaving proxy would).
    """

    def __init__(self):
        self.script: list[tuple] = [(200, completion())]
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.lock:
                    outer.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                           "json": json.loads(body), "t": time.monotonic()})
                    n = len(outer.requests)
                    status, reply, *extra = outer.script[min(n, len(outer.script)) - 1]
                data = reply.encode() if isinstance(reply, str) else json.dumps(reply).encode()
                self.send_response(status)
                for k, v in (extra[0] if extra else {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = ScriptedServer()
    yield s
    s.close()


def backend(server, tmp_path, **kw):
    kw = {"model": "m", "cache_dir": str(tmp_path / "cache"), "backoff_base": 0.001, "backoff_max": 0.01,
          "concurrency": 1, **kw}
    return OpenAIBackend(base_url=server.url, **kw)


def error(status, message="scripted failure"):
    return status, {"error": {"message": message, "type": "server_error", "code": status}}


# --- retries ---

@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retryable_status_then_success(server, tmp_path, status):
    server.script = [error(status), error(status), error(status), (200, completion("five"))]
    b = backend(server, tmp_path, max_retries=5)
    out = b.generate([CONV], PARAMS)
    assert [r["response"] for r in out] == ["five"]
    assert len(server.requests) == 4  # three failures, then the answer; nothing more
    assert b.stats == {"sent": 1, "cached": 0, "retries": 3}
    assert all(r["json"] == server.requests[0]["json"] for r in server.requests)  # the same request each time


@pytest.mark.parametrize("status", [500, 503])
def test_permanent_5xx_gives_up_after_the_configured_attempts(server, tmp_path, status):
    server.script = [error(status, "engine is down")]
    b = backend(server, tmp_path, max_retries=3)
    with pytest.raises(EndpointError, match=rf"^{server.url}: HTTP {status} for model 'm': .*engine is down"):
        b.generate([CONV], PARAMS)
    assert len(server.requests) == 4  # 1 + max_retries attempts
    assert b.stats["retries"] == 3 and b.stats["sent"] == 0
    assert not list((tmp_path / "cache").rglob("*.json"))  # a failure is never cached


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_other_than_429_are_not_retried(server, tmp_path, status):
    server.script = [error(status, "bad request"), (200, completion())]
    b = backend(server, tmp_path, max_retries=4)
    with pytest.raises(EndpointError, match=rf"^{server.url}: HTTP {status} for model 'm'"):
        b.generate([CONV], PARAMS)
    assert len(server.requests) == 1 and b.stats["retries"] == 0


def test_zero_retries_means_one_attempt(server, tmp_path):
    server.script = [error(503), (200, completion())]
    with pytest.raises(EndpointError, match="HTTP 503"):
        backend(server, tmp_path, max_retries=0).generate([CONV], PARAMS)
    assert len(server.requests) == 1


# --- what reaches the server ---

def test_request_body_and_extra_body_fields_are_top_level(server, tmp_path):
    extra = {"top_k": 5, "repetition_penalty": 1.1, "chat_template_kwargs": {"enable_thinking": False}}
    b = backend(server, tmp_path, extra_body=extra)
    params = SamplingParams(max_new_tokens=9, temperature=0.7, top_p=0.9, seed=3, n=2)
    out = b.generate([CONV], params)
    assert sorted(r["sample"] for r in out) == [0, 1]
    assert [r["path"] for r in server.requests] == ["/v1/chat/completions"] * 2
    bodies = sorted((r["json"] for r in server.requests), key=lambda j: j["seed"])
    for sample, body in enumerate(bodies):
        assert body["model"] == "m" and body["messages"] == CONV
        assert body["max_tokens"] == 9 and body["temperature"] == 0.7 and body["top_p"] == 0.9
        assert body["seed"] == 3 + sample  # one seed per sample
        for k, v in extra.items():
            assert body[k] == v, k  # top-level JSON fields, not nested under "extra_body"
        assert "extra_body" not in body
        assert "continue_final_message" not in body  # not asked for


def test_continue_final_message_only_where_the_conversation_ends_in_an_assistant_message(server, tmp_path):
    opened = [*CONV, {"role": "assistant", "content": "Answer:"}]
    b = backend(server, tmp_path, continue_final_message=True)
    b.generate([opened, CONV], PARAMS)
    bodies = {json.dumps(r["json"]["messages"]): r["json"] for r in server.requests}
    assert bodies[json.dumps(opened)]["continue_final_message"] is True
    assert bodies[json.dumps(opened)]["add_generation_prompt"] is False
    assert "continue_final_message" not in bodies[json.dumps(CONV)]
    assert "add_generation_prompt" not in bodies[json.dumps(CONV)]


def test_api_key_comes_from_the_named_environment_variable(server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-default-should-not-be-used")
    monkeypatch.setenv("ROUTERLAB_TEST_KEY", "sk-test-123")
    backend(server, tmp_path, api_key_env="ROUTERLAB_TEST_KEY").generate([CONV], PARAMS)
    assert server.requests[-1]["headers"]["authorization"] == "Bearer sk-test-123"


def test_api_key_env_defaults_to_openai_api_key(server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-default")
    backend(server, tmp_path).generate([CONV], PARAMS)
    assert server.requests[-1]["headers"]["authorization"] == "Bearer sk-default"


def test_missing_api_key_variable_sends_a_placeholder(server, tmp_path, monkeypatch):
    """Local servers (routerlab serve, vLLM) take any key: an unset variable is not an error."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-default-should-not-be-used")
    monkeypatch.delenv("ROUTERLAB_TEST_KEY", raising=False)
    out = backend(server, tmp_path, api_key_env="ROUTERLAB_TEST_KEY").generate([CONV], PARAMS)
    assert out[0]["response"] == "five"
    assert server.requests[-1]["headers"]["authorization"] == "Bearer EMPTY"


def test_result_fields_come_from_the_response(server, tmp_path):
    server.script = [(200, completion("  42\n"))]
    out, = backend(server, tmp_path).generate([CONV], PARAMS)
    assert out["response"] == "42" and out["prompt_tokens"] == 7 and out["response_tokens"] == 2
    assert out["finish_reason"] == "stop" and out["latency_s"] >= 0 and (out["index"], out["sample"]) == (0, 0)


# --- request cache ---

def cache_file(b, conv=CONV, params=PARAMS, sample=0):
    key = RequestCache.key(b._payload(conv, params, sample))
    return b.cache._path(key), key


def test_finished_request_is_cached_and_not_sent_again(server, tmp_path):
    b = backend(server, tmp_path)
    first = b.generate([CONV], PARAMS)
    path, _ = cache_file(b)
    stored = json.loads(path.read_text())
    assert stored["response"] == "five" and stored["request"]["body"]["messages"] == CONV
    again = backend(server, tmp_path)
    assert again.generate([CONV], PARAMS) == first
    assert len(server.requests) == 1 and again.stats == {"sent": 0, "cached": 1, "retries": 0}


@pytest.mark.parametrize("garbage", [
    '{"response": "stale", "prompt_tok',  # truncated JSON
    "",  # empty file
    "\x00" * 64,  # zeroed blocks (a crash on a file system with delayed allocation)
    "not json at all",
], ids=["truncated", "empty", "zeroed", "garbage"])
def test_corrupt_cache_entry_is_a_miss_and_is_overwritten(server, tmp_path, garbage):
    b = backend(server, tmp_path)
    path, key = cache_file(b)
    path.parent.mkdir(parents=True)
    path.write_text(garbage)
    assert b.cache.get(key) is None
    out = b.generate([CONV], PARAMS)
    assert [r["response"] for r in out] == ["five"]
    assert len(server.requests) == 1 and b.stats["sent"] == 1 and b.stats["cached"] == 0
    assert json.loads(path.read_text())["response"] == "five"  # the entry was repaired
    assert backend(server, tmp_path).generate([CONV], PARAMS)[0]["response"] == "five"
    assert len(server.requests) == 1  # and is used from then on


def test_non_utf8_cache_entry_is_a_miss(server, tmp_path):
    b = backend(server, tmp_path)
    path, key = cache_file(b)
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"response": "\xff\xfe\x80 stale"}')
    assert b.cache.get(key) is None
    assert b.generate([CONV], PARAMS)[0]["response"] == "five"
    assert json.loads(path.read_text())["response"] == "five"


# --- Retry-After (issue 17: a 429 with Retry-After: 3 was retried after 0.58 s) ---

def gap(server, i=1):
    return server.requests[i]["t"] - server.requests[i - 1]["t"]


def test_retry_after_seconds_is_waited(server, tmp_path):
    server.script = [(*error(429), {"Retry-After": "1"}), (200, completion())]
    b = backend(server, tmp_path)  # backoff alone would wait ~1 ms
    assert b.generate([CONV], PARAMS)[0]["response"] == "five"
    assert len(server.requests) == 2 and 0.95 <= gap(server) < 5.0, gap(server)


def test_retry_after_http_date_is_waited(server, tmp_path):
    when = email.utils.formatdate(time.time() + 2.0, usegmt=True)  # whole seconds: >= 1 s from now
    server.script = [(*error(503), {"Retry-After": when}), (200, completion())]
    assert backend(server, tmp_path).generate([CONV], PARAMS)[0]["response"] == "five"
    assert 0.95 <= gap(server) < 5.0, (when, gap(server))


def test_retry_after_is_capped(server, tmp_path):
    server.script = [(*error(429), {"Retry-After": "3600"}), (200, completion())]
    assert backend(server, tmp_path, retry_after_max=0.3).generate([CONV], PARAMS)[0]["response"] == "five"
    assert 0.28 <= gap(server) < 3.0, gap(server)


def test_retry_after_past_the_retry_budget_gives_up_at_once(server, tmp_path):
    server.script = [(*error(429, "slow down"), {"Retry-After": "30"})]
    t = time.monotonic()
    with pytest.raises(EndpointError, match=rf"^{server.url}: HTTP 429 .*slow down.*retry_budget_s=5"):
        backend(server, tmp_path, retry_budget_s=5.0).generate([CONV], PARAMS)
    assert time.monotonic() - t < 3.0 and len(server.requests) == 1


@pytest.mark.parametrize("headers,want", [
    ({"retry-after": "3"}, 3.0), ({"retry-after": " 2.5 "}, 2.5), ({"retry-after": "-4"}, 0.0),
    ({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, 10.0), ({"retry-after": "Wed, 21 Oct 2015 07:27:00 GMT"}, 0.0),
    ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5), ({"retry-after": "soon"}, None), ({"retry-after": "nan"}, None),
    ({}, None),
])
def test_retry_after_header_forms(headers, want):
    now = 1445412480.0  # 2015-10-21 07:28:00 GMT
    assert retry_after_seconds(headers, now=now) == want


# --- malformed HTTP-200 replies are endpoint errors, retried (issue 17) ---

MALFORMED = {
    "html": "<html><body>502 Bad Gateway</body></html>",
    "truncated": json.dumps(completion())[:40],
    "no_choices": {"id": "x", "object": "chat.completion"},
    "empty_choices": {**completion(), "choices": []},
    "no_message": {**completion(), "choices": [{"index": 0, "finish_reason": "stop"}]},
    "content_not_text": {**completion(), "choices": [{"index": 0, "message": {"content": 42}}]},
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_200_is_retried(server, tmp_path, kind):
    server.script = [(200, MALFORMED[kind]), (200, completion("five"))]
    b = backend(server, tmp_path, max_retries=2)
    assert [r["response"] for r in b.generate([CONV], PARAMS)] == ["five"]
    assert len(server.requests) == 2 and b.stats["retries"] == 1


@pytest.mark.parametrize("kind,why", [("html", "body is not JSON"), ("no_choices", "not a chat completion")])
def test_persistent_malformed_200_is_an_endpoint_error_naming_the_url(server, tmp_path, kind, why):
    server.script = [(200, MALFORMED[kind])]
    b = backend(server, tmp_path, max_retries=2)
    with pytest.raises(EndpointError, match=rf"^{server.url}: malformed reply \(HTTP 200 from POST "
                                            rf"{server.url}/chat/completions\) for model 'm': {why}.*gave up after 3"):
        b.generate([CONV], PARAMS)
    assert len(server.requests) == 3
    assert not list((tmp_path / "cache").rglob("*.json"))


# --- defaults: a dead endpoint fails in about a minute, not ~15 minutes (issue 17) ---

def test_defaults_bound_a_dead_endpoint_to_about_a_minute():
    b = OpenAIBackend(model="m", cache_dir="unused")
    assert (b.timeout, b.connect_timeout, b.max_retries, b.retry_budget_s) == (120.0, 5.0, 4, 60.0)
    # worst case, jitter at its maximum (x1.5): refused at once; a black hole costs connect_timeout each time
    waits = [min(b.backoff_max, b.backoff_base * 2 ** k) * 1.5 for k in range(b.max_retries)]
    refused = sum(waits)
    black_hole = (b.max_retries + 1) * b.connect_timeout + sum(waits)
    assert refused <= 30 and black_hole <= 60, (refused, black_hole)
    # a server that accepts and never answers: no new attempt after the budget, so one attempt
    # (a slow generation still gets its full `timeout`; 7 x 120 s before)
    assert b.timeout >= b.retry_budget_s and b.timeout <= 120


@pytest.fixture
def silent_port():
    """A port that accepts connections (the kernel's backlog) and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    yield srv.getsockname()[1]
    srv.close()


def test_a_silent_endpoint_fails_within_the_retry_budget(silent_port, tmp_path):
    b = OpenAIBackend(base_url=f"http://127.0.0.1:{silent_port}/v1", model="m", cache_dir=str(tmp_path / "c"),
                      timeout=0.3, retry_budget_s=1.0, max_retries=50, backoff_base=0.01, backoff_max=0.05)
    t = time.monotonic()
    with pytest.raises(EndpointError, match=r"APITimeoutError.*retry_budget_s=1"):
        b.generate([CONV], PARAMS)
    assert time.monotonic() - t < 3.0
    assert 2 <= b.stats["retries"] <= 4  # ~0.3 s per attempt within a 1 s budget, not 50 retries
