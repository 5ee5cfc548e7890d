"""`routerlab serve`: an OpenAI-compatible HTTP server backed by the transformers backend.

A real server with a real model, so the `openai` backend and the LLM judge are tested
end to end without mocks, and so CPU users can serve a packaged model to any OpenAI client.
Concurrent requests are micro-batched: the worker waits ``batch_wait_s`` for more requests
with the same sampling settings and answers them in one batched ``generate``.

Endpoints: GET /v1/models, GET /health, POST /v1/chat/completions (n=1 per request).
Every answered request is appended to ``--request-log`` (JSON lines), which tests read.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from routerlab.lm.generation import TransformersBackend
from routerlab.lm.sampling import SamplingParams

log = logging.getLogger(__name__)


class BatchingWorker(threading.Thread):
    def __init__(self, backend, max_batch: int = 16, batch_wait_s: float = 0.02):
        super().__init__(daemon=True)
        self.backend = backend
        self.max_batch = max_batch
        self.batch_wait_s = batch_wait_s
        self.queue: queue.Queue[tuple[list[dict], SamplingParams, Future]] = queue.Queue()

    def submit(self, messages: list[dict], params: SamplingParams) -> Future:
        fut: Future = Future()
        self.queue.put((messages, params, fut))
        return fut

    def run(self) -> None:
        while True:
            first = self.queue.get()
            batch = [first]
            deadline = time.monotonic() + self.batch_wait_s
            while len(batch) < self.max_batch:
                try:
                    item = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item[1] != first[1]:  # different sampling settings: next batch
                    self.queue.put(item)
                    break
                batch.append(item)
            try:
                out = self.backend.generate([b[0] for b in batch], first[1])
                for rec in out:
                    batch[rec["index"]][2].set_result(rec)
            except Exception as e:  # report to every waiting request, keep serving
                for b in batch:
                    if not b[2].done():
                        b[2].set_exception(e)


def make_handler(worker: BatchingWorker, served_name: str, request_log: Path | None, log_lock: threading.Lock):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args: Any) -> None:
            log.debug(fmt, *args)

        def _send(self, code: int, obj: dict) -> None:
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path.rstrip("/") in ("/health", ""):
                self._send(200, {"status": "ok"})
            elif self.path.rstrip("/") == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": served_name, "object": "model"}]})
            else:
                self._send(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            try:
                req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                messages = req["messages"]
                if req.get("model") not in (None, served_name):
                    self._send(404, {"error": {"message": f"model {req.get('model')!r} not served; "
                                                           f"this server has {served_name!r}"}})
                    return
                if int(req.get("n", 1)) != 1:
                    self._send(400, {"error": {"message": "n > 1 is not supported; send one request per sample"}})
                    return
                params = SamplingParams(max_new_tokens=int(req.get("max_tokens") or 256),
                                        temperature=float(req.get("temperature") or 0.0),
                                        top_p=float(req.get("top_p") or 1.0), seed=int(req.get("seed") or 0))
            except (KeyError, ValueError, TypeError) as e:
                self._send(400, {"error": {"message": f"bad request: {e}"}})
                return
            try:
                rec = worker.submit(messages, params).result()
            except Exception as e:
                self._send(500, {"error": {"message": f"{type(e).__name__}: {e}"}})
                return
            if request_log is not None:
                with log_lock, open(request_log, "a") as f:
                    f.write(json.dumps({"time": time.time(), "messages": messages, "seed": params.seed}) + "\n")
            self._send(200, {
                "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
                "model": served_name,
                "choices": [{"index": 0, "finish_reason": rec["finish_reason"],
                             "message": {"role": "assistant", "content": rec["response"]}}],
                "usage": {"prompt_tokens": rec["prompt_tokens"], "completion_tokens": rec["response_tokens"],
                          "total_tokens": rec["prompt_tokens"] + rec["response_tokens"]},
            })

    return Handler


def serve(model_dir: str, host: str = "127.0.0.1", port: int = 8000, served_name: str = "model",
          dtype: str = "auto", device: str = "auto", max_batch: int = 16, request_log: str | None = None,
          ready_file: str | None = None) -> None:
    backend = TransformersBackend(model_dir, device=device, dtype=dtype, max_batch_size=max_batch)
    worker = BatchingWorker(backend, max_batch=max_batch)
    worker.start()
    handler = make_handler(worker, served_name, Path(request_log) if request_log else None, threading.Lock())
    server = ThreadingHTTPServer((host, port), handler)
    log.info("serving %s as %r on http://%s:%d/v1", model_dir, served_name, host, server.server_address[1])
    if ready_file:
        Path(ready_file).write_text(f"http://{host}:{server.server_address[1]}/v1\n")
    try:
        server.serve_forever()
    finally:
        server.server_close()
