"""The engine's own buffers beside weights and KV cache: compute, output and the CUDA context.

Derived in notebook 01 (memory math), checked in notebooks 01 and 03 against
llama.cpp's own log. llama.cpp sizes its compute buffer by reserving the graph
of one worst-case micro-batch (n_ubatch tokens): the graph allocator reuses
memory between operations, so the buffer is the largest set of tensors alive
at once. Three stages compete:

* the logits, vocabulary x (rows of logits reserved) in F32. llama-cpp-python
  reserves a row for every token of the micro-batch (0.5 GiB for a 262k
  vocabulary at 512); llama-server only one per slot;
* attention: without flash attention the scores, heads x context x n_ubatch
  in F32, plus the mask; flash attention computes them tile by tile and never
  stores them, so only the mask (F16) and the activations remain;
* the feed-forward activations (gate, up and their product) with the
  hidden states around them.

The output buffer holds one row of logits per sequence; on a GPU the CUDA
runtime takes memory before any tensor.
"""

from __future__ import annotations

from dataclasses import dataclass

from course_lib.runtime.engine import N_UBATCH
from course_lib.sizing.architecture import ModelArch
from course_lib.units import MIB

F32 = 4
F16 = 2
# The CUDA runtime, cuBLAS and kernels take memory before any tensor: a few hundred MiB on
# current drivers. An assumption, labelled as one wherever it is shown.
CUDA_CONTEXT_BYTES = 400 * MIB
# Per micro-batch token the graph also holds token ids, positions, output ids and cache-write
# indices (int32/int64): a handful of 4-byte values, counted as this many.
INPUT_VALUES_PER_TOKEN = 8


@dataclass(frozen=True)
class GraphWorkspace:
    """Activations a llama.cpp build keeps alive besides the scores, in F32 values per micro-batch token.

    Measured, not derived: the graph allocator's peak depends on the order and
    sizes of the graph's tensors, which change between llama.cpp builds and
    model families. Each term multiplies the hidden size `h`, the query width
    `q` (heads x head size), the key/value width `kv` or the feed-forward width
    `ff`; `tests/test_engines_llama_cpp.py` re-measures them on the course's
    two models, one of each family.
    """
    build: str
    attention: tuple[int, int, int]  # (h, q, kv) beside the scores, flash attention off
    feed_forward: tuple[int, int, int, int]  # (ff, h, q, kv) at the feed-forward peak
    sandwich_attention: tuple[int, int, int]  # the same for Gemma 2/3, which also normalise after each block
    sandwich_feed_forward: tuple[int, int, int, int]
    # Before llama.cpp PR #23764 (2026-05-29) the mask was an F32 input cast to F16 for flash attention:
    # both are alive at the cast, with this many hidden-size rows beside them (0: the mask is F16 already).
    mask_cast_hidden: int = 0


# llama-cpp-python 0.3.36's bundled llama.cpp, measured on Gemma 3 270M (Gemma family) and SmolLM2 135M
# (Llama family) with llama.cpp's own log, and on synthetic GGUFs of both families varying h, q and ff.
LLAMA_CPP_PYTHON_GRAPH = GraphWorkspace("llama-cpp-python 0.3.36", attention=(3, 2, 2), feed_forward=(3, 3, 1, 0),
                                        sandwich_attention=(3, 3, 0), sandwich_feed_forward=(3, 3, 1, 0))
# llama.cpp b11549 (the xllamacpp 2026.10.11549 wheel) keeps one more hidden state at each peak for the
# Llama family; for Gemma two more beside the scores and a K/V-sized tensor at the feed-forward peak.
LLAMA_SERVER_GRAPH = GraphWorkspace("llama.cpp b11549", attention=(4, 2, 2), feed_forward=(3, 4, 1, 0),
                                    sandwich_attention=(5, 3, 0), sandwich_feed_forward=(3, 3, 1, 1))
