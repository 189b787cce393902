"""The largest context, and the most sequences, that fit a memory budget: one search for every calculator.

Derived in notebook 01 (memory math) and used in notebooks 03 and 07. "Will it
fit?", the KV-cache explorer, the GPU chooser, the 24 GB solver and
`llm-course fit` all answer "how far can I go?" here, against the same
budget (`estimate.budget_bytes`) and the same total (weights + KV cache +
buffers), so two panels never disagree on the same inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

from course_lib.errors import require_positive
from course_lib.sizing.catalogue import Device, get_device, list_models
from course_lib.sizing.kv import LLAMA_CPP_CTX_PAD
from course_lib.sizing.memory import DEFAULT_HEADROOM, MemoryEstimate, budget_bytes, estimate, fits, resize

# No model in the catalogue is trained past a million tokens; the search needs a ceiling.
MAX_SEARCH_CONTEXT = 1 << 20
MAX_SEARCH_SEQUENCES = 4096


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


def max_context(est: MemoryEstimate, device, headroom: float = DEFAULT_HEADROOM, limit: int | None = None) -> int:
    """Largest context per sequence (tokens, a multiple of 256) that fits at the estimate's concurrency.

    Capped at `limit`, else the model's trained context when known; 0 if not even 256 tokens fit.
    """
    budget = budget_bytes(device, headroom)
    cap = limit or (est.arch.max_context if est.arch and est.arch.max_context else MAX_SEARCH_CONTEXT)
    steps = _largest(lambda k: resize(est, n_ctx=LLAMA_CPP_CTX_PAD * k).total_bytes <= budget,
                     max(cap // LLAMA_CPP_CTX_PAD, 1))
    return LLAMA_CPP_CTX_PAD * steps


def max_concurrency(est: MemoryEstimate, device, headroom: float = DEFAULT_HEADROOM,
                    limit: int = MAX_SEARCH_SEQUENCES) -> int:
    """Most sequences of the estimate's context that fit at once (0 if not one)."""
    budget = budget_bytes(device, headroom)
    return _largest(lambda n: resize(est, concurrency=n).total_bytes <= budget, limit)


@dataclass(frozen=True)
class FitAnswer:
    """Everything a calculator shows about one setting on one device."""
    estimate: MemoryEstimate
    device: Device
    budget_bytes: int
    fits: bool
    max_context: int  # at the estimate's concurrency
    max_concurrency: int  # at the estimate's context


def fit_answer(est: MemoryEstimate, device, headroom: float = DEFAULT_HEADROOM) -> FitAnswer:
    """Does `est` fit `device`, and how far could its context and concurrency go? (The calculators' one call.)"""
    device = get_device(device)
    return FitAnswer(est, device, budget_bytes(device, headroom), fits(est, device, headroom),
                     max_context(est, device, headroom), max_concurrency(est, device, headroom))


def solve_budget(memory_bytes: int, models=None, quants=("Q4_K_M", "Q8_0"), n_ctx: int = 8192,
                 kv_type: str = "f16", headroom: float = DEFAULT_HEADROOM, gpu: bool = True) -> list[dict]:
    """Which catalogue models fit `memory_bytes`, with the largest context and concurrency for each.

    One row per model and quantization that fits at 1 x 4096 tokens, largest model first:
    the longest context for one sequence, and how many `n_ctx`-token sequences fit at once.
    """
    require_positive("memory", memory_bytes)
    device = Device("budget", "gpu" if gpu else "cpu", int(memory_bytes), 1.0)
    rows = []
    for name in models or list_models():
        for quant in quants:
            est = estimate(name, quant, 4096, 1, kv_type)
            if not fits(est, device, headroom):
                continue
            trained = est.arch.max_context
            # Past the trained context a model is not usable: no concurrency figure then.
            conc = None if trained and n_ctx > trained else max_concurrency(resize(est, n_ctx=n_ctx), device, headroom)
            rows.append({"model": name, "quant": quant, "params": est.params, "weights_bytes": est.weights_bytes,
                         "max_context": max_context(est, device, headroom), f"max_concurrency_at_{n_ctx}": conc})
    return sorted(rows, key=lambda r: (-r["params"], r["quant"]))
