"""IQ4_NL: GGUF's 4-bit non-linear format (blocks of 32, 16 fixed levels), in numpy.

Derived in notebooks/02_quantization_from_scratch.ipynb. Like NF4, the 16
levels are not evenly spaced (ggml's `kvalues_iq4nl`, denser near zero); a
block stores an fp16 scale and 32 level indices. The encoder follows
`quantize_row_iq4_nl_impl` as `ggml_quantize_chunk` calls it (15 candidate
scales around max/127, weighted by x**2, or by an importance matrix), for
every block at once.
"""

from __future__ import annotations

import numpy as np

from course_lib.quant.blocks import QK, f16_bytes, f16_from
from course_lib.quant.search import F, first_absmax, seqsum

# ggml-common.h, kvalues_iq4nl
IQ4_NL_LEVELS = np.array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113], dtype=np.int8)
_LEVELS = IQ4_NL_LEVELS.astype(F)
# For each integer n in [-127, 112], the last level <= n: the levels are integers, so floor(a) finds a's bracket.
_BRACKET = np.searchsorted(IQ4_NL_LEVELS, np.arange(-127, 113), side="right") - 1
_BELOW, _ABOVE = _LEVELS[_BRACKET], _LEVELS[_BRACKET + 1]


def nearest_level(a: np.ndarray):
    """ggml's best_index_int8 on float32 `a`: (index of the nearest level, that level), ties to the upper one."""
    finite = np.nan_to_num(a, nan=112.0, posinf=112.0, neginf=-127.0)
    bracket = (np.floor(np.clip(finite, F(-127), F(112))).astype(np.int32) + 127)
    below, above = _BELOW[bracket], _ABOVE[bracket]
    with np.errstate(invalid="ignore"):
        down = (a - below) < (above - a)  # C compares these two float differences; NaN goes up, as in C
    return _BRACKET[bracket] + ~down, np.where(down, below, above)


def quantize_iq4_nl_rows(rows: np.ndarray, imatrix=None) -> np.ndarray:
    x = np.ascontiguousarray(rows.reshape(-1, QK).T)  # blocks as columns
    if imatrix is None:
        w = x * x
    else:
        sigma2 = seqsum(x * x) * (F(2) / F(QK))
        w = np.tile(np.asarray(imatrix, F).reshape(-1, QK).T, (1, rows.shape[0])) * np.sqrt(sigma2 + x * x)
    mx, amax = first_absmax(x)
    tiny = amax < F(1e-15)
    mx = np.where(tiny, F(1), mx)

    def fit(inverse):
        _, q = nearest_level(inverse * x)
        wq = w * q
        return seqsum(wq * x), seqsum(wq * q)

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        sumqx, sumq2 = fit(F(1) / (-mx / F(-127)))
        d = np.where(sumq2 > 0, sumqx / sumq2, F(0)).astype(F)
        best = d * sumqx
        for step in range(-7, 8):
            sumqx, sumq2 = fit(F(step - 127) / mx)
            better = (sumq2 > 0) & (sumqx * sumqx > best * sumq2)
            d = np.where(better, sumqx / sumq2, d).astype(F)
            best = np.where(better, d * sumqx, best)
        d = np.where(tiny, F(0), d).astype(F)
        index, _ = nearest_level(np.where(d != 0, F(1) / d, F(0)) * x)
    codes = np.ascontiguousarray(index.T).astype(np.uint8)
    out = np.concatenate([f16_bytes(d), codes[:, :16] | (codes[:, 16:] << 4)], axis=1)
    return out.reshape(rows.shape[0], -1)


def dequantize_iq4_nl(data: np.ndarray) -> np.ndarray:
    d = f16_from(data[:, :2])
    qs = data[:, 2:]
    return d * _LEVELS[np.concatenate([qs & 0xF, qs >> 4], axis=1)]
