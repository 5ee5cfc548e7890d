"""`routerlab serve`: an OpenAI-compatible HTTP server backed by the transformers backend.

A real server with a real model, so the `openai` backend and the LLM judge are tested
end to end without mocks, and so CPU users can serve a packaged model to any OpenAI client.

Endpoints: GET /v1/models, GET /health (load counters), POST /v1/chat/completions (n=1 per
request, no streaming: ``stream: true`` is refused with 400). Every answered request is
appended to ``--request-log`` (JSON lines), which tests read.

What keeps it up:

- Requests are validated before they reach a batch. A bad one gets a 4xx with an OpenAI-style
  body ``{"error": {"message", "type", "param", "code"}}`` naming the field and the fix: 400 for
  malformed JSON or fields, 404 for an unknown route or model, 411/413 for a missing or too large
  body (``max_request_bytes``), 503 + ``Retry-After`` when ``max_queue`` requests are already
  admitted. Unknown fields are ignored, as OpenAI clients send extras.
- Length: a prompt of ``context`` tokens or more (the model's ``max_position_embeddings``) is
  refused with 400 (code ``context_length_exceeded``); a prompt whose text cannot fit even at the
  tokenizer's longest token is refused before it is tokenised. ``max_tokens`` is *clamped* to
  ``context - prompt_tokens``, so a request that asks for more gets what fits (``finish_reason``
  ``length``), as a client that sends the same ``max_tokens`` for every prompt expects.
- Scheduling: generation runs in chunks of at most ``chunk_tokens`` new tokens. After each chunk
  an unfinished request goes to the back of the queue and waiting requests with the same sampling
  settings join the next batch, so one huge ``max_tokens`` cannot starve the others. A request
  whose client has disconnected is dropped at the next chunk boundary.
- Isolation: if generation fails for a batch, each member is retried alone, so only the culprit
  gets the 500.
- Connections: a threading server with a listen backlog of ``REQUEST_QUEUE_SIZE``.
"""

from __future__ import annotations

import json
import logging
import math
import select
import socket
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from routerlab.lm.prompts import chat_text
from routerlab.lm.sampling import SamplingParams

log = logging.getLogger(__name__)

REQUEST_QUEUE_SIZE = 1024  # listen backlog; the kernel caps it at net.core.somaxconn
ROLES = ("system", "user", "assistant")
DEFAULT_MAX_TOKENS = 256
UNSUPPORTED_CONTEXT = 2048  # when a model records no context length


