"""Visible tests, chapter 03 (KV-cache growth): checked against course_lib.sizing.kv and first principles."""

from course_lib.grading.testing import expect_equal, question
from course_lib.sizing import ModelArch
from course_lib.sizing import kv_bytes_per_token as reference_per_token

QUESTIONS = {"q1": "kv_bytes_per_token", "q2": "largest_context", "q3": "swa_kv_bytes"}
RETURNS = {"kv_bytes_per_token": int, "largest_context": int, "swa_kv_bytes": int}


@question("q1")
def per_token_llama_3_1_8b(kv_bytes_per_token):
    arch = ModelArch("llama-3.1-8b", n_layers=32, hidden_size=4096, n_heads=32, n_kv_heads=8, head_dim=128,
                     intermediate_size=14336, vocab_size=128256)
    expect_equal(kv_bytes_per_token(n_layers=32, n_kv_heads=8, head_dim=128), reference_per_token(arch), "f16")


@question("q2")
def largest_context_is_the_last_that_fits(largest_context):
    budget, weights, per_token = 8 * 10**9, 4_920_000_000, 131_072
    n = largest_context(budget, weights, per_token)
    expect_equal(weights + n * per_token <= budget and weights + (n + 1) * per_token > budget, True,
                 f"context {n!r} is the largest that fits")


@question("q3")
def gemma_3_270m_swa_cache(swa_kv_bytes):
    # 3 global + 15 sliding-window layers, window 512, 1 KV head of 256 for K and for V in f16.
    per_layer_token = 2 * 1 * 256 * 2
    for n_ctx in (256, 4096):
        expected = 3 * n_ctx * per_layer_token + 15 * min(n_ctx, 512) * per_layer_token
        expect_equal(swa_kv_bytes(n_ctx, n_global_layers=3, n_local_layers=15, window=512,
                                  bytes_per_layer_token=per_layer_token), expected, f"n_ctx={n_ctx}")
