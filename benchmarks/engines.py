"""Two engines, one GGUF, one harness: the concurrency table of notebook 06, measured in full.

    .venv/bin/python benchmarks/engines.py [--concurrency 1,2,4,8] [--requests 16] [--max-tokens 64] [--json FILE]

Starts llama-cpp-python's server (one request at a time) and llama.cpp's native
server (continuous batching, one slot per concurrent request) on 127.0.0.1, one
after the other so they never compete for the cores, benchmarks each with
`course_lib.bench` and prints both side by side. Timings on a shared machine
are noisy: compare the two columns of one run, not runs with each other.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from course_lib.bench import bench_sync, cross_check, format_table, parse_concurrency
from course_lib.runtime import LlamaCppPythonServer, NativeLlamaServer, usable_cores


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="1,2,4,8")
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--model", help="a GGUF (default: the course's model)")
    parser.add_argument("--json", help="also write every level of both engines to this file")
    args = parser.parse_args(argv)
    levels = parse_concurrency(args.concurrency)
    # Both servers inherit this: OpenMP threads that spin while waiting starve each other on a
    # small shared CPU (see notebook 06); sleeping threads make the comparison fair.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    slot_ctx = 512
    engines = {
        "llama-cpp-python": LlamaCppPythonServer(args.model, n_ctx=slot_ctx),
        "llama.cpp native": NativeLlamaServer(args.model, n_ctx=slot_ctx * max(levels), parallel=max(levels)),
    }
    results, checks = {}, {}
    for name, server in engines.items():
        with server:
            summaries, raw = bench_sync(server.base_url, concurrency=levels, requests=args.requests,
                                        max_tokens=args.max_tokens, keep_results=True)
        results[name] = summaries
        checks[name] = [row for c in levels for row in cross_check(raw[c])]
        print(format_table(summaries, title=f"\n{name} ({server.model.name}, {usable_cores()} cores)"))

    a, b = engines
    print(f"\nside by side: {args.requests} requests per level, max_tokens={args.max_tokens}, tokens from "
          + ", ".join(f"{n}: {results[n][0].tokens_source}" for n in engines))
    head = (f"{'conc':>4} | {'tok/s/req':>9} {'agg tok/s':>9} {'TTFT p50':>8} {'err':>3} | "
            f"{'tok/s/req':>9} {'agg tok/s':>9} {'TTFT p50':>8} {'err':>3} | {'agg ratio':>9}")
    print(f"{'':>4} | {a:^33} | {b:^33} |")
    print(head + "\n" + "-" * len(head))
    for x, y in zip(results[a], results[b]):
        print(f"{x.concurrency:>4} | {x.per_request_tok_s_p50:>9.1f} {x.throughput_tok_s:>9.1f} {x.ttft_p50_s:>8.2f} "
              f"{x.errors:>3} | {y.per_request_tok_s_p50:>9.1f} {y.throughput_tok_s:>9.1f} {y.ttft_p50_s:>8.2f} "
              f"{y.errors:>3} | {y.throughput_tok_s / x.throughput_tok_s:>9.2f}")
    rows = checks[b]
    if rows:
        gap = [r["client_decode_ms"] / r["server_predicted_ms"] for r in rows if r["server_predicted_ms"]]
        same = sum(r["server_predicted_n"] == r["output_tokens"] for r in rows)
        print(f"\ncross-check ({b}): client decode time / server predicted_ms, median "
              f"{sorted(gap)[len(gap) // 2]:.3f} over {len(gap)} requests; usage == timings.predicted_n "
              f"in {same} of {len(rows)}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({n: [s.as_dict() for s in v] for n, v in results.items()}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
