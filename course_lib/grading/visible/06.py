"""Visible tests, chapter 06 (benchmarking and concurrency): statistics checked against numpy and first principles."""

import numpy as np

from course_lib.grading.testing import Either, expect_close, expect_equal, question

QUESTIONS = {"q1": "percentiles", "q2": "throughput_tok_s", "q3": "tpot_s"}
RETURNS = {"percentiles": {"p50": float, "p90": float, "p99": float}, "throughput_tok_s": float,
           "tpot_s": Either(float, None)}


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
