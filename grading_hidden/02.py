"""Hidden tests, chapter 02."""

import gguf
import numpy as np
from gguf import quants

from course_lib.grading.testing import expect_close, expect_equal, expect_one_of, question

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


@question("q5")
def prediction_for_other_types(predicted_file_bytes):
    import math

    from course_lib.gguf_file import read_gguf, tensor_bytes
    from course_lib.quant import plan
    from course_lib.runtime import model_path

    contents = read_gguf(model_path())
    for qtype in ("Q8_0", "Q4_K_M", "Q6_K"):
        sizes = [tensor_bytes(t.target_type, math.prod(t.shape)) for t in plan(contents, qtype)]
        expected = contents.data_offset + sum(-(-size // contents.alignment) * contents.alignment for size in sizes)
        expect_equal(predicted_file_bytes(qtype), expected, qtype)


@question("q5")
def the_tied_embedding_stays_8_bit(requant_reading):
    expect_one_of(requant_reading.value(), {"a"})


@question("q6")
def outliers_zeros_and_a_block_without_outlier(zeroed_by_outlier):
    from course_lib.quant import absmax_int8 as reference

    x = (np.random.default_rng(10).standard_normal(2048) * 0.05).astype(np.float32)
    x[100], x[1500] = -8.0, 0.5
    x[600:640] = 0.0  # weights already zero are not counted
    for block in (16, 128):
        codes, _ = reference(x, "block", block)
        expect_equal(zeroed_by_outlier(x, block), int(np.sum((codes.reshape(-1) == 0) & (x != 0))), f"{block}")
