"""Teaching formats: absmax and zero-point INT8, per-tensor/channel/block scaling, NF4.

Derived in notebooks/02_quantization_from_scratch.ipynb. These return codes and
scales as numpy arrays (no byte layout): they exist to show why GGUF's block
formats look the way they do.
"""

from __future__ import annotations

import numpy as np

from course_lib.errors import CourseError

# bitsandbytes' NF4 codebook: quantiles of a standard normal, rescaled to [-1, 1], with an exact 0.
NF4_CODEBOOK = np.array([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
], dtype=np.float32)


def _groups(x: np.ndarray, granularity: str, block: int) -> np.ndarray:
    if granularity == "tensor":
        return x.reshape(1, -1)
    if granularity == "channel":
        return x.reshape(x.shape[0] if x.ndim > 1 else 1, -1)
    if granularity == "block":
        return x.reshape(-1, block)
    raise CourseError(f"granularity must be tensor, channel or block, not {granularity!r}")


def absmax_int8(x, granularity: str = "tensor", block: int = 32):
    """Symmetric INT8: code = round(x / scale), scale = max|x| / 127 per group."""
    g = _groups(np.asarray(x, dtype=np.float32), granularity, block)
    scale = np.abs(g).max(axis=1, keepdims=True) / np.float32(127)
    with np.errstate(divide="ignore", invalid="ignore"):
        codes = np.where(scale > 0, np.rint(g / scale), 0).astype(np.int8)
    return codes, scale.astype(np.float32)


def absmax_int8_dequantize(codes, scale, shape):
    return (codes.astype(np.float32) * scale).reshape(shape)


def zeropoint_int8(x, granularity: str = "tensor", block: int = 32):
    """Asymmetric (zero-point) UINT8: the range [min, max] is mapped onto 0..255."""
    g = _groups(np.asarray(x, dtype=np.float32), granularity, block)
    lo, hi = g.min(axis=1, keepdims=True), g.max(axis=1, keepdims=True)
    scale = ((hi - lo) / np.float32(255)).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        zero = np.where(scale > 0, np.rint(-lo / scale), 0)
        codes = np.where(scale > 0, np.clip(np.rint(g / scale) + zero, 0, 255), 0).astype(np.uint8)
    return codes, scale, zero.astype(np.float32)


def zeropoint_int8_dequantize(codes, scale, zero, shape):
    return ((codes.astype(np.float32) - zero) * scale).reshape(shape)


def nf4(x, block: int = 64):
    """NF4 as bitsandbytes does it: absmax per block of 64, nearest codebook entry."""
    g = np.asarray(x, dtype=np.float32).reshape(-1, block)
    absmax = np.abs(g).max(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        normed = np.where(absmax > 0, g / absmax, 0)
    codes = np.abs(normed[..., None] - NF4_CODEBOOK).argmin(axis=-1).astype(np.uint8)
    return codes, absmax.astype(np.float32)


def nf4_dequantize(codes, absmax, shape):
    return (NF4_CODEBOOK[codes] * absmax).reshape(shape)


def roundtrip(x, fmt: str, block: int = 32) -> np.ndarray:
    """x quantized with a teaching format and back, same shape."""
    x = np.asarray(x, dtype=np.float32)
    if fmt.startswith("absmax_int8_"):
        c, s = absmax_int8(x, fmt.rsplit("_", 1)[1], block)
        return absmax_int8_dequantize(c, s, x.shape)
    if fmt.startswith("zeropoint_int8_"):
        c, s, z = zeropoint_int8(x, fmt.rsplit("_", 1)[1], block)
        return zeropoint_int8_dequantize(c, s, z, x.shape)
    if fmt == "nf4":
        c, a = nf4(x, block)
        return nf4_dequantize(c, a, x.shape)
    raise CourseError(f"unknown teaching format {fmt!r}")


def teaching_bits_per_weight(fmt: str, block: int = 32, row_length: int | None = None,
                             n_weights: int | None = None) -> float:
    """Storage cost of a teaching format: the codes plus its float32 scales (and zero points).

    Per-tensor scaling costs one scale for the whole tensor (`n_weights`), per-channel one per row
    (`row_length` weights), per-block one per `block`; NF4 keeps one float32 absmax per block, as
    bitsandbytes does without double quantization.
    """
    if fmt == "nf4":
        return 4 + 32 / block
    code_bits, extra = 8, 64 if fmt.startswith("zeropoint_") else 32  # scale (+ zero point) per group
    granularity = fmt.rsplit("_", 1)[-1]
    group = {"block": block, "channel": row_length, "tensor": n_weights}.get(granularity)
    if fmt not in TEACHING_FORMATS or not group:
        raise CourseError(f"cannot size {fmt!r} (block={block}, row_length={row_length}, n_weights={n_weights})")
    return code_bits + extra / group


TEACHING_FORMATS = (
    "absmax_int8_tensor", "absmax_int8_channel", "absmax_int8_block",
    "zeropoint_int8_tensor", "zeropoint_int8_channel", "zeropoint_int8_block", "nf4",
)
