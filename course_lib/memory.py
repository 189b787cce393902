"""Will it fit? Weights + KV cache + engine overhead, against a device's memory.

Derived in notebook 01 (memory math). Three buckets:

* weights: exact from a GGUF's tensor table, or predicted from the
  architecture and llama.cpp's per-tensor quantization rule (`weights.py`);
* KV cache: exact as llama.cpp allocates it (`kv.py`, context padded to 256);
* overhead: llama.cpp's compute buffer, sized for the largest stage of one
  micro-batch (for small models the logits: n_ubatch x vocabulary x 4 bytes,
  0.5 GiB for a 262k vocabulary at 512), its output buffer (vocabulary x 4
  bytes per sequence), and on a GPU the CUDA context (an assumed 400 MiB).

`fits` keeps 10% headroom. `max_context` / `max_concurrency` search the largest
setting that fits, `offload_split` picks `n_gpu_layers`, and
`decode_tok_s_bound` is bandwidth / bytes read per generated token.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from course_lib.architecture import ModelArch
from course_lib.catalogue import Device, get_device
from course_lib.errors import CourseError, require_positive

GB, GIB, MIB = 10**9, 2**30, 2**20
N_UBATCH = 512  # llama.cpp's default micro-batch (and llama-cpp-python's n_batch)
F32 = 4
# The CUDA runtime, cuBLAS and kernels take memory before any tensor: a few hundred MiB on
# current drivers. An assumption, labelled as one wherever it is shown.
CUDA_CONTEXT_BYTES = 400 * MIB
DEFAULT_HEADROOM = 0.10


@dataclass(frozen=True)
class MemoryEstimate:
    model: str
    quant: str
    n_ctx: int
    concurrency: int
    kv_type: str
    params: int
    weights_bytes: int
    kv_bytes_per_token: int
    kv_cache_bytes: int
    overhead_bytes: int
    total_bytes: int
    compute_buffer_bytes: int = 0
    output_buffer_bytes: int = 0
    active_weights_bytes: int = 0  # read per token: all but an untied embedding; MoE: only active experts
    arch: ModelArch | None = dataclasses.field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("arch")
        return d


def compute_buffer_bytes(arch: ModelArch, n_ctx: int, n_ubatch: int = N_UBATCH, flash_attn: bool = False) -> int:
    """llama.cpp's compute buffer: the largest stage of one micro-batch's graph, in F32.

    The graph allocator reuses memory between stages, so the buffer is the peak
    stage: the logits (vocabulary x n_ubatch plus the two hidden-state tensors
    feeding them), the attention scores (heads x context x n_ubatch, unless flash
    attention tiles them) or the MLP activations. Checked against llama.cpp's
    "compute buffer size" log line for the course's Gemma model.
    """
    h = arch.hidden_size
    logits = n_ubatch * (arch.vocab_size + 2 * h)
    attention = 0 if flash_attn else n_ubatch * arch.n_heads * n_ctx + 3 * n_ubatch * h
    ff = arch.moe_intermediate_size * max(arch.n_experts_active, 1) if arch.is_moe else arch.intermediate_size
    mlp = n_ubatch * (2 * ff + 2 * h)
    return F32 * max(logits, attention, mlp)


def _load(model) -> tuple[ModelArch, dict | None]:
    """(architecture, GGUF tensor table or None) for what the user named."""
    from course_lib.architecture import arch_from_gguf, arch_from_hf_config

    if isinstance(model, ModelArch):
        return model, None
    text = str(model)
    path = Path(text).expanduser()
    if text.lower().endswith(".gguf"):
        from course_lib.gguf_inspect import read_gguf

        return arch_from_gguf(path), read_gguf(path)
    if text.lower().endswith(".json"):
        import json

        from course_lib.catalogue import arch_extras

        arch = arch_from_hf_config(path)
        return dataclasses.replace(arch, extra={**arch.extra, **arch_extras(json.loads(path.read_text()))}), None
    from course_lib.catalogue import get_model

    return get_model(text), None


def bytes_read_per_token(arch: ModelArch, sizes: list[tuple[str, int]]) -> int:
    """Weight bytes one decoding step reads, from (tensor name, bytes) pairs.

    An untied token embedding is only looked up (one row per token), not read
    whole; a tied one is read whole as the output matrix. A mixture of experts
    reads only its active experts.
    """
    untied = any(name == "output.weight" for name, _ in sizes)
    total = 0
    for name, nbytes in sizes:
        if name == "token_embd.weight" and untied:
            continue
        if "_exps" in name and arch.n_experts:
            nbytes = nbytes * arch.n_experts_active // arch.n_experts
        total += nbytes
    return total


def _weights(arch: ModelArch, contents, quant: str) -> tuple[str, int, int, int]:
    """(quant label, params, weight bytes, bytes read per token)."""
    if contents is not None:
        sizes = [(t.name, t.n_bytes) for t in contents.tensors]
        return "file", contents.n_params, contents.tensor_bytes, bytes_read_per_token(arch, sizes)
    from course_lib.params import count_params
    from course_lib.weights import normalize_quant, tensor_sizes

    quant = normalize_quant(quant)
    sizes = tensor_sizes(arch, quant)
    total = sum(s[3] for s in sizes)
    return quant, count_params(arch).text_total, total, bytes_read_per_token(arch, [(s[0], s[3]) for s in sizes])


def _build(arch, label, params, wbytes, active, n_ctx, concurrency, kv_type) -> MemoryEstimate:
    from course_lib.kv import cache_type, kv_bytes_per_token, kv_cache_bytes, llama_cpp_n_ctx

    require_positive("context length", n_ctx)
    require_positive("concurrency", concurrency)
    kv_type = cache_type(kv_type).name
    cells = llama_cpp_n_ctx(n_ctx)
    kv = kv_cache_bytes(arch, cells, n_seq=concurrency, type_k=kv_type)
    compute = compute_buffer_bytes(arch, cells * concurrency)
    output = F32 * arch.vocab_size * concurrency
    overhead = compute + output
    return MemoryEstimate(arch.name, label, int(n_ctx), int(concurrency), kv_type, int(params), int(wbytes),
                          kv_bytes_per_token(arch, kv_type), int(kv), int(overhead), int(wbytes + kv + overhead),
                          int(compute), int(output), int(active), arch)


def estimate(model, quant: str = "Q4_K_M", n_ctx: int = 4096, concurrency: int = 1,
             kv_type: str = "f16") -> MemoryEstimate:
    """Memory to run `model` (catalogue name, ModelArch, .gguf path or config.json path) in llama.cpp.

    For a GGUF file the weights are the file's own tensors and `quant` is ignored.
    """
    require_positive("context length", n_ctx)
    require_positive("concurrency", concurrency)
    arch, contents = _load(model)
    label, params, wbytes, active = _weights(arch, contents, quant)
    return _build(arch, label, params, wbytes, active, n_ctx, concurrency, kv_type)


def _resize(est: MemoryEstimate, n_ctx: int, concurrency: int) -> MemoryEstimate:
    return _build(est.arch, est.quant, est.params, est.weights_bytes, est.active_weights_bytes,
                  n_ctx, concurrency, est.kv_type)


def runtime_bytes(device: Device) -> int:
    return CUDA_CONTEXT_BYTES if device.kind == "gpu" else 0


def budget_bytes(device, headroom: float = DEFAULT_HEADROOM) -> int:
    """Memory the model may use on `device`: usable memory less headroom and the CUDA context."""
    device = get_device(device)
    if not 0 <= headroom < 1:
        raise CourseError(f"headroom must be a fraction between 0 and 1, got {headroom!r}")
    return int(device.usable_bytes * (1 - headroom)) - runtime_bytes(device)


def fits(est: MemoryEstimate, device, headroom: float = DEFAULT_HEADROOM) -> bool:
    return est.total_bytes <= budget_bytes(device, headroom)


def _largest(ok, hi: int) -> int:
    if not ok(1):
        return 0
    lo = 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def max_context(est: MemoryEstimate, device, headroom: float = DEFAULT_HEADROOM, limit: int | None = None) -> int:
    """Largest context per sequence (tokens, a multiple of 256) that fits at the estimate's concurrency.

    Capped at the model's trained context when known; 0 if not even 256 tokens fit.
    """
    budget = budget_bytes(device, headroom)
    cap = limit or (est.arch.max_context if est.arch and est.arch.max_context else 1 << 20)
    best = _largest(lambda k: _resize(est, 256 * k, est.concurrency).total_bytes <= budget, max(cap // 256, 1))
    return 256 * best


def max_concurrency(est: MemoryEstimate, device, headroom: float = DEFAULT_HEADROOM, limit: int = 4096) -> int:
    """Most sequences of the estimate's context that fit at once (0 if not one)."""
    budget = budget_bytes(device, headroom)
    return _largest(lambda n: _resize(est, est.n_ctx, n).total_bytes <= budget, limit)


