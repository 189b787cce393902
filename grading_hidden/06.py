"""Hidden tests, chapter 06."""

import numpy as np

from course_lib.grading.testing import expect_close, question


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
