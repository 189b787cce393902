"""GGUF's K-quants Q4_K and Q6_K (256-weight super-blocks), in numpy.

Derived in notebooks/02_quantization_from_scratch.ipynb. The scale search
follows ggml's reference quantizer (make_qkx2_quants for Q4_K, make_qx_quants
for Q6_K). Sums are accumulated one element at a time in float32, as the C loop
does, vectorised across sub-blocks (np.add.accumulate): a pairwise numpy sum
would round differently and change a few bytes.
"""

from __future__ import annotations

import numpy as np

from course_lib.quant.blocks import f16_bytes, f16_from

QK_K = 256
GROUP_MAX_EPS = np.float32(1e-15)
F = np.float32


def _seqsum(terms: np.ndarray) -> np.ndarray:
    return np.add.accumulate(terms.astype(np.float32), axis=-1)[..., -1]


def _nearest_int(v: np.ndarray) -> np.ndarray:
    # ggml's nearest_int adds 1.5 * 2**23: round half to even, like rint.
    return np.rint(v).astype(np.int32)


def _qkx2(x, w, nmax=15, rmin=-1.0, rdelta=0.1, nstep=20):
    """Per-row (scale, -min, codes) minimising the weighted squared error; x, w: (m, 32)."""
    lo = x.min(axis=1)
    lo = np.where(lo > 0, F(0), lo).astype(F)
    hi = x.max(axis=1)
    sum_w = _seqsum(w)
    sum_x = _seqsum(w * x)
    flat = hi == lo
    rng = np.where(flat, F(1), hi - lo).astype(F)
    iscale = (F(nmax) / rng).astype(F)
    scale = (F(1) / iscale).astype(F)
    L = np.clip(_nearest_int(iscale[:, None] * (x - lo[:, None])), 0, nmax)
    diff = scale[:, None] * L.astype(F) + lo[:, None] - x
    best = _seqsum(w * (diff * diff))
    for step in range(nstep + 1):
        # ggml updates min as it goes, so later candidates divide by the new range
        rng = np.where(flat, F(1), hi - lo).astype(F)
        iscale = ((F(rmin) + F(rdelta) * F(step) + F(nmax)) / rng).astype(F)
        la = np.clip(_nearest_int(iscale[:, None] * (x - lo[:, None])), 0, nmax)
        lf = la.astype(F)
        sum_l = _seqsum(w * lf)
        sum_l2 = _seqsum(w * lf * lf)
        sum_xl = _seqsum(w * lf * x)
        D = sum_w * sum_l2 - sum_l * sum_l
        with np.errstate(divide="ignore", invalid="ignore"):
            this_scale = (sum_w * sum_xl - sum_x * sum_l) / D
            this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D
            clamp = this_min > 0
            this_scale = np.where(clamp, sum_xl / sum_l2, this_scale).astype(F)
        this_min = np.where(clamp, F(0), this_min).astype(F)
        diff = this_scale[:, None] * lf + this_min[:, None] - x
        cur = _seqsum(w * (diff * diff))
        better = (D > 0) & (cur < best) & ~flat
        L = np.where(better[:, None], la, L)
        best = np.where(better, cur, best)
        scale = np.where(better, this_scale, scale)
        lo = np.where(better, this_min, lo)
    L = np.where(flat[:, None], 0, L)
    scale = np.where(flat, F(0), scale).astype(F)
    return scale, (-lo).astype(F), L


def quantize_q4_k(x: np.ndarray) -> np.ndarray:
    nb = x.shape[0] // QK_K
    sub = x.reshape(nb * 8, 32)
    av_x = np.sqrt(_seqsum(sub * sub) / F(32)).astype(F)
    weights = av_x[:, None] + np.abs(sub)
    scales, mins, L = _qkx2(sub, weights)
    scales, mins, L = scales.reshape(nb, 8), mins.reshape(nb, 8), L.reshape(nb, 8, 32)
    max_scale = np.maximum(scales.max(axis=1), 0).astype(F)
    max_min = np.maximum(mins.max(axis=1), 0).astype(F)
    with np.errstate(divide="ignore"):
        inv_scale = np.where(max_scale > 0, F(63) / max_scale, F(0)).astype(F)
        inv_min = np.where(max_min > 0, F(63) / max_min, F(0)).astype(F)
    ls = np.minimum(_nearest_int(inv_scale[:, None] * scales) & 0xFF, 63).astype(np.uint8)
    lm = np.minimum(_nearest_int(inv_min[:, None] * mins) & 0xFF, 63).astype(np.uint8)
    packed = pack_scale_min_k4(ls, lm)
    d = (max_scale / F(63)).astype(F)
    dmin = (max_min / F(63)).astype(F)
    d_bytes, dmin_bytes = f16_bytes(d), f16_bytes(dmin)
    dd = f16_from(d_bytes)[:, :1] * ls.astype(F)  # scales as stored, not as computed
    dm = f16_from(dmin_bytes)[:, :1] * lm.astype(F)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.clip(_nearest_int((sub.reshape(nb, 8, 32) + dm[..., None]) / dd[..., None]), 0, 15)
    L = np.where((dd != 0)[..., None], q, L).reshape(nb, 4, 64).astype(np.uint8)
    qs = (L[:, :, :32] | (L[:, :, 32:] << 4)).reshape(nb, 128)
    return np.concatenate([d_bytes, dmin_bytes, packed, qs], axis=1)


