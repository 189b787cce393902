"""The batching simulator: roofline arithmetic, and the orderings the course claims."""

import pytest

from course_lib.bench import (POLICIES, Roofline, a100_llama8b, calibrated_roofline, concurrency_table, frontier,
                              rate_sweep, simulate, workload)
from course_lib.errors import CourseError


def test_roofline_step_time_is_the_slower_of_memory_and_compute():
    r = Roofline(weights_bytes=1000, kv_bytes_per_token=10, params=100, bandwidth_bytes_per_s=100.0,
                 flops_per_s=1000.0)
    assert r.step_time(1, 0) == pytest.approx(10.0)            # memory: 1000 B / 100 B/s
    assert r.step_time(1, 50) == pytest.approx(15.0)           # + 500 B of KV
    assert r.step_time(0, 0, prefill_tokens=100) == pytest.approx(20.0)  # compute: 2*100*100 / 1000
    with pytest.raises(CourseError):
        Roofline(0, 1, 1, 1.0, 1.0)


def test_a100_8b_single_stream_bound_is_bandwidth_over_weight_bytes():
    r = a100_llama8b()
    # Llama 3.1 8B's published count at FP16; 32 layers x 8 KV heads x 128 x (K and V) x 2 bytes per token
    assert r.weights_bytes == 2 * 8_030_261_248 and r.kv_bytes_per_token == 32 * 8 * 128 * 2 * 2
    assert (r.bandwidth_bytes_per_s, r.flops_per_s) == (2.039e12, 312e12)  # the A100 80GB SXM datasheet
    assert r.single_stream_tok_s() == pytest.approx(r.bandwidth_bytes_per_s / r.weights_bytes)


def test_serial_degrades_per_request_continuous_keeps_it():
    rows = concurrency_table(a100_llama8b(), levels=(1, 5, 20), output_tokens=64, prompt_tokens=32)
    one, five, twenty = rows
    assert one["serial_per_request_tok_s"] == pytest.approx(one["continuous_per_request_tok_s"])
    # Serial: the aggregate stays flat, what each user gets shrinks with the queue.
    assert twenty["serial_aggregate_tok_s"] == pytest.approx(one["serial_aggregate_tok_s"], rel=0.02)
    assert twenty["serial_per_request_tok_s"] < 0.2 * one["serial_per_request_tok_s"]
    # Continuous batching: per request almost unchanged, aggregate close to N times.
    assert twenty["continuous_per_request_tok_s"] > 0.8 * one["continuous_per_request_tok_s"]
    assert twenty["continuous_aggregate_tok_s"] > 15 * one["continuous_aggregate_tok_s"]
    assert five["continuous_aggregate_tok_s"] < twenty["continuous_aggregate_tok_s"]


def test_static_batch_waits_for_its_longest_member():
    r = Roofline(1000, 0, 1, 1000.0, 1e12)  # every step takes exactly 1 s
    reqs = workload(2, None, prompt_tokens=1, output_tokens=1)
    reqs[0].output_tokens, reqs[1].output_tokens = 2, 10
    late = workload(1, None, 1, 1)[0]
    late.id, late.arrival_s = 2, 0.5
    static = simulate(reqs + [late], r, "static", max_batch=2)
    cont = simulate(reqs + [late], r, "continuous", max_batch=2)
    assert static.requests[2].first_token_s == pytest.approx(11.0)  # after the 10-token answer
    assert cont.requests[2].first_token_s == pytest.approx(3.0)     # joins when the 2-token answer frees a slot
    assert static.requests[1].end_s == cont.requests[1].end_s == pytest.approx(10.0)


def test_frontier_throughput_grows_with_batch_size():
    points = frontier(a100_llama8b(), rate_per_s=8.0, n=120, batches=(1, 4, 16))
    throughputs = [p["throughput_tok_s"] for p in points]
    assert throughputs == sorted(throughputs)
    with pytest.raises(CourseError, match="policy"):
        simulate(workload(1), a100_llama8b(), "magic")


