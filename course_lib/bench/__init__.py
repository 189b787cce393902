"""Benchmarking OpenAI-compatible servers, and simulating batching (notebook 06).

`harness` sends streamed requests at chosen concurrency levels; `stats`
turns them into per-level summaries; `batching` is a discrete-event model of
serial, static and continuous batching.
"""

from course_lib.bench.batching import (POLICIES, Roofline, SimRequest, SimResult, a100_llama8b, concurrency_table,
                                       frontier, simulate, workload)
from course_lib.bench.harness import (PROMPTS, BenchSettings, bench, bench_sync, cross_check, one_request,
                                      parse_concurrency, resolve_model, run_level, summaries_to_json, tokenize_count)
from course_lib.bench.stats import (FAILURE_KINDS, LevelSummary, RequestResult, classify, format_table, percentile,
                                    spread, summarize)

__all__ = [
    "FAILURE_KINDS", "RequestResult", "classify", "percentile", "spread", "LevelSummary", "summarize", "format_table",
    "PROMPTS", "BenchSettings", "parse_concurrency", "resolve_model", "tokenize_count", "one_request", "run_level",
    "bench", "bench_sync", "cross_check", "summaries_to_json", "POLICIES", "Roofline", "a100_llama8b", "SimRequest",
    "workload", "SimResult", "simulate", "concurrency_table", "frontier",
]
