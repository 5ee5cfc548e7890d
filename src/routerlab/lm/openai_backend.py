"""OpenAI-compatible generation: any endpoint (vLLM server, `routerlab serve`, hosted APIs).

- async requests with bounded concurrency;
- retries with exponential backoff (and jitter) on 429, 5xx, timeouts, refused connections and
  malformed HTTP-200 replies (not JSON, no ``choices``), waiting what ``Retry-After`` asks
  (seconds or an HTTP-date, capped at ``retry_after_max``) where the server says;
- defaults that give up on a dead endpoint in about a minute: a 5 s connect timeout
  (``connect_timeout``), 1 + 4 attempts (``max_retries``), backoff 1, 2, 4, 8 s (x0.5-1.5
  jitter, ``backoff_base``/``backoff_max``) and no new attempt once ``retry_budget_s`` = 60 s
  have passed since the first. A refused port fails after ~15 s (at most 23 s), a host that
  drops packets after ~40 s (at most 48 s). ``timeout`` = 120 s bounds one attempt's wait for
  the answer (a slow CPU server's batch can take minutes), so a server that accepts and never
  answers fails after one attempt, 120 s. (The old 120 s x 7 attempts could hold one request
  ~15 minutes.)
- an on-disk request cache keyed by (model, messages, sampling params, sample index): every
  finished call is stored atomically the moment it returns, so a killed run resumes
  without sending a finished request again;
- the API key comes only from an environment variable (``api_key_env``).
- a conversation that ends in an assistant message (the direct style's "Answer:" opening) is
  sent as is: ``routerlab serve`` continues that message; a vLLM server does with
  ``continue_final_message: true`` (then set per request, only where the conversation ends in
  an assistant message); hosted APIs answer in a new turn, which the scorers read the same way.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import hashlib
import json
import logging
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from routerlab.core.io import write_json
from routerlab.lm.sampling import SamplingParams

log = logging.getLogger(__name__)

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
# Request fields the OpenAI client takes as arguments; any other field goes in extra_body.
CHAT_FIELDS = {"model", "messages", "max_tokens", "temperature", "top_p", "seed"}


class EndpointError(RuntimeError):
    pass


class MalformedReply(ValueError):
    """An HTTP 200 whose body is not a chat completion (not JSON, no ``choices``, ...)."""


def retry_after_seconds(headers: Any, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delta-seconds or an HTTP-date, RFC 9110
    10.2.3; OpenAI's ``retry-after-ms`` too), or None when absent or unreadable."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        secs = float(value)
        return max(0.0, secs) if math.isfinite(secs) else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP-date is always GMT
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class RequestCache:
    """One JSON file per finished request, written atomically."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    @staticmethod
    def key(payload: dict[str, Any]) -> str:
        return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        p = self._path(key)
        try:
            return json.loads(p.read_text())
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None  # cannot happen with atomic writes, but never trust a cache entry blindly

    def put(self, key: str, value: dict[str, Any]) -> None:
        write_json(self._path(key), value)


