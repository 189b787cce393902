"""course_lib.quant: every GGUF type byte-for-byte against ggml's C quantizer (with and without an importance
matrix), every decoder bit-for-bit against ggml's, and the 32-weight types against gguf's numpy quantizer."""

import warnings

import gguf
import numpy as np
import pytest

from course_lib import quant
from course_lib.quant import NF4_CODEBOOK, TEACHING_FORMATS, ggml_dequantize, ggml_quantize, roundtrip
from course_lib.quant.search import seqsum

NUMPY_REFERENCE = ("Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1")


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
    # a block whose scale is exactly 1/64, so its weights land on chosen values: halves, and 0.5 - 2**-25,
    # where float32's v + 0.5 rounds up to 1.0 but C's roundf gives 0
    ties = np.zeros((2, 512), np.float32)
    ties[:, ::32] = 127 / 64
    chosen = [0.5 - 2**-25, 2.5, -2.5, 0.5, -0.5, 1.5, -(0.5 - 2**-25), 126.5, -126.5, 3.5, -7.5, 8.5]
    ties[:, 1:13] = np.array(chosen, np.float32) / np.float32(64)
    ties[1, 256:] = -ties[1, 256:]
    # C loops keep the first of +0.0 and -0.0; the sign bit shows in an fp16 minimum
    signed_zeros = np.zeros((3, 512), np.float32)
    signed_zeros[0] = -0.0
    signed_zeros[1, ::2] = -0.0
    signed_zeros[2, :256] = np.abs(rng.standard_normal(256))
    signed_zeros[2, 5] = -0.0
    signed_zeros[2, 300] = -1.0
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
        "ties": ties,
        "signed-zeros": signed_zeros,
        "many-rows": (rng.standard_normal((130, 4096)) * 0.02).astype(np.float32),  # spans several chunks
    }


def importance(n_columns, seed):
    """A matrix shaped like real ones: a heavy-tailed spread, and some columns that saw no activation at all."""
    rng = np.random.default_rng(seed)
    weights = np.exp(rng.standard_normal(n_columns) * 2).astype(np.float32)
    weights[rng.random(n_columns) < 0.05] = 0
    return weights


@pytest.mark.parametrize("qtype", quant.QTYPES)
@pytest.mark.parametrize("case", list(cases()))
def test_bytes_equal_ggml(qtype, case):
    x = cases()[case]
    ours = quant.quantize(x, qtype)
    assert ours.dtype == np.uint8
    assert ours.shape == (x.shape[0], x.shape[1] // quant.block_layout(qtype)[0] * quant.block_layout(qtype)[1])
    assert np.array_equal(ours.reshape(-1), ggml_quantize(x, qtype))


@pytest.mark.parametrize("qtype", quant.IMATRIX_TYPES)
@pytest.mark.parametrize("case", list(cases()))
def test_bytes_equal_ggml_with_an_importance_matrix(qtype, case):
    x = cases()[case]
    imatrix = importance(x.shape[1], seed=len(case))
    assert np.array_equal(quant.quantize(x, qtype, imatrix).reshape(-1), ggml_quantize(x, qtype, imatrix))


def test_the_importance_matrix_changes_the_bytes_and_q8_0_ignores_it():
    x = cases()["weights-like"]
    imatrix = importance(x.shape[1], seed=1)
    for qtype in quant.IMATRIX_TYPES:
        assert not np.array_equal(quant.quantize(x, qtype, imatrix), quant.quantize(x, qtype)), qtype
    assert np.array_equal(quant.quantize(x, "Q8_0", imatrix), quant.quantize(x, "Q8_0"))


@pytest.mark.parametrize("qtype", ["Q2_K", "Q3_K", "Q4_0"])
def test_the_importance_matrix_lowers_the_error_that_it_weights(qtype):
    # columns that matter (large activations) get a finer fit; the activation-weighted error drops
    x = cases()["weights-like"]
    imatrix = np.exp(np.random.default_rng(5).standard_normal(x.shape[1]) * 1.5).astype(np.float32)

    def weighted_error(data):
        return float((((quant.dequantize(data, qtype, x.shape) - x) ** 2) * imatrix).sum())

    assert weighted_error(quant.quantize(x, qtype, imatrix)) < weighted_error(quant.quantize(x, qtype))


@pytest.mark.parametrize("qtype", quant.QTYPES)
def test_decoders_equal_ggml_bit_for_bit(qtype):
    for x in cases().values():
        data = ggml_quantize(x, qtype)
        ours = quant.dequantize(data, qtype, x.shape).reshape(-1)
        assert np.array_equal(ours.view(np.uint32), ggml_dequantize(data, qtype, x.size).view(np.uint32))


@pytest.mark.parametrize("qtype", NUMPY_REFERENCE)
def test_bytes_equal_gguf_numpy(qtype):
    for name, x in cases().items():
        if name in ("ties", "signed-zeros"):
            continue  # gguf's numpy rounds these differently from ggml's C (which the course follows)
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
    expected = {"Q8_0": 8.5, "Q4_0": 4.5, "Q4_1": 5.0, "Q5_0": 5.5, "Q5_1": 6.0, "IQ4_NL": 4.5, "Q2_K": 2.625,
                "Q3_K": 3.4375, "Q4_K": 4.5, "Q5_K": 5.5, "Q6_K": 6.5625}
    assert {t: quant.bits_per_weight(t) for t in quant.QTYPES} == expected
    for qtype in quant.QTYPES:
        assert quant.block_layout(qtype) == gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[qtype]]