class RequestError(Exception):
    """A request the server refuses: HTTP status plus an OpenAI-style error body."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error", headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


def _bad(param: str, message: str, code: str = "invalid_value") -> RequestError:
    return RequestError(400, f"{param}: {message}", param=param, code=code)


@dataclass(frozen=True)
class ChatRequest:
    """A validated chat-completions request (before tokenisation)."""

    messages: list[dict[str, str]]
    max_tokens: int
    temperature: float
    top_p: float
    seed: int


def _number(body: dict, key: str, default: float, low: float, high: float, low_open: bool = False) -> float:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _bad(key, f"must be a finite number, got {value!r}", "invalid_type")
    if value < low or (low_open and value == low) or value > high:
        lo = f"> {low}" if low_open else f">= {low}"
        raise _bad(key, f"{value!r} is out of range; send a number {lo} and <= {high}")
    return float(value)


def _integer(body: dict, key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(key, f"must be an integer, got {value!r}", "invalid_type")
    return value


def _content(message: dict, where: str) -> str:
    if "content" not in message or message["content"] is None:
        raise _bad(f"{where}.content", 'is missing; every message needs "content" (a string)', "missing_field")
    content = message["content"]
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts: only text is supported
        parts = []
        for k, part in enumerate(content):
            if not (isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)):
                raise _bad(f"{where}.content[{k}]", 'only {"type": "text", "text": "..."} parts are supported')
            parts.append(part["text"])
        return "".join(parts)
    raise _bad(f"{where}.content", f"must be a string, got {type(content).__name__}", "invalid_type")


def parse_chat_request(body: Any, served_name: str) -> ChatRequest:
    """Validate a decoded JSON body; raise ``RequestError`` naming the field and the fix."""
    if not isinstance(body, dict):
        raise RequestError(400, f"the body must be a JSON object, got {type(body).__name__}", code="invalid_json")
    model = body.get("model")
    if model is not None and model != served_name:
        raise RequestError(404, f"model {model!r} not served; this server has {served_name!r} (GET /v1/models)",
                           param="model", code="model_not_found")
    messages = body.get("messages")
    if messages is None:
        raise _bad("messages", 'is missing; send a list of {"role": ..., "content": ...} objects', "missing_field")
    if not isinstance(messages, list):
        raise _bad("messages", f'must be a list of {{"role", "content"}} objects, got {type(messages).__name__}',
                   "invalid_type")
    if not messages:
        raise _bad("messages", "is empty; send at least one message")
    clean = []
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise _bad(where, f'must be an object {{"role", "content"}}, got {type(m).__name__}', "invalid_type")
        if m.get("role") not in ROLES:
            raise _bad(f"{where}.role", f"{m.get('role')!r} is not one of {list(ROLES)}")
        clean.append({"role": m["role"], "content": _content(m, where)})
    for key in ("max_tokens", "max_completion_tokens"):
        value = _integer(body, key)
        if value is not None and value < 1:
            raise _bad(key, f"{value} is not a positive integer; send at least 1")
    max_tokens = _integer(body, "max_completion_tokens") or _integer(body, "max_tokens") or DEFAULT_MAX_TOKENS
    n = _integer(body, "n")
    if n not in (None, 1):
        raise _bad("n", f"{n} samples per request are not supported; send one request per sample (n=1)")
    if body.get("stream"):
        raise _bad("stream", "streaming is not supported; send stream=false (or leave it out)")
    if body.get("stop"):
        raise _bad("stop", "stop sequences are not supported; leave stop out and trim the text client-side")
    if body.get("logprobs"):
        raise _bad("logprobs", "log-probabilities are not returned; send logprobs=false (or leave it out)")
    return ChatRequest(messages=clean, max_tokens=max_tokens,
                       temperature=_number(body, "temperature", 0.0, 0.0, 2.0),
                       top_p=_number(body, "top_p", 1.0, 0.0, 1.0, low_open=True),
                       seed=_seed(body))


def _seed(body: dict) -> int:
    seed = _integer(body, "seed") or 0
    if not -(2**63) <= seed < 2**63:
        raise _bad("seed", f"{seed} does not fit a 64-bit integer")
    return seed


class TransformersEngine:
    """What the scheduler needs from a model: encode, generate token ids in chunks, decode."""

    def __init__(self, backend):
        self.backend = backend
        self.tokenizer = backend.tokenizer
        self.stop_ids = set(backend.stop_ids)
        self.context = context_length(backend.model.config, self.tokenizer)
        # No token is longer than this, so a text over context * longest chars cannot fit.
        self.longest_token_chars = max((len(t) for t in self.tokenizer.get_vocab()), default=64)

    def encode(self, messages: list[dict]) -> list[int]:
        text = chat_text(self.tokenizer, messages)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True).strip()

    def generate(self, encoded: Sequence[list[int]], max_new_tokens: int, temperature: float, top_p: float,
                 seed: int) -> list[list[int]]:
        """New token ids per prompt, through the stop token when one was generated."""
        params = SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed)
        out = sorted(self.backend.generate_ids(encoded, params), key=lambda r: r["index"])
        return [r["token_ids"] for r in out]


def context_length(config, tokenizer) -> int:
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    value = getattr(tokenizer, "model_max_length", None)
    return value if isinstance(value, int) and 0 < value < 10**7 else UNSUPPORTED_CONTEXT


@dataclass(eq=False)
class Job:
    prompt_ids: list[int]
    max_new: int
    temperature: float
    top_p: float
    seed: int
    messages: list[dict]
    generated: list[int] = field(default_factory=list)
    chunks: int = 0
    stopped: bool = False
    cancelled: threading.Event = field(default_factory=threading.Event)
    future: Future = field(default_factory=Future)

    def key(self) -> tuple:
        """Jobs batch together when they sample alike; greedy ones always do."""
        if self.temperature == 0:
            return (0.0,)
        return (self.temperature, self.top_p, self.seed + self.chunks)

    @property
    def remaining(self) -> int:
        return self.max_new - len(self.generated)


class Scheduler(threading.Thread):
    """Round-robin chunked generation over a bounded set of admitted jobs."""

    def __init__(self, engine, max_batch: int = 16, batch_wait_s: float = 0.02, chunk_tokens: int = 64,
                 max_queue: int = 256):
        super().__init__(daemon=True, name="routerlab-serve-scheduler")
        if min(max_batch, chunk_tokens, max_queue) < 1:
            raise ValueError(f"max_batch={max_batch}, chunk_tokens={chunk_tokens} and max_queue={max_queue} "
                             "must be positive")
        self.engine = engine
        self.max_batch, self.batch_wait_s, self.chunk_tokens, self.max_queue = (max_batch, batch_wait_s,
                                                                                 chunk_tokens, max_queue)
        self.pending: deque[Job] = deque()
        self.cond = threading.Condition()
        self.admitted = 0  # pending + running
        self.counts = {"served": 0, "cancelled": 0, "failed": 0, "rejected_full": 0}
        self.chunk_seconds = 1.0  # moving average, for Retry-After

    def submit(self, job: Job) -> Job:
        with self.cond:
            if self.admitted >= self.max_queue:
                self.counts["rejected_full"] += 1
                wait = self.retry_after_s()
                raise RequestError(503, f"server busy: {self.admitted} requests queued (max_queue={self.max_queue}); "
                                   f"retry after {wait} s", code="queue_full", kind="server_overloaded",
                                   headers={"Retry-After": str(wait)})
            self.admitted += 1
            self.pending.append(job)
            self.cond.notify()
        return job

    def retry_after_s(self) -> int:
        rounds = math.ceil(self.admitted / self.max_batch)
        return int(min(60, max(1, math.ceil(rounds * self.chunk_seconds))))

    def stats(self) -> dict[str, int]:
        with self.cond:
            return {"queued": len(self.pending), "active": self.admitted, "max_queue": self.max_queue,
                    **self.counts}

    def _finish(self, job: Job, outcome: str, result: Any = None) -> None:
        with self.cond:
            self.admitted -= 1
            self.counts[outcome] += 1
        if outcome == "served":
            job.future.set_result(result)
        elif outcome == "failed":
            job.future.set_exception(result)
        else:
            job.future.cancel()

    def _next_batch(self) -> list[Job]:
        with self.cond:
            while not self.pending:
                self.cond.wait()
            deadline = time.monotonic() + self.batch_wait_s
            while len(self.pending) < self.max_batch and (left := deadline - time.monotonic()) > 0:
                self.cond.wait(left)
            dropped = [j for j in self.pending if j.cancelled.is_set()]
            live = [j for j in self.pending if not j.cancelled.is_set()]
            batch: list[Job] = []
            if live:
                key = live[0].key()
                batch = [j for j in live if j.key() == key][: self.max_batch]
            chosen = set(map(id, batch))
            self.pending = deque(j for j in live if id(j) not in chosen)
        for job in dropped:
            self._finish(job, "cancelled")
        return batch

    def run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch:
                try:
                    self._step(batch)
                except Exception:  # a bug here must not stop the scheduler: fail the batch, keep serving
                    log.exception("scheduler step failed")
                    for job in batch:
                        if not job.future.done():
                            self._finish(job, "failed", RuntimeError("internal scheduler error"))

    def _generate(self, batch: list[Job], budgets: list[int]) -> list[list[int]]:
        first = batch[0]
        return self.engine.generate([j.prompt_ids + j.generated for j in batch], max(budgets), first.temperature,
                                    first.top_p, first.seed + first.chunks)

    def _step(self, batch: list[Job]) -> None:
        """One chunk for every job of the batch; on failure retry each alone so only the culprit fails."""
        budgets = [min(self.chunk_tokens, j.remaining) for j in batch]
        start = time.perf_counter()
        try:
            outs: list[list[int] | Exception] = list(self._generate(batch, budgets))
        except Exception as e:  # noqa: BLE001 - whatever the batch raised, find the member that causes it
            if len(batch) == 1:
                outs = [e]
            else:
                log.warning("generation failed for a batch of %d (%s); retrying each request alone",
                            len(batch), e)
                outs = []
                for job, budget in zip(batch, budgets):
                    try:
                        outs.append(self._generate([job], [budget])[0])
                    except Exception as alone:  # noqa: BLE001 - reported to this request alone
                        outs.append(alone)
        self.chunk_seconds = 0.8 * self.chunk_seconds + 0.2 * (time.perf_counter() - start)
        requeue = []
        for job, budget, out in zip(batch, budgets, outs):
            if isinstance(out, Exception):
                log.error("generation failed for one request: %s: %s", type(out).__name__, out)
                self._finish(job, "failed", out)
                continue
            new = list(out)[:budget]
            stop_at = next((k for k, t in enumerate(new) if t in self.engine.stop_ids), None)
            if stop_at is not None:
                new, job.stopped = new[:stop_at], True
            job.generated.extend(new)
            job.chunks += 1
            if job.cancelled.is_set():
                self._finish(job, "cancelled")
            elif job.stopped or job.remaining <= 0 or not new:
                self._finish(job, "served", self._record(job))
            else:
                requeue.append(job)
        if requeue:
            with self.cond:
                self.pending.extend(requeue)  # the back of the queue: waiting requests go first
                self.cond.notify()

    def _record(self, job: Job) -> dict[str, Any]:
        return {"response": self.engine.decode(job.generated), "prompt_tokens": len(job.prompt_ids),
                "response_tokens": len(job.generated), "finish_reason": "stop" if job.stopped else "length"}


class Server(ThreadingHTTPServer):
    request_queue_size = REQUEST_QUEUE_SIZE
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):  # the client hung up: nothing to report
            log.debug("client %s left: %s", client_address, sys.exc_info()[1])
        else:
            super().handle_error(request, client_address)


def prepare_job(engine, chat: ChatRequest) -> Job:
    """Tokenise and bound by the context: refuse prompts that do not fit, clamp ``max_tokens``."""
    chars = sum(len(m["content"]) for m in chat.messages)
    if chars > engine.context * engine.longest_token_chars:
        raise RequestError(400, f"messages: {chars} characters cannot fit the model's context of {engine.context} "
                           "tokens; shorten the prompt", param="messages", code="context_length_exceeded")
    try:
        ids = engine.encode(chat.messages)
    except Exception as e:  # chat templates raise on role orders they do not support
        raise RequestError(400, f"messages: the model's chat template rejects them ({type(e).__name__}: {e}); "
                           "check the role order", param="messages") from e
    if len(ids) >= engine.context:
        raise RequestError(400, f"messages: the prompt is {len(ids)} tokens but the model's context is "
                           f"{engine.context} tokens, leaving no room for an answer; shorten the prompt",
                           param="messages", code="context_length_exceeded")
    return Job(prompt_ids=list(ids), max_new=min(chat.max_tokens, engine.context - len(ids)),
               temperature=chat.temperature, top_p=chat.top_p, seed=chat.seed, messages=chat.messages)


def make_handler(scheduler: Scheduler, served_name: str, request_log: Path | None, log_lock: threading.Lock,
                 max_request_bytes: int = 4 << 20, poll_s: float = 0.25):
    engine = scheduler.engine

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 60  # a client that stalls mid-request loses its connection, not a thread forever

        def log_message(self, fmt: str, *args: Any) -> None:
            log.debug(fmt, *args)

        def _send(self, code: int, obj: dict, headers: dict[str, str] | None = None) -> None:
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def _send_error(self, e: RequestError) -> None:
            self._send(e.status, e.body(), e.headers)

        def _route(self) -> str:
            return self.path.split("?", 1)[0].rstrip("/")

        def do_GET(self) -> None:
            if self._route() in ("/health", ""):
                self._send(200, {"status": "ok", "model": served_name, **scheduler.stats()})
            elif self._route() == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": served_name, "object": "model",
                                                             "context_length": engine.context}]})
            else:
                self._send_error(RequestError(404, f"no route GET {self.path}; try /v1/models or /health",
                                              code="not_found"))

        def _refuse_method(self) -> None:
            self.close_connection = True  # any body was not read
            self._send_error(RequestError(405, f"{self.command} is not supported; use GET /v1/models or "
                                          "POST /v1/chat/completions", code="method_not_allowed"))

        do_PUT = do_DELETE = do_PATCH = _refuse_method

        def _read_json(self) -> Any:
            length = self.headers.get("Content-Length")
            if length is None:
                self.close_connection = True
                raise RequestError(411, "Content-Length is required (chunked bodies are not supported)",
                                   code="length_required")
            try:
                size = int(length)
                if size < 0:
                    raise ValueError
            except ValueError:
                self.close_connection = True
                raise RequestError(400, f"Content-Length {length!r} is not a byte count", code="invalid_json")
            if size > max_request_bytes:
                self.close_connection = True
                raise RequestError(413, f"the body is {size} bytes, over this server's limit of {max_request_bytes} "
                                   "(--max-request-bytes); shorten the prompt", code="request_too_large")
            raw = self.rfile.read(size)
            try:
                return json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise RequestError(400, f"the body is not valid JSON ({e}); send a JSON object with "
                                   '"messages"', code="invalid_json") from e

        def _client_gone(self) -> bool:
            try:
                readable, _, _ = select.select([self.connection], [], [], 0)
                return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
            except (OSError, ValueError):
                return True

        def _wait(self, job: Job) -> dict | None:
            """The job's record, or None when its client left (the job is then cancelled)."""
            while True:
                try:
                    return job.future.result(timeout=poll_s)
                except TimeoutError:
                    if self._client_gone():
                        job.cancelled.set()
                        self.close_connection = True
                        return None

        def do_POST(self) -> None:
            try:
                if self._route() != "/v1/chat/completions":
                    self.close_connection = True
                    raise RequestError(404, f"no route POST {self.path}; use /v1/chat/completions",
                                       code="not_found")
                chat = parse_chat_request(self._read_json(), served_name)
                job = scheduler.submit(prepare_job(engine, chat))
            except RequestError as e:
                self._send_error(e)
                return
            except Exception as e:  # a bug, not the client's fault: say so instead of dropping the connection
                log.exception("request handling failed")
                self.close_connection = True
                self._send(500, RequestError(500, f"{type(e).__name__}: {e}", kind="server_error").body())
                return
            try:
                rec = self._wait(job)
            except Exception as e:  # noqa: BLE001 - generation failed for this request alone (Scheduler._step)
                self._send(500, RequestError(500, f"generation failed: {type(e).__name__}: {e}",
                                             kind="server_error").body())
                return
            if rec is None:
                return
            if request_log is not None:
                with log_lock, open(request_log, "a") as f:
                    f.write(json.dumps({"time": time.time(), "messages": chat.messages, "seed": chat.seed}) + "\n")
            self._send(200, {
                "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
                "model": served_name,
                "choices": [{"index": 0, "finish_reason": rec["finish_reason"],
                             "message": {"role": "assistant", "content": rec["response"]}}],
                "usage": {"prompt_tokens": rec["prompt_tokens"], "completion_tokens": rec["response_tokens"],
                          "total_tokens": rec["prompt_tokens"] + rec["response_tokens"]},
            })

    return Handler


