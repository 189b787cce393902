"""Will it fit? Weights + KV cache + engine buffers, against a device's memory.

Derived in notebook 01 (memory math). Three buckets:

* weights: exact from a GGUF's tensor table, or predicted from the
  architecture and llama.cpp's per-tensor quantization rule (`weights.py`);
* KV cache: exact as llama.cpp allocates it (`kv.py`, context padded to 256);
* buffers: llama.cpp's compute and output buffers (`buffers.py`), and on a
  GPU the CUDA context.

The settings assumed are llama-cpp-python's defaults on a CPU (flash attention
off, a full-size sliding-window cache, n_ubatch 512) unless given.
`budget_bytes` is what a device leaves for the model after 10% headroom;
`fit.py` searches the largest context and concurrency against it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from course_lib.errors import CourseError, require_positive
from course_lib.sizing.architecture import ModelArch
from course_lib.sizing.buffers import CUDA_CONTEXT_BYTES, N_UBATCH, compute_buffer_bytes, output_buffer_bytes
from course_lib.sizing.catalogue import Device, get_device
from course_lib.sizing.kv import cache_type, kv_bytes_per_token, kv_cache_bytes, llama_cpp_n_ctx
from course_lib.sizing.load import resolve_model
from course_lib.sizing.params import count_params
from course_lib.sizing.speed import bytes_read_per_token
from course_lib.sizing.weights import file_tensors, normalize_quant, tensor_sizes

DEFAULT_HEADROOM = 0.10
DEFAULT_QUANT = "Q4_K_M"


@dataclass(frozen=True)
class MemoryEstimate:
    model: str
    quant: str  # "file" when the weights are a GGUF file's own tensors
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
    flash_attn: bool = False
    swa_full: bool | None = None  # None: the engine's default (llama-cpp-python: full-size)
    n_ubatch: int = N_UBATCH
    arch: ModelArch | None = dataclasses.field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("arch")
        return d


def _weights(model, quant: str | None) -> tuple[ModelArch, str, int, int, int]:
    """(architecture, quant label, params, weight bytes, bytes read per token) of what the user named.

    A GGUF file with no `quant` is weighed by its own tensors; with a `quant`,
    its tensors are weighed as if requantized to it (a what-if).
    """
    resolved = resolve_model(model)
    arch, contents = resolved.arch, resolved.contents
    if contents is not None and quant is None:
        sizes = [(t.name, t.n_bytes) for t in contents.tensors]
        return arch, "file", contents.n_params, contents.tensor_bytes, bytes_read_per_token(arch, sizes)
    label = normalize_quant(quant or DEFAULT_QUANT)
    rows = tensor_sizes(arch, label, file_tensors(contents) if contents is not None else None)
    params = contents.n_params if contents is not None else count_params(arch).text_total
    return (arch, label, params, sum(r[3] for r in rows),
            bytes_read_per_token(arch, [(name, nbytes) for name, _, _, nbytes in rows]))


def _build(arch: ModelArch, label: str, params: int, wbytes: int, active: int, n_ctx: int, concurrency: int,
           kv_type: str, flash_attn: bool, swa_full: bool | None, n_ubatch: int) -> MemoryEstimate:
    require_positive("context length", n_ctx)
    require_positive("concurrency", concurrency)
    require_positive("n_ubatch", n_ubatch)
    kv_type = cache_type(kv_type).name
    if cache_type(kv_type).block_size > 1 and not flash_attn:
        raise CourseError(f"llama.cpp quantizes the V cache ({kv_type}) only with flash attention on")
    cells = llama_cpp_n_ctx(n_ctx)
    kv = kv_cache_bytes(arch, cells, n_seq=concurrency, type_k=kv_type, swa_full=swa_full, n_ubatch=n_ubatch)
    compute = compute_buffer_bytes(arch, cells * concurrency, n_ubatch, flash_attn)
    output = output_buffer_bytes(arch, concurrency)
    return MemoryEstimate(arch.name, label, int(n_ctx), int(concurrency), kv_type, int(params), int(wbytes),
                          kv_bytes_per_token(arch, kv_type), int(kv), int(compute + output),
                          int(wbytes + kv + compute + output), int(compute), int(output), int(active),
                          bool(flash_attn), swa_full, int(n_ubatch), arch)


def estimate(model, quant: str | None = None, n_ctx: int = 4096, concurrency: int = 1, kv_type: str = "f16", *,
             flash_attn: bool | None = None, swa_full: bool | None = None, n_ubatch: int = N_UBATCH
             ) -> MemoryEstimate:
    """Memory to run `model` (catalogue name, ModelArch, .gguf path or config.json path) in llama.cpp.

    `quant` defaults to Q4_K_M, or for a GGUF file to the file's own tensors.
    `flash_attn=None` turns flash attention on only when the KV type needs it
    (a quantized V cache), as the course's measurements do.
    """
    require_positive("context length", n_ctx)
    require_positive("concurrency", concurrency)
    arch, label, params, wbytes, active = _weights(model, quant)
    if flash_attn is None:
        flash_attn = cache_type(kv_type).block_size > 1
    return _build(arch, label, params, wbytes, active, n_ctx, concurrency, kv_type, flash_attn, swa_full, n_ubatch)


def resize(est: MemoryEstimate, n_ctx: int | None = None, concurrency: int | None = None) -> MemoryEstimate:
    """The same model and settings at another context length or concurrency (no file is read again)."""
    return _build(est.arch, est.quant, est.params, est.weights_bytes, est.active_weights_bytes,
                  est.n_ctx if n_ctx is None else n_ctx, est.concurrency if concurrency is None else concurrency,
                  est.kv_type, est.flash_attn, est.swa_full, est.n_ubatch)


def runtime_bytes(device: Device) -> int:
    """Memory the GPU runtime takes before any tensor (the CUDA context); none on a CPU."""
    return CUDA_CONTEXT_BYTES if device.kind == "gpu" else 0


def budget_bytes(device, headroom: float = DEFAULT_HEADROOM) -> int:
    """Memory the model may use on `device`: usable memory less headroom and the CUDA context."""
    device = get_device(device)
    if not 0 <= headroom < 1:
        raise CourseError(f"headroom must be a fraction in [0, 1), got {headroom!r}")
    return int(device.usable_bytes * (1 - headroom)) - runtime_bytes(device)


def fits(est: MemoryEstimate, device, headroom: float = DEFAULT_HEADROOM) -> bool:
    return est.total_bytes <= budget_bytes(device, headroom)
