"""Choosing a GPU: capacity first (does it fit?), then memory bandwidth (how fast can it decode?), then compute.

Derived in notebook 07 (choosing your setup), on notebook 01's estimator.
"""

from __future__ import annotations

from dataclasses import dataclass

from course_lib.errors import CourseError
from course_lib.sizing.catalogue import get_device, list_devices
from course_lib.sizing.engine_profiles import VLLM
from course_lib.sizing.engines import get_profile
from course_lib.sizing.memory import estimate, fits, on_device
from course_lib.sizing.speed import decode_tok_s_bound


@dataclass(frozen=True)
class DeviceChoice:
    device: str
    fits: bool
    memory_bytes: int
    need_bytes: int  # what the sequences need on this device (`MemoryEstimate.need_bytes`)
    bandwidth_bytes_per_s: float
    fp16_flops: float | None
    decode_tok_s_bound: float  # summed over the concurrent sequences; 0 when it does not fit


def rank_devices(model, quant: str | None = "Q4_K_M", n_ctx: int = 8192, concurrency: int | None = 1,
                 kv_type: str | None = None, devices=None, kind: str | None = "gpu", headroom: float = 0.10,
                 engine=None, engine_version: str | None = None) -> list[DeviceChoice]:
    """Devices in the order a buyer should weigh them: those that fit first, then by bandwidth, then compute.

    A slower card that holds the model beats a faster one that forces CPU
    offload (see `course_lib.choose.offload`), hence capacity before speed.
    `engine` (default llama-cpp-python) decides what "fits" means: vLLM's
    pool must hold the sequences, the others their total within their budget.
    """
    profile = get_profile(engine, engine_version)
    pool = [get_device(d) for d in devices] if devices else [d for d in list_devices() if kind in (None, d.kind)]
    if not pool:
        raise CourseError(f"no devices of kind {kind!r} in the catalogue")
    est = estimate(model, quant, n_ctx, concurrency, kv_type, engine=profile,
                   device=pool[0] if profile.backend == VLLM else None)
    rows = []
    for dev in pool:
        here = on_device(est, dev)
        ok = fits(here, dev, headroom)
        rows.append(DeviceChoice(dev.name, ok, dev.memory_bytes, here.need_bytes, dev.bandwidth_bytes_per_s,
                                 dev.fp16_flops, decode_tok_s_bound(here, dev) if ok else 0.0))
    return sorted(rows, key=lambda r: (not r.fits, -r.bandwidth_bytes_per_s, -(r.fp16_flops or 0), r.device))
