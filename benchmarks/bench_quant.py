"""Throughput of course_lib.quant against gguf's numpy quantizer and ggml's C quantizer, every type, one run.

Run: .venv/bin/python benchmarks/bench_quant.py [--shape 4096x4096] [--imatrix] [--repeat 3] [--types Q4_K,Q6_K]

The same tensor for all three: the real weights of the course model's
blk.0.ffn_down.weight, repeated to the requested shape (rows x row length).
MB/s counts float32 input bytes; each time is the best of --repeat runs.
ggml's C quantizer is `ggml_quantize_chunk` in llama-cpp-python's libggml,
called through ctypes (`course_lib.quant.reference`), single-threaded as
llama.cpp's quantize runs each chunk; the gguf package has numpy encoders for
the 32-weight types only. Every course result is checked byte for byte
against ggml's before its time is printed. On a shared machine the absolute
speeds move with the load; the ratios, measured side by side, move less.
"""

import argparse
import time

import gguf
import numpy as np

from course_lib import quant
from course_lib.gguf_file import tensor_values
from course_lib.quant import ggml_quantize
from course_lib.runtime import model_path


def best_seconds(fn, repeat):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def gguf_seconds(x, qtype, repeat):
    kind = gguf.GGMLQuantizationType[qtype]
    try:
        gguf.quants.quantize(x[:1], kind)
    except NotImplementedError:
        return None  # the gguf package has no numpy encoder for this type
    return best_seconds(lambda: gguf.quants.quantize(x, kind), repeat)


def shape_arg(text):
    rows, cols = (int(v) for v in text.lower().split("x"))
    return rows, cols


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", type=shape_arg, default=(640, 2048), help="rows x row length, e.g. 4096x4096")
    ap.add_argument("--imatrix", action="store_true", help="quantize with an importance matrix (a fixed random one)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--types", default=",".join(quant.QTYPES), help="comma-separated GGUF types")
    args = ap.parse_args()
    w = tensor_values(model_path(), "blk.0.ffn_down.weight")
    x = np.ascontiguousarray(np.resize(w, args.shape))
    imatrix = None
    if args.imatrix:  # a stand-in with the spread of a real one (a few columns matter much more)
        imatrix = np.exp(np.random.default_rng(0).standard_normal(x.shape[1]) * 1.5).astype(np.float32)
    mb = x.nbytes / 1e6
    print(f"blk.0.ffn_down.weight's values as {x.shape[0]} x {x.shape[1]} float32 = {mb:.1f} MB, "
          f"{'with' if args.imatrix else 'without'} an importance matrix, best of {args.repeat}")
    print(f"{'type':7} {'course MB/s':>12} {'gguf-numpy MB/s':>16} {'ggml-C MB/s':>12} "
          f"{'course/C time':>14} {'gguf/course time':>17}")
    for qtype in args.types.split(","):
        qtype = qtype.strip().upper()
        assert np.array_equal(quant.quantize(x, qtype, imatrix).reshape(-1), ggml_quantize(x, qtype, imatrix)), qtype
        ours = best_seconds(lambda: quant.quantize(x, qtype, imatrix), args.repeat)
        c_time = best_seconds(lambda: ggml_quantize(x, qtype, imatrix), args.repeat)
        ref = gguf_seconds(x, qtype, args.repeat) if imatrix is None else None
        gguf_speed = f"{mb / ref:16.1f}" if ref else f"{'n/a':>16}"
        gguf_ratio = f"{ref / ours:17.2f}" if ref else f"{'n/a':>17}"
        print(f"{qtype:7} {mb / ours:12.1f} {gguf_speed} {mb / c_time:12.1f} {ours / c_time:14.2f} {gguf_ratio}")


if __name__ == "__main__":
    main()
