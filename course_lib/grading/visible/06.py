"""Visible tests, chapter 06 (benchmarking and concurrency): statistics checked against numpy and first principles,
measurements against the grader's own run of the course's harness (course_lib.bench.bench_sync)."""

import numpy as np

from course_lib.grading.testing import (SERVER_URL, Either, expect_choice, expect_close, expect_equal,
                                        expect_within_factor, question, shared_server)

QUESTIONS = {"q1": "percentiles", "q2": "throughput_tok_s", "q3": "tpot_s",
             "q4": ("predicted_mean_e2e_s", "measured_mean_e2e_s", "queue_reading"), "q5": "goodput_req_s"}
RETURNS = {"percentiles": {"p50": float, "p90": float, "p99": float}, "throughput_tok_s": float,
           "tpot_s": Either(float, None), "predicted_mean_e2e_s": float, "measured_mean_e2e_s": float,
           "queue_reading": str, "goodput_req_s": float}
VALUES = ("queue_reading",)


@question("q1")
def percentiles_match_numpy(percentiles):
    timings = np.random.default_rng(6).lognormal(mean=-1.0, sigma=0.5, size=101).tolist()
    got = percentiles(timings)
    for key, q in (("p50", 50), ("p90", 90), ("p99", 99)):
        expect_close(got[key], float(np.percentile(timings, q)), rel=1e-9, what=key)


@question("q2")
def throughput_over_the_wall_time(throughput_tok_s):
    requests = [(0.0, 2.0, 100), (0.5, 3.0, 120), (1.0, 4.0, 80)]  # (start s, end s, output tokens)
    expect_close(throughput_tok_s(requests), 300 / 4.0, what="3 overlapping requests")


@question("q3")
def time_per_output_token(tpot_s):
    expect_close(tpot_s(e2e_s=2.5, ttft_s=0.5, output_tokens=101), 0.02, what="101 tokens in 2.5 s, first at 0.5 s")
    expect_equal(tpot_s(e2e_s=1.0, ttft_s=1.0, output_tokens=1), None, "a single token has no TPOT")


def serial_mean_e2e(n_users, single_e2e_s):
    """All users send at once to a server that answers one request at a time: the k-th waits for k answers."""
    return sum(k * single_e2e_s for k in range(1, n_users + 1)) / n_users


@question("q4")
def prediction_for_a_server_without_batching(predicted_mean_e2e_s):
    for n_users, single in ((4, 0.5), (3, 1.2)):
        expect_close(predicted_mean_e2e_s(n_users, single), serial_mean_e2e(n_users, single), rel=1e-9,
                     what=f"{n_users} users, {single} s alone")


@question("q4")
def measurement_is_the_graders_own_within_3x(measured_mean_e2e_s):
    from course_lib.bench import bench_sync

    got = measured_mean_e2e_s(SERVER_URL, 3, 8)
    level = bench_sync(shared_server().base_url, concurrency=[3], requests=3, max_tokens=8, input_tokens=8,
                       progress=False)[0]
    # Timings on a shared CPU are noisy: the grader's run right after yours, within a factor of 3.
    expect_within_factor(got, level.e2e_mean_s, 3, "mean end-to-end seconds, 3 users at once")


@question("q4")
def reading_is_one_of_the_choices(queue_reading):
    expect_choice(queue_reading.value(), "queue_reading")


def goodput_reference(requests, ttft_slo_s, tpot_slo_s):
    def met(start, end, ttft, tokens):
        return ttft <= ttft_slo_s and (tokens < 2 or (end - start - ttft) / (tokens - 1) <= tpot_slo_s)

    wall = max(r[1] for r in requests) - min(r[0] for r in requests)
    return sum(met(*r) for r in requests) / wall


@question("q5")
def goodput_counts_the_requests_that_met_both_objectives(goodput_req_s):
    requests = [(0.0, 2.0, 0.3, 50), (0.1, 4.0, 1.5, 60), (0.5, 3.5, 0.4, 20), (1.0, 5.0, 0.2, 100)]
    expect_close(goodput_req_s(requests, 0.5, 0.05), goodput_reference(requests, 0.5, 0.05), rel=1e-9,
                 what="TTFT <= 0.5 s and TPOT <= 50 ms")
