"""The paged-allocation simulator: exact small cases worked by hand, and the waste claim on a realistic stream."""

import pytest

from course_lib.errors import CourseError
from course_lib.sizing import Request, allocation_waste, sample_requests, simulate_serving


def test_waste_worked_by_hand():
    # One request: prompt 10, 3 output tokens -> holds 11, 12, 13 tokens over its three steps.
    w = allocation_waste([Request(10, 3)], max_len=32, block_size=8)
    assert w["contiguous"].used_slots == 36 and w["contiguous"].allocated_slots == 3 * 32
    assert w["paged"].allocated_slots == 3 * 16  # 11..13 tokens always need two blocks of 8
    assert w["paged"].wasted_fraction == pytest.approx(1 - 36 / 48)
    assert allocation_waste([Request(10, 3)], 32, block_size=1)["paged"].wasted_fraction == 0


def test_sampled_requests_are_repeatable_and_fit():
    a = sample_requests(200, max_len=2048, seed=3)
    assert a == sample_requests(200, max_len=2048, seed=3) and a != sample_requests(200, max_len=2048, seed=4)
    assert all(1 <= r.prompt_tokens and 1 <= r.output_tokens and r.total_tokens <= 2048 for r in a)


def test_contiguous_waste_on_long_tailed_traffic_is_in_the_quoted_range():
    reqs = sample_requests(300, max_len=4096)
    w = allocation_waste(reqs, 4096, block_size=16)
    assert 0.6 <= w["contiguous"].wasted_fraction <= 0.9
    assert w["paged"].wasted_fraction < 0.04  # only the last block's slack
    bigger = allocation_waste(reqs, 4096, block_size=256)["paged"].wasted_fraction
    assert w["paged"].wasted_fraction < bigger


def test_contiguous_serving_by_hand():
    # Budget for exactly 2 max-length reservations; 3 requests of 4 output tokens each.
    res = simulate_serving([Request(1, 4)] * 3, capacity_slots=2 * 16, max_len=16)
    assert res.max_running == 2 and res.steps == 8 and res.preemptions == 0


def test_paged_fits_more_requests_in_the_same_budget():
    reqs = sample_requests(300, max_len=4096)
    budget = 16 * 4096
    contiguous = simulate_serving(reqs, budget, 4096)
    paged = simulate_serving(reqs, budget, 4096, block_size=16)
    assert contiguous.max_running == 16
    assert paged.mean_running > 2 * contiguous.mean_running
    assert paged.steps < contiguous.steps


def test_paged_preempts_when_blocks_run_out():
    # Two requests each growing to 16 tokens, budget 24 slots in blocks of 4: both start, one is evicted.
    res = simulate_serving([Request(4, 12), Request(4, 12)], capacity_slots=24, max_len=16, block_size=4)
    assert res.preemptions >= 1 and res.max_running == 2


def test_bad_inputs():
    with pytest.raises(CourseError, match="cannot hold one request"):
        simulate_serving([Request(1, 1)], capacity_slots=8, max_len=16)
    with pytest.raises(CourseError, match="does not fit"):
        allocation_waste([Request(30, 10)], max_len=32)
    with pytest.raises(CourseError, match="block_size"):
        allocation_waste([Request(1, 1)], 32, block_size=0)
    with pytest.raises(CourseError, match="n must be"):
        sample_requests(0)
