"""ggml's scale searches (`make_qx_quants`, `make_q3_quants`, `make_qkx2/3_quants`, `make_qp_quants`), in numpy.

Derived in notebooks/02_quantization_from_scratch.ipynb ("K-quants: the scale
search"). Each C function quantizes one small group of weights in a loop; here
every group of a tensor is searched at once. Groups are the *columns* of an
(n, m) float32 array: n weights per group, m groups. That layout keeps the
bytes identical to ggml's: a C loop accumulates `sum += term` one term at a
time in float32, and numpy's reduction over axis 0 of a C-contiguous array
with two or more columns adds the rows in that same order (a reduction over
the last axis would sum pairwise and round differently). The arithmetic is
float32 in the order the C expressions are written, with no fused
multiply-add, as ggml's portable reference code is compiled.
"""

from __future__ import annotations

import numpy as np

F = np.float32
GROUP_MAX_EPS = F(1e-15)  # ggml-quants.c: a group whose largest |weight| is below this is all zero
_MAGIC = F(12582912.0)  # 1.5 * 2**23: adding it leaves the rounded integer in the low mantissa bits


def nearest_int(v: np.ndarray) -> np.ndarray:
    """ggml's `nearest_int` (round half to even), bit for bit, as int32.

    Beyond |v| = 2**22, and for inf or NaN, ggml's trick returns the low bits
    of a float; so does this, so degenerate blocks stay byte-identical.
    """
    bits = np.add(v, _MAGIC, dtype=F).view(np.int32)
    np.bitwise_and(bits, 0x7FFFFF, out=bits)
    np.subtract(bits, 0x400000, out=bits)
    return bits


def rounded(v: np.ndarray, lo: int, hi: int, bounded: bool = False) -> np.ndarray:
    """clamp(nearest_int(v), lo, hi) as float32: the code of each weight, ready to multiply.

    `bounded` promises |v| < 2**22 (and no NaN): then adding and removing
    1.5 * 2**23 in float32 rounds exactly as nearest_int does, in fewer steps.
    """
    if bounded:
        out = np.add(v, _MAGIC, dtype=F)
        np.subtract(out, _MAGIC, out=out)
    else:
        out = nearest_int(v)
    np.maximum(out, lo, out=out)
    np.minimum(out, hi, out=out)
    return out if bounded else out.astype(F)


def _bounded(iscale: np.ndarray, reach: np.ndarray) -> bool:
    # |iscale * value| stays well inside 2**22 for every group that counts (an infinite scale does not);
    # a group whose reach is 0 is flat, its codes are discarded, and its inf * 0 = NaN bound is ignored
    return not (np.abs(iscale) * reach >= F(4e6)).any()


def seqsum(terms: np.ndarray, from_zero: bool = True) -> np.ndarray:
    """Sum over axis 0, one row after another in float32: a C loop `sum += term`.

    `from_zero` starts from +0.0 as `float sum = 0` does (only the sign of an
    all-zero sum differs from starting with the first term).
    """
    terms = np.ascontiguousarray(terms, dtype=F)
    if terms[0].size >= 2:
        total = np.add.reduce(terms, axis=0)
    else:  # one column: numpy would sum pairwise
        total = terms[0].copy()
        for row in terms[1:]:
            total += row
    return total + F(0) if from_zero else total


def _halving(ufunc, x: np.ndarray) -> np.ndarray:
    # max or min over axis 0 by halves: exact in any order, and fast whichever way x is laid out in memory
    while x.shape[0] > 1 and x.shape[0] % 2 == 0:
        half = x.shape[0] // 2
        x = ufunc(x[:half], x[half:])
    return ufunc.reduce(x, axis=0)


def first_absmax(x: np.ndarray):
    """(signed value, |value|) of each group's largest-magnitude weight, as ggml's `if (ax > amax)` loop finds it.

    When +a and -a both occur the first one wins; an all-zero group keeps +0.0.
    """
    hi, lo = _halving(np.maximum, x), _halving(np.minimum, x)
    amax = np.maximum(hi, -lo)
    signed = np.where(hi >= -lo, hi, lo)
    both = np.nonzero((hi == -lo) & (hi > 0))[0]
    if both.size:
        sub = x[:, both]
        signed[both] = sub[np.abs(sub).argmax(axis=0), np.arange(both.size)]
    return np.where(amax > 0, signed, F(0)).astype(F), amax


def _first_zero_where(extreme: np.ndarray, x: np.ndarray) -> np.ndarray:
    # A C loop `if (x[i] < min) min = x[i]` keeps the first of +0.0 and -0.0 when the extreme is zero;
    # numpy's min may return either sign (it shows in an fp16 minimum's sign bit).
    zero = np.nonzero(extreme == 0)[0]
    if zero.size:
        sub = x[:, zero]
        extreme[zero] = sub[(sub == 0).argmax(axis=0), np.arange(zero.size)]
    return extreme


