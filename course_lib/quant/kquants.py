"""GGUF's K-quants Q2_K, Q3_K, Q4_K, Q5_K and Q6_K (256-weight super-blocks), in numpy.

Derived in notebooks/02_quantization_from_scratch.ipynb. Each encoder follows
ggml's C code (`quantize_row_qN_K_ref` in ggml-quants.c, or
`quantize_row_qN_K_impl` when an importance matrix is given, as
`ggml_quantize_chunk` chooses): search each sub-block's scale (`quant.search`),
quantize the sub-block scales against one fp16 scale per super-block, then
requantize every weight with the scales as stored, and pack the bits. All
sub-blocks of a chunk are searched at once, as the columns of an array.

Encoders take float32 rows (r, row_len) and the importance matrix (one weight
per column, or None) and return the bytes, (r, row_len // 256 * block_bytes).
"""

from __future__ import annotations

import numpy as np

from course_lib.quant.blocks import f16_bytes, f16_from
from course_lib.quant.search import F, GROUP_MAX_EPS, make_q3, make_qkx, make_qp, make_qx, nearest_int, rounded, seqsum

QK_K = 256


def columns(x: np.ndarray, group: int) -> np.ndarray:
    """Flat weights -> (group, n_groups): each column one sub-block, as the searches want them."""
    return np.ascontiguousarray(x.reshape(-1, group).T)


def imatrix_columns(imatrix: np.ndarray, group: int, n_rows: int) -> np.ndarray:
    """The importance of each weight, laid out like `columns`: the same per-column weights on every row."""
    return np.ascontiguousarray(np.tile(np.asarray(imatrix, F).reshape(-1, group).T, (1, n_rows)))


def _superblock_sigma2(rows: np.ndarray, factor: float) -> np.ndarray:
    # factor * sum(x^2) / 256 per super-block, summed in C's order; one value per super-block
    xs = columns(rows.reshape(-1), QK_K)
    return (F(factor) * seqsum(xs * xs)) / F(QK_K)


