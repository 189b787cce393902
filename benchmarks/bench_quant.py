"""Throughput of course_lib.quant against gguf's numpy quantizer and ggml's C quantizer.

Run: .venv/bin/python benchmarks/bench_quant.py [--rows 64]
Same tensor for all three (a real weight matrix from the course model, ffn_down of
layer 0, rows repeated to the requested count); MB/s counts float32 input bytes.
ggml's C quantizer is called through ctypes (`course_lib.quant.reference`).
"""

import argparse
import time

import gguf
import numpy as np

from course_lib import quant
from course_lib.gguf_file import tensor_values
from course_lib.quant import ggml_quantize
from course_lib.runtime import model_path


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
    print(f"tensor blk.0.ffn_down.weight, {x.shape[0]} x {x.shape[1]} float32 = {mb:.1f} MB")
    print(f"{'type':5} {'course_lib MB/s':>16} {'gguf numpy MB/s':>16} {'ggml C MB/s':>12} "
          f"{'course/gguf':>12} {'C/course':>9}")
    for qtype in quant.QTYPES:
        ours = best_seconds(lambda: quant.quantize(x, qtype))
        ref = None
        if qtype in ("Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"):
            ref = best_seconds(lambda: gguf.quants.quantize(x, gguf.GGMLQuantizationType[qtype]))
        cc = best_seconds(lambda: ggml_quantize(x, qtype))
        assert np.array_equal(quant.quantize(x, qtype).reshape(-1), ggml_quantize(x, qtype))
        print(f"{qtype:5} {mb / ours:16.1f} {mb / ref if ref else float('nan'):16.1f} {mb / cc:12.1f} "
              f"{(ref / ours) if ref else float('nan'):12.2f} {ours / cc:9.1f}")


if __name__ == "__main__":
    main()