def decode_tok_s_bound(est: MemoryEstimate, device) -> float:
    """Upper bound on generated tokens/s, summed over sequences: bandwidth / bytes read per step.

    Each decoding step reads every active weight once and each sequence's whole
    KV cache (at full context, the worst case), and yields one token per sequence.
    """
    device = get_device(device)
    per_step = est.active_weights_bytes + est.kv_cache_bytes
    return est.concurrency * device.bandwidth_bytes_per_s / per_step


@dataclass(frozen=True)
class OffloadSplit:
    n_gpu_layers: int  # llama.cpp's -ngl: layers counted from the last; n_layers + 1 also offloads the output
    gpu_bytes: int
    cpu_bytes: int
    n_layers: int
    gpu_read_bytes: int = 0  # read per generated token from GPU memory
    cpu_read_bytes: int = 0  # ... and from system RAM

    def tok_s_bound(self, gpu, cpu) -> float:
        """Decode bound when each part streams from its own memory: the slow side dominates."""
        gpu, cpu = get_device(gpu), get_device(cpu)
        return 1.0 / (self.gpu_read_bytes / gpu.bandwidth_bytes_per_s + self.cpu_read_bytes / cpu.bandwidth_bytes_per_s)


def offload_split(model, gpu_memory_bytes: int, quant: str = "Q4_K_M", n_ctx: int = 4096, concurrency: int = 1,
                  kv_type: str = "f16", headroom: float = DEFAULT_HEADROOM, cuda_context: bool = True) -> OffloadSplit:
    """How many layers to put on a GPU of `gpu_memory_bytes`, and what stays in system RAM.

    llama.cpp offloads repeating layers (weights and their KV cache) from the
    last one backwards; the token embedding stays on the CPU; the output matrix
    moves when every layer is offloaded (a tied one as a copy of the embedding).
    The compute buffer sits on the GPU. The KV cache is spread evenly over layers.
    """
    from course_lib.kv import kv_cache_bytes, llama_cpp_n_ctx
    from course_lib.weights import tensor_sizes

    require_positive("GPU memory", gpu_memory_bytes)
    est = estimate(model, quant, n_ctx, concurrency, kv_type)
    arch, contents = _load(model)
    if contents is not None:
        items = [(t.name, t.n_bytes) for t in contents.tensors]
    else:
        items = [(name, nbytes) for name, _, _, nbytes in tensor_sizes(arch, est.quant)]
    untied = any(name == "output.weight" for name, _ in items)
    layer = [0] * arch.n_layers
    layer_read = [0] * arch.n_layers
    output = embd = 0
    for name, nbytes in items:
        if name.startswith("blk."):
            i = int(name.split(".")[1])
            layer[i] += nbytes
            layer_read[i] += bytes_read_per_token(arch, [(name, nbytes)])
        elif name.startswith("output"):
            output += nbytes
        elif name == "token_embd.weight":
            embd = nbytes
    if not untied:
        output += embd  # llama.cpp gives the output layer its own copy of a tied embedding
    kv_layer = kv_cache_bytes(arch, llama_cpp_n_ctx(n_ctx), concurrency, kv_type) // max(arch.n_layers, 1)
    budget = int(gpu_memory_bytes * (1 - headroom)) - (CUDA_CONTEXT_BYTES if cuda_context else 0) - est.overhead_bytes
    used = read = ngl = 0
    for i in reversed(range(arch.n_layers)):
        if used + layer[i] + kv_layer > budget:
            break
        used += layer[i] + kv_layer
        read += layer_read[i] + kv_layer
        ngl += 1
    on_gpu_output = ngl == arch.n_layers and used + output <= budget
    if on_gpu_output:
        used += output
        read += output
        ngl += 1
    all_read = sum(layer_read) + kv_layer * arch.n_layers + output
    gpu = used + (est.overhead_bytes if ngl else 0)
    duplicate = embd if (on_gpu_output and not untied) else 0
    return OffloadSplit(ngl, gpu, est.total_bytes + duplicate - gpu, arch.n_layers, read, all_read - read)


