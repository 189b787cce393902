"""API bill vs self-hosted bill: when does running your own model pay off?

Derived in notebook 00 (why run locally) and reused in notebook 07 (choosing a
setup). All money is in US dollars per 30-day month; token prices are per
million tokens, as API price lists quote them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from course_lib.errors import CourseError, require_positive

DAYS_PER_MONTH = 30
HOURS_PER_MONTH = 24 * DAYS_PER_MONTH


@dataclass(frozen=True)
class ApiPrice:
    name: str
    usd_per_m_input: float
    usd_per_m_output: float


@dataclass(frozen=True)
class Workload:
    requests_per_day: float
    input_tokens: int
    output_tokens: int

    def __post_init__(self):
        require_positive("requests_per_day", self.requests_per_day, allow_zero=True)
        require_positive("input_tokens", self.input_tokens, allow_zero=True)
        require_positive("output_tokens", self.output_tokens)


@dataclass(frozen=True)
class SelfHosted:
    """Owning a machine: its price spread over its life, its power, and the people who run it."""

    name: str
    hardware_usd: float
    lifetime_months: float
    power_watts: float
    usd_per_kwh: float = 0.15
    ops_usd_per_month: float = 0.0
    rent_usd_per_hour: float = 0.0  # a rented GPU instead of (or on top of) owned hardware

    def __post_init__(self):
        require_positive("hardware_usd", self.hardware_usd, allow_zero=True)
        require_positive("lifetime_months", self.lifetime_months)
        require_positive("power_watts", self.power_watts, allow_zero=True)
        require_positive("usd_per_kwh", self.usd_per_kwh, allow_zero=True)
        require_positive("ops_usd_per_month", self.ops_usd_per_month, allow_zero=True)
        require_positive("rent_usd_per_hour", self.rent_usd_per_hour, allow_zero=True)


def api_usd_per_request(price: ApiPrice, workload: Workload) -> float:
    return (workload.input_tokens * price.usd_per_m_input + workload.output_tokens * price.usd_per_m_output) / 1e6


def api_usd_per_month(price: ApiPrice, workload: Workload) -> float:
    return api_usd_per_request(price, workload) * workload.requests_per_day * DAYS_PER_MONTH


def self_hosted_usd_per_month(setup: SelfHosted) -> float:
    """A fixed monthly cost: it does not grow with traffic until the machine is saturated."""
    amortised = setup.hardware_usd / setup.lifetime_months
    power = setup.power_watts / 1000 * HOURS_PER_MONTH * setup.usd_per_kwh
    return amortised + power + setup.ops_usd_per_month + setup.rent_usd_per_hour * HOURS_PER_MONTH


def break_even_requests_per_day(price: ApiPrice, workload: Workload, setup: SelfHosted) -> float:
    """Requests per day above which self-hosting is cheaper than the API (the machine's capacity aside)."""
    per_request = api_usd_per_request(price, workload)
    if per_request == 0:
        return math.inf
    return self_hosted_usd_per_month(setup) / (per_request * DAYS_PER_MONTH)


def capacity_requests_per_day(output_tok_s: float, output_tokens: int, utilisation: float = 0.5) -> float:
    """How many requests a day one machine can answer at `output_tok_s` aggregate decode speed.

    `utilisation` is the fraction of the day the machine is busy: traffic is
    not flat, and a server run at 100% has unbounded queueing delay.
    """
    require_positive("output_tok_s", output_tok_s)
    require_positive("output_tokens", output_tokens)
    if not 0 < utilisation <= 1:
        raise CourseError(f"utilisation must be in (0, 1], got {utilisation!r}")
    return output_tok_s * 86400 * utilisation / output_tokens
