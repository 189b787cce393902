"""API vs self-hosted cost arithmetic."""

import math

import pytest

from course_lib.choose import (ApiPrice, SelfHosted, Workload, api_usd_per_month, api_usd_per_request,
                               break_even_requests_per_day, capacity_requests_per_day, self_hosted_usd_per_month)
from course_lib.errors import CourseError

MINI = ApiPrice("mini", 0.15, 0.60)
CHAT = Workload(5000, 1000, 300)


def test_api_cost_per_request_and_month():
    assert api_usd_per_request(MINI, CHAT) == pytest.approx((1000 * 0.15 + 300 * 0.60) / 1e6)
    assert api_usd_per_month(MINI, CHAT) == pytest.approx(0.00033 * 5000 * 30)


def test_self_hosted_month_adds_amortisation_power_ops_and_rent():
    box = SelfHosted("box", hardware_usd=3600, lifetime_months=36, power_watts=500, usd_per_kwh=0.2,
                     ops_usd_per_month=10, rent_usd_per_hour=0)
    assert self_hosted_usd_per_month(box) == pytest.approx(100 + 0.5 * 720 * 0.2 + 10)
    rented = SelfHosted("rent", 0, 1, 0, rent_usd_per_hour=2)
    assert self_hosted_usd_per_month(rented) == pytest.approx(1440)


def test_break_even_is_where_the_bills_cross():
    rented = SelfHosted("rent", 0, 1, 0, rent_usd_per_hour=1)
    even = break_even_requests_per_day(MINI, CHAT, rented)
    at_even = Workload(even, CHAT.input_tokens, CHAT.output_tokens)
    assert api_usd_per_month(MINI, at_even) == pytest.approx(self_hosted_usd_per_month(rented))


def test_free_api_never_breaks_even():
    assert math.isinf(break_even_requests_per_day(ApiPrice("free", 0, 0), CHAT, SelfHosted("x", 1, 1, 1)))


def test_capacity():
    assert capacity_requests_per_day(100, 300, utilisation=0.5) == pytest.approx(100 * 86400 * 0.5 / 300)


@pytest.mark.parametrize("make", [
    lambda: Workload(-1, 10, 10),
    lambda: Workload(10, 10, 0),
    lambda: SelfHosted("x", -5, 12, 100),
    lambda: SelfHosted("x", 5, 0, 100),
    lambda: capacity_requests_per_day(100, 300, utilisation=1.5),
])
def test_bad_inputs_are_course_errors(make):
    with pytest.raises(CourseError):
        make()


def test_widget_redraws_on_change():
    from course_lib.widgets import break_even_widget

    box = break_even_widget([MINI, ApiPrice("big", 2.5, 10)], [SelfHosted("rent", 0, 1, 0, rent_usd_per_hour=1)], CHAT)
    verdict = next(c for c in box.children if c.__class__.__name__ == "HTML")
    before = verdict.value
    requests = next(c for c in box.children if getattr(c, "description", "") == "Requests per day:")
    requests.value = 150_000
    assert verdict.value != before and "self-hosting is cheaper" in verdict.value
