"""Hidden tests, chapter 03."""

import functools

from course_lib.sizing import ModelArch
from course_lib.grading.testing import expect_equal, expect_one_of, question
from course_lib.sizing import kv_bytes_per_token as reference_per_token


@question("q1")
def per_token_qwen_2_5_7b_and_q8(kv_bytes_per_token):
    arch = ModelArch("qwen2.5-7b", n_layers=28, hidden_size=3584, n_heads=28, n_kv_heads=4, head_dim=128,
                     intermediate_size=18944, vocab_size=152064)
    expect_equal(kv_bytes_per_token(n_layers=28, n_kv_heads=4, head_dim=128), reference_per_token(arch), "f16")
    expect_equal(kv_bytes_per_token(n_layers=28, n_kv_heads=4, head_dim=128, bytes_per_value=4),
                 reference_per_token(arch, "f32"), "f32")


@question("q2")
def nothing_fits_and_overhead(largest_context):
    expect_equal(largest_context(4 * 10**9, 5 * 10**9, 1000), 0, "weights alone exceed the budget")
    budget, weights, per_token, overhead = 24 * 10**9, 15_000_000_000, 163_840, 800_000_000
    n = largest_context(budget, weights, per_token, overhead_bytes=overhead)
    expect_equal(weights + overhead + n * per_token <= budget < weights + overhead + (n + 1) * per_token, True,
                 f"context {n!r} with overhead")


@question("q3")
def window_boundaries(swa_kv_bytes):
    for n_ctx in (511, 512, 513, 32768):
        expected = 5 * n_ctx * 4096 + 25 * min(n_ctx, 1024) * 4096
        expect_equal(swa_kv_bytes(n_ctx, n_global_layers=5, n_local_layers=25, window=1024, bytes_per_layer_token=4096),
                     expected, f"n_ctx={n_ctx}")


@functools.lru_cache(maxsize=None)
def kv_at(n_ctx):
    from course_lib.runtime import model_path
    from course_lib.sizing import estimate

    return estimate(model_path(), n_ctx=n_ctx).kv_cache_bytes


@question("q4")
def prediction_pads_the_context(predicted_kv_bytes):
    for n_ctx in (3000, 32768):
        expect_equal(predicted_kv_bytes(n_ctx), kv_at(n_ctx), f"n_ctx {n_ctx}")


@question("q4")
def full_size_sliding_window_cache(kv_reading):
    expect_one_of(kv_reading.value(), {"a"})


@question("q5")
def budgets_inside_the_window_and_none(longest_context_in_budget):
    def cache(n, g, loc, w, b):
        return (g * n + loc * min(n, w)) * b

    cases = ((3 * 1024 * 500, 1, 2, 1024, 1024), (10, 1, 1, 64, 64), (26 * 256 * 1024, 5, 21, 1024, 256),
             (7 * 4096 * 333 + 4095, 1, 6, 4096, 1))
    for budget, g, loc, w, b in cases:
        n = longest_context_in_budget(budget, g, loc, w, b)
        expect_equal(cache(n, g, loc, w, b) <= budget < cache(n + 1, g, loc, w, b), True,
                     f"{n!r} is the longest context in {budget:,} bytes")
