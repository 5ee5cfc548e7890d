"""`routerlab route`: an OpenAI-compatible routing proxy over a trained router.

Endpoints: POST /v1/chat/completions and /v1/completions (``stream`` true or false),
GET /v1/models, /health and /metrics (Prometheus text). Per request: validate (4xx with the
reason), score with the router (micro-batched across concurrent requests), pick the model
(binary: strong iff score <= threshold; K-model: the router's pick), forward with bounded
retries and fail-over to the other models (``upstream``), answer with ``model`` set to the
model that answered and the headers ``X-Routerlab-Model`` (answered), ``X-Routerlab-Routed-To``
(chosen by the router), ``X-Routerlab-Score`` and ``X-Routerlab-Request-Id``, then append
the decision to the parquet log (``decisions``).

A /v1/completions prompt is scored as one user message. An upstream that answers a streamed
request with plain JSON (``routerlab serve`` does) is re-sent to the client as an event stream.
"""

from __future__ import annotations

import json
import logging
import math
import signal
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from routerlab.core.io import write_text
from routerlab.proxy.decisions import DecisionLog, request_hash
from routerlab.proxy.metrics import ProxyMetrics
from routerlab.proxy.scoring import Decision, MicroBatcher
from routerlab.proxy.thresholds import CallRateWindow, Threshold
from routerlab.proxy.upstream import Response, Upstream, UpstreamError, open_request

log = logging.getLogger(__name__)

ROLES = {"system", "user", "assistant", "tool", "developer"}
MAX_REQUEST_BYTES = 16 << 20
ENDPOINTS = {"/v1/chat/completions": ("chat", "/chat/completions"), "/v1/completions": ("completions", "/completions")}


class BadRequest(ValueError):
    pass


class ProxyHTTPServer(ThreadingHTTPServer):
    # The listen backlog: socketserver's default of 5 drops connections when dozens of clients
    # connect at once, and a dropped SYN costs the client a 1 s retransmit.
    request_queue_size = 1024
    daemon_threads = True


@dataclass
class ProxySettings:
    timeout_s: float = 30.0  # per socket operation of one upstream attempt
    retries: int = 1  # extra attempts on the same model before failing over
    backoff_s: float = 0.05
    failover: bool = True  # after the retries, try the other model(s)
    scoring_timeout_s: float = 60.0
    max_batch: int = 32  # router micro-batch
    batch_wait_s: float = 0.005
    window: int = 500  # sliding window of the realised call rate
    drift_tolerance: float = 0.05


def conversation(endpoint: str, body: dict[str, Any]) -> list[dict]:
    """The messages the router scores, validated; ``BadRequest`` names the field and the fix."""
    if endpoint == "completions":
        prompt = body.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
            prompt = prompt[0]
        if not isinstance(prompt, str) or not prompt:
            raise BadRequest("`prompt` must be a non-empty string (one prompt per request: the router decides per "
                             "prompt)")
        return [{"role": "user", "content": prompt}]
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("`messages` must be a non-empty list of {role, content} objects")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise BadRequest(f"messages[{i}]: needs `role` in {sorted(ROLES)}, got {m!r:.100}")
        content = m.get("content")
        if isinstance(content, list):  # content parts: the router reads their text
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if not isinstance(content, str):
            raise BadRequest(f"messages[{i}].content must be a string or a list of text parts, got "
                             f"{type(content).__name__}")
        out.append({"role": m["role"], "content": content})
    return out


def check_sampling(body: dict[str, Any]) -> None:
    if body.get("n") not in (None, 1):
        raise BadRequest("`n` > 1 is not supported: the router decides per answer; send one request per sample")
    for key in ("max_tokens", "max_completion_tokens"):
        v = body.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise BadRequest(f"`{key}` must be a positive integer, got {v!r}")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise BadRequest(f"`stream` must be true or false, got {body['stream']!r}")