# llama.cpp b9538 (xllamacpp 2026.6.9538) measures as llama-cpp-python's bundled build; b9294 (xllamacpp
# 2026.5.9294) too beside the scores and the MLP, but it casts the flash-attention mask (five hidden
# rows alive beside the two masks, measured on SmolLM2: Gemma's logits hide that stage at every context).
LLAMA_CPP_B9538_GRAPH = GraphWorkspace("llama.cpp b9538", attention=(3, 2, 2), feed_forward=(3, 3, 1, 0),
                                       sandwich_attention=(3, 3, 0), sandwich_feed_forward=(3, 3, 1, 0))
LLAMA_CPP_B9294_GRAPH = GraphWorkspace("llama.cpp b9294", attention=(3, 2, 2), feed_forward=(3, 3, 1, 0),
                                       sandwich_attention=(3, 3, 0), sandwich_feed_forward=(3, 3, 1, 0),
                                       mask_cast_hidden=5)


def layer_widths(arch: ModelArch) -> tuple[int, int, int, int]:
    """(h, q, kv, ff) of one layer: hidden, query width, key/value width, feed-forward width per token."""
    h = arch.hidden_size
    if arch.uses_mla:
        q = arch.n_heads * (arch.qk_nope_head_dim + arch.qk_rope_head_dim)
        kv = arch.kv_lora_rank + arch.qk_rope_head_dim
    else:
        q, kv = arch.n_heads * arch.head_dim, arch.n_kv_heads * arch.head_dim
    if arch.is_moe:
        ff = (arch.moe_intermediate_size or arch.intermediate_size) * (arch.n_experts_active + arch.n_shared_experts)
    else:
        ff = arch.intermediate_size
    return h, q, kv, ff


def _is_sandwich(arch: ModelArch) -> bool:
    """Gemma 2/3 normalise after attention and after the MLP too: their graph keeps more beside the scores."""
    extra = arch.extra or {}
    return extra.get("norms_per_layer") == 4 or extra.get("gguf_architecture") in ("gemma2", "gemma3")


def compute_buffer_bytes(arch: ModelArch, n_ctx: int, n_ubatch: int = N_UBATCH, flash_attn: bool = False, *,
                         n_swa: int | None = None, n_outputs: int | None = None,
                         graph: GraphWorkspace = LLAMA_CPP_PYTHON_GRAPH) -> int:
    """llama.cpp's compute buffer for one worst-case micro-batch.

    `n_ctx` is the KV cells one stream holds (what attention reads: a
    sequence's own cells, or all of them in a unified cache); `n_swa` the cells
    of its sliding-window cache (default: as many as `n_ctx`, the full-size SWA
    cache); `n_outputs` the rows of logits reserved (default: the whole
    micro-batch, as llama-cpp-python does). Checked against llama.cpp's
    "compute buffer size" log line for the course's models.
    """
    ub = int(n_ubatch)
    h, q, kv, ff = layer_widths(arch)
    n_swa = (n_ctx if n_swa is None else n_swa) if arch.sliding_window and arch.swa_layers else 0
    rows = ub if n_outputs is None else min(int(n_outputs), ub)
    logits = F32 * rows * (arch.vocab_size + 2 * h)
    # The masks are graph inputs: alive through every layer. F32 for the scores, F16 for flash attention.
    cells = ub * (n_ctx + n_swa)
    masks = cells * (F16 if flash_attn else F32)
    sandwich = _is_sandwich(arch)
    a_h, a_q, a_kv = graph.sandwich_attention if sandwich else graph.attention
    f_ff, f_h, f_q, f_kv = graph.sandwich_feed_forward if sandwich else graph.feed_forward
    feed_forward = f_ff * ff + f_h * h + f_q * q + f_kv * kv
    attention = 0 if flash_attn else arch.n_heads * n_ctx + a_h * h + a_q * q + a_kv * kv
    layers = masks + F32 * ub * (max(attention, feed_forward) + INPUT_VALUES_PER_TOKEN)
    if flash_attn and graph.mask_cast_hidden:  # the F32 mask and its F16 cast, together, once
        layers = max(layers, cells * (F32 + F16) + F32 * ub * (graph.mask_cast_hidden * h + INPUT_VALUES_PER_TOKEN))
    return int(max(logits, layers))


def output_buffer_bytes(arch: ModelArch, n_seq: int = 1) -> int:
    """llama.cpp's output buffer: one row of F32 logits per sequence."""
    return F32 * arch.vocab_size * n_seq
