"""Quantization from scratch: GGUF block formats, bit-exact with llama.cpp.

Derived in notebooks/02_quantization_from_scratch.ipynb. `quantize(x, qtype)`
returns the exact bytes GGUF stores for the tensor x (rows quantized
independently, as ggml does); `dequantize(data, qtype, shape)` goes back. The
formats themselves live in quant_blocks.py (32-weight blocks), quant_kquants.py
(256-weight super-blocks) and quant_teaching.py (INT8 / NF4 teaching formats).
"""

from __future__ import annotations

import numpy as np

from course_lib.errors import CourseError

from course_lib.quant import blocks as qb
from course_lib.quant import kquants as qk
from course_lib.quant.teaching import TEACHING_FORMATS, roundtrip  # noqa: F401 (public)

# qtype -> (weights per block, bytes per block, quantize blocks, dequantize blocks)
_FORMATS = {
    "Q8_0": (32, 34, qb.quantize_q8_0, qb.dequantize_q8_0),
    "Q4_0": (32, 18, qb.quantize_q4_0, qb.dequantize_q4_0),
    "Q4_1": (32, 20, qb.quantize_q4_1, qb.dequantize_q4_1),
    "Q5_0": (32, 22, qb.quantize_q5_0, qb.dequantize_q5_0),
    "Q5_1": (32, 24, qb.quantize_q5_1, qb.dequantize_q5_1),
    "Q4_K": (256, 144, qk.quantize_q4_k, qk.dequantize_q4_k),
    "Q6_K": (256, 210, qk.quantize_q6_k, qk.dequantize_q6_k),
}
QTYPES = tuple(_FORMATS)


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


def quantize(x, qtype: str, rows_per_chunk: int = 4096) -> np.ndarray:
    """GGUF bytes of float array x, shape (..., last_dim // block * bytes_per_block), uint8.

    Raises ValueError for NaN/inf or a last dimension that is not a whole number of blocks.
    """
    key, (n, size, q, _) = _format(qtype)
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 0 or x.shape[-1] % n:
        raise CourseError(
            f"{key} packs {n} weights per block; the last dimension {x.shape[-1] if x.ndim else 0} "
            f"is not a multiple of {n}")
    if not np.isfinite(x).all():
        raise CourseError(f"cannot quantize to {key}: the tensor contains NaN or infinity")
    flat = x.reshape(-1, n)
    out = np.empty((flat.shape[0], size), dtype=np.uint8)
    step = max(1, rows_per_chunk * (256 // n))  # bound the temporaries, a chunk at a time
    # On denormal or huge blocks, 1/scale overflows in ggml's float32 arithmetic as it does here;
    # the bytes still equal ggml's (tested), so the overflow is expected, not worth a warning.
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        for start in range(0, flat.shape[0], step):
            out[start:start + step] = q(np.ascontiguousarray(flat[start:start + step]).reshape(-1, n)
                                        if n == 32 else flat[start:start + step].reshape(-1))
    return out.reshape(*x.shape[:-1], x.shape[-1] // n * size)


def dequantize(data, qtype: str, shape) -> np.ndarray:
    """float32 array of the given shape from GGUF bytes of type qtype."""
    key, (n, size, _, dq) = _format(qtype)
    shape = tuple(int(s) for s in np.atleast_1d(shape))
    data = np.ascontiguousarray(np.asarray(data, dtype=np.uint8)).reshape(-1)
    count = int(np.prod(shape))
    if shape[-1] % n or data.size != count // n * size:
        raise CourseError(f"{data.size} bytes of {key} do not hold a tensor of shape {shape}")
    return dq(data.reshape(-1, size)).astype(np.float32).reshape(shape)
