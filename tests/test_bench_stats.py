"""Statistics and failure rules of the benchmark harness, on exact numbers."""

import math

import numpy as np
import pytest

from course_lib.bench import RequestResult, classify, format_table, percentile, spread, summarize


def test_percentile_matches_numpy_linear_interpolation():
    values = [0.3, 0.1, 0.7, 0.2, 0.9, 0.4, 1.5]
    for q in (0, 10, 50, 90, 99, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    assert percentile([5.0], 99) == 5.0
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile([1, 2], 101)


def test_spread_ignores_missing_values():
    s = spread([1.0, None, 3.0])
    assert s["p50"] == 2.0 and s["mean"] == 2.0 and s["p99"] == pytest.approx(2.98)


@pytest.mark.parametrize("finish, tokens, chunks, expected", [
    ("length", 32, 32, None),          # asked for 32, got 32
    ("stop", 7, 7, None),              # the model ended early: a complete answer
    (None, 5, 5, "truncated"),         # the stream ended with no finish_reason (interrupted)
    ("length", 5, 5, "truncated"),     # "length" but short of max_tokens
    ("abort", 12, 12, "truncated"),    # an unknown reason
    ("stop", 0, 0, "empty"),           # nothing at all
    (None, None, 0, "empty"),
])
def test_classify_complete_empty_and_truncated_streams(finish, tokens, chunks, expected):
    assert classify(finish, tokens, 32, chunks) == expected


def _ok(i, start, ttft, chunks, end, tokens):
    return RequestResult(index=i, start_s=start, end_s=end, ttft_s=ttft, chunk_times_s=chunks,
                         output_tokens=tokens, tokens_source="usage", finish_reason="length")


def test_summary_counts_failures_and_keeps_them_out_of_timings():
    a = _ok(0, 0.0, 0.5, [0.5, 0.6, 0.8], 1.0, 3)     # TPOT (1.0-0.5)/2 = 0.25
    b = _ok(1, 0.0, 1.5, [1.5, 1.7, 1.8], 2.0, 3)     # TPOT 0.25
    bad = RequestResult(index=2, start_s=0.0, end_s=4.0, ttft_s=0.1, chunk_times_s=[0.1], output_tokens=1,
                        finish_reason=None, error="truncated")
    dead = RequestResult(index=3, start_s=0.5, end_s=0.6, error="http")
    s = summarize([a, b, bad, dead], concurrency=2)
    assert (s.requests, s.errors) == (4, 2)
    assert s.error_kinds == {"http": 1, "truncated": 1}
    assert s.output_tokens == 6                        # the truncated request's token is not counted
    assert s.ttft_p50_s == pytest.approx(1.0)          # (0.5 + 1.5) / 2: the failed 0.1 s is not averaged in
    assert s.itl_p50_s == pytest.approx(0.15)          # gaps 0.1 0.2 0.2 0.1 -> median 0.15
    assert s.tpot_p50_s == pytest.approx(0.25) and s.per_request_tok_s_p50 == pytest.approx(4.0)
    assert s.wall_s == pytest.approx(4.0)              # wall covers every request, failed ones included
    assert s.throughput_tok_s == pytest.approx(1.5)
    record = s.as_dict()
    for key in ("concurrency", "requests", "errors", "ttft_p50_s", "itl_p50_s", "output_tokens", "wall_s",
                "throughput_tok_s"):
        assert key in record
    assert "4" in format_table([s]).splitlines()[-1]


def test_all_failed_level_gives_no_timings_but_counts_them():
    s = summarize([RequestResult(index=i, start_s=0, end_s=1, error="timeout") for i in range(3)], 3)
    assert s.errors == 3 and s.output_tokens == 0 and s.throughput_tok_s == 0
    assert s.as_dict()["ttft_p50_s"] is None           # NaN becomes JSON null, not a made-up number
