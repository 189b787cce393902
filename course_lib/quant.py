"""Quantization from scratch: teaching formats and GGUF's block formats, in numpy.

Derived in notebook 02. `quantize(x, qtype)` returns the exact bytes llama.cpp
writes for a GGUF tensor of that type (rows quantized independently, block by
block); `dequantize(data, qtype, shape)` turns them back into float32. The
teaching formats (absmax and zero-point INT8 at three granularities, NF4)
return their codes and scales instead of bytes.

Everything is vectorised over blocks: one numpy expression handles every block
of every row at once, so there is no Python loop per block.

K-quants (Q4_K, Q6_K) are not implemented here yet: their bits per weight are
derived in the notebook from `gguf.GGML_QUANT_SIZES`, and the real file's
K-quant tensors are decoded with the `gguf` package.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from course_lib.errors import CourseError

BLOCK = 32  # values per block for Q8_0, Q4_0, Q4_1, Q5_0, Q5_1
QTYPES = ("Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1")
# bytes per 32-value block: fp16 scale [+ fp16 min] [+ 4 bytes of 5th bits] + packed codes
BLOCK_BYTES = {"Q8_0": 2 + 32, "Q4_0": 2 + 16, "Q4_1": 2 + 2 + 16, "Q5_0": 2 + 4 + 16, "Q5_1": 2 + 2 + 4 + 16}

# bitsandbytes' NF4 code book: the 16 quantiles of a standard normal, rescaled to [-1, 1], with an exact 0.
NF4_CODEBOOK = np.array([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
    -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
    0.24611230850219727, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
    0.7229568362236023, 1.0], dtype=np.float32)


def bits_per_weight(qtype: str) -> float:
    """From the block layout: 8 × bytes per block / values per block (Q4_0: 8 × 18 / 32 = 4.5)."""
    return 8 * BLOCK_BYTES[_check_type(qtype)] / BLOCK


def _check_type(qtype: str) -> str:
    name = str(qtype).upper()
    if name not in BLOCK_BYTES:
        raise CourseError(f"unknown quantization type {qtype!r}; this module builds {', '.join(QTYPES)}")
    return name


def _blocks(x, block: int = BLOCK) -> np.ndarray:
    """Validate `x` and view it as (rows, blocks, block) float32."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 0 or x.size == 0:
        raise ValueError("cannot quantize an empty array or a scalar")
    if x.shape[-1] % block:
        raise ValueError(f"the last dimension ({x.shape[-1]}) must be a whole number of {block}-value blocks")
    if not np.isfinite(x).all():
        raise ValueError("cannot quantize NaN or infinite values")
    return x.reshape(-1, x.shape[-1] // block, block)


def _round_half_away(v: np.ndarray) -> np.ndarray:
    """C's roundf: halves go away from zero (numpy's round goes to even)."""
    return np.copysign(np.floor(np.abs(v) + np.float32(0.5)), v)


def _safe_inverse(d: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", over="ignore"):
        return np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)


def _zero_if_overflow(inverse: np.ndarray) -> np.ndarray:
    """A subnormal scale has no float32 inverse (1/d overflows to inf).

    fp16 stores such a scale as 0, so the block decodes to zeros whatever its
    codes; llama.cpp's reference then writes all-zero codes, and so do we.
    """
    return np.where(np.isfinite(inverse), inverse, np.float32(0)).astype(np.float32)


def _signed_absmax(b: np.ndarray) -> np.ndarray:
    """The value with the largest magnitude in each block, sign kept (first one on ties, as ggml)."""
    index = np.argmax(np.abs(b), axis=-1)[..., None]
    return np.take_along_axis(b, index, axis=-1)[..., 0]


def _pack_nibbles(q: np.ndarray) -> np.ndarray:
    """ggml's order: byte j holds value j in its low nibble and value j+16 in its high nibble."""
    low, high = q[..., :16] & 0x0F, q[..., 16:] & 0x0F
    return (low | (high << 4)).astype(np.uint8)


def _unpack_nibbles(packed: np.ndarray) -> np.ndarray:
    return np.concatenate([packed & 0x0F, packed >> 4], axis=-1)


def _pack_high_bits(q: np.ndarray) -> np.ndarray:
    """Q5 formats: bit 4 of each of the 32 codes, as one little-endian 32-bit word."""
    bits = ((q >> 4) & 1).astype(np.uint32)
    word = (bits << np.arange(32, dtype=np.uint32)).sum(axis=-1, dtype=np.uint32)
    return word.astype("<u4")[..., None].view(np.uint8)


def _unpack_high_bits(qh: np.ndarray) -> np.ndarray:
    word = np.ascontiguousarray(qh).view("<u4")
    return ((word >> np.arange(32, dtype=np.uint32)) & 1).astype(np.uint8)


def _fp16_bytes(v: np.ndarray) -> np.ndarray:
    return v.astype("<f2")[..., None].view(np.uint8)


def quantize(x, qtype: str) -> np.ndarray:
    """GGUF bytes of `x` (last dimension a multiple of 32), shape (..., bytes per row)."""
    qtype = _check_type(qtype)
    b = _blocks(x)
    if qtype == "Q8_0":
        d = np.abs(b).max(axis=-1) / np.float32(127)
        inverse = _safe_inverse(d)
        q = _round_half_away(b * _zero_if_overflow(inverse)[..., None]).astype(np.int8)
        parts = [_fp16_bytes(d), q.view(np.uint8)]
    elif qtype in ("Q4_0", "Q5_0"):
        levels = 16 if qtype == "Q4_0" else 32  # codes 0..levels-1 around a zero at levels/2
        d = _signed_absmax(b) / np.float32(-levels // 2)
        inverse = _safe_inverse(d)
        scaled = b * _zero_if_overflow(inverse)[..., None] + np.float32(levels // 2 + 0.5)
        q = np.minimum(np.trunc(scaled), levels - 1).astype(np.uint8)  # C's (int8_t) cast truncates
        q[~np.isfinite(inverse)] = 0
        parts = [_fp16_bytes(d)] + ([_pack_high_bits(q)] if qtype == "Q5_0" else []) + [_pack_nibbles(q)]
    else:  # Q4_1, Q5_1: a scale and a minimum per block
        top = 15 if qtype == "Q4_1" else 31
        low, high = b.min(axis=-1), b.max(axis=-1)
        d = (high - low) / np.float32(top)
        inverse = _safe_inverse(d)
        scaled = (b - low[..., None]) * _zero_if_overflow(inverse)[..., None] + np.float32(0.5)
        q = np.minimum(np.trunc(scaled), top).astype(np.uint8)
        q[~np.isfinite(inverse)] = 0
        parts = [_fp16_bytes(d), _fp16_bytes(low)] + ([_pack_high_bits(q)] if qtype == "Q5_1" else []) + [_pack_nibbles(q)]
    blocks = np.concatenate(parts, axis=-1)
    shape = np.shape(x)
    return blocks.reshape(*shape[:-1], shape[-1] // BLOCK * BLOCK_BYTES[qtype])


def dequantize(data, qtype: str, shape) -> np.ndarray:
    """float32 values of GGUF bytes `data` for a tensor of `shape` (last dimension a multiple of 32)."""
    qtype = _check_type(qtype)
    shape = tuple(int(s) for s in np.atleast_1d(shape))
    if shape[-1] % BLOCK:
        raise ValueError(f"the last dimension ({shape[-1]}) must be a whole number of {BLOCK}-value blocks")
    n_blocks = int(np.prod(shape)) // BLOCK
    raw = np.asarray(data, dtype=np.uint8).reshape(-1)
    if raw.size != n_blocks * BLOCK_BYTES[qtype]:
        raise ValueError(f"{qtype} data for shape {shape} must be {n_blocks * BLOCK_BYTES[qtype]} bytes, got {raw.size}")
    blocks = raw.reshape(n_blocks, BLOCK_BYTES[qtype])
    d = blocks[:, 0:2].copy().view("<f2").astype(np.float32)
    if qtype == "Q8_0":
        values = d * blocks[:, 2:].view(np.int8).astype(np.float32)
    elif qtype == "Q4_0":
        values = d * (_unpack_nibbles(blocks[:, 2:]).astype(np.float32) - 8)
    elif qtype == "Q5_0":
        q = _unpack_nibbles(blocks[:, 6:]) | (_unpack_high_bits(blocks[:, 2:6]) << 4)
        values = d * (q.astype(np.float32) - 16)
    else:
        m = blocks[:, 2:4].copy().view("<f2").astype(np.float32)
        q = _unpack_nibbles(blocks[:, 4:] if qtype == "Q4_1" else blocks[:, 8:])
        if qtype == "Q5_1":
            q = q | (_unpack_high_bits(blocks[:, 4:8]) << 4)
        values = d * q.astype(np.float32) + m
    return values.reshape(shape).astype(np.float32)


# ---- teaching formats -------------------------------------------------------------------------

@dataclass(frozen=True)
class Quantized:
    """Integer codes plus what it takes to map them back: scales (and zero points) per group."""

    codes: np.ndarray
    scales: np.ndarray
    zero_points: np.ndarray | None
    group: str  # "tensor", "channel" or "block"
    block: int | None = None


def _groups(x: np.ndarray, group: str, block: int) -> np.ndarray:
    if group == "tensor":
        return x.reshape(1, -1)
    if group == "channel":
        return x.reshape(x.shape[0], -1) if x.ndim > 1 else x.reshape(1, -1)
    if group == "block":
        return _blocks(x, block).reshape(-1, block)
    raise CourseError(f"unknown scaling granularity {group!r}: use 'tensor', 'channel' or 'block'")


def absmax_int8(x, group: str = "tensor", block: int = 32) -> Quantized:
    """Symmetric INT8: scale = max|x| / 127 per group, codes in [-127, 127], zero stays exactly zero."""
    x = np.asarray(x, dtype=np.float32)
    _blocks(x.reshape(-1), 1)  # finite, non-empty
    g = _groups(x, group, block)
    scales = np.abs(g).max(axis=1) / np.float32(127)
    codes = _round_half_away(g * _safe_inverse(scales)[:, None]).astype(np.int8)
    return Quantized(codes, scales, None, group, block if group == "block" else None)


def zeropoint_int8(x, group: str = "tensor", block: int = 32) -> Quantized:
    """Asymmetric INT8: map [min, max] onto [-128, 127] with a zero point, spending all 256 codes."""
    x = np.asarray(x, dtype=np.float32)
    _blocks(x.reshape(-1), 1)
    g = _groups(x, group, block)
    low, high = np.minimum(g.min(axis=1), 0), np.maximum(g.max(axis=1), 0)  # keep 0 representable
    scales = (high - low) / np.float32(255)
    zero_points = np.clip(np.round(-128 - low * _safe_inverse(scales)), -128, 127).astype(np.int16)
    codes = np.clip(np.round(g * _safe_inverse(scales)[:, None]) + zero_points[:, None], -128, 127).astype(np.int8)
    return Quantized(codes, scales, zero_points, group, block if group == "block" else None)


def nf4(x, block: int = 64) -> Quantized:
    """NF4 (QLoRA): per-block absmax, then the nearest of 16 normal-quantile levels."""
    g = _blocks(x, block).reshape(-1, block)
    scales = np.abs(g).max(axis=1)
    normalised = g * _safe_inverse(scales)[:, None]
    midpoints = (NF4_CODEBOOK[1:] + NF4_CODEBOOK[:-1]) / 2
    codes = np.searchsorted(midpoints, normalised).astype(np.uint8)
    return Quantized(codes, scales, None, "block", block)


def restore(q: Quantized, shape) -> np.ndarray:
    """float32 values of a teaching-format `Quantized`, in the original `shape`."""
    if q.codes.dtype == np.uint8:  # NF4 indexes the code book
        values = NF4_CODEBOOK[q.codes] * q.scales[:, None]
    elif q.zero_points is None:
        values = q.codes.astype(np.float32) * q.scales[:, None]
    else:
        values = (q.codes.astype(np.float32) - q.zero_points[:, None]) * q.scales[:, None]
    return values.reshape(shape).astype(np.float32)


def error_stats(original, restored) -> dict:
    """RMSE, largest absolute error and signal-to-noise ratio (dB) of a round trip."""
    original = np.asarray(original, dtype=np.float64)
    diff = np.asarray(restored, dtype=np.float64) - original
    noise = np.mean(diff**2)
    signal = np.mean(original**2)
    snr = np.inf if noise == 0 else 10 * np.log10(signal / noise)
    return {"rmse": float(np.sqrt(noise)), "max_error": float(np.abs(diff).max()), "snr_db": float(snr)}
