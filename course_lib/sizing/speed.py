"""How fast can decoding go? Bytes read per generated token, against memory bandwidth.

Derived in notebook 01 (memory math) and measured in notebook 04: each
decoding step reads every active weight once and each sequence's KV cache, so
bandwidth / bytes per step bounds tokens per second.
"""

from __future__ import annotations

from course_lib.sizing.architecture import ModelArch
from course_lib.sizing.catalogue import get_device


def bytes_read_per_token(arch: ModelArch, sizes: list[tuple[str, int]]) -> int:
    """Weight bytes one decoding step reads, from (tensor name, bytes) pairs.

    An untied token embedding is only looked up (one row per token), not read
    whole; a tied one is read whole as the output matrix. A mixture of experts
    reads only its active experts.
    """
    untied = any(name == "output.weight" for name, _ in sizes)
    total = 0
    for name, nbytes in sizes:
        if name == "token_embd.weight" and untied:
            continue
        if "_exps" in name and arch.n_experts:
            nbytes = nbytes * arch.n_experts_active // arch.n_experts
        total += nbytes
    return total


def decode_tok_s_bound(est, device) -> float:
    """Upper bound on generated tokens/s, summed over sequences: bandwidth / bytes read per step.

    `est` is a `MemoryEstimate`. Each decoding step reads every active weight
    once and each sequence's whole KV cache (at full context, the worst case),
    and yields one token per sequence.
    """
    device = get_device(device)
    per_step = est.active_weights_bytes + est.sequences_kv_bytes
    return est.concurrency * device.bandwidth_bytes_per_s / per_step
