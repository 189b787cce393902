"""The engine's own buffers beside weights and KV cache: compute, output and the CUDA context.

Derived in notebook 01 (memory math). llama.cpp's compute buffer is sized for
the largest stage of one micro-batch's graph (for small models the logits:
n_ubatch x vocabulary x 4 bytes, 0.5 GiB for a 262k vocabulary at 512); its
output buffer holds one row of logits per sequence; on a GPU the CUDA runtime
takes memory before any tensor.
"""

from __future__ import annotations

from course_lib.runtime.engine import N_UBATCH
from course_lib.sizing.architecture import ModelArch
from course_lib.units import MIB

F32 = 4
# The CUDA runtime, cuBLAS and kernels take memory before any tensor: a few hundred MiB on
# current drivers. An assumption, labelled as one wherever it is shown.
CUDA_CONTEXT_BYTES = 400 * MIB


def compute_buffer_bytes(arch: ModelArch, n_ctx: int, n_ubatch: int = N_UBATCH, flash_attn: bool = False) -> int:
    """llama.cpp's compute buffer: the largest stage of one micro-batch's graph, in F32.

    The graph allocator reuses memory between stages, so the buffer is the peak
    stage: the logits (vocabulary x n_ubatch plus the two hidden-state tensors
    feeding them), the attention scores (heads x context x n_ubatch, unless flash
    attention tiles them) or the MLP activations. Checked against llama.cpp's
    "compute buffer size" log line for the course's Gemma model.
    """
    h = arch.hidden_size
    logits = n_ubatch * (arch.vocab_size + 2 * h)
    attention = 0 if flash_attn else n_ubatch * arch.n_heads * n_ctx + 3 * n_ubatch * h
    ff = arch.moe_intermediate_size * max(arch.n_experts_active, 1) if arch.is_moe else arch.intermediate_size
    mlp = n_ubatch * (2 * ff + 2 * h)
    return F32 * max(logits, attention, mlp)


def output_buffer_bytes(arch: ModelArch, n_seq: int = 1) -> int:
    """llama.cpp's output buffer: one row of F32 logits per sequence."""
    return F32 * arch.vocab_size * n_seq
