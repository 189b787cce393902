"""Visible tests, chapter 02 (quantization from scratch): checked against the `gguf` package's reference quantizer."""

import gguf
import numpy as np
from gguf import quants

from course_lib.grading.testing import expect_close, expect_equal, expect_true, question

QUESTIONS = {"q1": "absmax_int8", "q2": "quantize_q8_0", "q3": "dequantize_q8_0", "q4": "bits_per_weight"}
RETURNS = {"absmax_int8": (np.ndarray, float), "quantize_q8_0": np.ndarray, "dequantize_q8_0": np.ndarray,
           "bits_per_weight": float}
Q8_0 = gguf.GGMLQuantizationType.Q8_0


def _weights(n, seed=0):
    return np.random.default_rng(seed).standard_normal(n).astype(np.float32)


@question("q1")
def absmax_scale_and_codes(absmax_int8):
    x = _weights(1000)
    q, scale = absmax_int8(x)
    q = np.asarray(q)
    expect_equal(str(q.dtype), "int8", "dtype of the codes")
    expected_scale = float(np.abs(x).max()) / 127
    expect_close(scale, expected_scale, rel=1e-6, what="scale")
    expect_equal(q, np.round(x / expected_scale).astype(np.int8), "codes")


@question("q1")
def absmax_error_is_at_most_half_a_step(absmax_int8):
    x = _weights(1000, seed=1) * 3
    q, scale = absmax_int8(x)
    error = np.abs(np.asarray(q, dtype=np.float32) * scale - x).max()
    expect_true(error <= scale / 2 + 1e-6, f"round-trip error {error:.4g} exceeds half a step ({scale / 2:.4g})")


@question("q2")
def q8_0_bytes_match_gguf(quantize_q8_0):
    x = _weights(4 * 32)
    got = np.asarray(quantize_q8_0(x))
    expect_equal(str(got.dtype), "uint8", "dtype")
    expect_equal(got, quants.quantize(x, Q8_0), "Q8_0 bytes")


@question("q3")
def q8_0_dequantizes_like_gguf(dequantize_q8_0):
    x = _weights(8 * 32, seed=2)
    data = quants.quantize(x, Q8_0)
    expect_close(np.asarray(dequantize_q8_0(data), dtype=np.float32), quants.dequantize(data, Q8_0), rel=0, abs_=0)


@question("q4")
def bits_per_weight_of_common_types(bits_per_weight):
    for name in ("Q8_0", "Q4_K"):
        block, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[name]]
        expect_close(bits_per_weight(name), 8 * type_size / block, what=name)