class RoutingProxy:
    """The routing logic behind the HTTP handler (usable without a socket in tests)."""

    def __init__(self, scorer, upstreams: list[Upstream], threshold: Threshold | None,
                 settings: ProxySettings | None = None, decision_log: DecisionLog | None = None):
        self.scorer, self.upstreams = scorer, list(upstreams)
        self.settings = settings or ProxySettings()
        self.threshold, self.decision_log = threshold, decision_log
        if scorer.kind == "binary":
            if len(self.upstreams) != 2:
                raise ValueError(f"a binary router routes between 2 models (weak, then strong): give --upstream twice, "
                                 f"got {len(self.upstreams)}")
            if threshold is None:
                raise ValueError("a binary router needs a threshold: --call-rate, --recall or --threshold")
        else:
            n_models = getattr(scorer.router, "n_models_", None)
            if n_models is not None and n_models != len(self.upstreams):
                raise ValueError(f"the K-model router was fitted on {n_models} candidates: give --upstream once per "
                                 f"candidate, in its training order (got {len(self.upstreams)})")
        # The call rate to hold: the target of --call-rate; for --recall, the rate it gave on calibration.
        target = None if threshold is None or math.isnan(threshold.expected_call_rate) else \
            (threshold.target if threshold.kind == "call_rate" else threshold.expected_call_rate)
        self.window = CallRateWindow(target, self.settings.window, self.settings.drift_tolerance)
        self.metrics = ProxyMetrics(
            call_rate=lambda: self.window.snapshot()["call_rate"],
            target=lambda: math.nan if target is None else target,
            threshold=lambda: math.nan if threshold is None else threshold.value)
        self.batcher = MicroBatcher(self._decide_batch, self.settings.max_batch, self.settings.batch_wait_s)
        self.batcher.start()
        self.router_description = scorer.describe()

    def _decide_batch(self, items: list[tuple[list[dict], str]]) -> list[Decision]:
        return self.scorer.decide([c for c, _ in items], [i for _, i in items])

    def route(self, messages: list[dict], rhash: str) -> tuple[int, float]:
        """(index of the chosen upstream, router score)."""
        decision = self.batcher.submit((messages, rhash)).result(timeout=self.settings.scoring_timeout_s)
        if self.scorer.kind != "binary":
            return decision.index, decision.score
        escalate = self.threshold.escalate(decision.score)
        self.window.add(escalate)
        return int(escalate), decision.score

    def order(self, routed: int) -> list[int]:
        if not self.settings.failover:
            return [routed]
        return [routed] + [i for i in range(len(self.upstreams)) if i != routed]

    def attempt(self, index: int, path: str, body: dict[str, Any], stream: bool) -> tuple[Any, int]:
        """Retry one upstream; (JSON answer or open stream Response, attempts). Raises the last UpstreamError."""
        up = self.upstreams[index]
        s = self.settings
        for attempt in range(s.retries + 1):
            try:
                resp = open_request(up, path, {**body, "model": up.name}, s.timeout_s)
                return (resp if stream else resp.json()), attempt + 1
            except UpstreamError as e:
                self.metrics.upstream_errors.inc(up.name, e.kind)
                log.warning("upstream %s attempt %d/%d: %s", up.name, attempt + 1, s.retries + 1, e)
                if not e.retryable or attempt == s.retries:
                    e.attempts = attempt + 1
                    raise
                time.sleep(s.backoff_s * (2 ** attempt))
        raise AssertionError("unreachable")

    def record(self, row: dict[str, Any]) -> None:
        self.metrics.requests.inc(row["endpoint"], str(row["status"]))
        self.metrics.latency.observe(row["latency_s"], row["endpoint"])
        if row["chosen"]:
            self.metrics.answered.inc(row["chosen"])
            if row["chosen"] != row["routed_to"]:
                self.metrics.failovers.inc(row["routed_to"], row["chosen"])
        if self.decision_log is not None:
            self.decision_log.append(row)

    def close(self) -> None:
        if self.decision_log is not None:
            self.decision_log.close()


def sse(obj: Any) -> bytes:
    return b"data: " + (obj if isinstance(obj, bytes) else json.dumps(obj).encode()) + b"\n\n"


def json_as_events(answer: dict[str, Any], endpoint: str) -> list[dict[str, Any]]:
    """A whole (non-streamed) answer as stream chunks: the text, then the finish reason and usage."""
    choice = (answer.get("choices") or [{}])[0]
    base = {k: answer.get(k) for k in ("id", "created", "model")}
    if endpoint == "chat":
        text = (choice.get("message") or {}).get("content") or ""
        kind = "chat.completion.chunk"
        first = {"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": None}
        last = {"index": 0, "delta": {}, "finish_reason": choice.get("finish_reason")}
    else:
        kind = "text_completion"
        first = {"index": 0, "text": choice.get("text") or "", "finish_reason": None}
        last = {"index": 0, "text": "", "finish_reason": choice.get("finish_reason")}
    return [{**base, "object": kind, "choices": [first]},
            {**base, "object": kind, "choices": [last], "usage": answer.get("usage")}]


