"""Throughput of course_lib.quant against gguf's numpy quantizer and ggml's C quantizer.

Run: .venv/bin/python benchmarks/bench_quant.py [--rows 64]
Same tensor for all three (a real weight matrix from the course model, ffn_down of
layer 0, rows repeated to the requested count); MB/s counts float32 input bytes.
ggml's ggml_quantize_chunk is called through ctypes here only, never in course_lib.
"""

import argparse
import ctypes
import time
from pathlib import Path

import gguf
import llama_cpp
import numpy as np

from course_lib import quant
from course_lib.gguf_inspect import tensor_values
from course_lib.models import model_path

GGML_TYPE = {"Q4_0": 2, "Q4_1": 3, "Q5_0": 6, "Q5_1": 7, "Q8_0": 8, "Q4_K": 12, "Q6_K": 14}


def ggml_quantizer():
    lib = ctypes.CDLL(str(Path(llama_cpp.__file__).parent / "lib" / "libggml-base.so"))
    fn = lib.ggml_quantize_chunk
    fn.restype = ctypes.c_size_t
    fn.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                   ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]

    def run(x, qtype):
        n, size = quant.block_layout(qtype)
        out = np.empty(x.size // n * size, dtype=np.uint8)
        fn(GGML_TYPE[qtype], x.ctypes.data, out.ctypes.data, 0, x.shape[0], x.shape[1], None)
        return out
    return run


def best_seconds(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=640)
    args = ap.parse_args()
    w = tensor_values(model_path(), "blk.0.ffn_down.weight")
    x = np.ascontiguousarray(np.resize(w, (args.rows, w.shape[1])))
    mb = x.nbytes / 1e6
    c = ggml_quantizer()
    print(f"tensor blk.0.ffn_down.weight, {x.shape[0]} x {x.shape[1]} float32 = {mb:.1f} MB")
    print(f"{'type':5} {'course_lib MB/s':>16} {'gguf numpy MB/s':>16} {'ggml C MB/s':>12} "
          f"{'course/gguf':>12} {'C/course':>9}")
    for qtype in quant.QTYPES:
        ours = best_seconds(lambda: quant.quantize(x, qtype))
        ref = None
        if qtype in ("Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"):
            ref = best_seconds(lambda: gguf.quants.quantize(x, gguf.GGMLQuantizationType[qtype]))
        cc = best_seconds(lambda: c(x, qtype))
        assert np.array_equal(quant.quantize(x, qtype).reshape(-1), c(x, qtype))
        print(f"{qtype:5} {mb / ours:16.1f} {mb / ref if ref else float('nan'):16.1f} {mb / cc:12.1f} "
              f"{(ref / ours) if ref else float('nan'):12.2f} {ours / cc:9.1f}")


if __name__ == "__main__":
    main()
