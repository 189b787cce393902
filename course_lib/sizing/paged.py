"""Contiguous vs paged KV-cache allocation, simulated on a stream of requests.

Derived in notebook 03 (KV-cache growth). A server that pre-allocates each
request's cache to the maximum length reserves memory the request never uses;
a paged allocator (vLLM's PagedAttention) hands out blocks of `block_size`
tokens as the sequence grows, so only the last, partly filled block is slack.
The simulator counts token slots (multiply by `kv_bytes_per_token` for bytes)
and runs a simple first-come-first-served batch scheduler to see how many
requests a memory budget holds at once under each scheme.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from course_lib.errors import CourseError, require_positive


@dataclass(frozen=True)
class Request:
    prompt_tokens: int
    output_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.output_tokens


def sample_requests(n: int, *, max_len: int = 4096, prompt_median: float = 300, prompt_sigma: float = 1.0,
                    output_median: float = 200, output_sigma: float = 0.8, seed: int = 0) -> list[Request]:
    """`n` requests with long-tailed (log-normal) prompt and output lengths, as chat traffic has.

    Most requests are short and a few are long, which is exactly what makes
    reserving `max_len` for each one wasteful. Lengths are clipped so every
    request fits in `max_len`. Same seed, same requests.
    """
    import numpy as np

    require_positive("n", n)
    require_positive("max_len", max_len)
    if max_len < 2:
        raise CourseError("max_len must leave room for at least one prompt and one output token")
    rng = np.random.default_rng(seed)
    prompts = np.clip(np.rint(rng.lognormal(np.log(prompt_median), prompt_sigma, n)), 1, max_len - 1).astype(int)
    outputs = np.rint(rng.lognormal(np.log(output_median), output_sigma, n)).astype(int)
    outputs = np.clip(outputs, 1, max_len - prompts)
    return [Request(int(p), int(o)) for p, o in zip(prompts, outputs)]


def _blocks(tokens: int, block_size: int) -> int:
    return -(-tokens // block_size)


@dataclass(frozen=True)
class Waste:
    """Token slots reserved vs used, summed over every decode step of every request."""
    scheme: str
    allocated_slots: int
    used_slots: int

    @property
    def wasted_fraction(self) -> float:
        return 1 - self.used_slots / self.allocated_slots


def allocation_waste(requests: list[Request], max_len: int, block_size: int = 16) -> dict[str, Waste]:
    """Reserved vs used KV slots for contiguous pre-allocation and for paged blocks.

    Counted at every decode step (a request of prompt p holds p + t tokens after
    its t-th output token), so the figure is the share of cache memory that sat
    reserved but empty over the requests' lifetimes. Contiguous reserves
    `max_len` slots from the first step; paged holds whole blocks covering the
    tokens so far.
    """
    import numpy as np

    require_positive("max_len", max_len)
    require_positive("block_size", block_size)
    if not requests:
        raise CourseError("allocation_waste needs at least one request")
    used = contiguous = paged = 0
    for r in requests:
        if r.total_tokens > max_len:
            raise CourseError(f"a request of {r.total_tokens} tokens does not fit max_len={max_len}")
        lengths = np.arange(r.prompt_tokens + 1, r.total_tokens + 1, dtype=np.int64)
        used += int(lengths.sum())
        contiguous += max_len * len(lengths)
        paged += int((-(-lengths // block_size) * block_size).sum())
    return {"contiguous": Waste("contiguous", contiguous, used),
            "paged": Waste(f"paged (blocks of {block_size})", paged, used)}


@dataclass(frozen=True)
class ServingResult:
    scheme: str
    capacity_slots: int
    mean_running: float  # requests decoded together, averaged over steps
    max_running: int
    steps: int  # decode steps to finish every request (fewer = more throughput)
    preemptions: int  # paged only: requests evicted and recomputed when blocks ran out
    mean_used_fraction: float  # share of the budget holding real tokens, averaged over steps


def simulate_serving(requests: list[Request], capacity_slots: int, max_len: int,
                     block_size: int | None = None) -> ServingResult:
    """Serve `requests` first come, first served, with a KV budget of `capacity_slots` tokens.

    `block_size=None`: contiguous, every running request reserves `max_len`
    slots. Otherwise paged: a request is admitted when the blocks for its prompt
    are free and takes one more block each time it crosses a block boundary; if
    none is free the most recently admitted request is evicted (its blocks
    freed, recomputed later), as vLLM does.
    """
    require_positive("capacity_slots", capacity_slots)
    require_positive("max_len", max_len)
    if block_size is not None:
        require_positive("block_size", block_size)
    paged = block_size is not None
    unit = block_size if paged else max_len
    total_units = capacity_slots // unit
    if total_units < 1 or (paged and total_units * block_size < max_len) or (not paged and capacity_slots < max_len):
        raise CourseError(f"a budget of {capacity_slots} token slots cannot hold one request of max_len={max_len}")
    queue = deque(requests)
    running: list[list[int]] = []  # [prompt, output, generated, units held]
    free = total_units
    steps = preemptions = running_sum = max_running = 0
    used_sum = 0.0
    while queue or running:
        while queue:  # admit in arrival order while the next one fits
            r = queue[0]
            if r.total_tokens > max_len:
                raise CourseError(f"a request of {r.total_tokens} tokens does not fit max_len={max_len}")
            need = _blocks(r.prompt_tokens + 1, block_size) if paged else 1
            if need > free:
                break
            queue.popleft()
            free -= need
            running.append([r.prompt_tokens, r.output_tokens, 0, need])
        if not running:
            raise CourseError("the budget is too small to start the next request")
        steps += 1
        for seq in list(running):
            if not any(s is seq for s in running):  # evicted earlier in this step
                continue
            seq[2] += 1
            if paged:
                while _blocks(seq[0] + seq[2], block_size) > seq[3]:
                    if free:
                        free -= 1
                        seq[3] += 1
                        continue
                    victim = running[-1]
                    running.pop()
                    free += victim[3]
                    queue.appendleft(Request(victim[0], victim[1]))
                    preemptions += 1
                    if victim is seq:
                        break
        running_sum += len(running)
        max_running = max(max_running, len(running))
        used_sum += sum(s[0] + s[2] for s in running) / capacity_slots
        free += sum(s[3] for s in running if s[2] >= s[1])
        running = [s for s in running if s[2] < s[1]]
    name = f"paged (blocks of {block_size})" if paged else "contiguous"
    return ServingResult(name, capacity_slots, running_sum / steps, max_running, steps, preemptions, used_sum / steps)
