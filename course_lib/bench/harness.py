"""A benchmark harness for any OpenAI-compatible endpoint: sequential and concurrent, streamed.

Derived in notebook 06 (benchmarking and concurrency); `llm-course bench` is its
command line. Statistics and failure rules live in `course_lib.bench.stats`.

How a level is run: `requests` completions are sent by `concurrency` workers
(a closed loop: each worker sends its next request when the previous one ends),
all streamed, each with a fixed prompt and seed so that two runs, or two
engines, get the same work. One warm-up request first, not counted.

Where the output token count comes from (never from counting chunks: a chunk
can carry several tokens, or none when a multi-byte character is split):

* "usage": the server's own count, in the last chunk of the stream (llama.cpp's
  server, vLLM, Ollama with `stream_options.include_usage`).
* "tokenize": llama-cpp-python's server sends no usage when streaming, so we ask
  the same server's tokenizer (`POST /extras/tokenize/count`) to count the
  streamed text, minus the BOS token it adds. Notebook 06 checks this against
  the usage of non-streamed twin requests with the same seed.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

from course_lib.bench.stats import LevelSummary, RequestResult, classify, summarize
from course_lib.errors import CourseError, require_positive
from course_lib.runtime.server import require_endpoint

# Fixed completion prompts (the default model is a base model: it continues text well).
PROMPTS = (
    "The history of the printing press begins",
    "A recipe for bread needs flour, water,",
    "The three laws of motion state that",
    "Once upon a time, in a small village by the sea,",
    "To install a Python package, you first",
    "The main difference between a CPU and a GPU is",
    "In the year 1969, astronauts",
    "The best way to learn a new language is",
)


@dataclass
class BenchSettings:
    base_url: str
    model: str
    max_tokens: int = 32
    temperature: float = 0.0
    seed: int = 1234
    timeout_s: float = 120.0
    api_key: str | None = None

    @property
    def root_url(self) -> str:
        url = self.base_url.rstrip("/")
        return url[: -len("/v1")] if url.endswith("/v1") else url


def parse_concurrency(text: str) -> list[int]:
    """'1,2,4,8' -> [1, 2, 4, 8]; anything else is a one-line CourseError."""
    try:
        levels = [int(part) for part in str(text).split(",") if part.strip()]
    except ValueError:
        raise CourseError(
            f"--concurrency must be whole numbers separated by commas, e.g. 1,2,4,8; got {text!r}"
        ) from None
    if not levels or any(c < 1 for c in levels):
        raise CourseError(f"--concurrency levels must be 1 or more, got {text!r}")
    return levels


def resolve_model(base_url: str, model: str | None = None, api_key: str | None = None) -> str:
    """The model name to send: the one given, else the server's first model. Dead endpoint: CourseError."""
    status = require_endpoint(base_url, api_key=api_key)
    if model:
        return model
    if not status.models:
        raise CourseError(f"the server at {base_url} lists no models: pass --model")
    return status.models[0]


def _headers(settings: BenchSettings) -> dict:
    headers = {"Content-Type": "application/json"}
    if settings.api_key:
        headers["Authorization"] = f"Bearer {settings.api_key}"
    return headers


async def tokenize_count(client, settings: BenchSettings, text: str) -> int | None:
    """Tokens of `text` by the server's tokenizer (llama-cpp-python's extras endpoint), or None."""
    try:
        response = await client.post(settings.root_url + "/extras/tokenize/count",
                                     json={"model": settings.model, "input": text}, headers=_headers(settings))
        if response.status_code != 200:
            return None
        return int(response.json()["count"])
    except Exception:  # any server without the endpoint
        return None


async def one_request(client, settings: BenchSettings, index: int, prompt: str, bos_tokens: int = 0) -> RequestResult:
    """Send one streamed completion and time it; never raises, failures land in `error`."""
    import httpx

    body = {"model": settings.model, "prompt": prompt, "max_tokens": settings.max_tokens, "stream": True,
            "temperature": settings.temperature, "seed": settings.seed + index,
            "stream_options": {"include_usage": True}}
    start = time.perf_counter()
    result = RequestResult(index=index, start_s=start, end_s=start)
    parts: list[str] = []
    usage_tokens = None
    try:
        async with client.stream("POST", settings.base_url.rstrip("/") + "/completions", json=body,
                                 headers=_headers(settings), timeout=settings.timeout_s) as response:
            if response.status_code != 200:
                await response.aread()
                result.error, result.detail = "http", f"HTTP {response.status_code}: {response.text[:200]}"
                result.end_s = time.perf_counter()
                return result
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    break
                chunk = json.loads(payload)
                now = time.perf_counter() - start
                for choice in chunk.get("choices") or []:
                    if choice.get("text"):
                        parts.append(choice["text"])
                        result.chunk_times_s.append(now)
                    if choice.get("finish_reason"):
                        result.finish_reason = choice["finish_reason"]
                if chunk.get("usage"):
                    usage_tokens = chunk["usage"].get("completion_tokens")
                if chunk.get("timings"):
                    result.server_timings = chunk["timings"]
    except httpx.TimeoutException as exc:
        result.error, result.detail = "timeout", f"no answer within {settings.timeout_s:.0f} s ({type(exc).__name__})"
    except (httpx.HTTPError, OSError) as exc:
        result.error, result.detail = "connection", f"{type(exc).__name__}: {exc}"[:200]
    except json.JSONDecodeError as exc:
        result.error, result.detail = "truncated", f"malformed stream: {exc}"[:200]
    result.end_s = time.perf_counter()
    result.text = "".join(parts)
    if result.chunk_times_s:
        result.ttft_s = result.chunk_times_s[0]
    if result.error:
        return result
    if usage_tokens is not None:
        result.output_tokens, result.tokens_source = int(usage_tokens), "usage"
    elif result.text:
        count = await tokenize_count(client, settings, result.text)
        if count is not None:
            result.output_tokens, result.tokens_source = max(count - bos_tokens, 0), "tokenize"
    result.error = classify(result.finish_reason, result.output_tokens, settings.max_tokens, len(result.chunk_times_s))
    if result.error is None and result.output_tokens is None:
        result.error, result.detail = (
            "truncated",
            "the server reported no token count (no usage, no tokenizer endpoint)",
        )
    elif result.error:
        result.detail = (
            f"finish_reason={result.finish_reason!r}, {result.output_tokens} of {settings.max_tokens} tokens"
        )
    return result


