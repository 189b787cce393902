"""course_lib.quant: every GGUF type byte-for-byte against gguf's numpy quantizer and ggml's C one."""

import warnings

import gguf
import numpy as np
import pytest

from course_lib import quant
from course_lib.quant import NF4_CODEBOOK, TEACHING_FORMATS, ggml_quantize, roundtrip

NUMPY_REFERENCE = ("Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1")


@pytest.fixture(scope="module")
def ggml():
    return ggml_quantize


def cases():
    rng = np.random.default_rng(42)
    normal = rng.standard_normal((16, 512)).astype(np.float32)
    outliers = normal.copy()
    outliers[::3, ::97] = 60.0
    outliers[1, 7] = -80.0
    zeros_and_constants = normal.copy()
    zeros_and_constants[0] = 0
    zeros_and_constants[1] = 0.37
    zeros_and_constants[2, :256] = -1.5
    zeros_and_constants[3, :32] = 0
    denormal = (rng.standard_normal((4, 512)) * 1e-40).astype(np.float32)
    return {
        "normal": normal,
        "weights-like": (rng.standard_normal((8, 768)) * 0.02).astype(np.float32),
        "outliers": outliers,
        "zeros-constants": zeros_and_constants,
        "denormals": denormal,
        "tiny": (normal[:4] * 1e-7).astype(np.float32),
        "huge": (normal[:4] * 1e3).astype(np.float32),
        "positive": np.abs(normal[:4]) + 1,
        "negative": -np.abs(normal[:4]) - 1,
    }


@pytest.mark.parametrize("qtype", quant.QTYPES)
@pytest.mark.parametrize("case", list(cases()))
def test_bytes_equal_ggml(ggml, qtype, case):
    x = cases()[case]
    ours = quant.quantize(x, qtype)
    assert ours.dtype == np.uint8
    assert ours.shape == (x.shape[0], x.shape[1] // quant.block_layout(qtype)[0] * quant.block_layout(qtype)[1])
    assert np.array_equal(ours.reshape(-1), ggml(x, qtype))


@pytest.mark.parametrize("qtype", NUMPY_REFERENCE)
def test_bytes_equal_gguf_numpy(qtype):
    for x in cases().values():
        ref = gguf.quants.quantize(x, gguf.GGMLQuantizationType[qtype])
        assert np.array_equal(quant.quantize(x, qtype), ref)


@pytest.mark.parametrize("qtype", quant.QTYPES)
def test_dequantize_matches_gguf(qtype):
    x = cases()["outliers"]
    data = quant.quantize(x, qtype)
    ref = gguf.quants.dequantize(data, gguf.GGMLQuantizationType[qtype])
    ours = quant.dequantize(data, qtype, x.shape)
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-7)
    # the round trip is close: within one quantization step of the block's range
    assert np.abs(ours - x).max() < 0.6 * np.abs(x).max()


def test_bits_per_weight_from_layout():
    assert quant.bits_per_weight("Q4_0") == 4.5
    assert quant.bits_per_weight("Q4_K") == 4.5
    assert quant.bits_per_weight("Q6_K") == 6.5625
    assert quant.bits_per_weight("Q8_0") == 8.5
    for qtype in quant.QTYPES:
        assert quant.block_layout(qtype) == gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[qtype]]


def test_more_bits_less_error():
    x = cases()["weights-like"]
    err = {t: float(np.sqrt(np.mean((quant.dequantize(quant.quantize(x, t), t, x.shape) - x) ** 2)))
           for t in quant.QTYPES}
    assert err["Q8_0"] < err["Q6_K"] < err["Q5_1"] < err["Q4_1"] < err["Q4_0"]
    assert err["Q5_1"] < err["Q5_0"] < err["Q4_0"]


@pytest.mark.parametrize("qtype", ["Q8_0", "Q4_K"])
def test_bad_length_is_a_clear_error(qtype):
    with pytest.raises(ValueError, match="not a multiple of"):
        quant.quantize(np.zeros(100, dtype=np.float32), qtype)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_rejected(bad):
    x = np.zeros(256, dtype=np.float32)
    x[5] = bad
    with pytest.raises(ValueError, match="NaN or infinity"):
        quant.quantize(x, "Q6_K")


def test_unknown_type_and_wrong_size():
    with pytest.raises(ValueError, match="unknown quantization type"):
        quant.quantize(np.zeros(32, dtype=np.float32), "Q3_X")
    with pytest.raises(ValueError, match="do not hold"):
        quant.dequantize(np.zeros(33, dtype=np.uint8), "Q8_0", (32,))


def test_teaching_formats():
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((64, 256)) * 0.02).astype(np.float32)
    w[3, 10] = 1.0  # one outlier: per-tensor scaling pays for it everywhere, blocks only locally
    rmse = {f: float(np.sqrt(np.mean((roundtrip(w, f) - w) ** 2))) for f in TEACHING_FORMATS}
    assert rmse["absmax_int8_block"] < rmse["absmax_int8_channel"] < rmse["absmax_int8_tensor"]
    assert rmse["zeropoint_int8_block"] < rmse["zeropoint_int8_tensor"]
    assert len(NF4_CODEBOOK) == 16 and NF4_CODEBOOK[7] == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(roundtrip(np.zeros((2, 64), np.float32), "nf4"), np.zeros((2, 64)))
