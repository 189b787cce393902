"""The engine profiles against what GPU users' engines printed: a table of public setups, and our error on each.

Derived in notebook 07 (choosing your setup). `course_lib/data/engine_ground_truth.json`
holds fully specified setups harvested from public logs (engine and version,
model, quantization, GPU, every setting, every number the engine printed, the
source link). `compare` re-estimates each setup with the profile of its
engine version and sets our figure beside the printed one;
`error_table` gives the median and worst error per engine and quantity.
tests/test_engine_ground_truth.py holds the tolerances.
"""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from course_lib.errors import CourseError
from course_lib.sizing.catalogue import Device, get_device
from course_lib.sizing.engines import engine_versions, get_profile
from course_lib.sizing.memory import MemoryEstimate, estimate
from course_lib.sizing.vllm import CUDA_SHORTFALL_BYTES, layout_of, pool_figures
from course_lib.sizing.weights import tensor_sizes

GROUND_TRUTH_FILE = "engine_ground_truth.json"
# A row whose weights and profiling run the course does not model (another vendor's GPU, a multimodal
# checkpoint) checks only how vLLM cut the pool it printed into blocks, groups and requests.
KV_LAYOUT_ONLY = "kv_layout"


def load_ground_truth(path=None) -> list[dict]:
    """The setups of the shipped table (or of the file at `path`)."""
    if path is None:
        path = Path(str(resources.files("course_lib") / "data" / GROUND_TRUTH_FILE))
    path = Path(path)
    if not path.is_file():
        raise CourseError(f"no ground-truth table at {path}")
    data = json.loads(path.read_text())
    if data.get("schema") != 1:
        raise CourseError(f"{path}: unknown schema {data.get('schema')!r}")
    return data["setups"]


def _version_key(version: str) -> tuple:
    digits = "".join(c if c.isdigit() or c == "." else " " for c in str(version)).split()
    return tuple(int(p) for p in digits[0].split(".") if p) if digits else ()


def profile_for(engine: str, version: str | None):
    """The profile whose version is the newest at or before `version` (else the oldest profiled)."""
    versions = engine_versions(engine)
    key = _version_key(version or "")
    older = [v for v in versions if key and _version_key(v) <= key]
    return get_profile(engine, (older or versions)[-1 if older else 0])


def _device(row: dict) -> Device | None:
    gpu = row.get("gpu")
    if not gpu:
        return None
    # vLLM sizes its share from the total CUDA reports, which it prints: where the row has it, the card holds
    # that plus what CUDA keeps back (the estimate takes it off again).
    printed = (row.get("printed") or {}).get("vllm_total_gpu_bytes")
    total = int(printed) + CUDA_SHORTFALL_BYTES if printed else gpu.get("memory_bytes")
    if total:
        return Device(gpu["name"], "gpu", int(total) * int(gpu.get("count") or 1), 0.0)
    try:
        return get_device(gpu["name"])
    except CourseError:
        return None


# Settings a row's full log states outside the excerpt the table keeps, read at the source.
FROM_FULL_LOG = {
    # log/vllm-7B-1gpuA10080GB-*.log line 26: "[topk_topp_sampler.py:50] Using FlashInfer for top-p & top-k sampling."
    "https://github.com/dennislee22/vLLM-benchmarking/": {"topk_topp_sampler": "flashinfer"},
}


def vllm_sampler(log: str) -> str | None:
    """The top-k/top-p sampler a vLLM log says it chose (vllm/v1/sample/ops/topk_topp_sampler.py), if it says."""
    if "Using FlashInfer for top-p & top-k sampling" in log:
        return "flashinfer"
    if "PyTorch-native implementation of top-p & top-k sampling" in log:
        return "pytorch"
    return None


def predict(row: dict) -> MemoryEstimate:
    """Our estimate of one setup, with every setting the row states and the engine's defaults for the rest."""
    s = {k: v for k, v in (row.get("settings") or {}).items() if v is not None}
    for prefix, stated in FROM_FULL_LOG.items():
        if str(row.get("source", "")).startswith(prefix):
            s = {**stated, **s}
    engine = row["engine"]
    profile = profile_for(engine, row.get("engine_version"))
    kw = dict(engine=profile, device=_device(row))
    if engine == "vllm":
        for name in ("gpu_memory_utilization", "max_num_seqs", "max_num_batched_tokens", "block_size",
                     "enforce_eager", "topk_topp_sampler"):
            if name in s:
                kw[name] = s[name]
        sampler = vllm_sampler(row.get("log") or "")
        if sampler and "topk_topp_sampler" not in kw:
            kw["topk_topp_sampler"] = sampler
        return estimate(row["model"], row["quant"], s.get("max_model_len") or 4096, None,
                        s.get("kv_cache_dtype"), **kw)
    slots = int(s.get("ollama_num_parallel") or s.get("n_parallel") or 1)
    n_ctx = s.get("num_ctx") or s.get("n_ctx")
    unified = bool(s.get("kv_unified")) and slots > 1
    if engine == "ollama" and s.get("num_ctx"):
        per_seq = int(n_ctx)
    else:
        per_seq = int(n_ctx) if unified else int(n_ctx) // slots
    fa = s.get("flash_attn")
    if isinstance(fa, bool):
        fa = "on" if fa else "off"
    return estimate(row["model"], row["quant"], per_seq, None if unified else slots, s.get("type_k"),
                    flash_attn=fa, swa_full=s.get("swa_full"), n_ubatch=s.get("n_ubatch"), n_batch=s.get("n_batch"),
                    **kw)