def solve_budget(memory_bytes: int, models=None, quants=("Q4_K_M", "Q8_0"), n_ctx: int = 8192,
                 kv_type: str = "f16", headroom: float = DEFAULT_HEADROOM, gpu: bool = True) -> list[dict]:
    """Which catalogue models fit `memory_bytes`, with the largest context and concurrency for each.

    One row per model and quantization that fits at 1 x 4096 tokens, largest model first:
    the longest context for one sequence, and how many `n_ctx`-token sequences fit at once.
    """
    from course_lib.catalogue import list_models

    require_positive("memory", memory_bytes)
    device = Device("budget", "gpu" if gpu else "cpu", int(memory_bytes), 1.0)
    rows = []
    for name in models or list_models():
        for quant in quants:
            est = estimate(name, quant, 4096, 1, kv_type)
            if not fits(est, device, headroom):
                continue
            trained = est.arch.max_context
            # Past the trained context a model is not usable: no concurrency figure then.
            conc = None if trained and n_ctx > trained else max_concurrency(_resize(est, n_ctx, 1), device, headroom)
            rows.append({"model": name, "quant": quant, "params": est.params, "weights_bytes": est.weights_bytes,
                         "max_context": max_context(est, device, headroom), f"max_concurrency_at_{n_ctx}": conc})
    return sorted(rows, key=lambda r: (-r["params"], r["quant"]))


