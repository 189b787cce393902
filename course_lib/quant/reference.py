"""ggml's own C quantizer, through ctypes: the reference the course's numpy quantizers answer to.

Used by the tests (byte-exact checks, notebook 02's claims) and by
`benchmarks/bench_quant.py` (speed). It calls `ggml_quantize_chunk` in the
libggml that llama-cpp-python ships, so the bytes are those llama.cpp itself
would write. An importance matrix (one float32 weight per column) is passed
through as llama.cpp's `--imatrix` does.
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

import numpy as np

from course_lib.errors import CourseError
from course_lib.gguf_file import ggml_type_id, type_size


@functools.lru_cache(maxsize=1)
def _quantize_chunk():
    import llama_cpp

    lib = ctypes.CDLL(str(Path(llama_cpp.__file__).parent / "lib" / "libggml-base.so"))
    fn = lib.ggml_quantize_chunk
    fn.restype = ctypes.c_size_t
    # type, src, dst, start, nrows, n_per_row, imatrix
    fn.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                   ctypes.c_void_p]
    return fn


def ggml_quantize(x, qtype: str, imatrix=None) -> np.ndarray:
    """The bytes ggml's C code writes for float array `x` (rows of its last dimension) as `qtype`, flat uint8."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    x = x.reshape(-1, x.shape[-1])
    n, size = type_size(qtype)
    if x.shape[1] % n:
        raise CourseError(f"{qtype} packs {n} weights per block; rows of {x.shape[1]} do not divide into blocks")
    weights = None
    if imatrix is not None:
        weights = np.ascontiguousarray(imatrix, dtype=np.float32)
        if weights.shape != (x.shape[1],):
            raise CourseError(f"an importance matrix has one weight per column: {x.shape[1]}, got {weights.shape}")
    out = np.zeros(x.size // n * size, dtype=np.uint8)
    written = _quantize_chunk()(ggml_type_id(qtype), x.ctypes.data, out.ctypes.data, 0, x.shape[0], x.shape[1],
                                None if weights is None else weights.ctypes.data)
    if written != out.size:
        raise CourseError(f"ggml wrote {written} bytes of {qtype} where {out.size} were expected")
    return out
