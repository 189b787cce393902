"""Visible tests, chapter 01 (memory math): counted from architecture numbers, checked against published counts,
llama.cpp's per-tensor rule (course_lib.quant) and the course's estimate against llama.cpp's own buffers."""

import functools

import gguf

from course_lib.gguf_file import tensor_bytes
from course_lib.grading.testing import expect_choice, expect_close, expect_equal, question
from course_lib.quant import ModelShape, tensor_type
from course_lib.sizing import ModelArch, estimate, kv_cache_bytes

QUESTIONS = {"q1": "llama_params", "q2": "stored_tensor_bytes", "q3": "kv_cache_bytes_for", "q4": "fits_in_memory",
             "q5": ("predicted_reserved_bytes", "measured_reserved_bytes", "ubatch_reading")}
RETURNS = {"llama_params": int, "stored_tensor_bytes": int, "kv_cache_bytes_for": int, "fits_in_memory": bool,
           "predicted_reserved_bytes": int, "measured_reserved_bytes": int, "ubatch_reading": str}
VALUES = ("ubatch_reading",)


@question("q1")
def llama_2_7b_parameter_count(llama_params):
    # Meta's published count for Llama 2 7B (untied embeddings, full multi-head attention).
    expect_equal(llama_params(vocab=32000, d_model=4096, n_layers=32, d_ff=11008, n_heads=32, n_kv_heads=32),
                 6_738_415_616, "Llama 2 7B")


def stored_bytes(row_length, n_rows, qtype):
    """What llama.cpp stores for a weight matrix asked to be `qtype` (its fallback included)."""
    stored = tensor_type("blk.0.attn_q.weight", (row_length, n_rows), qtype, ModelShape(n_layers=1))
    return tensor_bytes(stored, row_length * n_rows)


@question("q2")
def whole_blocks_when_the_block_divides_the_row(stored_tensor_bytes):
    block, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType.Q4_0]
    expect_equal(stored_tensor_bytes(4096, 11008, "Q4_0"), 4096 // block * type_size * 11008, "Q4_0, 4096-wide rows")


@question("q2")
def whole_blocks_and_the_k_quant_fallback(stored_tensor_bytes):
    for row_length, n_rows, qtype in ((4096, 4096, "Q4_K"), (4096, 512, "Q8_0"), (640, 2048, "Q4_K")):
        expect_equal(stored_tensor_bytes(row_length, n_rows, qtype), stored_bytes(row_length, n_rows, qtype),
                     f"{n_rows} rows of {row_length} asked as {qtype}")


@question("q3")
def kv_cache_of_llama_2_7b_at_4096(kv_cache_bytes_for):
    arch = ModelArch("llama-2-7b", n_layers=32, hidden_size=4096, n_heads=32, n_kv_heads=32, head_dim=128,
                     intermediate_size=11008, vocab_size=32000)
    expect_equal(kv_cache_bytes_for(n_layers=32, n_kv_heads=32, head_dim=128, n_ctx=4096),
                 kv_cache_bytes(arch, 4096), "f16 cache, 4096 tokens")


@question("q4")
def fits_with_headroom(fits_in_memory):
    gb = 10**9
    expect_equal(bool(fits_in_memory(20 * gb, 24 * gb)), True, "20 GB in 24 GB")
    expect_equal(bool(fits_in_memory(22 * gb, 24 * gb)), False, "22 GB in 24 GB with 10% headroom")


@functools.lru_cache(maxsize=None)
def reserved_estimate(n_ctx, n_ubatch):
    from course_lib.runtime import model_path

    e = estimate(model_path(), n_ctx=n_ctx, n_ubatch=n_ubatch)
    return e.kv_cache_bytes + e.compute_buffer_bytes + e.output_buffer_bytes


@functools.lru_cache(maxsize=None)
def reserved_here(n_ctx, n_ubatch):
    """The grader's own run: what llama.cpp reserves beside the weights, read from its log."""
    from course_lib.runtime import measure_context_memory, model_path

    buffers = measure_context_memory(model_path(), n_ctx=n_ctx, n_ubatch=n_ubatch)["buffers"]
    return buffers["kv"] + buffers["compute"] + buffers["output"]


@question("q5")
def prediction_is_the_estimate(predicted_reserved_bytes):
    for n_ctx, n_ubatch in ((2048, 512), (2048, 128)):
        expect_equal(predicted_reserved_bytes(n_ctx, n_ubatch), reserved_estimate(n_ctx, n_ubatch),
                     f"n_ctx {n_ctx}, n_ubatch {n_ubatch}")


@question("q5")
def measurement_is_what_llama_cpp_reserves(measured_reserved_bytes):
    # llama.cpp logs MiB with two decimals: the graders' own run, within 1%.
    expect_close(measured_reserved_bytes(2048, 128), reserved_here(2048, 128), rel=0.01,
                 what="n_ctx 2048, n_ubatch 128")


@question("q5")
def reading_is_one_of_the_choices(ubatch_reading):
    expect_choice(ubatch_reading.value(), "ubatch_reading")
