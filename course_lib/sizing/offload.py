"""CPU offload, in bytes: how many layers go to a GPU, and what stays in system RAM.

Derived in notebook 07 (choosing your setup), on notebook 01's estimator. The
speed this split allows is `choose.offload`'s subject.
"""

from __future__ import annotations

from dataclasses import dataclass

from course_lib.errors import CourseError, require_positive
from course_lib.sizing.buffers import CUDA_CONTEXT_BYTES
from course_lib.sizing.catalogue import get_device
from course_lib.sizing.engine_profiles import LLAMA_CPP
from course_lib.sizing.engines import get_profile
from course_lib.sizing.load import resolve_model
from course_lib.sizing.memory import DEFAULT_HEADROOM, estimate
from course_lib.sizing.speed import bytes_read_per_token
from course_lib.sizing.weights import file_tensors, tensor_sizes


def require_layer_offload(engine) -> None:
    """Layer offload is llama.cpp's (`-ngl`): a one-line error for an engine that does not split that way."""
    if get_profile(engine).backend != LLAMA_CPP:
        raise CourseError("layer offload (n_gpu_layers) is llama.cpp's: choose llama-cpp-python, llama-server or "
                          "ollama")


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


def offload_split(model, gpu_memory_bytes: int, quant: str | None = None, n_ctx: int = 4096, concurrency: int = 1,
                  kv_type: str | None = None, headroom: float = DEFAULT_HEADROOM, cuda_context: bool = True,
                  engine=None, **engine_settings) -> OffloadSplit:
    """How many layers to put on a GPU of `gpu_memory_bytes`, and what stays in system RAM.

    llama.cpp offloads repeating layers (weights and their KV cache) from the
    last one backwards; the token embedding stays on the CPU; the output matrix
    moves when every layer is offloaded (a tied one as a copy of the embedding).
    The compute buffer sits on the GPU. The KV cache is spread evenly over layers.
    `engine` is one of the llama.cpp-based engines (their caches and buffers
    differ); vLLM does not split layers between GPU and CPU this way.
    """
    require_positive("GPU memory", gpu_memory_bytes)
    resolved = resolve_model(model)
    arch, contents = resolved.arch, resolved.contents
    require_layer_offload(engine)
    est = estimate(resolved, quant, n_ctx, concurrency, kv_type, engine=engine, **engine_settings)
    if est.quant == "file":
        items = [(t.name, t.n_bytes) for t in contents.tensors]
    else:
        tensors = file_tensors(contents) if contents is not None else None
        items = [(name, nbytes) for name, _, _, nbytes in tensor_sizes(arch, est.quant, tensors)]
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
    kv_layer = est.kv_cache_bytes // max(arch.n_layers, 1)
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