def fit_widget(models=None, devices=None, headroom: float = DEFAULT_HEADROOM):
    """The Will-it-fit calculator (see `course_lib.memory_widgets`)."""
    from course_lib.memory_widgets import fit_widget as build

    return build(models, devices, headroom)


# ------------------------------------------------------------ checking against the engine

def engine_buffers(log: str) -> dict[str, int]:
    """Buffer sizes llama.cpp logs while loading (bytes, summed per kind: model, KV, output, compute).

    The log prints MiB with two decimals, so each figure is within 0.005 MiB.
    """
    import re

    out = {"model": 0, "kv": 0, "output": 0, "compute": 0, "repack": 0}
    pattern = re.compile(r"(\S+)\s+(model|KV|output|compute) buffer size =\s+([\d.]+) MiB")
    for backend, kind, mib in pattern.findall(log):
        # With mmap, CPUs with wide SIMD get a second, re-laid-out copy of some quantized tensors
        # (CPU_REPACK); which types depends on the CPU, so it is reported apart from the weights.
        key = "repack" if backend.endswith("REPACK") else kind.lower()
        out[key] += int(round(float(mib) * MIB))
    return out


_CHILD = r"""
import json, sys
import llama_cpp  # the library's own memory is not the model's
from course_lib.engine import load_model
from course_lib.kv_measure import capture_llama_log, rss_bytes
kw = json.loads(sys.argv[1])
before = rss_bytes()
with capture_llama_log() as chunks:
    llm = load_model(kw["path"], n_ctx=kw["n_ctx"], n_batch=kw["n_batch"], n_ubatch=kw["n_batch"], use_mmap=False)
loaded = rss_bytes()
tokens = llm.tokenize(b"The quick brown fox jumps over the lazy dog. " * 60)[: kw["n_eval"]]
llm.eval(tokens)  # touch the compute buffer and the cache
print(json.dumps({"rss_before": before, "rss_loaded": loaded, "rss_after_eval": rss_bytes(),
                  "log": "".join(chunks)}))
"""


def measure_load(path=None, n_ctx: int = 1024, n_batch: int = N_UBATCH, n_eval: int = 256) -> dict:
    """Load a GGUF in a fresh process (no mmap, so weights are resident) and evaluate `n_eval` tokens.

    Returns the process's resident-memory growth (psutil) after loading and
    after the evaluation, and llama.cpp's own buffer sizes from its log.
    """
    import json
    import subprocess
    import sys

    from course_lib.models import model_path

    kw = {"path": str(model_path(path)), "n_ctx": int(n_ctx), "n_batch": int(n_batch), "n_eval": int(n_eval)}
    proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(kw)], capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise CourseError(f"measuring a load with n_ctx={n_ctx} failed: {last}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    data["buffers"] = engine_buffers(data.pop("log"))
    data["rss_growth"] = data["rss_after_eval"] - data["rss_before"]
    return data


def guide_estimate_vram_gb(params_billions: float, bits_per_weight: float, context_length: int,
                           overhead_gb: float = 0.8) -> dict:
    """A popular guide's VRAM estimate, reproduced exactly as published (the subject of notebook 01)."""
    # Model weights: params * bits / 8, converted to GB (decimal)
    weight_gb = (params_billions * 1e9 * bits_per_weight) / (8 * 1e9)
    # Add ~25% for embedding tables, layer norms, and GGUF metadata
    weight_gb *= 1.25

    # KV cache heuristic: ~0.5 GB per 7B params per 4K context
    kv_gb = (params_billions / 7) * (context_length / 4096) * 0.5

    total = weight_gb + kv_gb + overhead_gb
    return {
        "weights_gb": round(weight_gb, 1),
        "kv_cache_gb": round(kv_gb, 1),
        "overhead_gb": overhead_gb,
        "total_gb": round(total, 1)
    }
