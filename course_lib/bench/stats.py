"""Statistics of a benchmark run: per-request timings in, one summary per concurrency level out.

Derived in notebook 06 (benchmarking and concurrency). Kept apart from the
network code in `course_lib.bench.harness` so that it can be tested on exact numbers.

Definitions (the same as the usual serving benchmarks):

* TTFT, time to first token: request sent -> first chunk carrying text.
* ITL, inter-token latency: the gaps between consecutive text chunks, pooled
  over all requests of a level.
* TPOT, time per output token: (end-to-end - TTFT) / (output tokens - 1), per
  request; its inverse is the speed one user sees while the answer streams.
* Throughput: all output tokens of the successful requests / wall time of the
  level (first request sent -> last request finished).

Failed requests (HTTP errors, timeouts, empty or truncated streams) are counted
in `errors` and kept out of every timing statistic, never averaged in.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field

from course_lib.errors import CourseError

FAILURE_KINDS = ("http", "timeout", "connection", "empty", "truncated")


@dataclass
class RequestResult:
    """One request as the client saw it. `error` is None for a success, else one of FAILURE_KINDS."""

    index: int
    start_s: float
    end_s: float
    ttft_s: float | None = None
    chunk_times_s: list[float] = field(default_factory=list)  # arrival of each text chunk, from start
    output_tokens: int | None = None
    tokens_source: str = ""  # "usage" (the server's own count) or "tokenize" (the server's tokenizer on the text)
    finish_reason: str | None = None
    text: str = ""
    error: str | None = None
    detail: str = ""
    server_timings: dict | None = None  # llama.cpp's `timings` (prompt_ms, predicted_ms, ...) when sent

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def e2e_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def tpot_s(self) -> float | None:
        if not self.ok or not self.output_tokens or self.output_tokens < 2 or self.ttft_s is None:
            return None
        return (self.e2e_s - self.ttft_s) / (self.output_tokens - 1)

    @property
    def itl_s(self) -> list[float]:
        t = self.chunk_times_s
        return [b - a for a, b in zip(t, t[1:])]


def classify(finish_reason: str | None, output_tokens: int | None, max_tokens: int, n_chunks: int) -> str | None:
    """The failure kind of a stream that ended without a transport error, or None if it is complete.

    A complete stream ends with finish_reason "stop" (the model ended its answer or hit a stop
    string) or "length" (it produced exactly max_tokens). Anything else - no finish_reason at
    all, "length" with fewer tokens than asked for, an unknown reason - means the server cut
    the answer short, which is what llama-cpp-python's server does to a running stream when a
    new request arrives and interrupt_requests is on.
    """
    if n_chunks == 0 and not output_tokens:
        return "empty" if finish_reason in ("stop", "length", None) else "truncated"
    if finish_reason not in ("stop", "length"):
        return "truncated"
    if finish_reason == "length" and output_tokens is not None and output_tokens < max_tokens:
        return "truncated"
    return None


def percentile(values, q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between order statistics (numpy's default)."""
    data = sorted(float(v) for v in values)
    if not data:
        return math.nan
    if not 0 <= q <= 100:
        raise CourseError(f"percentile must be within 0..100, got {q}")
    pos = (len(data) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def spread(values) -> dict[str, float]:
    """p50, p90, p99 and mean of some values (NaN for none)."""
    values = [v for v in values if v is not None]
    mean = sum(values) / len(values) if values else math.nan
    return {"p50": percentile(values, 50), "p90": percentile(values, 90), "p99": percentile(values, 99), "mean": mean}


@dataclass
class LevelSummary:
    """One concurrency level: the JSON record of `llm-course bench`."""

    concurrency: int
    requests: int
    errors: int
    error_kinds: dict[str, int]
    ttft_p50_s: float
    ttft_p90_s: float
    ttft_p99_s: float
    itl_p50_s: float
    itl_p90_s: float
    itl_p99_s: float
    tpot_p50_s: float
    tpot_p90_s: float
    e2e_p50_s: float
    e2e_p90_s: float
    e2e_p99_s: float
    per_request_tok_s_p50: float
    output_tokens: int
    tokens_source: str
    wall_s: float
    throughput_tok_s: float

    def as_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


def summarize(results: list[RequestResult], concurrency: int) -> LevelSummary:
    """Fold one level's request results into its summary; failures counted, not averaged."""
    ok = [r for r in results if r.ok]
    kinds = Counter(r.error for r in results if not r.ok)
    ttft, e2e = spread(r.ttft_s for r in ok), spread(r.e2e_s for r in ok)
    itl = spread(g for r in ok for g in r.itl_s)
    tpot = spread(r.tpot_s for r in ok)
    tokens = sum(r.output_tokens or 0 for r in ok)
    wall = (max(r.end_s for r in results) - min(r.start_s for r in results)) if results else 0.0
    sources = sorted({r.tokens_source for r in ok if r.tokens_source})
    return LevelSummary(
        concurrency=concurrency, requests=len(results), errors=len(results) - len(ok),
        error_kinds={k: kinds[k] for k in FAILURE_KINDS if kinds[k]},
        ttft_p50_s=ttft["p50"], ttft_p90_s=ttft["p90"], ttft_p99_s=ttft["p99"],
        itl_p50_s=itl["p50"], itl_p90_s=itl["p90"], itl_p99_s=itl["p99"],
        tpot_p50_s=tpot["p50"], tpot_p90_s=tpot["p90"],
        e2e_p50_s=e2e["p50"], e2e_p90_s=e2e["p90"], e2e_p99_s=e2e["p99"],
        per_request_tok_s_p50=1.0 / tpot["p50"] if tpot["p50"] and not math.isnan(tpot["p50"]) else math.nan,
        output_tokens=tokens, tokens_source="+".join(sources) or "none",
        wall_s=wall, throughput_tok_s=tokens / wall if wall > 0 else math.nan,
    )


def format_table(summaries: list[LevelSummary], title: str = "") -> str:
    """A fixed-width table of the main figures, one row per concurrency level."""
    head = (f"{'conc':>4} {'reqs':>4} {'err':>3} {'TTFT p50 s':>10} {'TTFT p90 s':>10} {'ITL p50 ms':>10} "
            f"{'tok/s/req':>9} {'out tok':>7} {'wall s':>7} {'agg tok/s':>9}")
    lines = [title] if title else []
    lines += [head, "-" * len(head)]
    for s in summaries:
        lines.append(f"{s.concurrency:>4} {s.requests:>4} {s.errors:>3} {s.ttft_p50_s:>10.3f} {s.ttft_p90_s:>10.3f} "
                     f"{s.itl_p50_s * 1000:>10.1f} {s.per_request_tok_s_p50:>9.1f} {s.output_tokens:>7} "
                     f"{s.wall_s:>7.2f} {s.throughput_tok_s:>9.1f}")
    return "\n".join(lines)
