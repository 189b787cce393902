"""A benchmark harness for any OpenAI-compatible endpoint: closed and open loops, streamed.

Derived in notebook 06 (benchmarking and concurrency); `llm-course bench` is its
command line. Statistics live in `course_lib.bench.stats`, the work sent (prompts,
levels, arrivals) in `course_lib.bench.workload`, saved traces in `course_lib.bench.trace`.

How a level is run, after one uncounted warm-up request with a prompt outside the measured set:

* closed loop (`concurrency=c`): c workers; each sends its next request the moment its previous
  one ends, so c requests are in flight until the queue runs dry.
* open loop (`request_rate=r`): requests are sent at the times of an arrival process (Poisson or
  constant), whether or not earlier ones have finished, at most `max_concurrency` in flight.

Every request is streamed, with a fixed prompt and seed, so that two runs, or two engines, get
the same work; `stream_options.include_usage` asks for the server's own token count.

Where the output token count comes from (never from counting chunks: a chunk can carry
several tokens, or none when a multi-byte character is split):

* "usage": the server's own count, in the last chunk of the stream (llama.cpp's
  server, vLLM, Ollama).
* "tokenize": llama-cpp-python's server sends no usage when streaming, so the streamed
  text is counted by the same server's tokenizer once the level is over. Counting
  during the level would hold the worker idle while the request waits for the model lock
  behind the others, and the level would not keep its concurrency (issue 18: a level
  labelled 4 held 2.2 requests in flight).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

from course_lib.bench.stats import LevelSummary, RequestResult, classify, summarize
from course_lib.bench.workload import (PROMPTS, WARMUP_PROMPT, LocalTokenizer, ServerTokenizer, arrival_times,
                                       load_levels, prompts_of_length)
from course_lib.errors import CourseError, require_positive
from course_lib.runtime.server import require_endpoint

ENDPOINTS = ("completions", "chat")


@dataclass
class BenchSettings:
    base_url: str
    model: str
    max_tokens: int = 32
    temperature: float = 0.0
    seed: int = 1234
    timeout_s: float = 120.0
    api_key: str | None = None
    endpoint: str = "completions"

    @property
    def root_url(self) -> str:
        url = self.base_url.rstrip("/")
        return url[: -len("/v1")] if url.endswith("/v1") else url

    @property
    def headers(self) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def request(self, prompt: str, index: int) -> tuple[str, dict]:
        """The URL and body of one streamed request."""
        body = {"model": self.model, "max_tokens": self.max_tokens, "stream": True,
                "temperature": self.temperature, "seed": self.seed + index,
                "stream_options": {"include_usage": True}}
        if self.endpoint == "chat":
            body["messages"] = [{"role": "user", "content": prompt}]
            return self.base_url.rstrip("/") + "/chat/completions", body
        body["prompt"] = prompt
        return self.base_url.rstrip("/") + "/completions", body


def resolve_model(base_url: str, model: str | None = None, api_key: str | None = None) -> str:
    """The model name to send: the one given, else the server's first model. Dead endpoint: CourseError."""
    status = require_endpoint(base_url, api_key=api_key)
    if model:
        return model
    if not status.models:
        raise CourseError(f"the server at {base_url} lists no models: pass --model")
    return status.models[0]


def _read_chunk(result: RequestResult, chunk: dict, now: float) -> None:
    for choice in chunk.get("choices") or []:
        text = choice.get("text") if "text" in choice else (choice.get("delta") or {}).get("content")
        if text:
            result.chunk_texts.append(text)
            result.chunk_times_s.append(now)
        if choice.get("finish_reason"):
            result.finish_reason = choice["finish_reason"]
    if chunk.get("usage"):
        result.output_tokens = chunk["usage"].get("completion_tokens")
        result.prompt_tokens = chunk["usage"].get("prompt_tokens")
        result.tokens_source = "usage" if result.output_tokens is not None else ""
    if chunk.get("timings"):
        result.server_timings = chunk["timings"]


async def one_request(client, settings: BenchSettings, index: int, prompt: str, origin: float) -> RequestResult:
    """Send one streamed request and time it (seconds since `origin`); never raises, failures land in `error`.

    Its token count and verdict come later, from `finish_level`.
    """
    import httpx

    url, body = settings.request(prompt, index)
    start = time.perf_counter()
    result = RequestResult(index=index, start_s=start - origin, end_s=start - origin, prompt=prompt)
    try:
        async with client.stream("POST", url, json=body, headers=settings.headers,
                                 timeout=settings.timeout_s) as response:
            if response.status_code != 200:
                await response.aread()
                result.error, result.detail = "http", f"HTTP {response.status_code}: {response.text[:200]}"
            else:
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        break
                    _read_chunk(result, json.loads(payload), time.perf_counter() - start)
    except httpx.TimeoutException as exc:
        result.error, result.detail = "timeout", f"no answer within {settings.timeout_s:.0f} s ({type(exc).__name__})"
    except (httpx.HTTPError, OSError) as exc:
        result.error, result.detail = "connection", f"{type(exc).__name__}: {exc}"[:200]
    except json.JSONDecodeError as exc:
        result.error, result.detail = "truncated", f"malformed stream: {exc}"[:200]
    result.end_s = time.perf_counter() - origin
    if result.chunk_times_s:
        result.ttft_s = result.chunk_times_s[0]
    return result