def c_min_max(x: np.ndarray):
    """Each group's (min, max) as a C loop with strict comparisons finds them (signed zeros included)."""
    return _first_zero_where(_halving(np.minimum, x), x), _first_zero_where(_halving(np.maximum, x), x)


def make_qx(x: np.ndarray, nmax: int, w: np.ndarray | None = None):
    """make_qx_quants(rmse_type=1): symmetric codes in [0, 2*nmax) and the group's scale.

    Weights `w` default to x**2. 19 candidate scales around -nmax/max; the one
    with the best weighted least-squares fit wins. Returns (scale, codes).
    """
    mx, amax = first_absmax(x)
    tiny = amax < GROUP_MAX_EPS
    mx = np.where(tiny, F(1), mx)
    w = x * x if w is None else w
    wx = w * x

    def trial(iscale):  # |iscale * x| <= nmax + 1: the largest weight sets the scale
        code = rounded(iscale * x, -nmax, nmax - 1, bounded=True)
        wl = w * code
        return code, seqsum(wx * code), seqsum(wl * code)

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        code, sumlx, suml2 = trial(F(-nmax) / mx)
        scale = np.where(suml2 != 0, sumlx / suml2, F(0)).astype(F)
        best = scale * sumlx
        for step in range(-9, 10):
            if step == 0:
                continue
            cand, sumlx, suml2 = trial(-(F(nmax) + F(0.1) * F(step)) / mx)
            better = (suml2 > 0) & (sumlx * sumlx > best * suml2)
            if better.any():
                code = np.where(better, cand, code)
                s = (sumlx / suml2).astype(F)
                scale = np.where(better, s, scale)
                best = np.where(better, s * sumlx, best)
    codes = (code + F(nmax)).astype(np.int32)
    codes[:, tiny] = 0
    return np.where(tiny, F(0), scale).astype(F), codes


def _descend(x, w, wx, code, sumlx, suml2, nmax) -> np.ndarray:
    """One pass of make_q3_quants' coordinate descent over every group, in place; which groups changed.

    Weight i of every group at once: its best code given the others; the fit
    is recomputed only where that code differs (a few percent of groups).
    """
    changed = np.zeros(x.shape[1], dtype=bool)
    for i in range(x.shape[0]):
        li, wi, wxi = code[i], w[i], wx[i]
        slx0 = sumlx - wxi * li
        sl2 = suml2 - wi * li * li
        new = rounded(x[i] * sl2 / slx0, -nmax, nmax - 1)
        idx = np.flatnonzero((slx0 > 0) & (new != li))
        if not idx.size:
            continue
        nw = new[idx]
        slx = slx0[idx] + wxi[idx] * nw
        s2 = sl2[idx] + wi[idx] * nw * nw
        old_x, old_2 = sumlx[idx], suml2[idx]
        ok = (s2 > 0) & (slx * slx * old_2 > old_x * old_x * s2)
        take = idx[ok]
        li[take], sumlx[take], suml2[take] = nw[ok], slx[ok], s2[ok]
        changed[take] = True
    return changed


def make_q3(x: np.ndarray, nmax: int = 4):
    """make_q3_quants(do_rmse=true): codes in [0, 2*nmax) refined one weight at a time, and the scale.

    Up to five passes of coordinate descent: each weight in turn moves to the
    code that most improves the fit. A group that changed nothing in a pass
    would change nothing in the next (ggml stops there), so each pass after
    the first runs only on the groups the last one changed: a few percent.
    """
    mx, amax = first_absmax(x)
    tiny = amax < GROUP_MAX_EPS
    mx = np.where(tiny, F(1), mx)
    w = x * x
    wx = w * x
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        code = rounded((F(-nmax) / mx) * x, -nmax, nmax - 1)
        sumlx = seqsum(wx * code)
        suml2 = seqsum(w * code * code)
        active = np.arange(x.shape[1])
        part = (x, w, wx, code, sumlx, suml2)
        for _ in range(5):
            changed = _descend(*part, nmax)
            if part[0] is not x:  # write the subset's state back
                code[:, active], sumlx[active], suml2[active] = part[3], part[4], part[5]
            active = active[changed]
            if not active.size:
                break
            part = tuple(a[:, changed] if a.ndim == 2 else a[changed] for a in part)
        scale = np.where(suml2 > 0, sumlx / suml2, F(0)).astype(F)
    codes = (code + F(nmax)).astype(np.int32)
    codes[:, tiny] = 0
    return np.where(tiny, F(0), scale).astype(F), codes


