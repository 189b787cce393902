"""Hidden tests, chapter 01."""

import gguf

from course_lib.sizing import ModelArch
from course_lib.grading.testing import expect_equal, question
from course_lib.sizing import kv_cache_bytes


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
def partial_last_block_and_other_types(weight_bytes):
    n = 1_000_003  # not a multiple of any block size: the last block is stored whole
    for name in ("F32", "Q8_0", "Q4_K", "Q6_K"):
        block, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[name]]
        expect_equal(weight_bytes(n, name), -(-n // block) * type_size, name)


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
