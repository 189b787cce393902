"""Hidden tests, chapter 01."""

import gguf

from course_lib.sizing import ModelArch
from course_lib.grading.testing import expect_equal, expect_one_of, question
from course_lib.sizing import kv_cache_bytes, estimate


@question("q1")
def llama_3_1_8b_grouped_query_attention(llama_params):
    expect_equal(llama_params(vocab=128256, d_model=4096, n_layers=32, d_ff=14336, n_heads=32, n_kv_heads=8),
                 8_030_261_248, "Llama 3.1 8B")


@question("q1")
def tied_embeddings_counted_once(llama_params):
    untied = llama_params(vocab=32000, d_model=2048, n_layers=2, d_ff=5632, n_heads=16, n_kv_heads=4)
    tied = llama_params(vocab=32000, d_model=2048, n_layers=2, d_ff=5632, n_heads=16, n_kv_heads=4,
                        tied_embeddings=True)
    expect_equal(untied - tied, 32000 * 2048, "tied minus untied")


@question("q2")
def fallbacks_of_every_k_quant_and_rows_no_block_divides(stored_tensor_bytes):
    from course_lib.gguf_file import tensor_bytes
    from course_lib.quant import ModelShape, tensor_type

    for row_length, n_rows, qtype in ((640, 640, "Q6_K"), (2880, 10, "Q2_K"), (1536, 7, "Q5_K"), (96, 96, "Q3_K"),
                                      (100, 64, "Q4_0"), (4096, 3, "F16"), (640, 2, "F32"), (3072, 5, "Q6_K")):
        stored = tensor_type("blk.0.attn_q.weight", (row_length, n_rows), qtype, ModelShape(n_layers=1))
        expect_equal(stored_tensor_bytes(row_length, n_rows, qtype), tensor_bytes(stored, row_length * n_rows),
                     f"{n_rows} rows of {row_length} asked as {qtype}")
    block, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType.Q8_0]
    expect_equal(stored_tensor_bytes(64, 1, "Q8_0"), 64 // block * type_size, "one short row")


@question("q3")
def grouped_query_attention_and_q8_cache(kv_cache_bytes_for):
    arch = ModelArch("llama-3.1-8b", n_layers=32, hidden_size=4096, n_heads=32, n_kv_heads=8, head_dim=128,
                     intermediate_size=14336, vocab_size=128256)
    expect_equal(kv_cache_bytes_for(n_layers=32, n_kv_heads=8, head_dim=128, n_ctx=32768),
                 kv_cache_bytes(arch, 32768), "Llama 3.1 8B at 32k, f16")
    expect_equal(kv_cache_bytes_for(n_layers=32, n_kv_heads=8, head_dim=128, n_ctx=8192, bytes_per_value=4),
                 kv_cache_bytes(arch, 8192, type_k="f32"), "f32 cache")


@question("q4")
def exact_boundary(fits_in_memory):
    expect_equal(bool(fits_in_memory(90, 100)), True, "exactly 90% of the device")
    expect_equal(bool(fits_in_memory(91, 100)), False, "just over 90%")
    expect_equal(bool(fits_in_memory(95, 100, headroom=0.05)), True, "5% headroom")


@question("q5")
def prediction_at_a_padded_context_and_a_small_micro_batch(predicted_reserved_bytes):
    from course_lib.runtime import model_path

    for n_ctx, n_ubatch in ((1000, 256), (4096, 64)):
        e = estimate(model_path(), n_ctx=n_ctx, n_ubatch=n_ubatch)
        expect_equal(predicted_reserved_bytes(n_ctx, n_ubatch),
                     e.kv_cache_bytes + e.compute_buffer_bytes + e.output_buffer_bytes, f"n_ctx {n_ctx}")


@question("q5")
def the_logits_rows_shrank(ubatch_reading):
    expect_one_of(ubatch_reading.value(), {"b"})