def test_more_bits_less_error():
    x = cases()["weights-like"]
    err = {t: float(np.sqrt(np.mean((quant.dequantize(quant.quantize(x, t), t, x.shape) - x) ** 2)))
           for t in quant.QTYPES}
    assert err["Q8_0"] < err["Q6_K"] < err["Q5_K"] < err["Q4_K"] < err["Q3_K"] < err["Q2_K"]
    assert err["Q6_K"] < err["Q5_1"] < err["Q4_1"] < err["Q4_0"]
    assert err["Q5_1"] < err["Q5_0"] < err["Q4_0"]
    assert err["IQ4_NL"] < err["Q4_0"]  # the same 4.5 bits, levels placed where bell-shaped weights are


@pytest.mark.parametrize("qtype", ["Q8_0", "Q4_K", "Q2_K", "IQ4_NL"])
def test_bad_length_is_a_clear_error(qtype):
    with pytest.raises(ValueError, match="not a multiple of"):
        quant.quantize(np.zeros(100, dtype=np.float32), qtype)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_rejected(bad):
    x = np.zeros(256, dtype=np.float32)
    x[5] = bad
    for qtype in ("Q6_K", "Q3_K"):
        with pytest.raises(ValueError, match="NaN or infinity"):
            quant.quantize(x, qtype)


def test_bad_importance_matrices_are_clear_errors():
    x = np.zeros((2, 512), dtype=np.float32)
    with pytest.raises(ValueError, match="one weight per column: 512"):
        quant.quantize(x, "Q4_K", np.ones(256, np.float32))
    with pytest.raises(ValueError, match="importance matrix contains NaN"):
        quant.quantize(x, "Q4_K", np.full(512, np.nan, np.float32))


def test_unknown_type_and_wrong_size():
    with pytest.raises(ValueError, match="unknown quantization type"):
        quant.quantize(np.zeros(32, dtype=np.float32), "Q3_X")
    with pytest.raises(ValueError, match="do not hold"):
        quant.dequantize(np.zeros(33, dtype=np.uint8), "Q8_0", (32,))


@pytest.mark.parametrize("columns", [1, 2, 7])
def test_sums_are_in_c_order(columns):
    # the searches rely on numpy adding the rows of a (n, m) array one after another, as a C loop does;
    # 1e8 + 1 rounds back to 1e8 in float32 each time, where a pairwise sum would keep the ones
    terms = np.ones((32, columns), np.float32)
    terms[0] = 1e8
    assert (seqsum(terms) == np.float32(1e8)).all()


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
