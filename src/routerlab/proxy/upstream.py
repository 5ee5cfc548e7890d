"""One attempt at an OpenAI-compatible upstream: open the request, classify the failure.

Every attempt is bounded by ``timeout`` seconds per socket operation (connect, and each read),
so a silent upstream costs at most ``(retries + 1) * timeout`` before the proxy
(``server.RoutingProxy.attempt``) tries the next model: a client never hangs. Retryable:
refused connections, timeouts and HTTP 408/409/429/5xx (the ``lm.openai_backend`` set); any
other 4xx is the client's error and is passed through. A streamed request is retried only
until its first byte has reached the client.
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from routerlab.lm.openai_backend import RETRY_STATUS


@dataclass(frozen=True)
class Upstream:
    """One model behind the proxy: ``name`` (also the served model name sent upstream), its base URL
    (``http://host:port/v1``), the environment variable of its API key, USD per 1M tokens."""

    name: str
    base_url: str
    api_key_env: str = "OPENAI_API_KEY"
    price_input: float = 0.0
    price_output: float = 0.0

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (max(prompt_tokens, 0) * self.price_input + max(completion_tokens, 0) * self.price_output) / 1e6


def parse_upstream(text: str) -> Upstream:
    """``NAME=URL`` (``URL`` ending in /v1)."""
    name, sep, url = text.partition("=")
    if not sep or not name or not url.startswith(("http://", "https://")):
        raise ValueError(f"--upstream {text!r}: expected NAME=URL, e.g. weak=http://127.0.0.1:8001/v1")
    return Upstream(name=name, base_url=url.rstrip("/"))


class UpstreamError(Exception):
    """An attempt failed: ``status`` (0 for no HTTP answer), whether to retry, the upstream's body."""

    def __init__(self, upstream: str, status: int, message: str, retryable: bool, body: bytes = b""):
        super().__init__(f"{upstream}: {message}")
        self.upstream, self.status, self.retryable, self.body = upstream, status, retryable, body

    @property
    def kind(self) -> str:
        return "timeout" if self.status == 0 and "timed out" in str(self) else \
            "connection" if self.status == 0 else f"http_{self.status}"


class Response:
    """An open upstream answer: JSON (``json()``) or an event stream (``events()``)."""

    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse, upstream: Upstream):
        self.conn, self.resp, self.upstream = conn, resp, upstream
        self.streaming = resp.getheader("Content-Type", "").startswith("text/event-stream")

    def json(self) -> dict[str, Any]:
        try:
            return json.loads(self.resp.read())
        except (OSError, ValueError, http.client.HTTPException) as e:
            raise UpstreamError(self.upstream.name, 0, f"reading the answer failed ({type(e).__name__}: {e})",
                                retryable=True) from None
        finally:
            self.conn.close()

    def events(self) -> Iterator[bytes]:
        """The ``data:`` payloads of an event stream, ``b"[DONE]"`` included."""
        try:
            for raw in self.resp:
                line = raw.strip()
                if line.startswith(b"data:"):
                    yield line[5:].strip()
        except (OSError, http.client.HTTPException) as e:
            raise UpstreamError(self.upstream.name, 0, f"stream broke ({type(e).__name__}: {e})",
                                retryable=False) from None
        finally:
            self.conn.close()


def open_request(upstream: Upstream, path: str, body: dict[str, Any], timeout: float) -> Response:
    """POST ``body`` to ``upstream``'s ``path`` (e.g. /chat/completions); an error for a failed attempt."""
    url = urllib.parse.urlsplit(upstream.base_url + path)
    cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    conn = cls(url.hostname, url.port, timeout=timeout)
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    key = os.environ.get(upstream.api_key_env)  # secrets only from the environment
    if key:
        headers["Authorization"] = f"Bearer {key}"
    target = url.path + (f"?{url.query}" if url.query else "")
    try:
        conn.request("POST", target, body=json.dumps(body).encode(), headers=headers)
        resp = conn.getresponse()
    except TimeoutError as e:
        conn.close()
        raise UpstreamError(upstream.name, 0, f"timed out after {timeout:g} s ({e})", retryable=True) from None
    except (OSError, http.client.HTTPException) as e:
        conn.close()
        raise UpstreamError(upstream.name, 0, f"unreachable at {upstream.base_url} ({type(e).__name__}: {e})",
                            retryable=True) from None
    if resp.status >= 400:
        try:
            data = resp.read()
        except (OSError, http.client.HTTPException):
            data = b""
        conn.close()
        raise UpstreamError(upstream.name, resp.status, f"HTTP {resp.status}: {data[:300].decode(errors='replace')}",
                            retryable=resp.status in RETRY_STATUS, body=data)
    return Response(conn, resp, upstream)

