"""A discrete-event model of a decode server: serial, static and continuous batching.

Derived in notebook 06 (benchmarking and concurrency). It explains what a 2-core
CPU cannot show: on a GPU, one decode step reads all the weights once whatever
the batch size, so batching many sequences costs little more than one.

Step time is a roofline: the slower of memory traffic (weights once per step,
plus each sequence's KV cache) over bandwidth and arithmetic (2 FLOPs per
parameter per token, prompt tokens included) over FLOP/s. It is an upper bound
on speed: real engines reach a fraction of the bandwidth.

Policies:
* "serial": one request at a time (what a server without batching does).
* "static": wait until `max_batch` requests are queued or `max_wait_s` has passed
  since the first one, then run that batch until its longest answer ends;
  newcomers wait for the whole batch.
* "continuous": at every step, free slots are filled from the queue at once.

With `record_steps=True` the result keeps every step (who prefilled, who decoded, which
finished rows a static batch still carried): `course_lib.diagrams.batching` draws the
timelines from them.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace

from course_lib.bench.stats import percentile
from course_lib.bench.workload import arrival_times
from course_lib.errors import CourseError, require_positive

POLICIES = ("serial", "static", "continuous")


@dataclass(frozen=True)
class Roofline:
    """Step time of one decode/prefill step of a batch, from bytes moved and FLOPs done."""

    weights_bytes: int
    kv_bytes_per_token: int
    params: int
    bandwidth_bytes_per_s: float
    flops_per_s: float
    overhead_s: float = 0.0  # fixed per-step cost (kernel launches, scheduling)

    def __post_init__(self):
        for name in ("weights_bytes", "params", "bandwidth_bytes_per_s", "flops_per_s"):
            require_positive(name, getattr(self, name))

    def step_time(self, n_decode: int, kv_tokens: int, prefill_tokens: int = 0) -> float:
        memory = (self.weights_bytes + self.kv_bytes_per_token * kv_tokens) / self.bandwidth_bytes_per_s
        compute = 2 * self.params * (n_decode + prefill_tokens) / self.flops_per_s
        return max(memory, compute) + self.overhead_s

    def single_stream_tok_s(self, context: int = 0) -> float:
        return 1.0 / self.step_time(1, context)


def a100_llama8b(device: str | None = None, model: str = "llama-3.1-8b") -> Roofline:
    """The roofline of an 8B model in FP16 on an A100 80GB (or on `device`), both from the course catalogue.

    Weights: the parameter count of notebook 01 at 2 bytes each; KV cache: notebook 03's bytes per token.
    """
    from course_lib.sizing.catalogue import get_device, get_model
    from course_lib.sizing.kv import kv_bytes_per_token
    from course_lib.sizing.params import param_count

    dev, arch = get_device(device or "A100 80GB"), get_model(model)
    if not dev.fp16_flops:
        raise CourseError(f"{dev.name} has no FP16 FLOP/s figure in the catalogue: pass a Roofline yourself")
    params = param_count(arch)
    return Roofline(2 * params, kv_bytes_per_token(arch), params, dev.bandwidth_bytes_per_s, dev.fp16_flops)


def calibrated_roofline(weights_bytes: int, params: int, single_step_s: float, batch_step_s: float,
                        batch: int) -> Roofline:
    """A roofline fitted to two measured decode steps: one sequence, and `batch` sequences together.

    The single step fixes the effective bandwidth (weights read once per step); the batched one the
    effective compute (2 FLOPs per parameter per sequence). Where batching cost nothing measurable,
    compute is set to keep the batched step at the single step's time. Where the batched step cost
    more than `batch` single steps (a machine too busy to batch), no roofline passes through both:
    compute is fitted to the batched step, and the single step comes out slower than measured.
    """
    for name, value in (("single_step_s", single_step_s), ("batch_step_s", batch_step_s), ("batch", batch)):
        require_positive(name, value)
    per_sequence_s = max(batch_step_s, single_step_s) / batch
    return Roofline(weights_bytes, 0, params, weights_bytes / single_step_s, 2 * params / per_sequence_s)


@dataclass
class SimRequest:
    id: int
    arrival_s: float
    prompt_tokens: int
    output_tokens: int
    start_s: float = math.nan
    first_token_s: float = math.nan
    end_s: float = math.nan
    generated: int = 0

    @property
    def ttft_s(self) -> float:
        return self.first_token_s - self.arrival_s

    @property
    def latency_s(self) -> float:
        return self.end_s - self.arrival_s

    @property
    def decode_tok_s(self) -> float:
        """The speed this user sees once its answer streams: tokens 2..n over their time."""
        span = self.end_s - self.first_token_s
        return (self.output_tokens - 1) / span if span > 0 else math.nan

    @property
    def e2e_tok_s(self) -> float:
        """Output tokens over the whole wait, queue included: what a naive "tok/s each" measures."""
        return self.output_tokens / self.latency_s if self.latency_s > 0 else math.nan


def workload(n: int, rate_per_s: float | None = None, prompt_tokens: int = 200, output_tokens: int = 200,
             spread: float = 0.0, seed: int = 0, arrivals: str = "poisson") -> list[SimRequest]:
    """`n` requests: all at t=0 if `rate_per_s` is None, else arriving as the harness's open loop sends them.

    Lengths are the given means; with `spread` > 0 they are drawn uniformly within +-spread of them.
    """
    require_positive("n", n)
    times = [0.0] * n if rate_per_s is None else arrival_times(n, rate_per_s, arrivals, seed)
    rng = random.Random(seed)

    def draw(mean):
        return max(1, round(mean * (1 + spread * (2 * rng.random() - 1))))

    return [SimRequest(i, t, draw(prompt_tokens), draw(output_tokens)) for i, t in enumerate(times)]


@dataclass(frozen=True)
class SimStep:
    """One step of the simulated server: the requests it prefilled, decoded, or carried finished (static)."""

    start_s: float
    end_s: float
    prefill: tuple[int, ...]
    decode: tuple[int, ...]
    padding: tuple[int, ...] = ()


@dataclass
class SimResult:
    policy: str
    max_batch: int
    max_wait_s: float
    requests: list[SimRequest] = field(repr=False)
    makespan_s: float = 0.0
    steps: int = 0
    timeline: list[SimStep] = field(default_factory=list, repr=False)  # with record_steps=True

    @property
    def throughput_tok_s(self) -> float:
        return sum(r.output_tokens for r in self.requests) / self.makespan_s

    def p(self, what: str, q: float) -> float:
        return percentile([getattr(r, what) for r in self.requests], q)

    def summary(self) -> dict:
        return {"policy": self.policy, "max_batch": self.max_batch, "max_wait_s": self.max_wait_s,
                "throughput_tok_s": self.throughput_tok_s, "per_request_tok_s_p50": self.p("decode_tok_s", 50),
                "e2e_tok_s_mean": sum(r.e2e_tok_s for r in self.requests) / len(self.requests),
                "ttft_p50_s": self.p("ttft_s", 50), "latency_p50_s": self.p("latency_s", 50),
                "latency_p99_s": self.p("latency_s", 99)}


def simulate(requests: list[SimRequest], roofline: Roofline, policy: str = "continuous", max_batch: int = 32,
             max_wait_s: float = 0.0, record_steps: bool = False) -> SimResult:
    """Run the requests through one server policy; returns per-request times and the makespan."""
    if policy not in POLICIES:
        raise CourseError(f"unknown batching policy {policy!r}: choose one of {', '.join(POLICIES)}")
    require_positive("max_batch", max_batch)
    require_positive("max_wait_s", max_wait_s, allow_zero=True)
    if policy == "serial":
        max_batch = 1
    reqs = [replace(r, start_s=math.nan, first_token_s=math.nan, end_s=math.nan, generated=0) for r in requests]
    pending = sorted(reqs, key=lambda r: r.arrival_s)  # not yet arrived
    queue: list[SimRequest] = []  # arrived, waiting for a slot
    active: list[SimRequest] = []
    t, steps, nxt = 0.0, 0, 0
    batch_size_static = 0
    batch_static: list[SimRequest] = []
    timeline: list[SimStep] = []

    def arrive(until):
        nonlocal nxt
        while nxt < len(pending) and pending[nxt].arrival_s <= until:
            queue.append(pending[nxt])
            nxt += 1

    while nxt < len(pending) or queue or active:
        arrive(t)
        if not active:
            if not queue:
                t = pending[nxt].arrival_s
                continue
            if policy == "static" and len(queue) < max_batch and nxt < len(pending):
                deadline = queue[0].arrival_s + max_wait_s
                if t < deadline:  # wait for the batch to fill, or for the deadline
                    t = min(deadline, pending[nxt].arrival_s) if pending[nxt].arrival_s <= deadline else deadline
                    continue
        joining = []
        if policy == "continuous" or not active:
            while queue and len(active) + len(joining) < max_batch:
                joining.append(queue.pop(0))
            if policy == "static" and joining:
                batch_size_static, batch_static = len(joining), list(joining)
        # A static batch keeps computing padded rows for finished sequences until the longest ends.
        n_rows = batch_size_static if policy == "static" else len(active) + len(joining)
        kv = sum(r.prompt_tokens + r.generated for r in active) + sum(r.prompt_tokens for r in joining)
        dt = roofline.step_time(n_rows - len(joining), kv, sum(r.prompt_tokens for r in joining))
        for r in joining:
            r.start_s = t
        if record_steps:
            padding = tuple(r.id for r in batch_static if not math.isnan(r.end_s)) if policy == "static" else ()
            timeline.append(SimStep(t, t + dt, tuple(r.id for r in joining), tuple(r.id for r in active), padding))
        t += dt
        steps += 1
        for r in joining:  # prefill produces the first token
            r.first_token_s, r.generated = t, 1
        for r in active:
            r.generated += 1
            if r.generated == 1:
                r.first_token_s = t
        active.extend(joining)
        for r in [r for r in active if r.generated >= r.output_tokens]:
            r.end_s = t
        active = [r for r in active if r.generated < r.output_tokens]
    return SimResult(
        policy,
        max_batch,
        max_wait_s,
        reqs,
        makespan_s=max(r.end_s for r in reqs) - min(r.arrival_s for r in reqs),
        steps=steps,
        timeline=timeline,
    )


def concurrency_table(roofline: Roofline, levels=(1, 5, 10, 20), output_tokens: int = 256,
                      prompt_tokens: int = 128, max_batch: int = 64) -> list[dict]:
    """A popular guide's table, simulated: N requests sent at once, serial vs continuous batching."""
    rows = []
    for n in levels:
        reqs = workload(n, None, prompt_tokens, output_tokens)
        row = {"concurrency": n}
        for policy in ("serial", "continuous"):
            s = simulate(reqs, roofline, policy, max_batch).summary()
            row[f"{policy}_streaming_tok_s"] = s["per_request_tok_s_p50"]
            row[f"{policy}_per_request_tok_s"] = s["e2e_tok_s_mean"]
            row[f"{policy}_aggregate_tok_s"] = s["throughput_tok_s"]
        rows.append(row)
    return rows


def frontier(roofline: Roofline, rate_per_s: float, n: int = 400, batches=(1, 2, 4, 8, 16, 32, 64),
             max_wait_s: float = 0.05, policy: str = "static", prompt_tokens: int = 200,
             output_tokens: int = 200, spread: float = 0.5, seed: int = 0) -> list[dict]:
    """Throughput vs p99 latency as the batch size grows, under Poisson arrivals at `rate_per_s`."""
    reqs = workload(n, rate_per_s, prompt_tokens, output_tokens, spread, seed)
    return [simulate(reqs, roofline, policy, b, max_wait_s).summary() for b in batches]


def rate_sweep(roofline: Roofline, rates, policies=("serial", "continuous"), n: int = 200, max_batch: int = 32,
               prompt_tokens: int = 200, output_tokens: int = 200, spread: float = 0.0, arrivals: str = "poisson",
               seed: int = 0) -> list[dict]:
    """Throughput and latency as the offered request rate grows: the open-loop sweep of `llm-course bench`."""
    rows = []
    for rate in rates:
        reqs = workload(n, rate, prompt_tokens, output_tokens, spread, seed, arrivals)
        rows += [{"request_rate": rate, **simulate(reqs, roofline, policy, max_batch).summary()} for policy in policies]
    return rows
