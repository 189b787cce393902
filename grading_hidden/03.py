"""Hidden tests, chapter 03."""

from course_lib.sizing import ModelArch
from course_lib.grading.testing import expect_equal, question
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
