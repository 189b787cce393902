"""Visible tests, chapter 03 (KV-cache growth): checked against course_lib.sizing (kv, memory), first principles and
llama.cpp's own KV allocation (course_lib.runtime.measure_kv_allocation)."""

import functools

from course_lib.grading.testing import expect_choice, expect_equal, question
from course_lib.sizing import ModelArch
from course_lib.sizing import kv_bytes_per_token as reference_per_token

QUESTIONS = {"q1": "kv_bytes_per_token", "q2": "largest_context", "q3": "swa_kv_bytes",
             "q4": ("predicted_kv_bytes", "measured_kv_bytes", "kv_reading"), "q5": "longest_context_in_budget"}
RETURNS = {"kv_bytes_per_token": int, "largest_context": int, "swa_kv_bytes": int, "predicted_kv_bytes": int,
           "measured_kv_bytes": int, "kv_reading": str, "longest_context_in_budget": int}
VALUES = ("kv_reading",)


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


@functools.lru_cache(maxsize=None)
def kv_estimate(n_ctx):
    """The course's estimate for the course model in llama-cpp-python (its default settings)."""
    from course_lib.runtime import model_path
    from course_lib.sizing import estimate

    return estimate(model_path(), n_ctx=n_ctx).kv_cache_bytes


@functools.lru_cache(maxsize=None)
def kv_here(n_ctx):
    """The grader's own run: the KV cache llama.cpp allocates, read from its report."""
    from course_lib.runtime import measure_kv_allocation, model_path

    return measure_kv_allocation(model_path(), n_ctx=n_ctx).total_bytes


@question("q4")
def prediction_is_the_estimate(predicted_kv_bytes):
    for n_ctx in (4096, 8192):
        expect_equal(predicted_kv_bytes(n_ctx), kv_estimate(n_ctx), f"n_ctx {n_ctx}")


@question("q4")
def measurement_is_what_llama_cpp_allocates(measured_kv_bytes):
    expect_equal(measured_kv_bytes(8192), kv_here(8192), "n_ctx 8192")


@question("q4")
def reading_is_one_of_the_choices(kv_reading):
    expect_choice(kv_reading.value(), "kv_reading")


def longest_reference(budget, n_global, n_local, window, per_layer_token):
    """The largest n with swa_kv_bytes(n) <= budget, found by bisection on the cache's formula."""
    def cache(n):
        return (n_global * n + n_local * min(n, window)) * per_layer_token

    low, high = 0, 1
    while cache(high) <= budget:
        low, high = high, 2 * high
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if cache(middle) <= budget else (low, middle)
    return low


@question("q5")
def gemma_3_270m_in_a_budget(longest_context_in_budget):
    per_layer_token = 2 * 1 * 256 * 2
    for budget in (100 * 2**20, 2**30):
        expect_equal(longest_context_in_budget(budget, 3, 15, 512, per_layer_token),
                     longest_reference(budget, 3, 15, 512, per_layer_token), f"{budget:,} bytes")