def make_handler(proxy: RoutingProxy):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args: Any) -> None:
            log.debug(fmt, *args)

        def _send(self, code: int, obj: dict | str, headers: dict[str, str] | None = None,
                  content_type: str = "application/json") -> None:
            body = (obj if isinstance(obj, str) else json.dumps(obj)).encode()
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _error(self, code: int, message: str, kind: str = "invalid_request_error",
                   headers: dict[str, str] | None = None) -> None:
            self._send(code, {"error": {"message": message, "type": kind, "code": code}}, headers)

        def do_GET(self) -> None:
            route = self.path.split("?")[0].rstrip("/")
            if route in ("/health", ""):
                self._send(200, {"status": "ok", "router": json.loads(proxy.router_description),
                                 "upstreams": [u.name for u in proxy.upstreams],
                                 "threshold": None if proxy.threshold is None else proxy.threshold.value,
                                 "window": proxy.window.snapshot()})
            elif route == "/metrics":
                self._send(200, proxy.metrics.render(), content_type="text/plain; version=0.0.4")
            elif route == "/v1/models":
                data = [{"id": "router", "object": "model", "owned_by": "routerlab"}]
                data += [{"id": u.name, "object": "model", "owned_by": "routerlab"} for u in proxy.upstreams]
                self._send(200, {"object": "list", "data": data})
            else:
                self._error(404, f"no route GET {self.path}; try /v1/models, /health or /metrics")

        def do_POST(self) -> None:
            start = time.perf_counter()
            route = self.path.split("?")[0].rstrip("/")
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_REQUEST_BYTES:
                self.close_connection = True  # the body is not read: the connection cannot be reused
                self._error(413 if length > 0 else 400, f"Content-Length must be 0..{MAX_REQUEST_BYTES} bytes, got "
                            f"{self.headers.get('Content-Length')!r}")
                return
            raw = self.rfile.read(length) if length else b""
            if route not in ENDPOINTS:
                self._error(404, f"no route POST {self.path}; the proxy serves /v1/chat/completions and "
                                 "/v1/completions")
                return
            endpoint, upstream_path = ENDPOINTS[route]
            try:
                body = json.loads(raw) if raw else None
                if not isinstance(body, dict):
                    raise BadRequest("the body must be a JSON object")
                messages = conversation(endpoint, body)
                check_sampling(body)
            except (BadRequest, ValueError) as e:
                msg = str(e) if isinstance(e, BadRequest) else f"the body is not valid JSON ({e})"
                proxy.metrics.requests.inc(endpoint, "400")
                self._error(400, f"bad request: {msg}")
                return
            self._answer(endpoint, upstream_path, body, messages, start)

        def _answer(self, endpoint: str, path: str, body: dict, messages: list[dict], start: float) -> None:
            request_id, rhash = uuid.uuid4().hex, request_hash(endpoint, messages)
            stream = bool(body.get("stream"))
            row = {"request_id": request_id, "request_hash": rhash, "time": time.time(), "endpoint": endpoint,
                   "messages": json.dumps(messages, ensure_ascii=False), "prompt": _last_user(messages),
                   "router": proxy.router_description, "router_score": math.nan,
                   "threshold": math.nan if proxy.threshold is None else proxy.threshold.value,
                   "routed_to": "", "chosen": "", "status": 0, "attempts": 0, "error": "",
                   "routing_latency_s": math.nan, "latency_s": math.nan, "prompt_tokens": -1,
                   "completion_tokens": -1, "cost_usd": 0.0}
            try:
                routed, score = proxy.route(messages, rhash)
            except Exception as e:
                log.exception("router scoring failed")
                row.update(status=503, error=f"scoring: {type(e).__name__}: {e}",
                           latency_s=time.perf_counter() - start)
                proxy.record(row)
                self._error(503, f"the router could not score this request ({type(e).__name__}: {e})", "server_error")
                return
            routing_s = time.perf_counter() - start
            proxy.metrics.routing.observe(routing_s)
            proxy.metrics.decisions.inc(proxy.upstreams[routed].name)
            row.update(router_score=score, routed_to=proxy.upstreams[routed].name, routing_latency_s=routing_s)
            headers = {"X-Routerlab-Request-Id": request_id, "X-Routerlab-Routed-To": proxy.upstreams[routed].name,
                       "X-Routerlab-Score": repr(score)}
            last: UpstreamError | None = None
            for index in proxy.order(routed):
                up = proxy.upstreams[index]
                t0 = time.perf_counter()
                try:
                    answer, attempts = proxy.attempt(index, path, body, stream)
                except UpstreamError as e:
                    row["attempts"] += getattr(e, "attempts", 1)
                    row["error"] = str(e)[:500]
                    last = e
                    if 400 <= e.status < 500 and not e.retryable:  # the client's error: pass it through
                        break
                    continue
                row["attempts"] += attempts
                headers["X-Routerlab-Model"] = up.name
                row["chosen"] = up.name
                if stream:
                    self._relay(answer, endpoint, up, headers, row)
                else:
                    answer["model"] = up.name
                    self._usage(row, up, answer.get("usage"))
                    row["status"] = 200
                    self._send(200, answer, headers)
                proxy.metrics.upstream.observe(time.perf_counter() - t0, up.name)
                break
            else:
                last = last or UpstreamError("proxy", 0, "no upstream tried", retryable=False)
            if not row["chosen"]:
                assert last is not None
                if 400 <= last.status < 500 and not last.retryable:
                    row["status"] = last.status
                    self._send(last.status, last.body.decode(errors="replace") or str(last), headers)
                else:
                    row["status"] = 504 if last.kind == "timeout" else 502
                    self._error(row["status"], f"no upstream answered after {row['attempts']} attempts; last error: "
                                f"{last}", "upstream_error", headers)
            row["latency_s"] = time.perf_counter() - start
            proxy.record(row)

        def _usage(self, row: dict, up: Upstream, usage: dict | None) -> None:
            if usage:
                row["prompt_tokens"] = int(usage.get("prompt_tokens") or 0)
                row["completion_tokens"] = int(usage.get("completion_tokens") or 0)
                row["cost_usd"] = up.cost(row["prompt_tokens"], row["completion_tokens"])

        def _relay(self, resp: Response, endpoint: str, up: Upstream, headers: dict, row: dict) -> None:
            # No Content-Length: the stream ends when the connection closes.
            self.close_connection = True
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            row["status"] = 200
            try:
                chunks = resp.events() if resp.streaming else (json.dumps(c).encode() for c in
                                                                json_as_events(resp.json(), endpoint))
                for data in chunks:
                    if data == b"[DONE]":
                        break
                    chunk = json.loads(data)
                    chunk["model"] = up.name
                    self._usage(row, up, chunk.get("usage"))
                    self.wfile.write(sse(chunk))
                    self.wfile.flush()
                self.wfile.write(sse(b"[DONE]"))
            except (UpstreamError, ValueError) as e:  # headers are sent: the error goes in the stream
                row["error"] = f"stream: {e}"[:500]
                self.wfile.write(sse({"error": {"message": f"upstream {up.name} broke off the answer: {e}",
                                                "type": "upstream_error"}}))
            except OSError as e:  # the client went away
                row["error"] = f"client: {e}"[:500]

    return Handler


