"""ggml's own C quantizer and dequantizer, through ctypes: the reference the course's numpy code answers to.

Used by the tests (byte-exact checks, notebook 02's claims) and by
`benchmarks/bench_quant.py` (speed). `ggml_quantize` calls
`ggml_quantize_chunk` in the libggml that llama-cpp-python ships, so the bytes
are those llama.cpp itself would write; an importance matrix (one float32
weight per column) is passed through as llama.cpp's `--imatrix` does.
`ggml_dequantize` calls the type's `to_float` from `ggml_get_type_traits`
(struct layout from ggml.h, `struct ggml_type_traits`).
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

import numpy as np

from course_lib.errors import CourseError
from course_lib.gguf_file import ggml_type_id, type_size


@functools.lru_cache(maxsize=1)
def _library():
    import llama_cpp

    return ctypes.CDLL(str(Path(llama_cpp.__file__).parent / "lib" / "libggml-base.so"))


@functools.lru_cache(maxsize=1)
def _quantize_chunk():
    fn = _library().ggml_quantize_chunk
    fn.restype = ctypes.c_size_t
    # type, src, dst, start, nrows, n_per_row, imatrix
    fn.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                   ctypes.c_void_p]
    return fn


class _TypeTraits(ctypes.Structure):
    _fields_ = [("type_name", ctypes.c_char_p), ("blck_size", ctypes.c_int64), ("blck_size_interleave", ctypes.c_int64),
                ("type_size", ctypes.c_size_t), ("is_quantized", ctypes.c_bool), ("to_float", ctypes.c_void_p),
                ("from_float_ref", ctypes.c_void_p)]


_TO_FLOAT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)


def ggml_dequantize(data, qtype: str, n_values: int) -> np.ndarray:
    """float32 values ggml's C code decodes from `data` (bytes of type qtype), flat."""
    fn = _library().ggml_get_type_traits
    fn.restype = ctypes.POINTER(_TypeTraits)
    fn.argtypes = [ctypes.c_int]
    traits = fn(ggml_type_id(qtype)).contents
    n, size = type_size(qtype)
    if traits.type_size != size or traits.blck_size != n or not traits.to_float:
        raise CourseError(f"ggml's traits for {qtype} do not match the gguf package's block layout")
    data = np.ascontiguousarray(data, dtype=np.uint8).reshape(-1)
    if data.size != n_values // n * size or n_values % n:
        raise CourseError(f"{data.size} bytes of {qtype} do not hold {n_values} values")
    out = np.empty(n_values, dtype=np.float32)
    _TO_FLOAT(traits.to_float)(data.ctypes.data, out.ctypes.data, n_values)
    return out


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


def llama_cpp_quantize(src, dst, preset: str, imatrix: dict | None = None, threads: int = 2) -> None:
    """llama.cpp's own `llama_model_quantize` (what llama-quantize runs), requantizing src to a preset.

    `imatrix`: name -> per-column weights, passed as llama-quantize passes a
    loaded importance matrix. The reference `llm-course quantize` answers to,
    file for file.
    """
    import contextlib
    import io

    import gguf
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    try:
        params.ftype = int(gguf.LlamaFileType[f"MOSTLY_{preset.upper()}"])
    except KeyError:
        raise CourseError(f"llama.cpp has no file type {preset!r}") from None
    params.allow_requantize, params.nthread = True, threads
    keep = []  # the arrays must outlive the call
    if imatrix:
        entries = (llama_cpp.llama_model_imatrix_data * (len(imatrix) + 1))()
        for entry, (name, weights) in zip(entries, imatrix.items()):
            data = np.ascontiguousarray(weights, dtype=np.float32)
            keep.append(data)
            entry.name, entry.size = name.encode(), data.size
            entry.data = data.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        params.imatrix = entries  # a null name ends the list
    with contextlib.redirect_stderr(io.StringIO()):
        llama_cpp.llama_backend_init()
        failed = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params))
    if failed:
        raise CourseError(f"llama.cpp could not quantize {src} to {preset}")
