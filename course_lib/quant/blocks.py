"""GGUF's 32-weight block formats Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1, in numpy.

Derived step by step in notebooks/02_quantization_from_scratch.ipynb. Each
`quantize_*` function takes float32 rows, cuts them into blocks of 32 and
returns the bytes of ggml's block structs, (rows, blocks * bytes_per_block).
The blocks are handled as the columns of a (32, n_blocks) array, so every
step (the block's scale, each weight's code, the packing) is one numpy
expression over all blocks at once. The arithmetic is float32 in the order of
ggml's reference C code (`quantize_row_q4_0_ref` ...), so the bytes match.

With an importance matrix, ggml quantizes Q4_0..Q5_1 differently
(`quantize_row_q4_0_impl` ...): a weighted search for each block's scale
(`quant.search`), the weights coming from the matrix and the row's spread.
"""

from __future__ import annotations

import numpy as np

from course_lib.quant.search import F, c_min_max, first_absmax, make_qkx, make_qx, seqsum

QK = 32


def f16_bytes(v: np.ndarray) -> np.ndarray:
    """float32 values -> their IEEE half-precision bytes, one value per row (round to nearest even, as F16C does)."""
    return np.asarray(v, dtype=np.float32).astype(np.float16).reshape(-1, 1).view(np.uint8)


def f16_from(b: np.ndarray) -> np.ndarray:
    """Two bytes per row -> float32 column."""
    return np.ascontiguousarray(b).view(np.float16).astype(np.float32)


def block_columns(rows: np.ndarray) -> np.ndarray:
    """Rows -> (32, n_blocks), contiguous: block b is column b, so a block's max is an elementwise max of rows."""
    return np.ascontiguousarray(rows.reshape(-1, QK).T)


def _inverse(d: np.ndarray) -> np.ndarray:
    # ggml: id = d ? 1/d : 0
    with np.errstate(divide="ignore", over="ignore"):
        return np.where(d == 0, F(0), F(1) / d).astype(F)


def _scaled(blocks: np.ndarray, inverse: np.ndarray, offset: float | None = None) -> np.ndarray:
    """Each block (a row) times its id (+ offset); a denormal block's infinite id gives non-finite values, set to 0.

    ggml converts those to an integer with x86's cvttss2si, which yields 0x80000000: its low byte is 0.
    """
    v = blocks * inverse[:, None]
    if offset is not None:
        v += F(offset)
    if not np.isfinite(inverse).all():
        v[~np.isfinite(v)] = 0
    return v


def _roundf(v: np.ndarray) -> np.ndarray:
    """C's roundf (halves away from zero) as int8: v + copysign(0.5, v), truncated. The one float32 value where
    that differs is |v| = 0.5 - 2**-25, whose sum rounds up to 1.0 while roundf gives 0."""
    q = (v + np.copysign(F(0.5), v)).astype(np.int8)
    edge = np.abs(v) == F(0.5 - 2**-25)
    if edge.any():
        q[edge] = 0
    return q


def _out(rows: np.ndarray, *fields: np.ndarray) -> np.ndarray:
    """Block structs from their fields, each (n_blocks, bytes), laid out one row of bytes per row of weights."""
    return np.concatenate(fields, axis=1).reshape(rows.shape[0], -1)


def _nibbles(q: np.ndarray) -> np.ndarray:
    # (n, 32) codes -> (n, 16) bytes: byte j holds weight j in its low nibble and weight j+16 in its high nibble
    return (q[:, :16] & 0xF) | ((q[:, 16:] & 0xF) << 4)


def _fifth_bits(q: np.ndarray) -> np.ndarray:
    # bit 4 of each of the 32 codes, as one little-endian uint32: (n, 4) bytes
    return np.packbits((q >> 4) & 1, axis=1, bitorder="little")


def _unpack_nibbles(qs: np.ndarray) -> np.ndarray:
    return np.concatenate([qs & 0xF, qs >> 4], axis=1)


def _unpack_high_bits(qh: np.ndarray) -> np.ndarray:
    return np.unpackbits(np.ascontiguousarray(qh), axis=1, bitorder="little")


def quantize_q8_0(rows: np.ndarray, imatrix=None) -> np.ndarray:
    """d = max|x| / 127, q = roundf(x / d); ggml ignores an importance matrix for Q8_0."""
    d = (np.abs(block_columns(rows)).max(axis=0) / F(127)).astype(F)
    q = _roundf(_scaled(rows.reshape(-1, QK), _inverse(d)))
    return _out(rows, f16_bytes(d), q.view(np.uint8))


