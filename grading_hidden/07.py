"""Hidden tests, chapter 07."""

import math

from course_lib.choose import cost
from course_lib.grading.testing import expect_close, expect_equal, expect_one_of, expect_true, question


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


@question("q4")
def capacity_of_a_busy_gpu(predicted_requests_per_day):
    for tok_s, tokens, utilisation in ((2500.0, 500, 0.8), (12.5, 64, 1.0)):
        expect_close(predicted_requests_per_day(tok_s, tokens, utilisation),
                     cost.capacity_requests_per_day(tok_s, tokens, utilisation), rel=1e-9)


@question("q4")
def faster_answers_or_another_machine(capacity_reading):
    expect_one_of(capacity_reading.value(), {"a"})


@question("q5")
def never_when_power_costs_more_than_the_api(break_even_months):
    power = cost.self_hosted_usd_per_month(cost.SelfHosted("p", hardware_usd=0, lifetime_months=1, power_watts=500,
                                                           usd_per_kwh=0.40))
    got = break_even_months(3000, 500, 0.40, power * 0.5)
    expect_true(isinstance(got, float) and math.isinf(got), f"expected inf when power alone costs more, got {got!r}")
    expect_close(break_even_months(0, 100, 0.1, 50.0), 0.0, abs_=1e-12, what="free hardware")
    expect_close(break_even_months(5000, 0, 0.0, 250.0), 20.0, rel=1e-9, what="no power bill")
