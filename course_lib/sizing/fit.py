"""The largest context, and the most sequences, that fit a memory budget: one search for every calculator.

Derived in notebook 01 (memory math) and used in notebooks 03 and 07. "Will it
fit?", the KV-cache explorer, the GPU chooser, the 24 GB solver and
`llm-course fit` all answer "how far can I go?" here, for the engine the
estimate names, against the same budget and the same total, so two panels
never disagree on the same inputs. The search also gives llama-server its
default context (`engine_context`): its `--fit` shrinks the trained context
until 1 GiB stays free.
"""

from __future__ import annotations

from dataclasses import dataclass

from course_lib.errors import require_positive
from course_lib.sizing.catalogue import Device, get_device, list_models
from course_lib.sizing.engine_profiles import LLAMA_CPP
from course_lib.sizing.engines import get_profile
from course_lib.sizing.kv import LLAMA_CPP_CTX_PAD
from course_lib.sizing.memory import (DEFAULT_CONTEXT, DEFAULT_HEADROOM, MemoryEstimate, engine_budget_bytes,
                                      estimate, fits, on_device, resize)
from course_lib.units import GIB

# No model in the catalogue is trained past a million tokens; the search needs a ceiling.
MAX_SEARCH_CONTEXT = 1 << 20
MAX_SEARCH_SEQUENCES = 4096
# "What fits in 24 GB?": the course asks it of one card in every notebook. A "24 GB" card has 24 GiB
# (25.8 GB): that is what its engine sees, and vLLM's utilization is a share of it.
CARD_24GB = "RTX 4090"


def _largest(ok, hi: int) -> int:
    """The largest n in [1, hi] with ok(n), for ok true up to a point and false after; 0 if ok(1) is false."""
    if hi < 1 or not ok(1):
        return 0
    lo = 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _context_cap(est: MemoryEstimate, limit: int | None) -> int:
    return limit or (est.arch.max_context if est.arch and est.arch.max_context else MAX_SEARCH_CONTEXT)


def max_context(est: MemoryEstimate, device, headroom: float = DEFAULT_HEADROOM, limit: int | None = None) -> int:
    """Largest context per sequence (tokens, a multiple of 256) that fits at the estimate's concurrency.

    Capped at `limit`, else the model's trained context when known; 0 if not even 256 tokens fit.
    """
    est = on_device(est, device)
    steps = _largest(lambda k: fits(resize(est, n_ctx=LLAMA_CPP_CTX_PAD * k), device, headroom),
                     max(_context_cap(est, limit) // LLAMA_CPP_CTX_PAD, 1))
    return LLAMA_CPP_CTX_PAD * steps


def max_concurrency(est: MemoryEstimate, device, headroom: float = DEFAULT_HEADROOM,
                    limit: int = MAX_SEARCH_SEQUENCES) -> int:
    """Most sequences of the estimate's context that fit at once (0 if not one)."""
    est = on_device(est, device)
    return _largest(lambda n: fits(resize(est, concurrency=n), device, headroom), limit)


def engine_context(model_or_est, device=None, **estimate_kw) -> int:
    """The context the engine starts with when none is asked for, on `device`.

    llama-cpp-python: the course's 4,096 tokens. llama-server: the trained
    context, shrunk by `--fit` to leave `fit_margin` free on the device (never
    below `fit_min_ctx`). Ollama: 4K/32K/256K by the GPU's total memory, capped
    at the trained context. vLLM: the trained context (`max_model_len`).
    """
    est = model_or_est if isinstance(model_or_est, MemoryEstimate) else estimate(model_or_est, **estimate_kw)
    profile, trained = est.profile, est.arch.max_context or DEFAULT_CONTEXT
    wanted = profile.default("n_ctx") if "n_ctx" in profile.defaults else "model"
    device = get_device(device) if device is not None else None
    if wanted == "vram":
        memory = device.memory_bytes if device is not None and device.kind != "cpu" else 0
        return min(trained, 262144 if memory >= 47 * GIB else 32768 if memory >= 23 * GIB else 4096)
    if wanted == "fit":
        floor = profile.default("fit_min_ctx")
        if device is None or trained <= floor:
            return trained
        steps = _largest(lambda k: fits(resize(est, n_ctx=LLAMA_CPP_CTX_PAD * k), device),
                         trained // LLAMA_CPP_CTX_PAD)
        return max(floor, LLAMA_CPP_CTX_PAD * steps)
    if wanted == "model":
        return trained
    return int(wanted)


@dataclass(frozen=True)
class FitAnswer:
    """Everything a calculator shows about one setting on one device."""
    estimate: MemoryEstimate
    device: Device
    budget_bytes: int  # what the engine may take: the course's budget, or vLLM's utilization share
    fits: bool
    max_context: int  # at the estimate's concurrency
    max_concurrency: int  # at the estimate's context


def fit_answer(est: MemoryEstimate, device, headroom: float = DEFAULT_HEADROOM) -> FitAnswer:
    """Does `est` fit `device`, and how far could its context and concurrency go? (The calculators' one call.)"""
    device = get_device(device)
    est = on_device(est, device)
    return FitAnswer(est, device, engine_budget_bytes(est, device, headroom), fits(est, device, headroom),
                     max_context(est, device, headroom), max_concurrency(est, device, headroom))


def solve_budget(memory, models=None, quants=None, n_ctx: int = 8192, kv_type: str | None = None,
                 headroom: float = DEFAULT_HEADROOM, gpu: bool = True, engine=None,
                 engine_version: str | None = None) -> list[dict]:
    """Which catalogue models fit `memory` (a device, or bytes), with the largest context and concurrency for each.

    One row per model and quantization that fits at 1 x 4096 tokens in
    `engine` (default llama-cpp-python), largest model first: the longest
    context for one sequence, and how many `n_ctx`-token sequences fit at once.
    `quants` defaults to the engine's usual formats (GGUF Q4_K_M and Q8_0; for
    vLLM AWQ and FP8 checkpoints).
    """
    if isinstance(memory, (str, Device)):
        device = get_device(memory)
    else:
        require_positive("memory", memory)
        device = Device("budget", "gpu" if gpu else "cpu", int(memory), 1.0)
    profile = get_profile(engine, engine_version)
    quants = quants or (("Q4_K_M", "Q8_0") if profile.backend == LLAMA_CPP else ("AWQ", "FP8"))
    rows = []
    for name in models or list_models():
        for quant in quants:
            # One conversation: the engine's own slots would make the question about four.
            est = estimate(name, quant, 4096, 1, kv_type, engine=profile, device=device)
            if not fits(est, device, headroom):
                continue
            trained = est.arch.max_context
            # Past the trained context a model is not usable: no concurrency figure then.
            conc = None if trained and n_ctx > trained else max_concurrency(resize(est, n_ctx=n_ctx), device, headroom)
            rows.append({"model": name, "quant": quant, "params": est.params, "weights_bytes": est.weights_bytes,
                         "max_context": max_context(est, device, headroom), f"max_concurrency_at_{n_ctx}": conc,
                         "engine": profile.label})
    return sorted(rows, key=lambda r: (-r["params"], r["quant"]))
