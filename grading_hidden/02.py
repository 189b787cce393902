"""Hidden tests, chapter 02."""

import gguf
import numpy as np
from gguf import quants

from course_lib.grading.testing import expect_close, expect_equal, question

Q8_0 = gguf.GGMLQuantizationType.Q8_0


@question("q1")
def negative_extreme_sets_the_scale(absmax_int8):
    x = np.array([-4.0, 1.0, 2.0, 0.5], dtype=np.float32)
    q, scale = absmax_int8(x)
    expect_close(scale, 4.0 / 127, what="scale")
    expect_equal(int(np.asarray(q)[0]), -127, "code of the extreme")


@question("q2")
def q8_0_all_zero_block_and_outliers(quantize_q8_0):
    x = np.random.default_rng(7).standard_normal(3 * 32).astype(np.float32)
    x[32:64] = 0.0  # an all-zero block: its scale is 0 and must not divide by zero
    x[70] = 40.0    # an outlier blows up one block's scale only
    expect_equal(np.asarray(quantize_q8_0(x)), quants.quantize(x, Q8_0), "Q8_0 bytes")


@question("q3")
def q8_0_round_trip_of_a_large_tensor(dequantize_q8_0):
    x = (np.random.default_rng(8).standard_normal(64 * 32) * 0.02).astype(np.float32)
    data = quants.quantize(x, Q8_0)
    expect_close(np.asarray(dequantize_q8_0(data), dtype=np.float32), quants.dequantize(data, Q8_0), rel=0, abs_=0)


@question("q4")
def bits_per_weight_of_k_quants(bits_per_weight):
    for name in ("Q6_K", "Q2_K", "Q4_0", "F16"):
        block, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[name]]
        expect_close(bits_per_weight(name), 8 * type_size / block, what=name)
