"""Visible tests, chapter 07 (choosing your setup): money checked against course_lib.choose.cost,
engines against the rules."""

from course_lib.choose import cost
from course_lib.grading.testing import expect_close, expect_equal, question

QUESTIONS = {"q1": "self_hosted_usd_per_month", "q2": "break_even_requests_per_day", "q3": "pick_engine"}
RETURNS = {"self_hosted_usd_per_month": float, "break_even_requests_per_day": float, "pick_engine": str}


@question("q1")
def monthly_cost_of_a_workstation(self_hosted_usd_per_month):
    setup = cost.SelfHosted("workstation", hardware_usd=2400, lifetime_months=36, power_watts=350, usd_per_kwh=0.20)
    expect_close(self_hosted_usd_per_month(2400, 36, 350, 0.20), cost.self_hosted_usd_per_month(setup), rel=1e-9)


@question("q2")
def break_even_against_an_api(break_even_requests_per_day):
    price = cost.ApiPrice("api", usd_per_m_input=0.50, usd_per_m_output=1.50)
    workload = cost.Workload(requests_per_day=1, input_tokens=1500, output_tokens=300)
    setup = cost.SelfHosted("box", hardware_usd=1800, lifetime_months=36, power_watts=200)
    expected = cost.break_even_requests_per_day(price, workload, setup)
    got = break_even_requests_per_day(0.50, 1.50, 1500, 300, cost.self_hosted_usd_per_month(setup))
    expect_close(got, expected, rel=1e-9)


@question("q3")
def engine_for_each_scenario(pick_engine):
    expect_equal(pick_engine(concurrent_users=1, nvidia_gpu=False), "ollama", "one user on a laptop")
    expect_equal(pick_engine(concurrent_users=20, nvidia_gpu=True), "vllm", "20 users on an NVIDIA GPU")
    expect_equal(pick_engine(concurrent_users=4, nvidia_gpu=False), "llama-server", "a small team, no NVIDIA GPU")