def build_server(engine, host: str = "127.0.0.1", port: int = 0, served_name: str = "model", max_batch: int = 16,
                 request_log: str | None = None, max_queue: int = 256, chunk_tokens: int = 64,
                 max_request_bytes: int = 4 << 20, batch_wait_s: float = 0.02) -> Server:
    """A listening (not yet serving) server over ``engine``, its scheduler started; ``server.scheduler``."""
    scheduler = Scheduler(engine, max_batch=max_batch, batch_wait_s=batch_wait_s, chunk_tokens=chunk_tokens,
                          max_queue=max_queue)
    scheduler.start()
    handler = make_handler(scheduler, served_name, Path(request_log) if request_log else None, threading.Lock(),
                           max_request_bytes=max_request_bytes)
    server = Server((host, port), handler)
    server.scheduler = scheduler
    return server


def serve(model_dir: str, host: str = "127.0.0.1", port: int = 8000, served_name: str = "model",
          dtype: str = "auto", device: str = "auto", max_batch: int = 16, request_log: str | None = None,
          ready_file: str | None = None, max_queue: int = 256, chunk_tokens: int = 64,
          max_request_bytes: int = 4 << 20, threads: int | None = None) -> None:
    from routerlab.core.runtime import set_threads
    from routerlab.lm.generation import TransformersBackend

    if threads:
        set_threads(threads)

    backend = TransformersBackend(model_dir, device=device, dtype=dtype, max_batch_size=max_batch)
    server = build_server(TransformersEngine(backend), host, port, served_name, max_batch=max_batch,
                          request_log=request_log, max_queue=max_queue, chunk_tokens=chunk_tokens,
                          max_request_bytes=max_request_bytes)
    log.info("serving %s as %r on http://%s:%d/v1 (context %d tokens, max_queue %d, chunks of %d tokens)",
             model_dir, served_name, host, server.server_address[1], server.scheduler.engine.context, max_queue,
             chunk_tokens)
    if ready_file:
        Path(ready_file).write_text(f"http://{host}:{server.server_address[1]}/v1\n")
    try:
        server.serve_forever()
    finally:
        server.server_close()