async def finish_level(results: list[RequestResult], settings: BenchSettings, tokenizer) -> None:
    """Count the tokens of streams that carried no usage (after the level: see the module docstring), then judge."""
    for r in results:
        if r.error:
            continue
        if r.output_tokens is None and r.text and tokenizer is not None:
            r.output_tokens, r.tokens_source = await tokenizer.count(r.text), "tokenize"
        r.error = classify(r.finish_reason, r.output_tokens, settings.max_tokens, len(r.chunk_times_s))
        if r.error is None and r.output_tokens is None:
            r.error, r.detail = "truncated", "the server reported no token count (no usage, no tokenizer endpoint)"
        elif r.error:
            r.detail = f"finish_reason={r.finish_reason!r}, {r.output_tokens} of {settings.max_tokens} tokens"


async def closed_loop(client, settings, concurrency: int, prompts: list[str], origin: float,
                      progress=None) -> list[RequestResult]:
    """len(prompts) requests through `concurrency` workers, each sending its next as soon as one ends."""
    queue = list(range(len(prompts)))
    results: list[RequestResult] = []

    async def worker():
        while queue:
            i = queue.pop(0)
            results.append(await one_request(client, settings, i, prompts[i], origin))
            if progress is not None:
                progress.update(1)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(prompts)))))
    return sorted(results, key=lambda r: r.index)


async def open_loop(client, settings, times: list[float], max_concurrency: int | None, prompts: list[str],
                    origin: float, progress=None) -> list[RequestResult]:
    """Request i sent `times[i]` seconds after the level starts, at most `max_concurrency` in flight."""
    gate = asyncio.Semaphore(max_concurrency) if max_concurrency else None
    begin = time.perf_counter()

    async def send(i: int) -> RequestResult:
        await asyncio.sleep(max(0.0, begin + times[i] - time.perf_counter()))
        if gate is None:
            result = await one_request(client, settings, i, prompts[i], origin)
        else:
            async with gate:  # over the cap, the arrival waits in the client, as vLLM's and aiperf's do
                result = await one_request(client, settings, i, prompts[i], origin)
        result.scheduled_s = begin - origin + times[i]
        if progress is not None:
            progress.update(1)
        return result

    return list(await asyncio.gather(*(send(i) for i in range(len(prompts)))))


async def bench(base_url: str, model: str | None = None, concurrency=None, requests: int = 8,
                max_tokens: int = 32, warmup: int = 1, seed: int = 1234, temperature: float = 0.0,
                timeout_s: float = 120.0, api_key: str | None = None, progress: bool = True,
                keep_results: bool = False, request_rate=None, arrivals: str = "poisson",
                max_concurrency: int | None = None, slo=None, input_tokens: int | None = None,
                endpoint: str = "completions", save_trace=None):
    """Benchmark one endpoint at each load level; returns a list of LevelSummary.

    Closed loops at `concurrency` (default 1, 2, 4), or open loops at `request_rate` requests/s.
    With `keep_results=True` returns (summaries, {level key: [RequestResult, ...]}), the key being
    the level's concurrency or request rate. `save_trace` writes every request to a JSON-lines file
    from which `course_lib.bench.summaries_from_trace` recomputes every figure.
    """
    import httpx

    from course_lib.bench.stats import parse_slo
    from course_lib.bench.trace import TraceWriter

    levels = load_levels(concurrency, request_rate, arrivals, max_concurrency)
    slo = parse_slo(slo)
    require_positive("requests", requests)
    require_positive("max_tokens", max_tokens)
    require_positive("warmup", warmup, allow_zero=True)
    if endpoint not in ENDPOINTS:
        raise CourseError(f"--endpoint must be one of {', '.join(ENDPOINTS)}, got {endpoint!r}")
    if input_tokens is not None:
        require_positive("--input-tokens", input_tokens)
    model = resolve_model(base_url, model, api_key)
    settings = BenchSettings(base_url, model, max_tokens, temperature, seed, timeout_s, api_key, endpoint)
    summaries, raw = [], {}
    peak = max((lv.max_concurrency or requests) if lv.is_open else lv.concurrency for lv in levels)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=peak + 4), timeout=timeout_s) as client:
        tokenizer = await ServerTokenizer.find(client, settings.root_url, model, settings.headers)
        if input_tokens is None:
            prompts, warm = [PROMPTS[i % len(PROMPTS)] for i in range(requests)], WARMUP_PROMPT
        else:
            *prompts, warm = await prompts_of_length(tokenizer or LocalTokenizer(), requests + 1, input_tokens)
        trace = TraceWriter(save_trace, settings, input_tokens, slo)
        origin = time.perf_counter()
        for w in range(warmup):
            trace.warmup(await one_request(client, settings, -1 - w, warm, origin))
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=requests * len(levels), desc=f"bench {model}", unit="req")
        try:
            for level in levels:
                if bar is not None:
                    bar.set_postfix_str(level.label())
                cpu = time.process_time()
                if level.is_open:
                    times = arrival_times(requests, level.request_rate, level.arrivals, seed)
                    results = await open_loop(client, settings, times, level.max_concurrency, prompts, origin, bar)
                else:
                    results = await closed_loop(client, settings, level.concurrency, prompts, origin, bar)
                client_cpu_s = time.process_time() - cpu
                await finish_level(results, settings, tokenizer)
                trace.level(level, results, client_cpu_s)
                summaries.append(summarize(results, level, client_cpu_s, slo))
                raw[level.key] = results
        finally:
            trace.close()
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
    """A JSON list, one record per load level, each carrying `meta` (engine, model, ...)."""
    return json.dumps([{**meta, **s.as_dict()} for s in summaries], indent=2)
