"""Capacity of a class: one shared inference server and the learners' own kernels, planned with the course's math.

Derived in notebook 07 (choosing your setup) for instructors; `llm-course class plan`
and the class-size calculator ask it. The question: a class of N learners, a share
of them active at once, one machine serving a model to all of them.

* Memory: the server holds the weights once and a KV cache slot per active
  learner (notebooks 01 and 03: `sizing.estimate` for the named engine, with
  `-np N` slots of the learner's context). `max_concurrency` says how many
  slots fit; more learners than that queue for a slot, or need more servers.
* Latency: every active learner sends a request at once (the instructor says
  "run this cell"), and notebook 06's batching simulator plays that burst on the
  machine's roofline (bandwidth and FLOP/s, scaled by `efficiency`, 1 = the
  bound). The verdict is the slowest learner's pace: output tokens over the whole
  wait, against `INTERACTIVE_TOK_S`.
* The learners' kernels: each learner runs the course's notebooks in a kernel of
  their own; their measured peaks (`data/notebook_peaks.json`, written by
  `tools/measure_notebooks.py --json`) size each learner's memory and CPU
  (`learner_resources`, which `llm-course class deploy` writes into the hub's
  configuration).
* Otherwise: the catalogue's GPUs, each with the fewest servers that keep every
  learner comfortable, and what renting or buying them costs
  (`data/gpu_prices.json`, dated assumptions with their sources).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from course_lib.bench.batching import Roofline, simulate, workload
from course_lib.choose.offload import INTERACTIVE_TOK_S
from course_lib.errors import CourseError, require_fraction, require_positive
from course_lib.sizing.catalogue import Device, get_device, list_devices
from course_lib.sizing.fit import max_concurrency
from course_lib.sizing.memory import DEFAULT_CONTEXT, MemoryEstimate, estimate, fits, on_device
from course_lib.sizing.params import count_params
from course_lib.units import MIB

# One exercise question with its few-shot scaffold, and a paragraph of answer (an assumption; change it).
PROMPT_TOKENS = 200
OUTPUT_TOKENS = 200
CLASS_ENGINE = "llama-server"  # llama.cpp's server batches the class's requests (notebook 06)
# The single-user Jupyter server beside each learner's kernel. tests/browser/test_hub_class.py measures it
# under a real hub (about 160 MiB) and fails if it ever outgrows this allowance.
JUPYTER_SERVER_BYTES = 256 * MIB
# Each learner's memory is rounded up to a whole multiple of this, so the hub's configuration reads cleanly.
MEMORY_STEP = 64 * MIB


@dataclass(frozen=True)
class NotebookPeak:
    notebook: str
    seconds: float
    peak_bytes: int  # the kernel and the processes it starts (servers), resident
    cpu_seconds: float

    @property
    def cores_busy(self) -> float:
        return self.cpu_seconds / self.seconds if self.seconds else 0.0


@lru_cache(maxsize=1)
def notebook_peaks() -> tuple[dict, tuple[NotebookPeak, ...]]:
    """(how and where they were measured, each notebook's figures) from `data/notebook_peaks.json`."""
    data = json.loads(resources.files("course_lib").joinpath("data", "notebook_peaks.json").read_text())
    rows = tuple(NotebookPeak(r["notebook"], r["seconds"], r["peak_bytes"], r["cpu_seconds"])
                 for r in data["notebooks"] if r["status"] == "ok")
    return data["measured"], rows


def seconds(s: float) -> str:
    """A wait, to the precision that matters: 3 ms, 0.04 s, 1.8 s, 16 s (never '0.00 s')."""
    if s < 0.01:
        return f"{s * 1000:.1g} ms" if s * 1000 < 1 else f"{s * 1000:.0f} ms"
    return f"{s:.2f} s" if s < 1 else f"{s:.1f} s" if s < 10 else f"{s:.0f} s"


def _round_up(n: float, step: int = MEMORY_STEP) -> int:
    return int(math.ceil(n / step) * step)


@dataclass(frozen=True)
class LearnerResources:
    """One learner's server (Jupyter + kernel + what the notebooks start), from the measured notebook peaks."""
    mem_guarantee_bytes: int  # the median notebook's peak, plus the Jupyter server
    mem_limit_bytes: int  # the heaviest notebook's peak, plus the Jupyter server
    cpu_guarantee: float  # cores a running notebook keeps busy, median over the notebooks
    cpu_limit: float  # the cores the notebooks were measured (and sized) on
    heaviest: str
    measured: dict = field(compare=False)


def learner_resources() -> LearnerResources:
    measured, peaks = notebook_peaks()
    if not peaks:
        raise CourseError("data/notebook_peaks.json holds no successful measurement: run "
                          "`tools/measure_notebooks.py --json` again")
    by_peak = sorted(peaks, key=lambda p: p.peak_bytes)
    busy = sorted(p.cores_busy for p in peaks)
    return LearnerResources(
        mem_guarantee_bytes=_round_up(by_peak[len(by_peak) // 2].peak_bytes + JUPYTER_SERVER_BYTES),
        mem_limit_bytes=_round_up(by_peak[-1].peak_bytes + JUPYTER_SERVER_BYTES),
        cpu_guarantee=math.ceil(busy[len(busy) // 2] * 10) / 10, cpu_limit=float(measured["usable_cores"]),
        heaviest=by_peak[-1].notebook, measured=measured)


@dataclass(frozen=True)
class ClassLoad:
    learners: int
    active_share: float = 1.0  # the share running a cell at the same moment (1: the instructor says "run it now")
    prompt_tokens: int = PROMPT_TOKENS
    output_tokens: int = OUTPUT_TOKENS

    def __post_init__(self):
        require_positive("learners", self.learners)
        require_fraction("active share", self.active_share)
        require_positive("prompt tokens", self.prompt_tokens)
        require_positive("output tokens", self.output_tokens)

    @property
    def active(self) -> int:
        return max(1, math.ceil(self.learners * self.active_share - 1e-9))


def class_device(name: str | None = None, memory_gb: float | None = None, bandwidth_gb_s: float | None = None,
                 tflops: float | None = None, kind: str = "gpu") -> Device:
    """A catalogue device by name, or one described by its memory (GB), bandwidth (GB/s) and FP16 TFLOP/s."""
    if name is not None:
        return get_device(name)
    if memory_gb is None or bandwidth_gb_s is None:
        raise CourseError("name a device from the catalogue, or give its memory (GB) and bandwidth (GB/s)")
    require_positive("memory (GB)", memory_gb)
    require_positive("bandwidth (GB/s)", bandwidth_gb_s)
    if kind not in ("gpu", "cpu", "apple"):
        raise CourseError(f"kind must be gpu, cpu or apple, got {kind!r}")
    flops = None if tflops is None else require_positive("TFLOP/s", tflops) * 1e12
    return Device(f"{memory_gb:g} GB, {bandwidth_gb_s:g} GB/s {kind}", kind, int(memory_gb * 1e9),
                  bandwidth_gb_s * 1e9, flops, "described by the user")


def calibrated_device(est: MemoryEstimate, decode_step_s: float, bandwidth_bytes_per_s: float, memory_bytes: int,
                      name: str = "this machine (measured)") -> Device:
    """A device whose roofline reproduces one measured single-stream decode step of `est`'s model.

    Reading the weights takes bytes / bandwidth (a measured bandwidth,
    `runtime.measure_memory_bandwidth`). A slower measured step is arithmetic:
    the FLOP/s that explain it are 2 x active parameters / step (a small CPU).
    A faster one means the engine reads less than the bound assumes: the
    bandwidth that explains it is used instead.
    """
    require_positive("decode step (s)", decode_step_s)
    require_positive("bandwidth", bandwidth_bytes_per_s)
    reading_s = est.active_weights_bytes / bandwidth_bytes_per_s
    if decode_step_s > reading_s:
        flops = 2 * count_params(est.arch).active / decode_step_s
        return Device(name, "cpu", int(memory_bytes), bandwidth_bytes_per_s, flops,
                      f"measured: one decode step of {decode_step_s * 1000:.1f} ms is arithmetic-bound")
    return Device(name, "cpu", int(memory_bytes), est.active_weights_bytes / decode_step_s, None,
                  f"measured: one decode step of {decode_step_s * 1000:.1f} ms")


def policy_of(engine: str) -> str:
    """llama-cpp-python's server answers one request at a time; the others batch continuously (notebook 06)."""
    return "serial" if engine == "llama-cpp-python" else "continuous"


@dataclass(frozen=True)
class Latency:
    """What the learners of one server see when all of them send a request at once."""
    learners: int
    slots: int
    ttft_p50_s: float
    ttft_max_s: float
    answer_p50_s: float
    answer_max_s: float
    slowest_tok_s: float  # output tokens over the whole wait, queue included, for the last learner served
    aggregate_tok_s: float

    @property
    def comfortable(self) -> bool:
        """Every answer is complete within the time it takes to read (queueing included): reading speed kept."""
        return self.slowest_tok_s >= INTERACTIVE_TOK_S


def class_latency(est: MemoryEstimate, device: Device, learners: int, slots: int, policy: str,
                  prompt_tokens: int = PROMPT_TOKENS, output_tokens: int = OUTPUT_TOKENS,
                  efficiency: float = 1.0) -> Latency:
    """The batching simulator on `device`'s roofline: `learners` requests at once, `slots` decoded together."""
    require_fraction("efficiency", efficiency)
    flops = device.fp16_flops * efficiency if device.fp16_flops else math.inf  # unknown: memory-bound only
    roofline = Roofline(est.active_weights_bytes, est.kv_bytes_per_token, count_params(est.arch).active,
                        device.bandwidth_bytes_per_s * efficiency, flops)
    result = simulate(workload(learners, None, prompt_tokens, output_tokens), roofline, policy, max_batch=slots)
    answers = [r.latency_s for r in result.requests]
    ttfts = [r.ttft_s for r in result.requests]
    return Latency(learners, slots, result.p("ttft_s", 50), max(ttfts), result.p("latency_s", 50), max(answers),
                   output_tokens / max(answers), result.throughput_tok_s)


def _server(model, quant, n_ctx: int, engine: str, device: Device) -> tuple[MemoryEstimate, int]:
    """The server's estimate for one learner's slot on `device`, and the most slots that fit (0: not even one)."""
    one = estimate(model, quant, n_ctx, concurrency=1, engine=engine, device=device)
    if policy_of(engine) == "serial":
        return one, int(fits(one, device))
    return one, max_concurrency(one, device)


def _latency_for(est: MemoryEstimate, device: Device, max_slots: int, learners: int, engine: str, load: ClassLoad,
                 efficiency: float) -> Latency:
    """One server's `learners` at once: as many decode together as it has slots, the others queue."""
    return class_latency(est, device, learners, min(learners, max_slots), policy_of(engine), load.prompt_tokens,
                         load.output_tokens, efficiency)


def _servers_for(est: MemoryEstimate, device: Device, max_slots: int, load: ClassLoad, engine: str,
                 efficiency: float) -> tuple[int, Latency] | None:
    """The fewest servers on `device` that keep every active learner comfortable, with one server's latency."""
    def comfortable(k: int) -> bool:
        return _latency_for(est, device, max_slots, k, engine, load, efficiency).comfortable

    if max_slots < 1 or not comfortable(1):
        return None
    lo, hi = 1, load.active  # the most learners one server keeps comfortable: a binary search (fewer is faster)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if comfortable(mid) else (lo, mid - 1)
    servers = math.ceil(load.active / lo)
    return servers, _latency_for(est, device, max_slots, math.ceil(load.active / servers), engine, load, efficiency)


@lru_cache(maxsize=1)
def gpu_prices() -> dict[str, dict]:
    data = json.loads(resources.files("course_lib").joinpath("data", "gpu_prices.json").read_text())
    return {row["name"]: row for row in data["devices"]}


@dataclass(frozen=True)
class Option:
    device: str
    servers: int
    latency: Latency  # of one server, with its share of the learners
    rent_usd_per_hour: float | None  # all the servers together
    buy_usd: float | None

    @property
    def buying_pays_after_hours(self) -> float | None:
        """Hours of class after which buying costs less than renting (power and upkeep aside)."""
        if self.rent_usd_per_hour and self.buy_usd:
            return self.buy_usd / self.rent_usd_per_hour
        return None


def buy_or_rent(model, quant: str | None, n_ctx: int, engine: str, load: ClassLoad, efficiency: float = 1.0,
                devices=None) -> list[Option]:
    """Every catalogue GPU that can serve the class, with how many it takes and what that costs; cheapest first."""
    options = []
    for device in [get_device(d) for d in devices] if devices else [d for d in list_devices() if d.kind == "gpu"]:
        est, max_slots = _server(model, quant, n_ctx, engine, device)
        found = _servers_for(est, device, max_slots, load, engine, efficiency)
        if found is None:
            continue
        servers, latency = found
        price = gpu_prices().get(device.name, {})
        rent, buy = price.get("rent_usd_per_hour"), price.get("buy_usd")
        options.append(Option(device.name, servers, latency, rent * servers if rent else None,
                              buy * servers if buy else None))
    return sorted(options, key=lambda o: (o.rent_usd_per_hour is None, o.rent_usd_per_hour or 0, o.servers,
                                          o.device))


@dataclass(frozen=True)
class ClassPlan:
    device: Device
    engine: str
    load: ClassLoad
    n_ctx: int
    efficiency: float
    estimate: MemoryEstimate  # the server with its slots (at most what fits)
    max_slots: int  # learners' slots one server holds on this device (0: the model does not fit)
    servers: int  # fewest servers of this device that keep every learner comfortable (else: one per max_slots)
    latency: Latency | None  # one server's learners, all at once (None: nothing fits)
    learner: LearnerResources
    options: list[Option] | None  # None: not searched

    @property
    def one_server(self) -> bool:
        """One server on this device carries the class, every learner comfortable."""
        return self.servers == 1 and self.latency is not None and self.latency.comfortable

    @property
    def kernels_ram_bytes(self) -> int:
        return self.load.active * self.learner.mem_limit_bytes

    def verdict(self) -> str:
        """The plan in one paragraph: every figure in it is one of the plan's values."""
        from course_lib.units import format_bytes

        load, lat = self.load, self.latency
        who = f"{load.learners} learners, {load.active} at once"
        if lat is None:
            head = f"{who}: the model does not fit one {self.device.name}, not even for one learner"
        else:
            where = f"one {self.device.name}" if self.servers == 1 else f"{self.servers} x {self.device.name}"
            together = "one at a time" if lat.slots == 1 else f"{lat.slots} decode together"
            queue = f", {lat.learners - lat.slots} queue" if lat.learners > lat.slots else ""
            quant = "its GGUF's own types" if self.estimate.quant == "file" else self.estimate.quant
            reading = f"{load.output_tokens / INTERACTIVE_TOK_S:g} s to read at {INTERACTIVE_TOK_S:g} tok/s"
            head = (f"{who}: {where} ({self.engine}, {self.estimate.model} in {quant}, "
                    f"{format_bytes(self.estimate.total_bytes)} per server; {lat.learners} learner"
                    f"{'s' if lat.learners > 1 else ''} each, "
                    f"{together}{queue}); the last learner's first token after {seconds(lat.ttft_max_s)}, the "
                    f"whole {load.output_tokens}-token answer after {seconds(lat.answer_max_s)}"
                    f"{' at best' if self.efficiency == 1 else ''}: "
                    f"{'within' if lat.comfortable else 'longer than'} the {reading}")
        kernels = (f"their own kernels need up to {format_bytes(self.kernels_ram_bytes)} of RAM and "
                   f"{load.active * self.learner.cpu_guarantee:g}-{load.active * self.learner.cpu_limit:g} cores "
                   "on the hub")
        best = self.options[0] if self.options else None
        if self.one_server or self.options is None:
            other = ""
        elif best is None:
            other = "no GPU in the catalogue keeps every learner comfortable: a smaller model or fewer at once"
        else:
            cost = f" (${best.rent_usd_per_hour:,.2f}/hour rented)" if best.rent_usd_per_hour else ""
            other = f"cheapest that does: {best.servers} x {best.device}{cost}"
        return "; ".join(part for part in (head, kernels, other) if part)


def plan_class(device, model="gemma-3-270m", quant: str | None = None, n_ctx: int = DEFAULT_CONTEXT,
               engine: str = CLASS_ENGINE, load: ClassLoad | None = None, efficiency: float = 1.0,
               with_options: bool = True) -> ClassPlan:
    """Does one `engine` server on `device` carry the class, what does each learner wait, and what else would."""
    device = get_device(device)
    load = load or ClassLoad(30)
    require_positive("context", n_ctx)
    require_fraction("efficiency", efficiency)
    one, max_slots = _server(model, quant, n_ctx, engine, device)
    if max_slots == 0:
        est, servers, latency = on_device(one, device), 0, None
    else:
        found = _servers_for(one, device, max_slots, load, engine, efficiency)
        # Too slow even with a server each: say so with as many servers as the learners' slots need.
        servers = found[0] if found else math.ceil(load.active / max_slots)
        latency = found[1] if found else _latency_for(one, device, max_slots, math.ceil(load.active / servers),
                                                      engine, load, efficiency)
        est = estimate(model, quant, n_ctx, concurrency=latency.slots, engine=engine, device=device)
    options = buy_or_rent(model, quant, n_ctx, engine, load, efficiency) if with_options else None
    return ClassPlan(device, engine, load, n_ctx, efficiency, est, max_slots, servers, latency, learner_resources(),
                     options)
