"""Hidden tests, chapter 07."""

import math

from course_lib.choose import cost
from course_lib.grading.testing import expect_close, expect_equal, expect_true, question


@question("q1")
def monthly_cost_without_power(self_hosted_usd_per_month):
    setup = cost.SelfHosted("owned", hardware_usd=1200, lifetime_months=24, power_watts=0, usd_per_kwh=0.30)
    expect_close(self_hosted_usd_per_month(1200, 24, 0, 0.30), cost.self_hosted_usd_per_month(setup), rel=1e-9)


@question("q2")
def free_api_never_breaks_even(break_even_requests_per_day):
    got = break_even_requests_per_day(0.0, 0.0, 1000, 200, 100.0)
    expect_true(isinstance(got, float) and math.isinf(got), f"expected inf for a free API, got {got!r}")


@question("q3")
def boundaries_of_the_rules(pick_engine):
    expect_equal(pick_engine(concurrent_users=8, nvidia_gpu=True), "vllm", "8 users on an NVIDIA GPU")
    expect_equal(pick_engine(concurrent_users=7, nvidia_gpu=True), "llama-server", "7 users on an NVIDIA GPU")
    expect_equal(pick_engine(concurrent_users=1, nvidia_gpu=True), "ollama", "one user with a GPU")
    expect_equal(pick_engine(concurrent_users=50, nvidia_gpu=False), "llama-server", "many users, no NVIDIA GPU")