def make_qkx(x: np.ndarray, w: np.ndarray, nmax: int, rmin: float, rdelta: float, nstep: int, use_mad: bool):
    """make_qkx2_quants / make_qkx3_quants (the same search when weights are given): affine codes.

    Codes in [0, nmax] with a scale and a minimum fitted by weighted least
    squares over nstep+1 candidate scales. ggml moves the minimum as it
    accepts a candidate, so each step depends on the last: the steps run in
    order, every group at once. Returns (scale, -min, codes).
    """
    xmin, hi = c_min_max(x)
    lo = np.where(xmin > 0, F(0), xmin)
    sum_w = seqsum(w, from_zero=False)
    sum_x = seqsum(w * x, from_zero=False)
    flat = hi <= lo

    def error(scale, code, low):
        diff = scale * code + low - x
        return seqsum(w * (np.abs(diff) if use_mad else diff * diff))

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        iscale = (F(nmax) / (hi - lo)).astype(F)
        scale = (F(1) / iscale).astype(F)
        reach = np.where(flat, F(0), np.maximum(hi - lo, np.abs(xmin - lo)))  # the largest |x - min| of a group
        code = rounded(iscale * (x - lo), 0, nmax, _bounded(iscale, reach))
        best = error(scale, code, lo)
        for step in range(nstep + 1):
            iscale = ((F(rmin) + F(rdelta) * F(step) + F(nmax)) / (hi - lo)).astype(F)
            cand = rounded(iscale * (x - lo), 0, nmax, _bounded(iscale, reach))
            wl = w * cand
            sum_l, sum_l2, sum_xl = seqsum(wl), seqsum(wl * cand), seqsum(wl * x)
            det = sum_w * sum_l2 - sum_l * sum_l
            this_scale = (sum_w * sum_xl - sum_x * sum_l) / det
            this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det
            clamp = this_min > 0
            this_scale = np.where(clamp, sum_xl / sum_l2, this_scale).astype(F)
            this_min = np.where(clamp, F(0), this_min).astype(F)
            cur = error(this_scale, cand, this_min)
            better = (det > 0) & (cur < best) & ~flat
            if better.any():
                code = np.where(better, cand, code)
                best = np.where(better, cur, best)
                scale = np.where(better, this_scale, scale)
                lo = np.where(better, this_min, lo)
                reach = np.where(flat, F(0), np.maximum(hi - lo, np.abs(xmin - lo)))
    code[:, flat] = 0
    return np.where(flat, F(0), scale).astype(F), (-lo).astype(F), code.astype(np.int32)


def make_qp(x: np.ndarray, nmax: int, w: np.ndarray):
    """make_qp_quants: non-negative values (a super-block's scales or minimums) as codes in [0, nmax].

    Used with an importance matrix: 8 candidate scales by weighted squared
    error, then five passes of coordinate descent. Codes are stored as
    uint8 as in C (a negative code would wrap). Returns (scale, codes).
    """
    mx = np.maximum(x.max(axis=0), F(0))
    tiny = mx < GROUP_MAX_EPS
    mx = np.where(tiny, F(1), mx)

    def mse(iscale, clip):
        # the first guess is stored in uint8 unclipped (it wraps); candidates are clipped ints
        code = np.minimum(nearest_int(iscale * x), nmax) if clip else nearest_int(iscale * x) & 0xFF
        diff = x - (F(1) / iscale) * code.astype(F)
        return seqsum(w * diff * diff)

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        iscale = (F(nmax) / mx).astype(F)
        best = mse(iscale, False)
        for step in (-4, -3, -2, -1, 1, 2, 3, 4):
            trial = ((F(0.1) * F(step) + F(nmax)) / mx).astype(F)
            err = mse(trial, True)
            take = err < best
            best = np.where(take, err, best)
            iscale = np.where(take, trial, iscale).astype(F)
        first = np.minimum(nearest_int(iscale * x), nmax)
        codes = first & 0xFF
        lf = first.astype(F)
        sumlx = seqsum(w * x * lf)
        suml2 = seqsum(w * lf * lf)
        wx = w * x
        for _ in range(5):
            changed = False
            for i in range(x.shape[0]):
                li = codes[i].astype(F)
                slx = sumlx - wx[i] * li
                sl2 = suml2 - w[i] * li * li
                new = np.minimum(nearest_int(x[i] * sl2 / slx), nmax)
                nf = new.astype(F)
                slx2 = slx + wx[i] * nf
                sl22 = sl2 + w[i] * nf * nf
                take = (slx > 0) & (sl2 > 0) & (new != codes[i]) & (slx2 * slx2 * suml2 > sumlx * sumlx * sl22)
                if take.any():
                    changed = True
                    codes[i] = np.where(take, new & 0xFF, codes[i])
                    sumlx = np.where(take, slx2, sumlx)
                    suml2 = np.where(take, sl22, suml2)
            if not changed:
                break
        scale = np.where(suml2 > 0, sumlx / suml2, F(0)).astype(F)
    codes[:, tiny] = 0
    return np.where(tiny, F(0), scale).astype(F), codes