def pack_scale_min_k4(ls: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """Eight 6-bit scales and eight 6-bit mins -> ggml's 12-byte layout."""
    out = np.zeros((ls.shape[0], 12), dtype=np.uint8)
    out[:, 0:4] = ls[:, :4] | ((ls[:, 4:] >> 4) << 6)
    out[:, 4:8] = lm[:, :4] | ((lm[:, 4:] >> 4) << 6)
    out[:, 8:12] = (ls[:, 4:] & 0xF) | ((lm[:, 4:] & 0xF) << 4)
    return out


def unpack_scale_min_k4(b: np.ndarray):
    sc = np.concatenate([b[:, 0:4] & 63, (b[:, 8:12] & 0xF) | ((b[:, 0:4] >> 6) << 4)], axis=1)
    mn = np.concatenate([b[:, 4:8] & 63, (b[:, 8:12] >> 4) | ((b[:, 4:8] >> 6) << 4)], axis=1)
    return sc, mn


def dequantize_q4_k(data: np.ndarray) -> np.ndarray:
    nb = data.shape[0]
    d, dmin = f16_from(data[:, 0:2]), f16_from(data[:, 2:4])
    sc, mn = unpack_scale_min_k4(data[:, 4:16])
    qs = data[:, 16:].reshape(nb, 4, 32)
    q = np.concatenate([qs & 0xF, qs >> 4], axis=2).reshape(nb, 8, 32).astype(F)
    y = (d * sc.astype(F))[..., None] * q - (dmin * mn.astype(F))[..., None]
    return y.reshape(nb, QK_K)


def _qx(x, nmax=32):
    """make_qx_quants with rmse_type 1 (weights x**2); x: (m, 16). Returns (scale, codes + nmax)."""
    idx = np.abs(x).argmax(axis=1)
    mx = np.take_along_axis(x, idx[:, None], axis=1)[:, 0]
    tiny = np.abs(mx) < GROUP_MAX_EPS
    mx = np.where(tiny, F(1), mx).astype(F)
    w = x * x

    def trial(iscale):
        lv = np.clip(_nearest_int(iscale[:, None] * x), -nmax, nmax - 1)
        lf = lv.astype(F)
        return lv, _seqsum(w * x * lf), _seqsum(w * lf * lf)

    iscale = (F(-nmax) / mx).astype(F)
    L, sumlx, suml2 = trial(iscale)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(suml2 != 0, sumlx / suml2, F(0)).astype(F)
    best = (scale * sumlx).astype(F)
    for step in range(-9, 10):
        if step == 0:
            continue
        iscale = (-(F(nmax) + F(0.1) * F(step)) / mx).astype(F)
        lv, sumlx, suml2 = trial(iscale)
        better = (suml2 > 0) & (sumlx * sumlx > best * suml2)
        with np.errstate(divide="ignore", invalid="ignore"):
            s = (sumlx / suml2).astype(F)
        L = np.where(better[:, None], lv, L)
        scale = np.where(better, s, scale)
        best = np.where(better, (s * sumlx).astype(F), best)
    L = np.where(tiny[:, None], -nmax, L)
    scale = np.where(tiny, F(0), scale).astype(F)
    return scale, L + nmax


def quantize_q6_k(x: np.ndarray) -> np.ndarray:
    nb = x.shape[0] // QK_K
    sub = x.reshape(nb * 16, 16)
    scales, L = _qx(sub)
    scales, L = scales.reshape(nb, 16), L.reshape(nb, 16, 16)
    idx = np.abs(scales).argmax(axis=1)
    max_scale = np.take_along_axis(scales, idx[:, None], axis=1)[:, 0]
    zero = np.abs(max_scale) < GROUP_MAX_EPS
    max_scale = np.where(zero, F(1), max_scale).astype(F)
    iscale = (F(-128) / max_scale).astype(F)
    d_bytes = f16_bytes(np.where(zero, F(0), F(1) / iscale))
    sc = np.minimum(127, _nearest_int(iscale[:, None] * scales)).astype(np.int8)
    dd = f16_from(d_bytes)[:, :1] * sc.astype(F)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.clip(_nearest_int(sub.reshape(nb, 16, 16) / dd[..., None]), -32, 31) + 32
    L = np.where((dd != 0)[..., None], q, L).reshape(nb, 2, 4, 32).astype(np.uint8)
    lo4 = L & 0xF
    ql = np.concatenate([lo4[:, :, 0] | (lo4[:, :, 2] << 4), lo4[:, :, 1] | (lo4[:, :, 3] << 4)], axis=2)
    qh = (L[:, :, 0] >> 4) | ((L[:, :, 1] >> 4) << 2) | ((L[:, :, 2] >> 4) << 4) | ((L[:, :, 3] >> 4) << 6)
    out = np.concatenate([ql.reshape(nb, 128), qh.reshape(nb, 64), sc.view(np.uint8), d_bytes], axis=1)
    out[zero] = 0
    return out


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
