"""Statistics of a benchmark run: per-request timings in, one summary per load level out.

Derived in notebook 06 (benchmarking and concurrency). Kept apart from the
network code in `course_lib.bench.harness` so that it can be tested on exact numbers,
and so that a saved trace (`course_lib.bench.trace`) gives the same figures as the live run.

Definitions (those of vLLM's and aiperf's serving benchmarks):

* TTFT, time to first token: request sent -> first chunk carrying text.
* ITL, inter-token latency: the gaps between consecutive text chunks, pooled
  over all requests of a level (per chunk: a chunk may carry more than one token).
* TPOT, time per output token: (end-to-end - TTFT) / (output tokens - 1), per
  request, the first token left out; its inverse is the speed one user sees while the answer streams.
* Throughput: all output tokens of the successful requests / wall time of the
  level (first request sent -> last request finished).
* Mean requests in flight: the sum of every request's end-to-end time / wall time
  (Little's law), the load the level really held.
* Goodput: requests per second that met every service-level objective (`--slo`).

Failed requests (HTTP errors, timeouts, empty or truncated streams) are counted
in `errors` and kept out of every timing statistic, never averaged in.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field

from course_lib.errors import CourseError, require_positive

FAILURE_KINDS = ("http", "timeout", "connection", "empty", "truncated")
ARRIVALS = ("poisson", "constant")
SLO_KEYS = {"ttft": "ttft_s", "tpot": "tpot_s", "e2e": "e2e_s"}  # --slo name -> RequestResult figure
# A client that burns more than this many cores per request in flight competes with the server it
# measures on a small machine (issue 18: on 2 cores the server has no core to spare).
CLIENT_CORES_PER_REQUEST_LIMIT = 0.2
# A closed loop whose workers held fewer requests in flight than this share of its concurrency,
# while requests were still waiting to be sent, measured its own client rather than the server.
HELD_CONCURRENCY_SHARE = 0.9


@dataclass
class RequestResult:
    """One request as the client saw it. `error` is None for a success, else one of FAILURE_KINDS.

    Times are seconds since the benchmark run began, so that a saved trace and the live run agree exactly.
    """

    index: int
    start_s: float
    end_s: float
    ttft_s: float | None = None
    chunk_times_s: list[float] = field(default_factory=list)  # arrival of each text chunk, from start
    chunk_texts: list[str] = field(default_factory=list)
    output_tokens: int | None = None
    tokens_source: str = ""  # "usage" (the server's own count) or "tokenize" (the server's tokenizer on the text)
    finish_reason: str | None = None
    error: str | None = None
    detail: str = ""
    server_timings: dict | None = None  # llama.cpp's `timings` (prompt_ms, predicted_ms, ...) when sent
    scheduled_s: float | None = None  # open loop: when the arrival process asked for this request
    prompt: str = ""
    prompt_tokens: int | None = None  # the server's usage.prompt_tokens (BOS and chat template included), if sent

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def text(self) -> str:
        return "".join(self.chunk_texts)

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


@dataclass(frozen=True)
class Level:
    """One load level: a closed loop of `concurrency` workers, or an open loop at `request_rate` requests/s."""

    concurrency: int | None = None
    request_rate: float | None = None
    arrivals: str | None = None  # open loop: "poisson" or "constant"
    max_concurrency: int | None = None  # open loop: cap on requests in flight (None: no cap)

    @property
    def is_open(self) -> bool:
        return self.request_rate is not None

    @property
    def key(self) -> float:
        """The number that names the level: its concurrency, or its request rate."""
        return self.request_rate if self.is_open else self.concurrency

    def label(self) -> str:
        if not self.is_open:
            return f"concurrency {self.concurrency}"
        cap = f", at most {self.max_concurrency} in flight" if self.max_concurrency else ""
        return f"{self.request_rate:g} req/s ({self.arrivals}{cap})"

    def as_dict(self) -> dict:
        return {"mode": "open" if self.is_open else "closed", **asdict(self)}

    @classmethod
    def from_dict(cls, record: dict) -> "Level":
        return cls(record.get("concurrency"), record.get("request_rate"), record.get("arrivals"),
                   record.get("max_concurrency"))


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


def parse_slo(text: str | dict | None) -> dict[str, float] | None:
    """'ttft=0.5,tpot=0.05' -> {'ttft': 0.5, 'tpot': 0.05} (seconds); anything else is a one-line CourseError."""
    if text is None or isinstance(text, dict):
        pairs = (text or {}).items()
    else:
        pairs = [part.split("=", 1) if "=" in part else (part, "") for part in str(text).split(",") if part.strip()]
    slo = {}
    for name, value in pairs:
        name = str(name).strip().lower()
        if name not in SLO_KEYS:
            raise CourseError(f"--slo takes {', '.join(SLO_KEYS)} (seconds), e.g. ttft=0.5,tpot=0.05; got {name!r}")
        try:
            slo[name] = float(value)
        except (TypeError, ValueError):
            raise CourseError(f"--slo {name} must be a number of seconds, got {value!r}") from None
        require_positive(f"--slo {name}", slo[name])
    if text is not None and not slo:
        raise CourseError(f"--slo needs at least one objective, e.g. ttft=0.5,tpot=0.05; got {text!r}")
    return slo or None


def meets(result: RequestResult, slo: dict[str, float]) -> bool:
    """Did a successful request meet every objective? A one-token answer has no TPOT to miss."""
    if not result.ok:
        return False
    for name, limit in slo.items():
        value = getattr(result, SLO_KEYS[name])
        if value is not None and value > limit:
            return False
    return True


def in_flight(results: list[RequestResult], t0: float, t1: float) -> float:
    """Time-averaged number of requests in flight between t0 and t1 (NaN for an empty window)."""
    if t1 <= t0:
        return math.nan
    return sum(max(0.0, min(r.end_s, t1) - max(r.start_s, t0)) for r in results) / (t1 - t0)


@dataclass
class LevelSummary:
    """One load level: the JSON record of `llm-course bench`."""

    mode: str
    concurrency: int | None
    request_rate: float | None
    arrivals: str | None
    requests: int
    errors: int
    error_kinds: dict[str, int]
    ttft_p50_s: float
    ttft_p90_s: float
    ttft_p99_s: float
    ttft_mean_s: float
    itl_p50_s: float
    itl_p90_s: float
    itl_p99_s: float
    tpot_p50_s: float
    tpot_p90_s: float
    tpot_p99_s: float
    e2e_p50_s: float
    e2e_p90_s: float
    e2e_p99_s: float
    e2e_mean_s: float
    per_request_tok_s_p50: float
    output_tokens: int
    tokens_source: str
    prompt_tokens_p50: float
    wall_s: float
    throughput_tok_s: float
    request_throughput_req_s: float
    mean_in_flight: float
    in_flight_while_sending: float
    slo: dict[str, float] | None
    slo_met: int | None
    goodput_req_s: float | None
    client_cpu_s: float | None
    client_cores_per_request: float | None
    warnings: list[str]

    def as_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


def _level_warnings(level: Level, held: float, cores_per_request: float | None) -> list[str]:
    warnings = []
    if not level.is_open and held == held and held < HELD_CONCURRENCY_SHARE * level.concurrency:
        warnings.append(f"{level.label()} held only {held:.2f} requests in flight while requests were waiting "
                        "to be sent: the client, not the server, set the load")
    if cores_per_request is not None and cores_per_request > CLIENT_CORES_PER_REQUEST_LIMIT:
        warnings.append(f"the client used {cores_per_request:.2f} of a core per request in flight at "
                        f"{level.label()} (more than {CLIENT_CORES_PER_REQUEST_LIMIT:g}): on a small machine it "
                        "slows the server it measures")
    return warnings


def summarize(results: list[RequestResult], level: Level | int, client_cpu_s: float | None = None,
              slo: dict[str, float] | None = None) -> LevelSummary:
    """Fold one level's request results into its summary; failures counted, not averaged."""
    level = level if isinstance(level, Level) else Level(concurrency=level)
    ok = [r for r in results if r.ok]
    kinds = Counter(r.error for r in results if not r.ok)
    ttft, e2e = spread(r.ttft_s for r in ok), spread(r.e2e_s for r in ok)
    itl = spread(g for r in ok for g in r.itl_s)
    tpot = spread(r.tpot_s for r in ok)
    tokens = sum(r.output_tokens or 0 for r in ok)
    first = min((r.start_s for r in results), default=0.0)
    wall = (max(r.end_s for r in results) - first) if results else 0.0
    mean_in_flight = in_flight(results, first, first + wall)
    # Only meaningful while some requests waited for a worker: a closed loop with more requests than workers.
    queued = level.is_open or len(results) > (level.concurrency or 0)
    held = in_flight(results, first, max(r.start_s for r in results)) if results and queued else math.nan
    per_request_cores = (client_cpu_s / wall / mean_in_flight
                         if client_cpu_s is not None and wall > 0 and mean_in_flight > 0 else None)
    met = sum(meets(r, slo) for r in results) if slo else None
    sources = sorted({r.tokens_source for r in ok if r.tokens_source})

    def per_second(count):
        return count / wall if wall > 0 else math.nan

    return LevelSummary(
        mode="open" if level.is_open else "closed",
        concurrency=level.max_concurrency if level.is_open else level.concurrency,
        request_rate=level.request_rate, arrivals=level.arrivals,
        requests=len(results), errors=len(results) - len(ok),
        error_kinds={k: kinds[k] for k in FAILURE_KINDS if kinds[k]},
        ttft_p50_s=ttft["p50"], ttft_p90_s=ttft["p90"], ttft_p99_s=ttft["p99"], ttft_mean_s=ttft["mean"],
        itl_p50_s=itl["p50"], itl_p90_s=itl["p90"], itl_p99_s=itl["p99"],
        tpot_p50_s=tpot["p50"], tpot_p90_s=tpot["p90"], tpot_p99_s=tpot["p99"],
        e2e_p50_s=e2e["p50"], e2e_p90_s=e2e["p90"], e2e_p99_s=e2e["p99"], e2e_mean_s=e2e["mean"],
        per_request_tok_s_p50=1.0 / tpot["p50"] if tpot["p50"] and not math.isnan(tpot["p50"]) else math.nan,
        output_tokens=tokens, tokens_source="+".join(sources) or "none",
        prompt_tokens_p50=percentile([r.prompt_tokens for r in ok if r.prompt_tokens is not None], 50),
        wall_s=wall, throughput_tok_s=per_second(tokens), request_throughput_req_s=per_second(len(ok)),
        mean_in_flight=mean_in_flight, in_flight_while_sending=held,
        slo=dict(slo) if slo else None, slo_met=met, goodput_req_s=per_second(met) if slo else None,
        client_cpu_s=client_cpu_s, client_cores_per_request=per_request_cores,
        warnings=_level_warnings(level, held, per_request_cores),
    )


