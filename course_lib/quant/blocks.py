"""GGUF's 32-weight block formats Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1, in numpy.

Derived step by step in notebooks/02_quantization_from_scratch.ipynb. Each
function takes float32 blocks of shape (n_blocks, 32) and returns the bytes of
ggml's block structs, shape (n_blocks, bytes_per_block); the arithmetic is done
in float32 in the same order as ggml's reference C code so the bytes match.
"""

from __future__ import annotations

import numpy as np

QK = 32


def f16_bytes(v: np.ndarray) -> np.ndarray:
    """float32 column -> its IEEE half-precision bytes (round to nearest even, as F16C does)."""
    return np.asarray(v, dtype=np.float32).astype(np.float16).reshape(-1, 1).view(np.uint8)


def f16_from(b: np.ndarray) -> np.ndarray:
    """Two bytes per row -> float32 column."""
    return np.ascontiguousarray(b).view(np.float16).astype(np.float32)


def _inverse(d: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.where(d == 0, np.float32(0), np.float32(1) / d).astype(np.float32)


def _signed_absmax(blocks: np.ndarray) -> np.ndarray:
    # ggml keeps the sign of the first element with the largest magnitude.
    idx = np.abs(blocks).argmax(axis=1)
    return np.take_along_axis(blocks, idx[:, None], axis=1)


def _pack_nibbles(q: np.ndarray) -> np.ndarray:
    # Byte j holds weight j in its low nibble and weight j+16 in its high nibble.
    q = q.astype(np.uint8)
    return (q[:, :16] & 0xF) | ((q[:, 16:] & 0xF) << 4)


def _unpack_nibbles(qs: np.ndarray) -> np.ndarray:
    return np.concatenate([qs & 0xF, qs >> 4], axis=1)


def _pack_high_bits(q: np.ndarray) -> np.ndarray:
    # The fifth bit of each of the 32 weights, as one little-endian uint32.
    bits = ((q.astype(np.uint32) >> 4) & 1) << np.arange(32, dtype=np.uint32)
    return bits.sum(axis=1, dtype=np.uint32).astype("<u4").reshape(-1, 1).view(np.uint8)


def _unpack_high_bits(qh: np.ndarray) -> np.ndarray:
    word = np.ascontiguousarray(qh).view("<u4")
    return ((word >> np.arange(32, dtype=np.uint32)) & 1).astype(np.uint8)


def quantize_q8_0(blocks: np.ndarray) -> np.ndarray:
    d = (np.abs(blocks).max(axis=1, keepdims=True) / np.float32(127)).astype(np.float32)
    q = _round_half_away(blocks * _inverse(d))
    return np.concatenate([f16_bytes(d), q.astype(np.int8).view(np.uint8)], axis=1)


def _round_half_away(v: np.ndarray) -> np.ndarray:
    # C's roundf rounds halves away from zero; numpy's rint rounds them to even.
    return np.sign(v) * np.floor(np.abs(v) + np.float32(0.5))


def dequantize_q8_0(data: np.ndarray) -> np.ndarray:
    d = f16_from(data[:, :2])
    return d * data[:, 2:].view(np.int8).astype(np.float32)


def _finite_or_zero(v: np.ndarray) -> np.ndarray:
    # A denormal scale has an infinite inverse; x86's float->int conversion then yields
    # 0x80000000, whose low byte is 0, and gguf's numpy quantizer also writes 0.
    return np.where(np.isfinite(v), v, np.float32(0))


def _symmetric(blocks: np.ndarray, levels: int):
    # d = max / -levels maps the extreme weight to code 0, the other side to 2*levels-1.
    d = (_signed_absmax(blocks) / np.float32(-levels)).astype(np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        v = blocks * _inverse(d) + np.float32(levels + 0.5)
    v = _finite_or_zero(v)
    q = np.minimum(np.trunc(v), 2 * levels - 1).astype(np.uint8)  # C's (int8_t) cast truncates
    return d, q


def _asymmetric(blocks: np.ndarray, top: int):
    lo = blocks.min(axis=1, keepdims=True)
    hi = blocks.max(axis=1, keepdims=True)
    d = ((hi - lo) / np.float32(top)).astype(np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        v = (blocks - lo) * _inverse(d) + np.float32(0.5)
    v = _finite_or_zero(v)
    q = np.minimum(np.trunc(v), top).astype(np.uint8)
    return d, lo, q


def quantize_q4_0(blocks: np.ndarray) -> np.ndarray:
    d, q = _symmetric(blocks, 8)
    return np.concatenate([f16_bytes(d), _pack_nibbles(q)], axis=1)


def dequantize_q4_0(data: np.ndarray) -> np.ndarray:
    d = f16_from(data[:, :2])
    return (_unpack_nibbles(data[:, 2:]).astype(np.int8) - np.int8(8)).astype(np.float32) * d


def quantize_q4_1(blocks: np.ndarray) -> np.ndarray:
    d, lo, q = _asymmetric(blocks, 15)
    return np.concatenate([f16_bytes(d), f16_bytes(lo), _pack_nibbles(q)], axis=1)


def dequantize_q4_1(data: np.ndarray) -> np.ndarray:
    d, m = f16_from(data[:, :2]), f16_from(data[:, 2:4])
    return _unpack_nibbles(data[:, 4:]).astype(np.float32) * d + m


def quantize_q5_0(blocks: np.ndarray) -> np.ndarray:
    d, q = _symmetric(blocks, 16)
    return np.concatenate([f16_bytes(d), _pack_high_bits(q), _pack_nibbles(q)], axis=1)


def dequantize_q5_0(data: np.ndarray) -> np.ndarray:
    d = f16_from(data[:, :2])
    q = _unpack_nibbles(data[:, 6:]) | (_unpack_high_bits(data[:, 2:6]) << 4)
    return (q.astype(np.int8) - np.int8(16)).astype(np.float32) * d


def quantize_q5_1(blocks: np.ndarray) -> np.ndarray:
    d, lo, q = _asymmetric(blocks, 31)
    return np.concatenate([f16_bytes(d), f16_bytes(lo), _pack_high_bits(q), _pack_nibbles(q)], axis=1)


def dequantize_q5_1(data: np.ndarray) -> np.ndarray:
    d, m = f16_from(data[:, :2]), f16_from(data[:, 2:4])
    q = _unpack_nibbles(data[:, 8:]) | (_unpack_high_bits(data[:, 4:8]) << 4)
    return q.astype(np.float32) * d + m