def _imatrix_weights(rows, imatrix, group, factor):
    """ggml's weights with an importance matrix: qw * sqrt(sigma2 + x^2), sigma2 from the super-block."""
    sub = columns(rows.reshape(-1), group)
    sigma2 = np.repeat(_superblock_sigma2(rows, factor), QK_K // group)
    return sub, imatrix_columns(imatrix, group, rows.shape[0]) * np.sqrt(sigma2 + sub * sub)


def _requantize(sub, codes, d, dm, lo, hi):
    """Every weight again with the scales as stored (d, dm per sub-block); a zero scale keeps the search's code."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        q = rounded((sub + dm) / d, lo, hi) if dm is not None else rounded(sub / d, lo, hi)
    return np.where(d != 0, q.astype(np.int32), codes)


def _natural(codes: np.ndarray, nb: int) -> np.ndarray:
    return np.ascontiguousarray(codes.T).reshape(nb, QK_K).astype(np.uint8)


# ---- Q4_K and Q5_K: eight sub-blocks of 32, 6-bit scales and mins --------------------------------------


def pack_scale_min_k4(ls: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """Eight 6-bit scales and eight 6-bit mins -> ggml's 12-byte layout."""
    ls, lm = ls.astype(np.uint8), lm.astype(np.uint8)
    out = np.zeros((ls.shape[0], 12), dtype=np.uint8)
    out[:, 0:4] = ls[:, :4] | ((ls[:, 4:] >> 4) << 6)
    out[:, 4:8] = lm[:, :4] | ((lm[:, 4:] >> 4) << 6)
    out[:, 8:12] = (ls[:, 4:] & 0xF) | ((lm[:, 4:] & 0xF) << 4)
    return out


def unpack_scale_min_k4(b: np.ndarray):
    sc = np.concatenate([b[:, 0:4] & 63, (b[:, 8:12] & 0xF) | ((b[:, 0:4] >> 6) << 4)], axis=1)
    mn = np.concatenate([b[:, 4:8] & 63, (b[:, 8:12] >> 4) | ((b[:, 4:8] >> 6) << 4)], axis=1)
    return sc, mn


def _q45_k(rows, imatrix, nmax, rmin, rdelta, nstep):
    """Scales, mins and codes of Q4_K (nmax 15) or Q5_K (nmax 31): (head bytes, codes (nb, 256))."""
    nb = rows.size // QK_K
    if imatrix is None:
        sub = columns(rows.reshape(-1), 32)
        av_x = np.sqrt(seqsum(sub * sub) / F(32))
        scales, mins, codes = make_qkx(sub, av_x + np.abs(sub), nmax, rmin, rdelta, nstep, False)
        max_scale = np.maximum(scales.reshape(nb, 8).max(axis=1), F(0))
        max_min = np.maximum(mins.reshape(nb, 8).max(axis=1), F(0))
        with np.errstate(divide="ignore"):
            inv_scale = np.where(max_scale > 0, F(63) / max_scale, F(0)).astype(F)
            inv_min = np.where(max_min > 0, F(63) / max_min, F(0)).astype(F)
        ls = np.minimum(nearest_int(np.repeat(inv_scale, 8) * scales) & 0xFF, 63).reshape(nb, 8)
        lm = np.minimum(nearest_int(np.repeat(inv_min, 8) * mins) & 0xFF, 63).reshape(nb, 8)
        d_bytes, dmin_bytes = f16_bytes(max_scale / F(63)), f16_bytes(max_min / F(63))
    else:
        sub, w = _imatrix_weights(rows, imatrix, 32, 2)
        scales, mins, codes = make_qkx(sub, w, nmax, -0.9, 0.05, 36, False)
        sw = seqsum(w).reshape(nb, 8).T
        d_block, ls = make_qp(np.ascontiguousarray(scales.reshape(nb, 8).T), 63, sw)
        m_block, lm = make_qp(np.ascontiguousarray(mins.reshape(nb, 8).T), 63, sw)
        ls, lm = ls.T, lm.T
        if nmax == 31:  # quantize_row_q5_K_impl clamps the codes to 6 bits; the Q4_K one does not
            ls, lm = np.minimum(ls, 63), np.minimum(lm, 63)
        d_bytes, dmin_bytes = f16_bytes(d_block), f16_bytes(m_block)
    packed = pack_scale_min_k4(ls, lm)
    sc, mn = unpack_scale_min_k4(packed)
    d = (f16_from(d_bytes) * sc.astype(F)).reshape(-1)
    dm = (f16_from(dmin_bytes) * mn.astype(F)).reshape(-1)
    codes = _requantize(sub, codes, d, dm, 0, nmax)
    return np.concatenate([d_bytes, dmin_bytes, packed], axis=1), _natural(codes, nb)


def quantize_q4_k(rows: np.ndarray, imatrix=None) -> np.ndarray:
    head, codes = _q45_k(rows, imatrix, 15, -1.0, 0.1, 20)
    lr = codes.reshape(-1, 4, 2, 32)
    qs = (lr[:, :, 0] | (lr[:, :, 1] << 4)).reshape(-1, 128)
    return np.concatenate([head, qs], axis=1).reshape(rows.shape[0], -1)


def dequantize_q4_k(data: np.ndarray) -> np.ndarray:
    nb = data.shape[0]
    d, dmin = f16_from(data[:, 0:2]), f16_from(data[:, 2:4])
    sc, mn = unpack_scale_min_k4(data[:, 4:16])
    qs = data[:, 16:].reshape(nb, 4, 32)
    q = np.concatenate([qs & 0xF, qs >> 4], axis=2).reshape(nb, 8, 32).astype(F)
    return ((d * sc.astype(F))[..., None] * q - (dmin * mn.astype(F))[..., None]).reshape(nb, QK_K)


def quantize_q5_k(rows: np.ndarray, imatrix=None) -> np.ndarray:
    head, codes = _q45_k(rows, imatrix, 31, -0.5, 0.1, 15)
    lr = codes.reshape(-1, 4, 2, 32)
    high = lr >> 4
    qh = np.zeros((lr.shape[0], 32), dtype=np.uint8)
    for k in range(4):
        qh |= (high[:, k, 0] << (2 * k)) | (high[:, k, 1] << (2 * k + 1))
    ql = ((lr[:, :, 0] & 0xF) | ((lr[:, :, 1] & 0xF) << 4)).reshape(-1, 128)
    return np.concatenate([head, qh, ql], axis=1).reshape(rows.shape[0], -1)


def dequantize_q5_k(data: np.ndarray) -> np.ndarray:
    nb = data.shape[0]
    d, dmin = f16_from(data[:, 0:2]), f16_from(data[:, 2:4])
    sc, mn = unpack_scale_min_k4(data[:, 4:16])
    qh = data[:, 16:48]
    ql = data[:, 48:].reshape(nb, 4, 32)
    low = np.stack([ql & 0xF, ql >> 4], axis=2)  # (nb, 4, 2, 32)
    bit = (qh[:, None, None, :] >> (2 * np.arange(4)[:, None] + np.arange(2))[None, :, :, None].astype(np.uint8)) & 1
    q = (low | (bit << 4)).reshape(nb, 8, 32).astype(F)
    return ((d * sc.astype(F))[..., None] * q - (dmin * mn.astype(F))[..., None]).reshape(nb, QK_K)


# ---- Q6_K: sixteen sub-blocks of 16, int8 scales ----------------------------------------------------


def quantize_q6_k(rows: np.ndarray, imatrix=None) -> np.ndarray:
    nb = rows.size // QK_K
    sub = columns(rows.reshape(-1), 16)
    w = None if imatrix is None else imatrix_columns(imatrix, 16, rows.shape[0])
    scales, codes = make_qx(sub, 32, w)
    per_block = scales.reshape(nb, 16)
    idx = np.abs(per_block).argmax(axis=1)
    max_scale = np.take_along_axis(per_block, idx[:, None], axis=1)[:, 0]
    zero = np.abs(max_scale) < GROUP_MAX_EPS
    max_scale = np.where(zero, F(1), max_scale).astype(F)
    iscale = (F(-128) / max_scale).astype(F)
    d_bytes = f16_bytes(np.where(zero, F(0), F(1) / iscale))
    sc = np.minimum(127, nearest_int(iscale[:, None] * per_block)).astype(np.int8)
    d = (f16_from(d_bytes) * sc.astype(F)).reshape(-1)
    codes = _requantize(sub, codes - 32, d, None, -32, 31) + 32
    lr = _natural(codes, nb).reshape(nb, 2, 4, 32)
    lo4 = lr & 0xF
    ql = np.concatenate([lo4[:, :, 0] | (lo4[:, :, 2] << 4), lo4[:, :, 1] | (lo4[:, :, 3] << 4)], axis=2)
    qh = (lr[:, :, 0] >> 4) | ((lr[:, :, 1] >> 4) << 2) | ((lr[:, :, 2] >> 4) << 4) | ((lr[:, :, 3] >> 4) << 6)
    out = np.concatenate([ql.reshape(nb, 128), qh.reshape(nb, 64), sc.view(np.uint8), d_bytes], axis=1)
    out[zero] = 0
    return out.reshape(rows.shape[0], -1)


def dequantize_q6_k(data: np.ndarray) -> np.ndarray:
    nb = data.shape[0]
    ql = data[:, :128].reshape(nb, 2, 2, 32)
    qh = data[:, 128:192].reshape(nb, 2, 1, 32)
    sc = data[:, 192:208].view(np.int8).astype(F)
    d = f16_from(data[:, 208:210])
    lo = np.stack([ql[:, :, 0] & 0xF, ql[:, :, 1] & 0xF, ql[:, :, 0] >> 4, ql[:, :, 1] >> 4], axis=2)
    hi = (qh >> (2 * np.arange(4, dtype=np.uint8))[None, None, :, None]) & 3
    q = ((lo | (hi << 4)).astype(np.int16) - 32).astype(F).reshape(nb, 16, 16)
    return ((d * sc)[..., None] * q).reshape(nb, QK_K)


# ---- Q3_K and Q2_K: sixteen sub-blocks of 16, 2 bits per weight (+ a high bit for Q3_K) -----------


def _pack_2bit(codes: np.ndarray) -> np.ndarray:
    # byte 32*h + l holds weights 128*h + l + 32*s in bits 2s..2s+1
    lr = codes.reshape(-1, 2, 4, 32)
    return (lr[:, :, 0] | (lr[:, :, 1] << 2) | (lr[:, :, 2] << 4) | (lr[:, :, 3] << 6)).reshape(-1, 64)


def _unpack_2bit(qs: np.ndarray) -> np.ndarray:
    q = qs.reshape(-1, 2, 1, 32) >> (2 * np.arange(4, dtype=np.uint8))[None, None, :, None]
    return (q & 3).reshape(-1, QK_K)


def pack_q3_scales(ls: np.ndarray) -> np.ndarray:
    """Sixteen 6-bit scales (0..63) -> ggml's 12 bytes: low nibbles in 0..7, the top 2 bits in 8..11."""
    ls = ls.astype(np.uint8)
    out = np.zeros((ls.shape[0], 12), dtype=np.uint8)
    out[:, :8] = (ls[:, :8] & 0xF) | ((ls[:, 8:] & 0xF) << 4)
    for q in range(4):
        out[:, 8:12] |= (ls[:, 4 * q:4 * q + 4] >> 4) << (2 * q)
    return out


def unpack_q3_scales(b: np.ndarray) -> np.ndarray:
    low = np.concatenate([b[:, :8] & 0xF, b[:, :8] >> 4], axis=1)
    high = (b[:, 8:12][:, None, :] >> (2 * np.arange(4, dtype=np.uint8))[None, :, None]) & 3
    return (low | (high.reshape(-1, 16) << 4)).astype(np.int16) - 32


def quantize_q3_k(rows: np.ndarray, imatrix=None) -> np.ndarray:
    nb = rows.size // QK_K
    if imatrix is None:
        sub = columns(rows.reshape(-1), 16)
        scales, codes = make_q3(sub, 4)
        per_block = scales.reshape(nb, 16)
        idx = np.abs(per_block).argmax(axis=1)
        max_scale = np.take_along_axis(per_block, idx[:, None], axis=1)[:, 0]
        zero = max_scale == 0
        with np.errstate(divide="ignore", invalid="ignore"):
            iscale = (F(-32) / np.where(zero, F(1), max_scale)).astype(F)
        ls = np.clip(nearest_int(iscale[:, None] * per_block).astype(np.int8), -32, 31) + 32
        ls[zero] = 0
        packed = pack_q3_scales(ls)
        packed[zero] = 0
        d_bytes = f16_bytes(np.where(zero, F(0), F(1) / iscale))
    else:
        sub, w = _imatrix_weights(rows, imatrix, 16, 2)
        scales, codes = make_qx(sub, 4, w)
        d_block, ls = make_qx(np.ascontiguousarray(scales.reshape(nb, 16).T), 32, seqsum(w).reshape(nb, 16).T)
        packed = pack_q3_scales(ls.T)
        d_bytes = f16_bytes(d_block)
    d = (f16_from(d_bytes) * unpack_q3_scales(packed).astype(F)).reshape(-1)
    codes = _natural(_requantize(sub, codes - 4, d, None, -4, 3) + 4, nb)
    high = codes > 3
    hmask = np.zeros((nb, 32), dtype=np.uint8)
    for k in range(8):
        hmask |= high[:, 32 * k:32 * k + 32].astype(np.uint8) << k
    qs = _pack_2bit(np.where(high, codes - 4, codes).astype(np.uint8))
    return np.concatenate([hmask, qs, packed, d_bytes], axis=1).reshape(rows.shape[0], -1)


def dequantize_q3_k(data: np.ndarray) -> np.ndarray:
    nb = data.shape[0]
    hbit = (data[:, None, :32] >> np.arange(8, dtype=np.uint8)[None, :, None]) & 1  # (nb, 8, 32): weight 32k + l
    q = _unpack_2bit(data[:, 32:96]).astype(np.int16) - 4 * (1 - hbit.reshape(nb, QK_K).astype(np.int16))
    dl = f16_from(data[:, 108:110]) * unpack_q3_scales(data[:, 96:108]).astype(F)
    return (np.repeat(dl, 16, axis=1) * q.astype(F)).reshape(nb, QK_K)


def quantize_q2_k(rows: np.ndarray, imatrix=None) -> np.ndarray:
    nb = rows.size // QK_K
    if imatrix is None:
        sub = columns(rows.reshape(-1), 16)
        scales, mins, codes = make_qkx(sub, np.abs(sub), 3, -0.5, 0.1, 15, True)
        max_scale = np.maximum(scales.reshape(nb, 16).max(axis=1), F(0))
        max_min = np.maximum(mins.reshape(nb, 16).max(axis=1), F(0))
        with np.errstate(divide="ignore", invalid="ignore"):
            ls = nearest_int(np.repeat(F(15) / max_scale, 16) * scales).reshape(nb, 16)
            lm = nearest_int(np.repeat(F(15) / max_min, 16) * mins).reshape(nb, 16)
        ls[max_scale <= 0] = 0
        lm[max_min <= 0] = 0
        d_bytes = f16_bytes(np.where(max_scale > 0, max_scale / F(15), F(0)))
        dmin_bytes = f16_bytes(np.where(max_min > 0, max_min / F(15), F(0)))
    else:
        sub, w = _imatrix_weights(rows, imatrix, 16, 1)
        scales, mins, codes = make_qkx(sub, w, 3, -0.9, 0.05, 36, False)
        sw = seqsum(w).reshape(nb, 16).T
        dm, ls = make_qp(np.ascontiguousarray(scales.reshape(nb, 16).T), 15, sw)
        mm, lm = make_qp(np.ascontiguousarray(mins.reshape(nb, 16).T), 15, sw)
        ls, lm = ls.T, lm.T
        d_bytes, dmin_bytes = f16_bytes(dm), f16_bytes(mm)
    packed = ((ls & 0xFF) | ((lm << 4) & 0xFF)).astype(np.uint8)
    d = (f16_from(d_bytes) * (packed & 0xF).astype(F)).reshape(-1)
    dm = (f16_from(dmin_bytes) * (packed >> 4).astype(F)).reshape(-1)
    codes = _natural(_requantize(sub, codes, d, dm, 0, 3), nb)
    return np.concatenate([packed, _pack_2bit(codes), d_bytes, dmin_bytes], axis=1).reshape(rows.shape[0], -1)


def dequantize_q2_k(data: np.ndarray) -> np.ndarray:
    nb = data.shape[0]
    sc = data[:, :16]
    d, dmin = f16_from(data[:, 80:82]), f16_from(data[:, 82:84])
    dl = np.repeat(d * (sc & 0xF).astype(F), 16, axis=1)
    ml = np.repeat(dmin * (sc >> 4).astype(F), 16, axis=1)
    return (dl * _unpack_2bit(data[:, 16:80]).astype(F) - ml).reshape(nb, QK_K)