def test_recorded_steps_account_for_every_token():
    """Each request is prefilled once (its first token) and decoded once per further token; no step over max_batch."""
    reqs = workload(6, rate_per_s=150.0, prompt_tokens=64, output_tokens=6, spread=0.6, seed=4)
    for policy in POLICIES:
        run = simulate(reqs, a100_llama8b(), policy, max_batch=3, max_wait_s=0.004, record_steps=True)
        assert len(run.timeline) == run.steps
        for r in run.requests:
            assert sum(r.id in s.prefill for s in run.timeline) == 1
            assert sum(r.id in s.decode for s in run.timeline) == r.output_tokens - 1
            assert all(s.start_s >= r.end_s for s in run.timeline if r.id in s.padding)
        assert all(len(s.prefill) + len(s.decode) + len(s.padding) <= (1 if policy == "serial" else 3)
                   for s in run.timeline)
        assert all(a.end_s <= b.start_s + 1e-12 for a, b in zip(run.timeline, run.timeline[1:]))
        assert (policy == "static") == any(s.padding for s in run.timeline)
    assert simulate(reqs, a100_llama8b(), "continuous").timeline == []   # recorded only when asked


def test_simulated_arrivals_are_the_harness_arrivals():
    from course_lib.bench import arrival_times

    assert [r.arrival_s for r in workload(20, 3.0, seed=5)] == arrival_times(20, 3.0, "poisson", seed=5)
    assert [r.arrival_s for r in workload(3, 2.0, arrivals="constant")] == [0.0, 0.5, 1.0]


def test_rate_sweep_saturates_a_serial_server_first():
    rows = rate_sweep(a100_llama8b(), rates=(0.2, 2.0, 8.0), n=120, prompt_tokens=100, output_tokens=100)
    serial = {r["request_rate"]: r for r in rows if r["policy"] == "serial"}
    cont = {r["request_rate"]: r for r in rows if r["policy"] == "continuous"}
    capacity = a100_llama8b().single_stream_tok_s()               # one sequence per step, at best
    assert serial[8.0]["throughput_tok_s"] < 1.01 * capacity < cont[8.0]["throughput_tok_s"]
    assert serial[8.0]["latency_p50_s"] > 10 * serial[0.2]["latency_p50_s"]   # the queue explodes
    assert cont[8.0]["latency_p50_s"] < 3 * cont[0.2]["latency_p50_s"]


def test_batching_timelines_draws_three_labelled_panels():
    import matplotlib

    matplotlib.use("Agg")
    from course_lib.diagrams import batching_timelines

    fig = batching_timelines()
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert [t.split(":")[0] for t in titles] == ["Serial", "Static batching", "Continuous batching"]
    assert all(ax.get_xlabel() == "" for ax in fig.axes[:-1]) and "ms" in fig.axes[-1].get_xlabel()
    assert all(ax.get_ylabel() == "request" for ax in fig.axes) and fig._suptitle.get_text()
    done = [float(t.split("all done at ")[1].split(" ms")[0]) for t in titles]
    assert done[2] <= done[1] < done[0]     # continuous finishes first, serial last, on this example


def test_a_roofline_calibrated_on_two_steps_reproduces_them():
    cpu = calibrated_roofline(weights_bytes=250_000_000, params=270_000_000, single_step_s=0.025,
                              batch_step_s=0.08, batch=4)
    assert cpu.step_time(1, 0) == pytest.approx(0.025)       # bandwidth-bound alone
    assert cpu.step_time(4, 0) == pytest.approx(0.08)        # compute-bound at 4
    free = calibrated_roofline(250_000_000, 270_000_000, 0.025, 0.02, 4)   # batching cost nothing measurable
    assert free.step_time(4, 0) == pytest.approx(0.025)
    busy = calibrated_roofline(250_000_000, 270_000_000, 0.025, 0.2, 4)    # 4 sequences cost 8 single steps
    assert busy.step_time(4, 0) == pytest.approx(0.2) and busy.step_time(1, 0) == pytest.approx(0.05)
    with pytest.raises(CourseError):
        calibrated_roofline(1, 1, 0.0, 1.0, 4)
