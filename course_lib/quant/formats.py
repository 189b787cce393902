"""Quantization from scratch: GGUF block formats, bit-exact with llama.cpp.

Derived in notebooks/02_quantization_from_scratch.ipynb. `quantize(x, qtype,
imatrix=None)` returns the exact bytes GGUF stores for the tensor x (rows of
its last dimension, as ggml quantizes them), with ggml's importance-matrix
search when a matrix is given; `dequantize(data, qtype, shape)` goes back. The
one table below lists every type's block layout and its encoder and decoder:
32-weight blocks in `quant.blocks` and `quant.nonlinear`, 256-weight
super-blocks in `quant.kquants`, both built on the scale searches of
`quant.search`; the teaching formats (INT8, NF4) are in `quant.teaching`.
"""

from __future__ import annotations

import numpy as np

from course_lib.errors import CourseError
from course_lib.quant import blocks as qb
from course_lib.quant import kquants as qk
from course_lib.quant import nonlinear as nl
from course_lib.quant.teaching import TEACHING_FORMATS, roundtrip  # noqa: F401 (public)

# qtype -> (weights per block, bytes per block, encode rows (rows, imatrix), decode blocks); ggml's block structs
_FORMATS = {
    "Q8_0": (32, 34, qb.quantize_q8_0, qb.dequantize_q8_0),
    "Q4_0": (32, 18, qb.quantize_q4_0, qb.dequantize_q4_0),
    "Q4_1": (32, 20, qb.quantize_q4_1, qb.dequantize_q4_1),
    "Q5_0": (32, 22, qb.quantize_q5_0, qb.dequantize_q5_0),
    "Q5_1": (32, 24, qb.quantize_q5_1, qb.dequantize_q5_1),
    "IQ4_NL": (32, 18, nl.quantize_iq4_nl_rows, nl.dequantize_iq4_nl),
    "Q2_K": (256, 84, qk.quantize_q2_k, qk.dequantize_q2_k),
    "Q3_K": (256, 110, qk.quantize_q3_k, qk.dequantize_q3_k),
    "Q4_K": (256, 144, qk.quantize_q4_k, qk.dequantize_q4_k),
    "Q5_K": (256, 176, qk.quantize_q5_k, qk.dequantize_q5_k),
    "Q6_K": (256, 210, qk.quantize_q6_k, qk.dequantize_q6_k),
}
QTYPES = tuple(_FORMATS)
# ggml's Q8_0 ignores an importance matrix; every other type's search is weighted by it.
IMATRIX_TYPES = tuple(t for t in QTYPES if t != "Q8_0")
# Weights per chunk: the searches' temporaries stay in the CPU's cache, and memory stays bounded.
CHUNK_WEIGHTS = 1 << 18


def _format(qtype: str):
    key = str(qtype).upper()
    if key not in _FORMATS:
        raise CourseError(f"unknown quantization type {qtype!r}; known: {', '.join(QTYPES)}")
    return key, _FORMATS[key]


def block_layout(qtype: str) -> tuple[int, int]:
    """(weights per block, bytes per block) of a GGUF type."""
    _, (n, size, _, _) = _format(qtype)
    return n, size


def bits_per_weight(qtype: str) -> float:
    n, size = block_layout(qtype)
    return 8 * size / n


def check_imatrix(imatrix, row_length: int) -> np.ndarray:
    """An importance matrix as ggml takes it: one finite float32 weight per column of the rows."""
    weights = np.ascontiguousarray(imatrix, dtype=np.float32)
    if weights.shape != (row_length,):
        raise CourseError(f"an importance matrix has one weight per column: {row_length}, got shape {weights.shape}")
    if not np.isfinite(weights).all():
        raise CourseError("the importance matrix contains NaN or infinity")
    return weights


def quantize(x, qtype: str, imatrix=None) -> np.ndarray:
    """GGUF bytes of float array x, shape (..., last_dim // block * bytes_per_block), uint8.

    Rows are x's last dimension; `imatrix` (one weight per column) weights the
    scale search as llama.cpp's `--imatrix` does. Raises CourseError (a
    ValueError) for NaN/inf, a last dimension that is not a whole number of
    blocks, or an importance matrix of the wrong length.
    """
    key, (n, size, encode, _) = _format(qtype)
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 0 or x.shape[-1] % n:
        raise CourseError(
            f"{key} packs {n} weights per block; the last dimension {x.shape[-1] if x.ndim else 0} "
            f"is not a multiple of {n}")
    if not np.isfinite(x).all():
        raise CourseError(f"cannot quantize to {key}: the tensor contains NaN or infinity")
    row_len = x.shape[-1]
    weights = None if imatrix is None else check_imatrix(imatrix, row_len)
    rows = x.reshape(-1, row_len)
    out = np.empty((rows.shape[0], row_len // n * size), dtype=np.uint8)
    step = max(1, CHUNK_WEIGHTS // row_len)
    # On denormal or huge blocks, 1/scale overflows in ggml's float32 arithmetic as it does here;
    # the bytes still equal ggml's (tested), so the overflow is expected, not worth a warning.
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        for start in range(0, rows.shape[0], step):
            out[start:start + step] = encode(np.ascontiguousarray(rows[start:start + step]), weights)
    return out.reshape(*x.shape[:-1], row_len // n * size)


def dequantize(data, qtype: str, shape) -> np.ndarray:
    """float32 array of the given shape from GGUF bytes of type qtype."""
    key, (n, size, _, decode) = _format(qtype)
    shape = tuple(int(s) for s in np.atleast_1d(shape))
    data = np.ascontiguousarray(np.asarray(data, dtype=np.uint8)).reshape(-1)
    count = int(np.prod(shape))
    if shape[-1] % n or data.size != count // n * size:
        raise CourseError(f"{data.size} bytes of {key} do not hold a tensor of shape {shape}")
    return decode(data.reshape(-1, size)).astype(np.float32).reshape(shape)
