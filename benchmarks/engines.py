"""Two engines, one GGUF, one harness: the concurrency table of notebook 06, and OpenMP's wait policy, measured in full.

    .venv/bin/python benchmarks/engines.py [--concurrency 1,2,4,8] [--requests 16] [--max-tokens 64] [--json FILE]
    .venv/bin/python benchmarks/engines.py --wait-policies [--repeats 3] [--max-tokens 48]

Starts llama-cpp-python's server (one request at a time) and llama.cpp's native
server (continuous batching, one slot per concurrent request) on 127.0.0.1, one
after the other so they never compete for the cores, benchmarks each with
`course_lib.bench` and prints both side by side.

`--wait-policies` instead measures decode speed under OMP_WAIT_POLICY=PASSIVE, ACTIVE
and unset (the OpenMP runtime's default), each in a server of its own, on a quiet
machine and beside one busy process (a notebook kernel computing), the policies taken
in turn `--repeats` times, and prints the medians with their ratio to PASSIVE
(`course_lib.bench.threads`).

Timings on a shared machine are noisy: compare the columns of one run, not runs with
each other; the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from course_lib.bench import bench_sync, cross_check, format_table, measure_wait_policies, parse_concurrency
from course_lib.bench.threads import policy_name, wait_policy_table
from course_lib.runtime import LlamaCppPythonServer, NativeLlamaServer, usable_cores


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def compare_engines(args) -> dict:
    levels = parse_concurrency(args.concurrency)
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
    return {n: [s.as_dict() for s in v] for n, v in results.items()}


def compare_wait_policies(args) -> dict:
    makers = {
        "llama-cpp-python": ((1,), lambda: LlamaCppPythonServer(args.model, n_ctx=1024)),
        "llama.cpp native": ((1, 4), lambda: NativeLlamaServer(args.model, n_ctx=2048, parallel=4)),
    }
    policies = ("PASSIVE", "ACTIVE", None)
    names = [policy_name(p) for p in policies]
    print(f"OMP_WAIT_POLICY, {usable_cores()} cores, {args.repeats} repeats, max_tokens={args.max_tokens}; "
          f"load average before: {load_average()}")
    head = f"{'engine':<17} {'load':<6} {'conc':>4} | " + " ".join(f"{n:>8}" for n in names) + " | " + " ".join(
        f"{n + '/PASSIVE':>15}" for n in names[1:])
    print("aggregate tokens/s, median of the repeats\n" + head + "\n" + "-" * len(head))
    rows = {}
    for engine, (levels, make) in makers.items():
        rows[engine] = measure_wait_policies(make, policies, concurrency=levels, requests=2,
                                             max_tokens=args.max_tokens, repeats=args.repeats)
        for (load, c), cell in sorted(wait_policy_table(rows[engine]).items(), key=lambda kv: (kv[0][1], kv[0][0])):
            print(f"{engine:<17} {load:<6} {c:>4} | " + " ".join(f"{cell[n]:>8.1f}" for n in names) + " | "
                  + " ".join(f"{cell[n] / cell['PASSIVE']:>15.2f}" for n in names[1:]), flush=True)
    seen = [r["load_average"] for engine_rows in rows.values() for r in engine_rows]
    print(f"load average after: {load_average()}; during the measurements: {min(seen):.2f} to {max(seen):.2f}")
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="1,2,4,8")
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--model", help="a GGUF (default: the course's model)")
    parser.add_argument("--wait-policies", action="store_true", help="measure OMP_WAIT_POLICY instead")
    parser.add_argument("--repeats", type=int, default=3, help="--wait-policies: measurements per cell")
    parser.add_argument("--json", help="also write every measurement to this file")
    args = parser.parse_args(argv)
    data = compare_wait_policies(args) if args.wait_policies else compare_engines(args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(data, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
