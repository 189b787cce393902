"""The from-scratch quantizers: byte-exact with GGUF's reference, sound teaching formats, clear errors."""

import numpy as np
import pytest
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, quants

from course_lib.errors import CourseError
from course_lib.quant import (NF4_CODEBOOK, QTYPES, absmax_int8, bits_per_weight, dequantize, error_stats, nf4,
                              quantize, restore, zeropoint_int8)

rng = np.random.default_rng(20261123)
CASES = {
    "normal": rng.standard_normal((8, 256)),
    "outliers": rng.standard_normal((4, 128)) * np.where(rng.random((4, 128)) < 0.03, 200.0, 1.0),
    "all_zero": np.zeros((2, 64)),
    "constant": np.full((2, 64), 3.3),
    "negative_constant": np.full((1, 32), -2.0),
    "denormals": rng.standard_normal((2, 64)) * 1e-40,
    "tiny": rng.standard_normal((2, 64)) * 1e-30,
    "huge": rng.standard_normal((2, 64)) * 6e4,
    "integers": rng.integers(-8, 8, (3, 96)),
    "one_row": rng.standard_normal(32),
    "three_d": rng.standard_normal((2, 3, 64)),
}


@pytest.mark.parametrize("qtype", QTYPES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_bytes_equal_the_gguf_reference(qtype, case):
    x = CASES[case].astype(np.float32)
    reference = quants.quantize(x, GGMLQuantizationType[qtype])
    ours = quantize(x, qtype)
    assert ours.dtype == np.uint8 and ours.shape == reference.shape
    assert np.array_equal(ours, reference), f"{np.sum(ours != reference)} bytes differ"
    restored = dequantize(ours, qtype, x.shape)
    assert np.array_equal(restored, quants.dequantize(reference, GGMLQuantizationType[qtype]).reshape(x.shape))


@pytest.mark.parametrize("qtype", QTYPES)
def test_bits_per_weight_match_the_block_layout(qtype):
    block, size = GGML_QUANT_SIZES[GGMLQuantizationType[qtype]]
    assert bits_per_weight(qtype) == 8 * size / block


@pytest.mark.parametrize("qtype, step", [("Q8_0", 1 / 127), ("Q5_0", 1 / 16), ("Q4_0", 1 / 8)])
def test_round_trip_error_is_at_most_one_step(qtype, step):
    """Half a step of rounding, plus the fp16 rounding of the scale; the one code missing on the
    symmetric formats' positive side (-8..7) costs up to a whole step at the block's far end."""
    x = CASES["normal"].astype(np.float32)
    restored = dequantize(quantize(x, qtype), qtype, x.shape)
    blocks_max = np.abs(x.reshape(-1, 32)).max(axis=1, keepdims=True)
    error = np.abs(restored - x).reshape(-1, 32)
    assert (error <= blocks_max * step * 1.01).all()
    assert error.max() > blocks_max.max() * step * 0.25  # and the bound is not vacuous


def test_more_bits_less_error():
    x = CASES["normal"].astype(np.float32)
    rmse = {t: error_stats(x, dequantize(quantize(x, t), t, x.shape))["rmse"] for t in QTYPES}
    assert rmse["Q8_0"] < rmse["Q5_1"] <= rmse["Q5_0"] < rmse["Q4_1"] <= rmse["Q4_0"] * 1.05


@pytest.mark.parametrize("bad, message", [
    (np.ones(33, np.float32), "whole number of 32-value blocks"),
    (np.array([1.0, np.nan] * 16, np.float32), "NaN or infinite"),
    (np.array([np.inf] * 32, np.float32), "NaN or infinite"),
    (np.ones(0, np.float32), "empty"),
])
def test_bad_input_raises_value_error_with_a_reason(bad, message):
    with pytest.raises(ValueError, match=message):
        quantize(bad, "Q4_0")


def test_unknown_type_is_a_course_error():
    with pytest.raises(CourseError, match="unknown quantization type 'Q3_X'"):
        quantize(np.ones(32, np.float32), "Q3_X")


def test_dequantize_checks_the_byte_count():
    with pytest.raises(ValueError, match="must be 34 bytes"):
        dequantize(np.zeros(30, np.uint8), "Q8_0", (32,))


def test_absmax_keeps_zero_exact_and_per_channel_beats_per_tensor_with_outliers():
    x = rng.standard_normal((16, 64)).astype(np.float32)
    x[3, 5] = 500.0  # one outlier row
    x[0, 0] = 0.0
    tensor = absmax_int8(x, "tensor")
    channel = absmax_int8(x, "channel")
    block = absmax_int8(x, "block", 32)
    assert restore(tensor, x.shape)[0, 0] == 0.0
    errors = [error_stats(x, restore(q, x.shape))["rmse"] for q in (tensor, channel, block)]
    assert errors[0] > errors[1] > errors[2]


def test_zeropoint_uses_the_whole_range_for_skewed_data():
    x = rng.random((4, 64)).astype(np.float32) + 2.0  # all positive
    symmetric = error_stats(x, restore(absmax_int8(x, "channel"), x.shape))["rmse"]
    asymmetric = error_stats(x, restore(zeropoint_int8(x, "channel"), x.shape))["rmse"]
    assert asymmetric < symmetric


def test_nf4_codes_index_the_codebook_and_hit_the_extremes():
    x = rng.standard_normal((4, 128)).astype(np.float32)
    q = nf4(x)
    assert q.codes.min() >= 0 and q.codes.max() <= 15
    assert set(np.unique(q.codes)) >= {0, 15} or set(np.unique(q.codes)) & {0, 15}
    restored = restore(q, x.shape)
    assert np.allclose(np.abs(restored).reshape(-1, 64).max(axis=1), np.abs(x).reshape(-1, 64).max(axis=1))
    assert NF4_CODEBOOK[7] == 0.0 and len(NF4_CODEBOOK) == 16


def test_unknown_granularity():
    with pytest.raises(CourseError, match="granularity"):
        absmax_int8(np.ones(32, np.float32), "row")