class OpenAIBackend:
    name = "openai"

    def __init__(self, base_url: str | None = None, model: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 concurrency: int = 8, max_retries: int = 4, timeout: float = 120.0, backoff_base: float = 1.0,
                 backoff_max: float = 15.0, cache_dir: str | None = None, extra_body: dict | None = None,
                 continue_final_message: bool = False, connect_timeout: float = 5.0, retry_budget_s: float = 60.0,
                 retry_after_max: float = 30.0):
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/")
        if not model:
            raise ValueError("backend openai: options.model (the served model name) is required")
        self.model = model
        self.api_key_env = api_key_env
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.timeout = timeout
        self.connect_timeout = min(connect_timeout, timeout)
        self.retry_budget_s = retry_budget_s
        self.retry_after_max = retry_after_max
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.extra_body = extra_body or {}
        self.continue_final_message = continue_final_message
        root = cache_dir or os.environ.get("ROUTERLAB_REQUEST_CACHE") or (
            Path(os.environ.get("ROUTERLAB_CACHE", Path.home() / ".cache" / "routerlab")) / "requests")
        self.cache = RequestCache(root)
        self.stats = {"sent": 0, "cached": 0, "retries": 0}

    def _payload(self, messages: list[dict], params: SamplingParams, sample: int) -> dict[str, Any]:
        body = {"model": self.model, "messages": messages, "max_tokens": params.max_new_tokens,
                "temperature": params.temperature, "top_p": params.top_p,
                "seed": params.seed + sample, **self.extra_body}
        if self.continue_final_message and messages[-1]["role"] == "assistant":
            # vLLM's chat API: continue the assistant opening instead of closing it. Per request,
            # since a conversation without an opening still needs its generation prompt.
            body.update(continue_final_message=True, add_generation_prompt=False)
        return {"base_url": self.base_url, "body": body, "sample": sample}

    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def _parse_reply(self, raw) -> dict[str, Any]:
        """The fields of one HTTP-200 reply; ``MalformedReply`` when it is not a chat completion."""
        text = raw.text
        try:
            data = json.loads(text)
            choice = data["choices"][0]
            content = choice["message"]["content"]
            if content is not None and not isinstance(content, str):
                raise TypeError(f"message.content is {type(content).__name__}")
            usage = data.get("usage") or {}
            return {"response": (content or "").strip(), "prompt_tokens": usage.get("prompt_tokens"),
                    "response_tokens": usage.get("completion_tokens"),
                    "finish_reason": choice.get("finish_reason") or ""}
        except json.JSONDecodeError as e:
            raise MalformedReply(f"body is not JSON ({e.msg} at char {e.pos}): {text[:200]!r}") from None
        except (KeyError, IndexError, TypeError, AttributeError) as e:
            raise MalformedReply(f"not a chat completion ({type(e).__name__}: {e}): {text[:200]!r}") from None

    def _wait(self, attempt: int, delay: float, started: float, retry_after: float | None, why: str) -> float:
        """Seconds to wait before the next attempt, or raise when no attempt is left (count or budget)."""
        if attempt == self.max_retries:
            raise EndpointError(f"{self.base_url}: {why}; gave up after {attempt + 1} attempts") from None
        if retry_after is not None:  # the server said when: no sooner, but never longer than the cap
            wait = min(self.retry_after_max, retry_after)
        else:
            wait = min(self.backoff_max, delay) * (0.5 + random.random())
        elapsed = time.monotonic() - started
        if elapsed + wait > self.retry_budget_s:
            raise EndpointError(f"{self.base_url}: {why}; gave up after {attempt + 1} attempts and {elapsed:.0f} s "
                                f"(retry_budget_s={self.retry_budget_s:g}; next wait {wait:.1f} s)") from None
        return wait

    async def _call(self, client, payload: dict[str, Any]) -> dict[str, Any]:
        import openai  # lazy: heavy

        # Server-specific fields (vLLM's continue_final_message, ...) go in the JSON body
        # through extra_body: the client rejects unknown keyword arguments.
        body = {k: v for k, v in payload["body"].items() if k in CHAT_FIELDS}
        extra = {k: v for k, v in payload["body"].items() if k not in CHAT_FIELDS}
        delay, started = self.backoff_base, time.monotonic()
        for attempt in range(self.max_retries + 1):
            start = time.perf_counter()
            retry_after = None
            try:
                raw = await client.chat.completions.with_raw_response.create(**body, extra_body=extra or None)
                return {**self._parse_reply(raw), "latency_s": time.perf_counter() - start}
            except MalformedReply as e:  # a proxy's error page, a half-written body: retried like a 502
                why = f"malformed reply (HTTP 200 from POST {self.url}) for model {self.model!r}: {e}"
            except openai.APIStatusError as e:
                why = f"HTTP {e.status_code} for model {self.model!r}: {str(e)[:300]}"
                if e.status_code not in RETRY_STATUS or attempt == self.max_retries:
                    raise EndpointError(f"{self.base_url}: {why}") from None
                retry_after = retry_after_seconds(e.response.headers)
            except (openai.APIConnectionError, openai.APITimeoutError) as e:
                why = (f"unreachable after {attempt + 1} attempts ({type(e).__name__}); "
                       "check that the server is running and options.base_url (or OPENAI_BASE_URL) points at it, "
                       "e.g. http://127.0.0.1:8000/v1 for `routerlab serve` or `vllm serve`")
                if attempt == self.max_retries:
                    raise EndpointError(f"{self.base_url}: {why}") from None
            wait = self._wait(attempt, delay, started, retry_after, why)
            self.stats["retries"] += 1
            await asyncio.sleep(wait)
            delay *= 2
        raise AssertionError("unreachable")

    async def _run(self, jobs: list[tuple[int, int, int, dict, str]], results: list, progress, done0: int) -> None:
        import openai  # lazy: heavy

        api_key = os.environ.get(self.api_key_env) or "EMPTY"  # local servers accept any key
        timeout = openai.Timeout(self.timeout, connect=self.connect_timeout)
        client = openai.AsyncOpenAI(base_url=self.base_url, api_key=api_key, timeout=timeout, max_retries=0)
        sem = asyncio.Semaphore(self.concurrency)
        done = done0

        async def one(slot: int, index: int, sample: int, payload: dict, key: str) -> None:
            nonlocal done
            async with sem:
                hit = await self._call(client, payload)
            # Stored the moment it returns (with its request, for audits): a kill loses nothing finished.
            self.cache.put(key, {**hit, "request": payload})
            self.stats["sent"] += 1
            results[slot] = {**hit, "index": index, "sample": sample}
            done += 1
            if progress:
                progress(done, len(results))

        try:
            tasks = [asyncio.create_task(one(*job)) for job in jobs]
            try:
                await asyncio.gather(*tasks)
            except BaseException:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
        finally:
            await client.close()

    def generate(self, conversations: Sequence[list[dict]], params: SamplingParams,
                 progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
        results: list[dict[str, Any] | None] = []
        misses = []
        # Cache hits are answered synchronously: no client, no event loop, no network.
        for i, conv in enumerate(conversations):
            for s in range(params.n):
                payload = self._payload(conv, params, s)
                key = RequestCache.key(payload)
                hit = self.cache.get(key)
                if hit is None:
                    misses.append((len(results), i, s, payload, key))
                    results.append(None)
                else:
                    self.stats["cached"] += 1
                    hit.pop("request", None)
                    results.append({**hit, "index": i, "sample": s})
        if progress:
            progress(len(results) - len(misses), len(results))
        if misses:
            asyncio.run(self._run(misses, results, progress, len(results) - len(misses)))
        log.info("openai backend %s: %s", self.base_url, self.stats)
        return [r for r in results if r is not None]