async def run_level(client, settings: BenchSettings, concurrency: int, requests: int, bos_tokens: int = 0,
                    progress=None) -> list[RequestResult]:
    """`requests` streamed completions through `concurrency` workers; results in request order."""
    queue = list(range(requests))
    results: list[RequestResult] = []

    async def worker():
        while queue:
            i = queue.pop(0)
            results.append(await one_request(client, settings, i, PROMPTS[i % len(PROMPTS)], bos_tokens))
            if progress is not None:
                progress.update(1)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, requests))))
    return sorted(results, key=lambda r: r.index)


async def bench(base_url: str, model: str | None = None, concurrency=(1, 2, 4), requests: int = 8,
                max_tokens: int = 32, warmup: int = 1, seed: int = 1234, temperature: float = 0.0,
                timeout_s: float = 120.0, api_key: str | None = None, progress: bool = True,
                keep_results: bool = False):
    """Benchmark one endpoint at each concurrency level; returns a list of LevelSummary.

    With `keep_results=True` returns (summaries, {concurrency: [RequestResult, ...]}).
    """
    import httpx

    levels = parse_concurrency(concurrency if isinstance(concurrency, str) else ",".join(map(str, concurrency)))
    require_positive("requests", requests)
    require_positive("max_tokens", max_tokens)
    require_positive("warmup", warmup, allow_zero=True)
    model = resolve_model(base_url, model, api_key)
    settings = BenchSettings(base_url, model, max_tokens, temperature, seed, timeout_s, api_key)
    summaries, raw = [], {}
    limits = httpx.Limits(max_connections=max(levels) + 4)
    async with httpx.AsyncClient(limits=limits, timeout=timeout_s) as client:
        bos = await tokenize_count(client, settings, "") or 0  # the BOS the tokenizer endpoint adds
        for w in range(warmup):
            await one_request(client, settings, -1 - w, PROMPTS[0], bos)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=requests * len(levels), desc=f"bench {model}", unit="req")
        try:
            for c in levels:
                if bar is not None:
                    bar.set_postfix(concurrency=c)
                results = await run_level(client, settings, c, requests, bos, bar)
                summaries.append(summarize(results, c))
                raw[c] = results
        finally:
            if bar is not None:
                bar.close()
    return (summaries, raw) if keep_results else summaries


def bench_sync(*args, **kwargs):
    """`bench` for scripts and the CLI (in a notebook, prefer `await bench(...)`).

    If this thread already runs an event loop (a notebook kernel, or a library such as
    Playwright's sync API), `asyncio.run` would refuse, so the benchmark gets a thread
    and a loop of its own.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(bench(*args, **kwargs))
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(bench(*args, **kwargs))).result()


def cross_check(results: list[RequestResult]) -> list[dict]:
    """Client-side figures next to the server's own `timings`, request by request (llama.cpp only).

    The client's decode time (end-to-end minus TTFT) covers tokens 2..n; the server's
    predicted_ms covers the same generation seen from inside; the client adds only HTTP
    and scheduling overhead, so the two should agree to within a few per cent.
    """
    rows = []
    for r in results:
        t = r.server_timings
        if not r.ok or not t or not r.output_tokens:
            continue
        rows.append({
            "index": r.index, "output_tokens": r.output_tokens, "server_predicted_n": t.get("predicted_n"),
            "client_decode_ms": (r.e2e_s - r.ttft_s) * 1000, "server_predicted_ms": t.get("predicted_ms"),
            "client_ttft_ms": r.ttft_s * 1000, "server_prompt_ms": t.get("prompt_ms"),
            "client_tok_s": (r.output_tokens - 1) / (r.e2e_s - r.ttft_s) if r.e2e_s > r.ttft_s else float("nan"),
            "server_tok_s": t.get("predicted_per_second"),
        })
    return rows


def summaries_to_json(summaries: list[LevelSummary], **meta) -> str:
    """A JSON list, one record per concurrency level, each carrying `meta` (engine, model, ...)."""
    return json.dumps([{**meta, **s.as_dict()} for s in summaries], indent=2)
