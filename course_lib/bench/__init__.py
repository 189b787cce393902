"""Benchmarking OpenAI-compatible servers, and simulating batching (notebook 06).

`harness` sends streamed requests in closed or open loops; `workload` decides what
is sent (prompts, levels, arrivals); `stats` turns the requests into per-level
summaries; `trace` saves a run and recomputes it; `threads` measures OpenMP's wait
policy; `batching` is a discrete-event model of serial, static and continuous batching.
"""

from course_lib.bench.batching import (POLICIES, Roofline, SimRequest, SimResult, SimStep, a100_llama8b,
                                       calibrated_roofline, concurrency_table, frontier, rate_sweep, simulate,
                                       workload)
from course_lib.bench.harness import (ENDPOINTS, BenchSettings, bench, bench_sync, closed_loop, cross_check,
                                      finish_level, one_request, open_loop, resolve_model, summaries_to_json)
from course_lib.bench.stats import (ARRIVALS, FAILURE_KINDS, Level, LevelSummary, RequestResult, classify,
                                    format_table, in_flight, meets, parse_slo, percentile, spread, summarize)
from course_lib.bench.threads import WAIT_POLICIES, CpuLoad, measure_wait_policies, wait_policy_table
from course_lib.bench.trace import TraceWriter, read_trace, summaries_from_trace
from course_lib.bench.workload import (PROMPTS, WARMUP_PROMPT, LocalTokenizer, ServerTokenizer, arrival_times,
                                       course_text, load_levels, parse_concurrency, parse_rates, prompts_of_length)

__all__ = [
    "FAILURE_KINDS", "ARRIVALS", "RequestResult", "Level", "classify", "percentile", "spread", "parse_slo", "meets",
    "in_flight", "LevelSummary", "summarize", "format_table",
    "PROMPTS", "WARMUP_PROMPT", "parse_concurrency", "parse_rates", "load_levels", "arrival_times",
    "ServerTokenizer", "LocalTokenizer", "course_text", "prompts_of_length",
    "ENDPOINTS", "BenchSettings", "resolve_model", "one_request", "finish_level", "closed_loop", "open_loop",
    "bench", "bench_sync", "cross_check", "summaries_to_json",
    "TraceWriter", "read_trace", "summaries_from_trace",
    "WAIT_POLICIES", "CpuLoad", "measure_wait_policies", "wait_policy_table",
    "POLICIES", "Roofline", "a100_llama8b", "calibrated_roofline", "SimRequest", "SimStep", "workload", "SimResult",
    "simulate", "concurrency_table", "frontier", "rate_sweep",
]
