"""Statistics, failure rules, load levels, arrivals, goodput and traces of the benchmark harness, on exact numbers."""

import json
import math

import numpy as np
import pytest

from course_lib.bench import (PROMPTS, WARMUP_PROMPT, BenchSettings, Level, RequestResult, TraceWriter, arrival_times,
                              classify, format_table, in_flight, load_levels, parse_rates, parse_slo, percentile,
                              read_trace, spread, summaries_from_trace, summarize)
from course_lib.errors import CourseError


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
                         chunk_texts=["x"] * len(chunks), output_tokens=tokens, tokens_source="usage",
                         finish_reason="length")


def test_summary_counts_failures_and_keeps_them_out_of_timings():
    a = _ok(0, 0.0, 0.5, [0.5, 0.6, 0.8], 1.0, 3)     # TPOT (1.0-0.5)/2 = 0.25
    b = _ok(1, 0.0, 1.5, [1.5, 1.7, 1.8], 2.0, 3)     # TPOT 0.25
    bad = RequestResult(index=2, start_s=0.0, end_s=4.0, ttft_s=0.1, chunk_times_s=[0.1], output_tokens=1,
                        finish_reason=None, error="truncated")
    dead = RequestResult(index=3, start_s=0.5, end_s=0.6, error="http")
    s = summarize([a, b, bad, dead], 2)
    assert (s.requests, s.errors) == (4, 2)
    assert s.error_kinds == {"http": 1, "truncated": 1}
    assert s.output_tokens == 6                        # the truncated request's token is not counted
    assert s.ttft_p50_s == pytest.approx(1.0)          # (0.5 + 1.5) / 2: the failed 0.1 s is not averaged in
    assert s.itl_p50_s == pytest.approx(0.15)          # gaps 0.1 0.2 0.2 0.1 -> median 0.15
    assert s.tpot_p50_s == pytest.approx(0.25) and s.per_request_tok_s_p50 == pytest.approx(4.0)
    assert s.wall_s == pytest.approx(4.0)              # wall covers every request, failed ones included
    assert s.throughput_tok_s == pytest.approx(1.5)
    assert s.request_throughput_req_s == pytest.approx(0.5)
    assert s.mean_in_flight == pytest.approx((1.0 + 2.0 + 4.0 + 0.1) / 4.0)  # Little's law: busy time / wall
    record = s.as_dict()
    for key in ("mode", "concurrency", "requests", "errors", "ttft_p50_s", "ttft_p90_s", "ttft_p99_s", "itl_p50_s",
                "tpot_p50_s", "tpot_p99_s", "e2e_p50_s", "e2e_p99_s", "output_tokens", "wall_s", "throughput_tok_s",
                "mean_in_flight", "goodput_req_s", "client_cpu_s"):
        assert key in record
    assert record["mode"] == "closed" and record["concurrency"] == 2 and record["request_rate"] is None
    assert "4.00" in format_table([s]).splitlines()[-1]


def test_all_failed_level_gives_no_timings_but_counts_them():
    s = summarize([RequestResult(index=i, start_s=0, end_s=1, error="timeout") for i in range(3)], 3)
    assert s.errors == 3 and s.output_tokens == 0 and s.throughput_tok_s == 0
    assert s.as_dict()["ttft_p50_s"] is None           # NaN becomes JSON null, not a made-up number


def test_in_flight_is_the_time_average_of_overlapping_requests():
    reqs = [_ok(0, 0.0, 0.1, [0.1], 2.0, 1), _ok(1, 1.0, 0.1, [0.1], 3.0, 1)]
    assert in_flight(reqs, 0.0, 3.0) == pytest.approx(4.0 / 3.0)
    assert in_flight(reqs, 1.0, 2.0) == pytest.approx(2.0)
    assert math.isnan(in_flight(reqs, 1.0, 1.0))


def test_a_closed_loop_that_idles_its_workers_is_flagged():
    """Two workers, four requests: each worker waits 1 s between its requests, so only 1 is in flight on average."""
    gappy = [_ok(0, 0.0, 0.1, [0.1], 1.0, 1), _ok(1, 1.0, 0.1, [0.1], 2.0, 1),
             _ok(2, 2.0, 0.1, [0.1], 3.0, 1), _ok(3, 3.0, 0.1, [0.1], 4.0, 1)]
    s = summarize(gappy, 2)
    assert s.in_flight_while_sending == pytest.approx(1.0)
    assert any("held only 1.00" in w for w in s.warnings)
    tight = [_ok(0, 0.0, 0.1, [0.1], 1.0, 1), _ok(1, 0.0, 0.1, [0.1], 1.0, 1),
             _ok(2, 1.0, 0.1, [0.1], 2.0, 1), _ok(3, 1.0, 0.1, [0.1], 2.0, 1)]
    assert summarize(tight, 2).in_flight_while_sending == pytest.approx(2.0)
    assert summarize(tight, 2).warnings == []


def test_a_heavy_client_is_flagged():
    reqs = [_ok(0, 0.0, 0.1, [0.1], 2.0, 1), _ok(1, 0.0, 0.1, [0.1], 2.0, 1)]  # 2 in flight for 2 s
    light, heavy = summarize(reqs, 2, client_cpu_s=0.4), summarize(reqs, 2, client_cpu_s=1.2)
    assert light.client_cores_per_request == pytest.approx(0.1) and light.warnings == []
    assert heavy.client_cores_per_request == pytest.approx(0.3)
    assert any("0.30 of a core per request" in w for w in heavy.warnings)