@dataclass(frozen=True)
class Comparison:
    setup: str
    engine: str
    quantity: str  # "KV cache", "compute buffer", "total", "vLLM weights", "vLLM pool", "vLLM tokens", ...
    printed: float
    predicted: float

    @property
    def error(self) -> float:
        return self.predicted / self.printed - 1


def partially_offloaded(row: dict) -> bool:
    """Did llama.cpp leave some layers on the CPU ("offloaded 49/65 layers to GPU" in the row's log)?"""
    found = re.search(r"offloaded (\d+)/(\d+) layers", row.get("log") or "")
    return bool(found) and int(found.group(1)) < int(found.group(2))


def compare(row: dict) -> list[Comparison]:
    """Each number the engine printed that the estimate also gives, side by side."""
    est = predict(row)
    p = row.get("printed") or {}
    out = []

    def add(quantity, printed, predicted):
        if printed:
            out.append(Comparison(row["id"], row["engine"], quantity, float(printed), float(predicted)))

    kv = p.get("kv_bytes") or (p["kv_k_bytes"] + p["kv_v_bytes"] if p.get("kv_k_bytes") and p.get("kv_v_bytes")
                               else p.get("ollama_kv_bytes"))
    if row["engine"] == "vllm":
        same_length = p.get("vllm_max_concurrency_for_tokens") in (None, est.n_ctx)
        if row.get("scope") != KV_LAYOUT_ONLY:
            add("vLLM weights", p.get("vllm_model_bytes"), est.weights_bytes)
            add("vLLM pool", p.get("vllm_available_kv_bytes"), est.kv_pool_bytes)
            add("vLLM tokens", p.get("vllm_kv_tokens"), est.kv_pool_tokens)
            if same_length:
                add("vLLM concurrency", p.get("vllm_max_concurrency_x"), est.max_concurrency_x)
        if p.get("vllm_available_kv_bytes") and int((row.get("settings") or {}).get("tensor_parallel_size") or 1) == 1:
            # The layout alone: the pool vLLM printed, cut into blocks and groups as the course's layout cuts it.
            s = est.engine_settings
            _, concurrency, tokens = pool_figures(layout_of(est), int(p["vllm_available_kv_bytes"]), s["block_size"],
                                                  est.n_ctx, s["kv_tokens_report"])
            add("vLLM tokens of its pool", p.get("vllm_kv_tokens"), tokens)
            if same_length:
                add("vLLM concurrency of its pool", p.get("vllm_max_concurrency_x"), concurrency)
        return out
    add("KV cache", kv, est.kv_cache_bytes)
    if not partially_offloaded(row):
        # With layers left on the CPU, ggml's scheduler copies their weights to the GPU for large batches
        # (op offload) into the GPU's compute buffer: a staging area the course does not model.
        add("compute buffer", p.get("compute_buffer_bytes"), est.compute_buffer_bytes)
    if p.get("model_buffer_bytes") and kv and p.get("compute_buffer_bytes"):
        # Everything llama.cpp reserved, on the device and on the host (the embedding stays on the host).
        printed = sum(p.get(k) or 0 for k in ("model_buffer_bytes", "host_model_buffer_bytes",
                                               "compute_buffer_bytes", "host_compute_buffer_bytes",
                                               "output_buffer_bytes")) + kv
        ours = est.weights_bytes + est.kv_cache_bytes + est.compute_buffer_bytes + (
            est.output_buffer_bytes if p.get("output_buffer_bytes") else 0)
        if est.arch.tied_embeddings and p.get("host_model_buffer_bytes"):
            # A tied embedding is loaded twice: on the host for the lookup, on the GPU as the output layer.
            ours += next(b for name, _, _, b in tensor_sizes(est.arch, est.quant) if name == "token_embd.weight")
        add("total", printed, ours)
    add("Ollama total", p.get("ollama_memory_required_full_bytes"), est.total_bytes)
    return out


def error_table(comparisons: list[Comparison]) -> list[dict]:
    """Per engine and quantity: how many setups, the median and the worst relative error."""
    groups: dict[tuple[str, str], list[float]] = {}
    for c in comparisons:
        groups.setdefault((c.engine, c.quantity), []).append(c.error)
    return [{"engine": engine, "quantity": quantity, "setups": len(errors),
             "median": statistics.median(abs(e) for e in errors), "worst": max(errors, key=abs)}
            for (engine, quantity), errors in sorted(groups.items())]


def format_error_table(rows: list[dict]) -> str:
    lines = [f"{'engine':<18} {'quantity':<28} {'setups':>6} {'median |error|':>15} {'worst':>8}"]
    lines += [f"{r['engine']:<18} {r['quantity']:<28} {r['setups']:>6} {r['median']:>15.2%} {r['worst']:>+8.2%}"
              for r in rows]
    return "\n".join(lines)
