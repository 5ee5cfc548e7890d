"""OpenAI-compatible generation: any endpoint (vLLM server, `routerlab serve`, hosted APIs).

- async requests with bounded concurrency;
- retries with exponential backoff (and jitter) on 429, 5xx, timeouts and refused connections;
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
import hashlib
import json
import logging
import os
import random
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from routerlab.core.io import write_json
from routerlab.lm.sampling import SamplingParams

log = logging.getLogger(__name__)

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
# Request fields the OpenAI client takes as arguments; any other field goes in extra_body.
CHAT_FIELDS = {"model", "messages", "max_tokens", "temperature", "top_p", "seed"}


class EndpointError(RuntimeError):
    pass


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
                 concurrency: int = 8, max_retries: int = 6, timeout: float = 120.0, backoff_base: float = 0.5,
                 backoff_max: float = 30.0, cache_dir: str | None = None, extra_body: dict | None = None,
                 continue_final_message: bool = False):
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/")
        if not model:
            raise ValueError("backend openai: options.model (the served model name) is required")
        self.model = model
        self.api_key_env = api_key_env
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.timeout = timeout
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

    async def _call(self, client, payload: dict[str, Any]) -> dict[str, Any]:
        import openai  # lazy: heavy

        delay = self.backoff_base
        for attempt in range(self.max_retries + 1):
            start = time.perf_counter()
            try:
                # Server-specific fields (vLLM's continue_final_message, ...) go in the JSON body
                # through extra_body: the client rejects unknown keyword arguments.
                body = {k: v for k, v in payload["body"].items() if k in CHAT_FIELDS}
                extra = {k: v for k, v in payload["body"].items() if k not in CHAT_FIELDS}
                resp = await client.chat.completions.create(**body, extra_body=extra or None)
                choice = resp.choices[0]
                usage = resp.usage
                return {"response": (choice.message.content or "").strip(),
                        "prompt_tokens": getattr(usage, "prompt_tokens", None),
                        "response_tokens": getattr(usage, "completion_tokens", None),
                        "finish_reason": choice.finish_reason or "",
                        "latency_s": time.perf_counter() - start}
            except openai.APIStatusError as e:
                if e.status_code not in RETRY_STATUS or attempt == self.max_retries:
                    raise EndpointError(f"{self.base_url}: HTTP {e.status_code} for model {self.model!r}: "
                                        f"{str(e)[:300]}") from None
            except (openai.APIConnectionError, openai.APITimeoutError) as e:
                if attempt == self.max_retries:
                    raise EndpointError(
                        f"{self.base_url}: unreachable after {attempt + 1} attempts ({type(e).__name__}); "
                        "check that the server is running and options.base_url (or OPENAI_BASE_URL) points at it, "
                        "e.g. http://127.0.0.1:8000/v1 for `routerlab serve` or `vllm serve`") from None
            self.stats["retries"] += 1
            await asyncio.sleep(min(self.backoff_max, delay) * (0.5 + random.random()))
            delay *= 2
        raise AssertionError("unreachable")

    async def _run(self, jobs: list[tuple[int, int, int, dict, str]], results: list, progress, done0: int) -> None:
        import openai  # lazy: heavy

        api_key = os.environ.get(self.api_key_env) or "EMPTY"  # local servers accept any key
        client = openai.AsyncOpenAI(base_url=self.base_url, api_key=api_key, timeout=self.timeout, max_retries=0)
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