def format_table(summaries: list[LevelSummary], title: str = "") -> str:
    """A fixed-width table of the main figures, one row per load level, then any warnings."""
    goodput = any(s.slo for s in summaries)
    head = (f"{'level':>9} {'reqs':>4} {'err':>3} {'in flight':>9} {'TTFT p50 s':>10} {'TTFT p99 s':>10} "
            f"{'ITL p50 ms':>10} {'tok/s/req':>9} {'e2e p50 s':>9} {'out tok':>7} {'wall s':>7} {'agg tok/s':>9}"
            + (f" {'goodput/s':>9}" if goodput else ""))
    lines = [title] if title else []
    lines += [head, "-" * len(head)]
    for s in summaries:
        name = f"{s.request_rate:g}/s" if s.mode == "open" else f"c={s.concurrency}"
        lines.append(f"{name:>9} {s.requests:>4} {s.errors:>3} {s.mean_in_flight:>9.2f} {s.ttft_p50_s:>10.3f} "
                     f"{s.ttft_p99_s:>10.3f} {s.itl_p50_s * 1000:>10.1f} {s.per_request_tok_s_p50:>9.1f} "
                     f"{s.e2e_p50_s:>9.2f} {s.output_tokens:>7} {s.wall_s:>7.2f} {s.throughput_tok_s:>9.1f}"
                     + (f" {s.goodput_req_s:>9.2f}" if goodput else ""))
    lines += [f"warning: {w}" for s in summaries for w in s.warnings]
    return "\n".join(lines)
