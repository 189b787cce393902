"""`llm-course bench` beside NVIDIA's aiperf, on the same work, against both local servers.

    .venv/bin/python benchmarks/peer_aiperf.py [--concurrency 1,4] [--requests 16] [--max-tokens 32] [--repeats 2]

Not a test and not a course dependency. It installs aiperf (pinned, `--aiperf`) into a
virtual environment of its own (`--venv`, default in the course's cache folder), gives
aiperf a tokenizer for the course model (built once from the GGUF's own vocabulary with
transformers' GGUF tokenizer converter, which needs no torch: aiperf counts tokens with it),
then for each server (llama-cpp-python's, llama.cpp's native through xllamacpp), each
concurrency and each repeat runs aiperf and then `course_lib.bench` on exactly the same work:
the same prompts in the same order (the harness's eight, cycled), the same warm-up request
(outside the measured set), max_tokens, temperature 0, streamed completions.

It prints, per server and concurrency, the medians over the repeats of TTFT p50, end-to-end
p50, output tokens/s and mean requests in flight from both tools side by side with the
ratio course/aiperf, each client's CPU seconds, and the load average before and after.
Agreement within 10% is the target on a quiet machine (load average below 0.5 before the
run); on a loaded one the ratios still compare like with like, the absolute figures do not.

Run by the aiperf environment's own Python with `--make-tokenizer GGUF DIR`, it only builds
the tokenizer (that mode imports nothing from the course).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

AIPERF = "aiperf==0.13.0"  # the version this script's flags and export format were checked against
FIGURES = (("TTFT p50 ms", "ttft_p50_ms"), ("e2e p50 ms", "e2e_p50_ms"), ("tok/s", "tok_s"),
           ("in flight", "in_flight"), ("client CPU s", "client_cpu_s"))


def make_tokenizer(gguf_path: str, out: str) -> None:
    """The course model's tokenizer in Hugging Face's format, from the GGUF's metadata (aiperf's environment)."""
    import gguf
    from transformers.integrations.gguf import gguf_tokenizer_mapping as mapping

    fields = gguf.GGUFReader(gguf_path).fields
    meta = {k: fields[k].contents() for k in fields if k.startswith("tokenizer.") or k == "general.architecture"}
    wanted = mapping.GGUF_TOKENIZER_MAPPING["tokenizer"]
    spec = {name: meta[f"tokenizer.{key}"] for key, name in wanted.items() if f"tokenizer.{key}" in meta}
    tokenizer = mapping.select_tokenizer_builder(meta["general.architecture"], spec.get("tokenizer_type"))(spec)
    tokenizer = mapping.add_gguf_special_tokens(tokenizer, spec)
    for name, key in mapping._SPECIAL_TOKENS.items():
        if f"tokenizer.ggml.{key}" in meta:
            setattr(tokenizer, name, spec["tokens"][meta[f"tokenizer.ggml.{key}"]])
    tokenizer.save_pretrained(out)


def ensure_aiperf(venv: Path, spec: str) -> Path:
    """The aiperf executable of `venv`, installing it there (with gguf, for the tokenizer) on first use."""
    exe = venv / "bin" / "aiperf"
    marker = venv / f".installed-{spec}"
    if not marker.exists():
        print(f"installing {spec} into {venv} (once; a few minutes)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", spec, "gguf"], check=True)
        marker.touch()
    return exe


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_aiperf(exe: Path, server, tokenizer: Path, dataset: Path, concurrency: int, requests: int,
               max_tokens: int, workdir: Path) -> dict:
    out = workdir / f"aiperf-{server.port}-c{concurrency}"
    cmd = [str(exe), "profile", "--model", server.model_alias, "--url", server.base_url[:-len("/v1")],
           "--endpoint-type", "completions", "--streaming", "--tokenizer", str(tokenizer),
           "--input-file", str(dataset), "--custom-dataset-type", "single_turn",
           "--dataset-sampling-strategy", "sequential", "--concurrency", str(concurrency),
           "--request-count", str(requests), "--warmup-request-count", "1",
           "--extra-inputs", json.dumps({"max_tokens": max_tokens, "temperature": 0}),
           "--artifact-dir", str(out), "--ui-type", "none", "--no-server-metrics", "--random-seed", "1234"]
    before = children_cpu_s()
    done = subprocess.run(cmd, capture_output=True, text=True)
    cpu = children_cpu_s() - before
    if done.returncode != 0:
        raise SystemExit(f"aiperf failed ({done.returncode}): {(done.stderr or done.stdout)[-2000:]}")
    metrics = json.loads((out / "profile_export_aiperf.json").read_text())
    return {"ttft_p50_ms": metrics["time_to_first_token"]["p50"], "e2e_p50_ms": metrics["request_latency"]["p50"],
            "tok_s": metrics["output_token_throughput"]["avg"], "in_flight": metrics["effective_concurrency"]["avg"],
            "client_cpu_s": cpu, "errors": sum(e.get("count", 0) for e in metrics.get("error_summary") or [])}


def run_course(server, concurrency: int, requests: int, max_tokens: int) -> dict:
    from course_lib.bench import bench_sync

    s = bench_sync(server.base_url, concurrency=[concurrency], requests=requests, max_tokens=max_tokens,
                   warmup=1, progress=False)[0]
    return {"ttft_p50_ms": 1000 * s.ttft_p50_s, "e2e_p50_ms": 1000 * s.e2e_p50_s, "tok_s": s.throughput_tok_s,
            "in_flight": s.mean_in_flight, "client_cpu_s": s.client_cpu_s, "errors": s.errors}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="1,4")
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--model", help="a GGUF (default: the course's model)")
    parser.add_argument("--venv", help="aiperf's virtual environment (default: in the course's cache folder)")
    parser.add_argument("--aiperf", default=AIPERF, help=f"what pip installs there (default {AIPERF})")
    parser.add_argument("--json", help="also write every measurement to this file")
    parser.add_argument("--make-tokenizer", nargs=2, metavar=("GGUF", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.make_tokenizer:
        make_tokenizer(*args.make_tokenizer)
        return 0

    from course_lib.bench import PROMPTS, WARMUP_PROMPT, parse_concurrency
    from course_lib.runtime import LlamaCppPythonServer, NativeLlamaServer, cache_dir, model_path

    levels = parse_concurrency(args.concurrency)
    gguf = model_path(args.model)
    venv = Path(args.venv) if args.venv else cache_dir() / "aiperf-venv"
    exe = ensure_aiperf(venv, args.aiperf)
    tokenizer = venv / f"tokenizer-{gguf.stem}"
    if not (tokenizer / "tokenizer.json").exists():
        print(f"building aiperf's tokenizer from {gguf.name}", flush=True)
        subprocess.run([str(venv / "bin" / "python"), __file__, "--make-tokenizer", str(gguf), str(tokenizer)],
                       check=True)
    servers = {"llama-cpp-python": lambda: LlamaCppPythonServer(gguf, n_ctx=1024),
               "llama.cpp native": lambda: NativeLlamaServer(gguf, n_ctx=512 * max(levels), parallel=max(levels))}
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {args.requests} requests x "
          f"{args.max_tokens} tokens per run, {args.repeats} repeats, medians shown", flush=True)
    runs = []
    with tempfile.TemporaryDirectory(prefix="peer-aiperf-") as tmp:
        workdir = Path(tmp)
        dataset = workdir / "prompts.jsonl"
        # aiperf warms up with the first entry, then sends the rest in order: the course harness's work exactly.
        lines = [WARMUP_PROMPT] + [PROMPTS[i % len(PROMPTS)] for i in range(args.requests)]
        dataset.write_text("".join(json.dumps({"text": p}) + "\n" for p in lines))
        for name, make in servers.items():
            with make() as server:
                for c in levels:
                    for repeat in range(args.repeats):
                        peer = run_aiperf(exe, server, tokenizer, dataset, c, args.requests, args.max_tokens,
                                          workdir)
                        ours = run_course(server, c, args.requests, args.max_tokens)
                        runs.append({"server": name, "concurrency": c, "repeat": repeat, "aiperf": peer,
                                     "course": ours})
                        print(f"  {name} c={c} run {repeat + 1}: aiperf {peer}, course {ours}", flush=True)
    print_table(runs)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=2))
    return 0


def print_table(runs: list[dict]) -> None:
    head = f"{'server':<17} {'conc':>4} | {'figure':<12} | {'aiperf':>9} {'course':>9} | {'course/aiperf':>13}"
    print("\n" + head + "\n" + "-" * len(head))
    for server, c in dict.fromkeys((r["server"], r["concurrency"]) for r in runs):
        cell = [r for r in runs if (r["server"], r["concurrency"]) == (server, c)]
        for label, key in FIGURES:
            peer = statistics.median(r["aiperf"][key] for r in cell)
            ours = statistics.median(r["course"][key] for r in cell)
            print(f"{server:<17} {c:>4} | {label:<12} | {peer:>9.2f} {ours:>9.2f} | {ours / peer:>13.2f}")


if __name__ == "__main__":
    sys.exit(main())