def test_goodput_counts_requests_meeting_every_objective():
    fast = _ok(0, 0.0, 0.2, [0.2, 0.25, 0.3], 0.3, 3)   # TTFT 0.2, TPOT 0.05
    slow_start = _ok(1, 0.0, 0.8, [0.8, 0.85], 0.9, 2)  # TTFT 0.8 misses ttft=0.5
    slow_decode = _ok(2, 0.0, 0.1, [0.1, 0.5], 1.0, 2)  # TPOT 0.9 misses tpot=0.1
    failed = RequestResult(index=3, start_s=0.0, end_s=2.0, error="timeout")
    s = summarize([fast, slow_start, slow_decode, failed], 4, slo=parse_slo("ttft=0.5,tpot=0.1"))
    assert s.slo == {"ttft": 0.5, "tpot": 0.1} and s.slo_met == 1
    assert s.goodput_req_s == pytest.approx(1 / 2.0)
    assert summarize([fast], 1).goodput_req_s is None   # no objectives, no goodput
    assert summarize([slow_start], 1, slo={"e2e": 1.0}).slo_met == 1


@pytest.mark.parametrize("bad", ["ttft", "ttft=fast", "speed=1", "ttft=0", "ttft=-1", ","])
def test_bad_objectives_are_one_line_errors(bad):
    with pytest.raises(CourseError) as error:
        parse_slo(bad)
    assert "--slo" in str(error.value) and "\n" not in str(error.value)


def test_levels_closed_or_open_never_both():
    assert load_levels("1,4") == [Level(concurrency=1), Level(concurrency=4)]
    assert load_levels([1, 2]) == [Level(concurrency=1), Level(concurrency=2)]
    opened = load_levels(None, "0.5,2", "constant", 3)
    assert [(lv.request_rate, lv.arrivals, lv.max_concurrency, lv.is_open) for lv in opened] == [
        (0.5, "constant", 3, True), (2.0, "constant", 3, True)]
    assert parse_rates("0.25, 1") == [0.25, 1.0]
    for bad in (dict(concurrency="1", request_rate="2"), dict(concurrency="1", max_concurrency=2),
                dict(request_rate="0"), dict(request_rate="fast"), dict(request_rate="inf"),
                dict(request_rate="1", arrivals="bursty"), dict(request_rate="1", max_concurrency=0),
                dict(concurrency="0,2")):
        with pytest.raises(CourseError):
            load_levels(**bad)


def test_arrivals_constant_poisson_and_repeatable():
    assert arrival_times(4, 2.0, "constant") == [0.0, 0.5, 1.0, 1.5]
    a, b = arrival_times(2000, 4.0, "poisson", seed=7), arrival_times(2000, 4.0, "poisson", seed=7)
    assert a == b and a[0] == 0.0 and a == sorted(a)
    gaps = np.diff(a)
    assert gaps.mean() == pytest.approx(0.25, rel=0.05)      # mean gap 1/rate
    assert np.std(gaps) == pytest.approx(0.25, rel=0.08)     # exponential: the spread equals the mean
    assert arrival_times(50, 4.0, "poisson", seed=8) != a[:50]


def test_the_warmup_prompt_is_outside_the_measured_set():
    """Warming up with request 0's prompt lets request 0 hit the prompt cache (issue 18)."""
    first_words = {p.split()[0] for p in PROMPTS}
    assert WARMUP_PROMPT not in PROMPTS and WARMUP_PROMPT.split()[0] not in first_words


def test_a_trace_recomputes_the_same_figures(tmp_path):
    path = tmp_path / "run.jsonl"
    levels = {Level(concurrency=2): [_ok(0, 0.125, 0.5, [0.5, 0.6, 0.8], 1.0 + 1 / 3, 3),
                                     _ok(1, 0.1, 1.5, [1.5, 1.7, 1.8], 2.0, 3)],
              Level(request_rate=1.5, arrivals="poisson"): [_ok(0, 2.5, 0.3, [0.3, 0.4], 3.1, 2)]}
    writer = TraceWriter(path, BenchSettings("http://127.0.0.1:1/v1", "m"), slo={"ttft": 1.0})
    writer.warmup(_ok(-1, 0.0, 0.05, [0.05], 0.1, 1))
    live = []
    for level, results in levels.items():
        writer.level(level, results, client_cpu_s=0.0123)
        live.append(summarize(results, level, 0.0123, {"ttft": 1.0}))
    writer.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["record"] for line in lines] == ["warmup", "request", "request", "level", "request", "level"]
    assert lines[1]["chunk_times_s"] == [0.5, 0.6, 0.8] and lines[1]["level"]["mode"] == "closed"
    assert [s.as_dict() for s in summaries_from_trace(path)] == [s.as_dict() for s in live]
    assert summaries_from_trace(path, "ttft=0.4")[0].slo_met == 0    # other objectives, same requests
    assert read_trace(path)["warmup"][0].index == -1
    path.write_text(path.read_text().rsplit("\n", 2)[0] + "\n")       # cut the last level's closing record
    with pytest.raises(CourseError, match="never finished"):
        summaries_from_trace(path)
    with pytest.raises(CourseError, match="no trace file"):
        summaries_from_trace(tmp_path / "missing.jsonl")
