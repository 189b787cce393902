"""Visible tests, chapter 07 (choosing your setup): money checked against course_lib.choose.cost,
engines against the rules, this machine's capacity against the grader's own measurement."""

from course_lib.choose import cost
from course_lib.grading.testing import (MODEL, expect_choice, expect_close, expect_equal, expect_within_factor,
                                        question, shared_model)

QUESTIONS = {"q1": "self_hosted_usd_per_month", "q2": "break_even_requests_per_day", "q3": "pick_engine",
             "q4": ("predicted_requests_per_day", "measured_requests_per_day", "capacity_reading"),
             "q5": "break_even_months"}
RETURNS = {"self_hosted_usd_per_month": float, "break_even_requests_per_day": float, "pick_engine": str,
           "predicted_requests_per_day": float, "measured_requests_per_day": float, "capacity_reading": str,
           "break_even_months": float}
VALUES = ("capacity_reading",)


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


@question("q4")
def prediction_is_the_capacity_rule(predicted_requests_per_day):
    for tok_s, tokens, utilisation in ((30.0, 200, 0.5), (1200.0, 350, 0.3)):
        expect_close(predicted_requests_per_day(tok_s, tokens, utilisation),
                     cost.capacity_requests_per_day(tok_s, tokens, utilisation), rel=1e-9,
                     what=f"{tok_s:g} tok/s, {tokens} tokens, {utilisation:.0%} busy")


@question("q4")
def measurement_is_the_graders_own_within_4x(measured_requests_per_day):
    from course_lib.runtime import measure_speed

    got = measured_requests_per_day(MODEL, 200)
    tok_s = measure_speed(shared_model(), prompt_tokens=8, generated_tokens=32).generation_tok_s
    # Timings on a shared CPU are noisy: the grader's run right after yours, within a factor of 4.
    expect_within_factor(got, cost.capacity_requests_per_day(tok_s, 200), 4, "200-token answers a day")


@question("q4")
def reading_is_one_of_the_choices(capacity_reading):
    expect_choice(capacity_reading.value(), "capacity_reading")


def months_reference(hardware_usd, power_watts, usd_per_kwh, api_usd_per_month):
    power = cost.self_hosted_usd_per_month(cost.SelfHosted("power only", hardware_usd=0, lifetime_months=1,
                                                           power_watts=power_watts, usd_per_kwh=usd_per_kwh))
    saving = api_usd_per_month - power
    return hardware_usd / saving if saving > 0 else float("inf")


@question("q5")
def months_until_owning_is_cheaper(break_even_months):
    for args in ((2400, 350, 0.20, 400.0), (1800, 200, 0.30, 120.0)):
        expect_close(break_even_months(*args), months_reference(*args), rel=1e-9, what=f"{args}")