def dequantize_q8_0(data: np.ndarray) -> np.ndarray:
    d = f16_from(data[:, :2])
    return d * data[:, 2:].view(np.int8).astype(np.float32)


def _symmetric(rows: np.ndarray, levels: int):
    """Q4_0 / Q5_0: d = max / -levels maps the largest weight to code 0 and the other side to 2*levels-1."""
    d = (first_absmax(block_columns(rows))[0] / F(-levels)).astype(F)
    v = _scaled(rows.reshape(-1, QK), _inverse(d), levels + 0.5)
    return d, np.minimum(v.astype(np.uint8), 2 * levels - 1)  # C's (int8_t) cast truncates, then MIN


def _asymmetric(rows: np.ndarray, top: int):
    """Q4_1 / Q5_1: codes 0..top between the block's min and max."""
    lo, hi = c_min_max(block_columns(rows))
    d = ((hi - lo) / F(top)).astype(F)
    v = _scaled(rows.reshape(-1, QK) - lo[:, None], _inverse(d), 0.5)
    return d, lo, np.minimum(v.astype(np.uint8), top)


# ---- with an importance matrix: ggml's weighted search, one row's spread per block ----------------------


def _weighted_blocks(rows: np.ndarray, imatrix: np.ndarray):
    """(blocks as columns, their weights qw * sqrt(sigma2 + x^2)); sigma2 = mean x^2 of the whole row."""
    n_rows, row_len = rows.shape
    by_row = np.ascontiguousarray(rows.T)
    sigma2 = np.repeat(seqsum(by_row * by_row) / F(row_len), row_len // QK)
    cols = block_columns(rows)
    qw = np.tile(np.asarray(imatrix, F).reshape(-1, QK).T, (1, n_rows))
    return cols, qw * np.sqrt(sigma2 + cols * cols)


def _symmetric_weighted(rows, imatrix, levels):
    cols, w = _weighted_blocks(rows, imatrix)
    d, codes = make_qx(cols, levels, w)
    return d, np.ascontiguousarray(codes.T).astype(np.uint8)


def _asymmetric_weighted(rows, imatrix, top):
    cols, w = _weighted_blocks(rows, imatrix)
    d, minus_min, codes = make_qkx(cols, w, top, -0.9, 0.05, 36, False)
    return d, -minus_min, np.ascontiguousarray(codes.T).astype(np.uint8)


def quantize_q4_0(rows: np.ndarray, imatrix=None) -> np.ndarray:
    d, q = _symmetric(rows, 8) if imatrix is None else _symmetric_weighted(rows, imatrix, 8)
    return _out(rows, f16_bytes(d), _nibbles(q))


def dequantize_q4_0(data: np.ndarray) -> np.ndarray:
    d = f16_from(data[:, :2])
    return (_unpack_nibbles(data[:, 2:]).astype(np.int8) - np.int8(8)).astype(np.float32) * d


def quantize_q4_1(rows: np.ndarray, imatrix=None) -> np.ndarray:
    d, lo, q = _asymmetric(rows, 15) if imatrix is None else _asymmetric_weighted(rows, imatrix, 15)
    return _out(rows, f16_bytes(d), f16_bytes(lo), _nibbles(q))


def dequantize_q4_1(data: np.ndarray) -> np.ndarray:
    d, m = f16_from(data[:, :2]), f16_from(data[:, 2:4])
    return _unpack_nibbles(data[:, 4:]).astype(np.float32) * d + m


def quantize_q5_0(rows: np.ndarray, imatrix=None) -> np.ndarray:
    d, q = _symmetric(rows, 16) if imatrix is None else _symmetric_weighted(rows, imatrix, 16)
    return _out(rows, f16_bytes(d), _fifth_bits(q), _nibbles(q))


def dequantize_q5_0(data: np.ndarray) -> np.ndarray:
    d = f16_from(data[:, :2])
    q = _unpack_nibbles(data[:, 6:]) | (_unpack_high_bits(data[:, 2:6]) << 4)
    return (q.astype(np.int8) - np.int8(16)).astype(np.float32) * d


def quantize_q5_1(rows: np.ndarray, imatrix=None) -> np.ndarray:
    d, lo, q = _asymmetric(rows, 31) if imatrix is None else _asymmetric_weighted(rows, imatrix, 31)
    return _out(rows, f16_bytes(d), f16_bytes(lo), _fifth_bits(q), _nibbles(q))


def dequantize_q5_1(data: np.ndarray) -> np.ndarray:
    d, m = f16_from(data[:, :2]), f16_from(data[:, 2:4])
    q = _unpack_nibbles(data[:, 8:]) | (_unpack_high_bits(data[:, 4:8]) << 4)
    return q.astype(np.float32) * d + m
