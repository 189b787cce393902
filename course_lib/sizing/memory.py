"""Will it fit? Weights + KV cache + engine buffers, for the engine that runs the model.

Derived in notebook 01 (memory math). Three buckets:

* weights: exact from a GGUF's tensor table, or predicted from the
  architecture and llama.cpp's per-tensor quantization rule (`weights.py`);
* KV cache: exact as the engine allocates it (`kv.py`: llama.cpp pads the
  context to 256 cells; `vllm.py`: vLLM hands out its pool in blocks);
* buffers: llama.cpp's compute and output buffers (`buffers.py`), vLLM's
  activation peak and CUDA graphs, and on a GPU the CUDA context.

Which engine, and every setting it assumes, comes from an engine profile
(`engines.py`); the default is llama-cpp-python with its own defaults, the
engine the course runs. `budget_bytes` is what a device leaves for a
llama.cpp-based engine after 10% headroom; vLLM's budget is its own
`gpu_memory_utilization`. `fit.py` searches the largest context and
concurrency against the budget.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from course_lib.errors import CourseError, require_positive
from course_lib.sizing.architecture import ModelArch
from course_lib.sizing.buffers import CUDA_CONTEXT_BYTES, compute_buffer_bytes, output_buffer_bytes
from course_lib.sizing.catalogue import Device, get_device
from course_lib.sizing.engine_profiles import LLAMA_CPP, VLLM, EngineProfile
from course_lib.sizing.engines import get_profile, llama_cpp_cells, resolve_llama_cpp
from course_lib.sizing.kv import kv_bytes_per_token, kv_caches
from course_lib.sizing.load import resolve_model
from course_lib.sizing.params import count_params
from course_lib.sizing.speed import bytes_read_per_token
from course_lib.sizing.weights import file_tensors, normalize_quant, tensor_sizes

DEFAULT_HEADROOM = 0.10
DEFAULT_QUANT = "Q4_K_M"
DEFAULT_CONTEXT = 4096  # the context the calculators ask about unless told otherwise
# What only vLLM prints (None for the llama.cpp engines).
VLLM_ONLY_KEYS = ("kv_pool_bytes", "kv_pool_tokens", "max_concurrency_x")


@dataclass(frozen=True)
class MemoryEstimate:
    model: str
    quant: str  # "file" when the weights are a GGUF file's own tensors
    n_ctx: int  # tokens per sequence
    concurrency: int  # sequences at once (an engine's slots)
    kv_type: str
    params: int
    weights_bytes: int
    kv_bytes_per_token: int
    kv_cache_bytes: int  # vLLM: the whole pool it pre-allocates
    overhead_bytes: int
    total_bytes: int
    compute_buffer_bytes: int = 0  # vLLM: the activation peak of its profiling run
    output_buffer_bytes: int = 0
    active_weights_bytes: int = 0  # read per token: all but an untied embedding; MoE: only active experts
    flash_attn: bool = False
    swa_full: bool | None = None
    n_ubatch: int = 512
    engine: str = "llama-cpp-python"
    engine_version: str = ""
    engine_settings: dict = dataclasses.field(default_factory=dict, compare=False)
    kv_pool_bytes: int | None = None  # vLLM only: what it printed as "Available KV cache memory"
    kv_pool_tokens: int | None = None  # vLLM only: "GPU KV cache size: N tokens"
    max_concurrency_x: float | None = None  # vLLM only: pool tokens / tokens per request
    arch: ModelArch | None = dataclasses.field(default=None, repr=False, compare=False)
    profile: EngineProfile | None = dataclasses.field(default=None, repr=False, compare=False)
    device: Device | None = dataclasses.field(default=None, repr=False, compare=False)
    choices: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
             if f.name not in ("arch", "profile", "device", "choices")}
        d["engine_settings"] = dict(self.engine_settings)
        return d

    @property
    def sequences_kv_bytes(self) -> int:
        """KV bytes the sequences themselves fill: llama.cpp's cache, or the part of vLLM's pool they use."""
        if self.kv_pool_tokens is None:
            return self.kv_cache_bytes
        # whole blocks in every KV cache group; a sliding-window group holds only its window's
        return self.engine_settings["kv_bytes_per_request"] * self.concurrency

    @property
    def need_bytes(self) -> int:
        """What the requested sequences need: the total, or for vLLM its weights, activations, graphs and
        the part of the pool the sequences fill (the rest of its share is pool waiting for more requests)."""
        if self.kv_pool_tokens is None:
            return self.total_bytes
        return self.weights_bytes + self.overhead_bytes + self.sequences_kv_bytes

    @property
    def settings_line(self) -> str:
        """The engine and every setting behind the figures, on one line."""
        return f"{self.engine} {self.engine_version}: {self.engine_settings.get('flags', '')}"


def _weights(model, quant: str | None, backend: str) -> tuple[ModelArch, str, int, int, int]:
    """(architecture, quant label, params, weight bytes, bytes read per token) of what the user named.

    A GGUF file with no `quant` is weighed by its own tensors; with a `quant`,
    its tensors are weighed as if requantized to it (a what-if). vLLM loads
    checkpoints, not GGUF presets: its default is the 16-bit checkpoint.
    """
    resolved = resolve_model(model)
    arch, contents = resolved.arch, resolved.contents
    if contents is not None and quant is None and backend == LLAMA_CPP:
        sizes = [(t.name, t.n_bytes) for t in contents.tensors]
        return arch, "file", contents.n_params, contents.tensor_bytes, bytes_read_per_token(arch, sizes)
    label = normalize_quant(quant or (DEFAULT_QUANT if backend == LLAMA_CPP else "BF16"))
    if backend == VLLM and label not in ("BF16", "F16", "AWQ", "GPTQ", "FP8"):
        raise CourseError(f"vLLM serves 16-bit, AWQ, GPTQ or FP8 checkpoints, not {label}; choose one of "
                          "BF16, F16, AWQ, GPTQ, FP8")
    rows = tensor_sizes(arch, label, file_tensors(contents) if contents is not None else None)
    params = contents.n_params if contents is not None else count_params(arch).text_total
    return (arch, label, params, sum(r[3] for r in rows),
            bytes_read_per_token(arch, [(name, nbytes) for name, _, _, nbytes in rows]))


def _llama_cpp(arch: ModelArch, base: dict, profile: EngineProfile, choices: dict) -> dict:
    s = resolve_llama_cpp(profile, base["n_ctx"], choices.get("concurrency"), choices.get("kv_type"),
                          choices.get("flash_attn"), choices.get("swa_full"), choices.get("n_ubatch"),
                          choices.get("n_batch"))
    cells, streams = llama_cpp_cells(s)
    # llama.cpp never makes a micro-batch longer than the context (src/llama-context.cpp).
    ubatch = min(s.n_ubatch, cells * streams)
    per_seq = cells * streams // s.n_parallel
    caches = kv_caches(arch, per_seq, s.n_parallel, s.type_k, s.type_v, s.swa_full, ubatch, s.kv_unified)
    swa = next((c.cells // (1 if s.kv_unified else streams) for c in caches if c.kind == "swa"), 0)
    compute = compute_buffer_bytes(arch, cells, ubatch, s.flash_attn, n_swa=swa, n_outputs=s.n_outputs_max,
                                   graph=profile.graph)
    output = output_buffer_bytes(arch, s.n_parallel)
    kv = sum(c.total_bytes for c in caches)
    return dict(base, concurrency=s.n_parallel, kv_type=s.type_k, kv_bytes_per_token=kv_bytes_per_token(arch, s.type_k),
                kv_cache_bytes=kv, compute_buffer_bytes=compute,
                output_buffer_bytes=output, overhead_bytes=compute + output,
                total_bytes=base["weights_bytes"] + kv + compute + output, flash_attn=s.flash_attn,
                swa_full=s.swa_full, n_ubatch=ubatch,
                engine_settings={**s.as_dict(), "cells_per_stream": cells, "streams": streams, "flags": s.flags})


def _build(arch: ModelArch, label: str, params: int, wbytes: int, active: int, n_ctx: int,
           profile: EngineProfile, device: Device | None, choices: dict) -> MemoryEstimate:
    require_positive("context length", n_ctx)
    base = dict(model=arch.name, quant=label, n_ctx=int(n_ctx), params=int(params), weights_bytes=int(wbytes),
                active_weights_bytes=int(active), engine=profile.engine, engine_version=profile.version)
    if profile.backend == VLLM:
        from course_lib.sizing.vllm import vllm_memory

        if device is None:
            raise CourseError("vLLM sizes its KV pool from the GPU's memory: name a device (--gpu or --vram-gb)")
        fields = vllm_memory(arch, base, profile, device, choices)
    else:
        fields = _llama_cpp(arch, base, profile, choices)
    return MemoryEstimate(**fields, arch=arch, profile=profile, device=device, choices=dict(choices))


def estimate(model, quant: str | None = None, n_ctx: int = DEFAULT_CONTEXT, concurrency: int | None = None,
             kv_type: str | None = None, *, engine: str | EngineProfile | None = None,
             engine_version: str | None = None, device=None, flash_attn: bool | str | None = None,
             swa_full: bool | None = None, n_ubatch: int | None = None, n_batch: int | None = None,
             **engine_options) -> MemoryEstimate:
    """Memory to run `model` (catalogue name, ModelArch, .gguf path or config.json path) in an engine.

    `engine` is one of `engines.ENGINES` (default llama-cpp-python, the
    course's engine, at the newest profiled version); every setting left at
    None takes that engine's default for that version. `quant` defaults to
    Q4_K_M, or for a GGUF file to the file's own tensors (vLLM: BF16).
    `concurrency=None` is the engine's own number of sequences (llama-server:
    its automatic four slots). `device` is needed for vLLM, whose pool is a
    share of the device's memory; `engine_options` are vLLM's
    (gpu_memory_utilization, max_num_seqs, max_num_batched_tokens, ...).
    """
    profile = get_profile(engine, engine_version)
    if concurrency is not None:
        require_positive("concurrency", concurrency)
    unknown = set(engine_options) - set(profile.defaults)
    if unknown:
        raise CourseError(f"{profile.label} has no setting {', '.join(sorted(unknown))}")
    arch, label, params, wbytes, active = _weights(model, quant, profile.backend)
    choices = dict(engine_options, concurrency=concurrency, kv_type=kv_type, flash_attn=flash_attn,
                   swa_full=swa_full, n_ubatch=n_ubatch, n_batch=n_batch)
    return _build(arch, label, params, wbytes, active, n_ctx, profile, get_device(device) if device else None,
                  choices)


def resize(est: MemoryEstimate, n_ctx: int | None = None, concurrency: int | None = None,
           device=None) -> MemoryEstimate:
    """The same model and settings at another context, concurrency or device (no file is read again)."""
    choices = dict(est.choices)
    if concurrency is not None:
        require_positive("concurrency", concurrency)
        choices["concurrency"] = concurrency
    return _build(est.arch, est.quant, est.params, est.weights_bytes, est.active_weights_bytes,
                  est.n_ctx if n_ctx is None else n_ctx, est.profile, get_device(device) if device else est.device,
                  choices)


def runtime_bytes(device: Device) -> int:
    """Memory the GPU runtime takes before any tensor (the CUDA context); none on a CPU."""
    return CUDA_CONTEXT_BYTES if device.kind == "gpu" else 0


def budget_bytes(device, headroom: float = DEFAULT_HEADROOM) -> int:
    """Memory a llama.cpp-based engine may use on `device`: usable memory less headroom and the CUDA context."""
    device = get_device(device)
    if not 0 <= headroom < 1:
        raise CourseError(f"headroom must be a fraction in [0, 1), got {headroom!r}")
    return int(device.usable_bytes * (1 - headroom)) - runtime_bytes(device)


def engine_budget_bytes(est: MemoryEstimate, device, headroom: float = DEFAULT_HEADROOM) -> int:
    """What the estimate's engine may take on `device`, by the engine's own rule where it has one.

    vLLM takes its `gpu_memory_utilization` share of total memory;
    llama-server (and Ollama, which runs it) stops at 1 GiB free (`--fit`);
    llama-cpp-python has no rule, so the course keeps `headroom` (10%).
    """
    device = get_device(device)
    profile = est.profile
    if profile is not None and profile.backend == VLLM:
        from course_lib.sizing.vllm import share_bytes

        return share_bytes(device, est.engine_settings["gpu_memory_utilization"])
    if profile is not None and "fit_margin" in profile.defaults:
        return int(device.usable_bytes) - runtime_bytes(device) - profile.default("fit_margin")
    return budget_bytes(device, headroom)


def budget_rule(est: MemoryEstimate, device) -> str:
    """The rule behind `engine_budget_bytes`, in words, for every panel that shows a budget."""
    device = get_device(device)
    profile = est.profile
    cuda = " and the CUDA context" if runtime_bytes(device) else ""
    if profile is not None and profile.backend == VLLM:
        return (f"vLLM's gpu_memory_utilization ({est.engine_settings['gpu_memory_utilization']:g}) of the memory "
                "CUDA reports")
    if profile is not None and "fit_margin" in profile.defaults:
        margin = profile.default("fit_margin")
        if "command" in profile.defaults:  # Ollama's own runner: its scheduler's minimum free memory
            return f"{profile.label}'s minimum free memory ({margin / 2**20:g} MiB){cuda}"
        return f"{profile.engine}'s --fit margin ({margin / 2**30:g} GiB free){cuda}"
    return f"{DEFAULT_HEADROOM:.0%} headroom{cuda}"


def on_device(est: MemoryEstimate, device) -> MemoryEstimate:
    """`est` sized for `device`: only vLLM's figures depend on the device (its pool is a share of it)."""
    device = get_device(device)
    if est.profile is not None and est.profile.backend == VLLM and est.device != device:
        return resize(est, device=device)
    return est


def fits(est: MemoryEstimate, device, headroom: float = DEFAULT_HEADROOM) -> bool:
    """Does `est` fit `device`? vLLM: its pool holds every sequence's blocks; others: total within the budget."""
    est = on_device(est, device)
    if est.profile is not None and est.profile.backend == VLLM:
        from course_lib.sizing.vllm import pool_holds

        return pool_holds(est)
    return est.total_bytes <= engine_budget_bytes(est, device, headroom)