def _last_user(messages: list[dict]) -> str:
    for m in reversed(messages):
        if m["role"] == "user":
            return m["content"]
    return messages[-1]["content"]


def start_server(proxy: RoutingProxy, host: str = "127.0.0.1", port: int = 0) -> tuple[ProxyHTTPServer, str]:
    """Serve ``proxy`` on a background thread; (server, base URL /v1)."""
    server = ProxyHTTPServer((host, port), make_handler(proxy))
    threading.Thread(target=server.serve_forever, daemon=True, name="routing-proxy").start()
    return server, f"http://{host}:{server.server_address[1]}/v1"


def serve_forever(proxy: RoutingProxy, host: str, port: int, ready_file: str | None = None) -> None:
    server = ProxyHTTPServer((host, port), make_handler(proxy))
    url = f"http://{host}:{server.server_address[1]}/v1"
    log.info("routing proxy on %s: router %s, upstreams %s, threshold %s", url, proxy.router_description,
             [f"{u.name}={u.base_url}" for u in proxy.upstreams], proxy.threshold)
    if ready_file:
        write_text(ready_file, url + "\n")  # atomically: a watcher never reads a half-written URL

    def stop(signum, frame):  # SIGTERM as Ctrl-C: the decision log's last rows are flushed below
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        proxy.close()
