"""Visible tests, chapter 01 (memory math): counted from architecture numbers, checked against published counts."""

import gguf

from course_lib.grading.testing import expect_equal, question
from course_lib.sizing import ModelArch, kv_cache_bytes

QUESTIONS = {"q1": "llama_params", "q2": "weight_bytes", "q3": "kv_cache_bytes_for", "q4": "fits_in_memory"}
RETURNS = {"llama_params": int, "weight_bytes": int, "kv_cache_bytes_for": int, "fits_in_memory": bool}


@question("q1")
def llama_2_7b_parameter_count(llama_params):
    # Meta's published count for Llama 2 7B (untied embeddings, full multi-head attention).
    expect_equal(llama_params(vocab=32000, d_model=4096, n_layers=32, d_ff=11008, n_heads=32, n_kv_heads=32),
                 6_738_415_616, "Llama 2 7B")


@question("q2")
def weight_bytes_follow_gguf_block_sizes(weight_bytes):
    n = 6_738_415_616
    for name in ("F16", "Q8_0", "Q4_0"):
        block, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[name]]
        expect_equal(weight_bytes(n, name), -(-n // block) * type_size, f"{name}")


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
