"""Hidden tests, chapter 06."""

import numpy as np

from course_lib.grading.testing import expect_close, expect_one_of, question


@question("q1")
def percentiles_of_few_and_tied_values(percentiles):
    for timings in ([0.3], [0.2, 0.1], [1.0, 1.0, 1.0, 5.0], list(np.linspace(0.05, 9.0, 37))):
        got = percentiles(list(timings))
        for key, q in (("p50", 50), ("p90", 90), ("p99", 99)):
            expect_close(got[key], float(np.percentile(timings, q)), rel=1e-9, what=f"{key} of {len(timings)} values")


@question("q2")
def throughput_with_a_late_start(throughput_tok_s):
    requests = [(2.0, 3.0, 50), (2.5, 6.0, 70)]
    expect_close(throughput_tok_s(requests), 120 / 4.0, what="wall time starts at the first request, not at 0")


@question("q3")
def tpot_of_two_tokens(tpot_s):
    expect_close(tpot_s(e2e_s=0.9, ttft_s=0.4, output_tokens=2), 0.5)


@question("q4")
def one_user_and_seven(predicted_mean_e2e_s):
    for n_users, single in ((1, 0.8), (7, 0.25)):
        expect_close(predicted_mean_e2e_s(n_users, single), sum(k * single for k in range(1, n_users + 1)) / n_users,
                     rel=1e-9)


@question("q4")
def one_request_at_a_time(queue_reading):
    expect_one_of(queue_reading.value(), {"a"})


@question("q5")
def single_token_answers_boundaries_and_none_met(goodput_req_s):
    # A one-token answer has no TPOT to miss; objectives met exactly count as met.
    requests = [(0.0, 1.0, 0.5, 1), (0.0, 2.0, 0.25, 8), (1.0, 3.0, 0.9, 10)]
    expect_close(goodput_req_s(requests, 0.5, 0.25), 2 / 3.0, rel=1e-9)
    expect_close(goodput_req_s(requests, 0.1, 0.01), 0.0, abs_=1e-12)
