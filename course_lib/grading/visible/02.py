"""Visible tests, chapter 02 (quantization from scratch): checked against the `gguf` package's reference quantizer,
the course's per-tensor plan and requantizer (course_lib.quant) and its teaching quantizers."""

import functools
import math

import gguf
import numpy as np
from gguf import quants

from course_lib.grading.testing import expect_choice, expect_close, expect_equal, expect_true, question

QUESTIONS = {"q1": "absmax_int8", "q2": "quantize_q8_0", "q3": "dequantize_q8_0", "q4": "bits_per_weight",
             "q5": ("predicted_file_bytes", "measured_file_bytes", "requant_reading"), "q6": "zeroed_by_outlier"}
RETURNS = {"absmax_int8": (np.ndarray, float), "quantize_q8_0": np.ndarray, "dequantize_q8_0": np.ndarray,
           "bits_per_weight": float, "predicted_file_bytes": int, "measured_file_bytes": int, "requant_reading": str,
           "zeroed_by_outlier": int}
VALUES = ("requant_reading",)

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


@functools.lru_cache(maxsize=None)
def planned_file_bytes(qtype):
    """The requantized course model's size from its plan: the header as it is, then each tensor padded to the
    file's alignment."""
    from course_lib.gguf_file import read_gguf, tensor_bytes
    from course_lib.quant import plan
    from course_lib.runtime import model_path

    contents = read_gguf(model_path())
    sizes = [tensor_bytes(t.target_type, math.prod(t.shape)) for t in plan(contents, qtype)]
    return contents.data_offset + sum(-(-size // contents.alignment) * contents.alignment for size in sizes)


@functools.lru_cache(maxsize=None)
def requantized_here(qtype):
    """The grader's own run: the course model requantized, measured on disk."""
    import tempfile
    from pathlib import Path

    from course_lib.quant import requantize
    from course_lib.runtime import model_path

    with tempfile.TemporaryDirectory() as folder:
        requantize(model_path(), Path(folder) / "model.gguf", qtype, progress=False)
        return (Path(folder) / "model.gguf").stat().st_size


@question("q5")
def prediction_follows_the_plan(predicted_file_bytes):
    expect_equal(predicted_file_bytes("Q4_0"), planned_file_bytes("Q4_0"), "Q4_0")


@question("q5")
def measurement_is_the_requantized_file(measured_file_bytes):
    expect_equal(measured_file_bytes("Q4_0"), requantized_here("Q4_0"), "the Q4_0 file's bytes")


@question("q5")
def reading_is_one_of_the_choices(requant_reading):
    expect_choice(requant_reading.value(), "requant_reading")


def zeroed_reference(x, block):
    from course_lib.quant import absmax_int8 as reference

    codes, _ = reference(x, "block", block)
    return int(np.sum((codes.reshape(-1) == 0) & (np.asarray(x).reshape(-1) != 0)))


@question("q6")
def one_outlier_per_block(zeroed_by_outlier):
    x = _weights(1024, seed=9) * 0.02
    x[::64] = 3.0  # one outlier in every 64 weights
    for block in (32, 64, 256):
        expect_equal(zeroed_by_outlier(x, block), zeroed_reference(x, block), f"blocks of {block}")
