"""Every quantization preset, with and without an importance matrix, judged as llama.cpp judges them.

    .venv/bin/python benchmarks/quant_quality.py [--presets Q8_0,Q4_0,...] [--chunks 2] [--ctx 256] [--reencode]

Notebook 02 shows the families that tell the story within Binder's budget (Q8_0,
Q4_0, Q3_K_M and Q2_K, the importance matrix at 3 and 2 bits); this prints the whole
table: each preset requantized from the course model with the course's own code
(`quant.requantize`), once plain and once with an importance matrix collected from
the model reading the course text (`quant.collect_imatrix`), then mean KL divergence,
its 99th percentile, same-top-token rate and perplexity, each with its error, against
the course model (`quant.compare_models`, as llama.cpp's perplexity tool computes them).

The baseline is the shipped Q4_K_M file, so a row says how far a file is from that
one. Tensors already of their target type are copied, as llama.cpp does; with
`--reencode` they are quantized again from their dequantized values, so Q4_K_M +
imatrix differs from the source too. Q8_0 ignores the importance matrix (ggml's
Q8_0 has no search to weight), so its row is printed once.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from course_lib.quant import collect_imatrix, compare_models, requantize
from course_lib.runtime import model_path

PRESETS = ["Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_1", "Q5_0", "Q4_K_M", "Q4_K_S", "Q4_1", "Q4_0", "IQ4_NL",
           "Q3_K_L", "Q3_K_M", "Q3_K_S", "Q2_K"]
IGNORES_IMATRIX = {"Q8_0"}


def build(presets: list[str], workdir: Path, importance, reencode: bool) -> dict[str, Path]:
    files = {}
    for preset in presets:
        for weighted in (False, True):
            if weighted and preset in IGNORES_IMATRIX:
                continue
            name = f"{preset} + imatrix" if weighted else preset
            files[name] = workdir / f"{name.replace(' + ', '-')}.gguf"
            started = time.perf_counter()
            requantize(model_path(), files[name], preset, progress=False, imatrix=importance if weighted else None,
                       reencode=reencode)
            print(f"  {name:<18} {files[name].stat().st_size / 1e6:7.1f} MB in {time.perf_counter() - started:5.1f} s",
                  flush=True)
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default=",".join(PRESETS), help="comma-separated presets or types")
    parser.add_argument("--ctx", type=int, default=256, help="tokens per chunk (llama-perplexity's -c)")
    parser.add_argument("--chunks", type=int, default=2, help="chunks scored, from the notebook's first (chunk 2)")
    parser.add_argument("--reencode", action="store_true", help="quantize again tensors already of their type")
    args = parser.parse_args()
    presets = [p.strip() for p in args.presets.split(",") if p.strip()]

    workdir = Path(tempfile.mkdtemp(prefix="quant-quality-"))
    try:
        print("importance matrix: the course model reading one chunk of the course text", flush=True)
        importance = collect_imatrix(n_ctx=args.ctx, max_chunks=1).weights()
        print(f"requantizing {len(presets)} presets, plain and with the matrix:", flush=True)
        files = build(presets, workdir, importance, args.reencode)
        print("scoring against the course model ...", flush=True)
        quality = compare_models(files, n_ctx=args.ctx, first_chunk=2, n_chunks=args.chunks)
        source_mb = model_path().stat().st_size / 1e6
        first = next(iter(quality.values()))
        base = first.base_perplexity
        print(f"\n{first.n_tokens} tokens scored; baseline: the course model (Q4_K_M, {source_mb:.1f} MB), "
              f"perplexity {base.value:.2f} ± {base.error:.2f}\n")
        print(f"{'file':<18} {'MB':>6} {'KLD mean':>18} {'KLD p99':>8} {'same top':>14} {'perplexity':>16}")
        for name, q in quality.items():
            print(f"{name:<18} {files[name].stat().st_size / 1e6:6.1f} {q.kld.value:9.4f} ± {q.kld.error:6.4f} "
                  f"{q.kld_p99:8.3f} {q.same_top.value:7.1%} ± {q.same_top.error:4.1%} "
                  f"{q.perplexity.value:8.2f} ± {q.perplexity.error:4.2f}")
        print("\nwhat the importance matrix changes (mean KLD plain / with it):")
        for preset in presets:
            if preset in IGNORES_IMATRIX:
                continue
            plain, weighted = quality[preset].kld.value, quality[f"{preset} + imatrix"].kld.value
            reading = f"{plain / weighted:5.2f}x" if weighted > 0 else "identical to the source"
            print(f"  {preset:<8} {reading}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
