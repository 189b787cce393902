"""CPU offload: what `n_gpu_layers` costs in speed when a model does not fit in VRAM.

Derived in notebook 07 (choosing your setup). llama.cpp runs each layer where
its weights live: layers on the GPU are read at GPU memory bandwidth, layers
left in system RAM are computed by the CPU at RAM bandwidth. Decoding runs
the layers one after the other, so the times *add*:

    step time = (bytes on GPU) / GPU bandwidth + (bytes in RAM) / RAM bandwidth

and one step yields one token per sequence. Because system RAM is 10-60x
slower than VRAM, a small fraction of layers in RAM dominates the step: the harmonic
mean, not the average. Engines that instead *stream* offloaded weights to
the GPU each step (mode="stream") pay the PCIe link's bandwidth for them.

Batching changes the verdict: a step reads the weights once for every
sequence in the batch, so a batch job amortises the slow RAM reads until the
CPU runs out of compute (`cpu_flops`). Interactive chat cannot batch its way
out: one user waits for every slow step.

The model treats all repeating layers as equal in size and counts the output
matrix with them; `memory.offload_split` gives the layer count that fits.
"""

from __future__ import annotations

from dataclasses import dataclass

from course_lib.errors import CourseError, require_positive

# A comfortable streaming speed for a reader (about twice silent reading speed, ~250 words/min
# at ~1.3 tokens/word): an assumption, labelled as one wherever it is shown.
INTERACTIVE_TOK_S = 10.0
# PCIe 4.0 x16 moves 32 GB/s in theory; ~25 GB/s is what copies reach in practice (an assumption).
PCIE4_X16_BYTES_PER_S = 25e9


@dataclass(frozen=True)
class OffloadSpeed:
    n_gpu_layers: int
    n_layers: int
    concurrency: int
    gpu_read_bytes: int  # bytes read per decoding step from VRAM
    cpu_read_bytes: int  # bytes read per step from system RAM (or over PCIe when streaming)
    gpu_s: float  # time of the GPU part of one step
    cpu_s: float  # time of the CPU (or PCIe) part of one step

    @property
    def step_s(self) -> float:
        return self.gpu_s + self.cpu_s

    @property
    def tok_s_per_sequence(self) -> float:
        return 1.0 / self.step_s

    @property
    def tok_s(self) -> float:
        """Aggregate generated tokens/s over the concurrent sequences."""
        return self.concurrency / self.step_s

    @property
    def cpu_time_share(self) -> float:
        return self.cpu_s / self.step_s


def _bandwidth(value, what: str) -> float:
    from course_lib.sizing.catalogue import Device, get_device

    if isinstance(value, (int, float)):
        require_positive(f"{what} bandwidth", value)
        return float(value)
    if isinstance(value, (str, Device)):
        return get_device(value).bandwidth_bytes_per_s
    raise CourseError(f"{what} must be a bandwidth in bytes/s or a catalogue device, got {value!r}")


def offload_speed(model, gpu, cpu, n_gpu_layers: int | None = None, quant: str = "Q4_K_M", n_ctx: int = 4096,
                  concurrency: int = 1, kv_type: str | None = None, mode: str = "cpu", cpu_flops: float | None = None,
                  pcie_bytes_per_s: float = PCIE4_X16_BYTES_PER_S, engine=None) -> OffloadSpeed:
    """Decode speed with `n_gpu_layers` layers on `gpu` and the rest in RAM of bandwidth `cpu`.

    `gpu` and `cpu` are catalogue devices (names) or bandwidths in bytes/s.
    `n_gpu_layers=None` takes the most layers that fit (`memory.offload_split`);
    llama.cpp's `n_layers + 1` (output matrix too) counts as all layers here.
    `cpu_flops` (FLOP/s) caps a batched step by the CPU's compute; a GPU's
    `fp16_flops` from the catalogue caps its part the same way.
    Every sequence's KV cache is read whole each step (full context, the worst case).
    `engine` is one of the llama.cpp-based engines (default llama-cpp-python).
    """
    from course_lib.sizing.catalogue import Device, get_device
    from course_lib.sizing.memory import estimate
    from course_lib.sizing.offload import offload_split, require_layer_offload
    from course_lib.sizing.params import count_params

    require_layer_offload(engine)
    if mode not in ("cpu", "stream"):
        raise CourseError(f"unknown offload mode {mode!r}; choose 'cpu' (CPU computes its layers) or 'stream'")
    require_positive("concurrency", concurrency)
    gpu_dev = get_device(gpu) if isinstance(gpu, (str, Device)) else None
    gpu_bw = _bandwidth(gpu, "gpu")
    cpu_bw = _bandwidth(cpu, "cpu") if mode == "cpu" else float(pcie_bytes_per_s)
    est = estimate(model, quant, n_ctx, concurrency, kv_type, engine=engine)
    n_layers = est.arch.n_layers
    if n_gpu_layers is None:
        if gpu_dev is None:
            raise CourseError("give n_gpu_layers, or a catalogue GPU so that the layers that fit can be worked out")
        n_gpu_layers = offload_split(model, gpu_dev.usable_bytes, quant, n_ctx, concurrency, kv_type,
                                     engine=engine).n_gpu_layers
    if not 0 <= n_gpu_layers <= n_layers + 1:
        raise CourseError(f"n_gpu_layers must be between 0 and {n_layers + 1} for {est.model}, got {n_gpu_layers}")
    on_gpu = min(n_gpu_layers, n_layers) / n_layers
    per_step = est.active_weights_bytes + est.sequences_kv_bytes
    gpu_bytes = round(per_step * on_gpu)
    cpu_bytes = per_step - gpu_bytes
    flops = 2 * count_params(est.arch).active * concurrency  # multiply-adds of every active weight per sequence
    gpu_s = gpu_bytes / gpu_bw
    if gpu_dev is not None and gpu_dev.fp16_flops:
        gpu_s = max(gpu_s, flops * on_gpu / gpu_dev.fp16_flops)
    cpu_s = cpu_bytes / cpu_bw
    if mode == "cpu" and cpu_flops:
        cpu_s = max(cpu_s, flops * (1 - on_gpu) / cpu_flops)
    return OffloadSpeed(n_gpu_layers, n_layers, concurrency, gpu_bytes, cpu_bytes, gpu_s, cpu_s)


def offload_curve(model, gpu, cpu, **kw) -> list[OffloadSpeed]:
    """`offload_speed` for every n_gpu_layers from 0 (all in RAM) to all layers on the GPU."""
    from course_lib.sizing.memory import estimate

    n_layers = estimate(model, kw.get("quant", "Q4_K_M"), kw.get("n_ctx", 4096)).arch.n_layers
    return [offload_speed(model, gpu, cpu, n_gpu_layers=n, **kw) for n in range(n_layers + 1)]


def batch_job_hours(speed: OffloadSpeed, requests: int, output_tokens: int) -> float:
    """Hours of decoding for `requests` answers of `output_tokens` each at this speed (prompts not counted)."""
    require_positive("requests", requests)
    require_positive("output_tokens", output_tokens)
    return requests * output_tokens / speed.tok_s / 3600
