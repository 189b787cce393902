"""vLLM's memory: a fixed share of the GPU, and the paged KV pool it leaves (notebooks 01, 03 and 07).

Derived in notebook 03 (paged allocation) and used by notebook 07. vLLM does
not size memory from the context you ask for. At start-up it takes
`gpu_memory_utilization` of the GPU's *total* memory (as CUDA reports it),
loads the weights, runs one forward pass of `max_num_batched_tokens` dummy
tokens and one sampling step to measure the peak activation memory, and (from
v0.21) estimates what its CUDA graphs will take.
Whatever is left becomes the KV pool, cut into blocks of `block_size` tokens
(vllm/v1/worker/gpu_worker.py determine_available_memory). It prints the pool
("Available KV cache memory: X GiB"), its size in tokens ("GPU KV cache size:
N tokens") and how many requests of `max_model_len` tokens it could hold at
once ("Maximum concurrency for N tokens per request: X.XXx").

Paging removes the per-request reservation of the maximum length, not the
reservation itself: the pool is allocated, and zeroed, whole.

Models that mix full and sliding-window attention (Gemma 2 and 3) get vLLM's
hybrid KV-cache manager, on by default on GPUs: its layers are cut into groups of
equal size, one group per attention type (or several), and a request takes a
whole block table per group, but a sliding-window group only keeps the window's
blocks (`kv_layout`).
"""

from __future__ import annotations

from dataclasses import dataclass

from course_lib.errors import CourseError, require_fraction, require_positive
from course_lib.sizing.architecture import ModelArch
from course_lib.sizing.buffers import layer_widths
from course_lib.sizing.catalogue import Device
from course_lib.sizing.kv import kv_bytes_per_token, layer_groups
from course_lib.units import GIB, MIB

BF16 = 2
# vLLM's KV cache types: 'auto' is the model's dtype (BF16 for the catalogue's checkpoints); FP8 halves it.
KV_DTYPE_BYTES = {"auto": BF16, "bf16": BF16, "bfloat16": BF16, "f16": BF16, "float16": BF16, "fp8": 1,
                  "fp8_e4m3": 1, "fp8_e5m2": 1}
# vLLM's estimate of its CUDA graphs' memory (v0.21+), printed as "Estimated CUDA graph memory: X GiB";
# the public logs the course read show 0.45-0.65 GiB. An assumption, labelled as one wherever it is shown.
CUDAGRAPH_BYTES = 550 * MIB
# The profiling run ends with one sampling step for max_num_seqs sequences with top-k and top-p on
# (gpu_model_runner.py _dummy_sampler_run), holding this many bytes per sequence per vocabulary entry:
# FlashInfer: the logits in the model's dtype (2) and in F32 (4), the masked logits (4) and probabilities (4);
# PyTorch (topk_topp_sampler.py apply_top_k_top_p): the logits (2 + 4) and a full sort of them, values (4)
# and int64 indices (8) plus the radix sort's index input (8) and alternate buffers (4 + 8). 38 is checked
# against the 5.58 GiB vLLM 0.10.2 printed for 1,024 x 151,936 (38.5 with the hidden states).
SAMPLER_BYTES = {"flashinfer": 14, "pytorch": 38}


# CUDA reports less memory than the card has (what the driver keeps), and vLLM takes its share of what CUDA
# reports: 23.58 GiB of an RTX 3090's 24 GiB (vLLM 0.6.4's log), 79.18 GiB of an H100's 79.65 GiB (vLLM 0.10.2's,
# against nvidia-smi). An assumption, labelled as one wherever it is shown.
CUDA_SHORTFALL_BYTES = 512 * MIB


def share_bytes(device: Device, utilization: float) -> int:
    """vLLM's share: `gpu_memory_utilization` of the total memory CUDA reports on `device`."""
    return int((device.memory_bytes - CUDA_SHORTFALL_BYTES) * utilization)


def batch_defaults(device: Device) -> tuple[int, int]:
    """(max_num_batched_tokens, max_num_seqs) `vllm serve` picks for `device` (EngineArgs.get_batch_defaults)."""
    if device.memory_bytes >= 70 * GIB and "a100" not in device.name.lower():
        return 8192, 1024
    return 2048, 256


def _kv_dtype(kv_type) -> tuple[str, int]:
    key = "auto" if kv_type is None else str(kv_type).lower()
    if key not in KV_DTYPE_BYTES:
        raise CourseError(f"vLLM's KV cache types are auto (the model's dtype) and fp8, not {kv_type!r}")
    return key, KV_DTYPE_BYTES[key]


def activation_peak_bytes(arch: ModelArch, batched_tokens: int, max_num_seqs: int, sampler: str = "flashinfer") -> int:
    """Peak activation memory of vLLM's profiling run: one forward pass of `batched_tokens` tokens in BF16,
    then one sampling step for `max_num_seqs` sequences.

    The forward pass peaks in a layer's MLP (gate and up projections, their
    product) with the hidden states around it and the attention projections;
    its intermediates are freed before sampling, which keeps only the hidden
    states, so the peak is the larger of the two.
    """
    h, q, kv, ff = layer_widths(arch)
    forward = BF16 * batched_tokens * (3 * ff + 2 * h + q + 2 * kv)
    sampling = BF16 * batched_tokens * h + SAMPLER_BYTES[sampler] * max_num_seqs * arch.vocab_size
    return int(max(forward, sampling))


# How a version groups a hybrid model's layers (vllm/v1/core/kv_cache_utils.py
# _get_kv_cache_groups_uniform_page_size): 0.10.1.1 L966 makes every group as large as the rarest attention
# type ("min"); 0.21.0 L1136-1147 does too unless the commonest type has under 1.5x as many layers, when
# groups take the larger count to save padding ("min, or max within 1.5x").
GROUP_SIZE_RULES = ("min", "min, or max within 1.5x")
# What "GPU KV cache size: N tokens" counts: 0.10.1.1 L1011 prints the blocks one group could use
# (num_blocks // groups * block_size); 0.21.0 L1701-1708 prints max concurrency x max_model_len, which counts
# a sliding-window group only for the window it keeps.
TOKEN_REPORTS = ("blocks per group", "concurrency x max_model_len")


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class KVLayout:
    """How vLLM lays a model's KV cache into its pool, and what one request of `max_model_len` takes from it."""
    groups: tuple[str, ...]  # the attention type of each KV cache group: "full" or "sliding"
    layers_per_group: int  # every group has this many layers (the last of a type padded with empty ones)
    padding_layers: int  # the empty ones; vLLM warns "Add N padding layers, may waste at most X% KV cache memory"
    page_bytes: int  # one block of one layer
    blocks_per_request: int  # block ids a request of max_model_len holds, summed over the groups

    @property
    def block_bytes(self) -> int:
        """What one block id costs the pool: one page in each of `layers_per_group` shared tensors."""
        return self.page_bytes * self.layers_per_group

    def describe(self) -> str:
        full, sliding = self.groups.count("full"), self.groups.count("sliding")
        if not sliding:
            return "one group: every layer shares one block table"
        return (f"hybrid: {full} full-attention + {sliding} sliding-window groups of {self.layers_per_group} "
                f"layers ({self.padding_layers} padding)")


def kv_layout(arch: ModelArch, dtype_bytes: int, block: int, max_model_len: int, batched_tokens: int,
              hybrid: bool = True, group_size_rule: str = GROUP_SIZE_RULES[1]) -> KVLayout:
    """vLLM's KV cache groups for `arch` and the blocks one request of `max_model_len` tokens holds.

    A full-attention group needs every token's block (vllm/v1/kv_cache_interface.py FullAttentionSpec:
    cdiv(max_model_len, block)). A sliding-window group keeps the window less one token plus one step's
    newly scheduled tokens, never more than max_model_len, and one extra block because the window need
    not start on a block boundary (SlidingWindowSpec.max_memory_usage_bytes, the same in 0.10.1.1 and
    0.21.0). Without the hybrid manager (or with one attention type) every layer shares one table.
    """
    full_layers, sliding_layers = layer_groups(arch)
    if not (hybrid and full_layers and sliding_layers and not arch.uses_mla):
        per_token = kv_bytes_per_token(arch, "f16", include_swa=True) * dtype_bytes // BF16
        return KVLayout(("full",), 1, 0, per_token * block, _cdiv(max_model_len, block))
    counts = {"full": len(full_layers), "sliding": len(sliding_layers)}
    if group_size_rule not in GROUP_SIZE_RULES:
        raise CourseError(f"vLLM's group sizes follow {' or '.join(map(repr, GROUP_SIZE_RULES))}, "
                          f"not {group_size_rule!r}")
    size = min(counts.values())
    if group_size_rule == GROUP_SIZE_RULES[1] and max(counts.values()) < size * 1.5:
        size = max(counts.values())
    groups = tuple(kind for kind, n in counts.items() for _ in range(_cdiv(n, size)))
    padding = len(groups) * size - sum(counts.values())
    page = block * arch.n_kv_heads * (arch.head_dim + arch.v_head_dim) * dtype_bytes
    full_blocks = _cdiv(max_model_len, block)
    window_blocks = _cdiv(min(arch.sliding_window - 1 + batched_tokens, max_model_len), block) + 1
    per_request = sum(full_blocks if kind == "full" else window_blocks for kind in groups)
    return KVLayout(groups, size, padding, page, per_request)


def pool_figures(layout: KVLayout, pool_bytes: int, block: int, max_model_len: int,
                 report: str = TOKEN_REPORTS[1]) -> tuple[int, float, int]:
    """(blocks, maximum concurrency, "GPU KV cache size" tokens) of a pool of `pool_bytes`, as vLLM computes them
    (get_num_blocks, get_max_concurrency_for_kv_cache_config, and the report `report` names)."""
    blocks = max(pool_bytes, 0) // layout.block_bytes
    concurrency = blocks / layout.blocks_per_request
    tokens = int(concurrency * max_model_len) if report == TOKEN_REPORTS[1] else blocks // len(layout.groups) * block
    return blocks, concurrency, tokens


def layout_of(est) -> KVLayout:
    """The KV layout behind a vLLM estimate, from the settings it names."""
    s = est.engine_settings
    return kv_layout(est.arch, KV_DTYPE_BYTES[s["kv_cache_dtype"]], s["block_size"], est.n_ctx,
                     s["max_num_batched_tokens"], s["hybrid_kv_cache_manager"], s["kv_group_size"])


def vllm_memory(arch: ModelArch, base: dict, profile, device: Device, choices: dict) -> dict:
    """The MemoryEstimate fields of a vLLM instance on `device` serving `base['n_ctx']`-token requests."""
    if device.kind != "gpu":
        raise CourseError(f"the vLLM profiles are of its GPU builds; {device.name} is not a GPU (vLLM's CPU backend "
                          "sizes its cache from VLLM_CPU_KVCACHE_SPACE instead)")
    def chosen(name, default=None):
        value = choices.get(name)
        return (profile.default(name) if default is None else default) if value is None else value

    util = float(require_fraction("gpu_memory_utilization", chosen("gpu_memory_utilization")))
    max_model_len = int(base["n_ctx"])
    default_tokens, default_seqs = batch_defaults(device)
    seqs = int(require_positive("max_num_seqs", chosen("max_num_seqs", default_seqs)))
    tokens = choices.get("max_num_batched_tokens")
    if tokens is None:  # EngineArgs: the default never exceeds max_num_seqs x max_model_len
        tokens = min(default_tokens, seqs * max_model_len)
    tokens = int(require_positive("max_num_batched_tokens", tokens))
    seqs = min(seqs, tokens)
    block = int(require_positive("block_size", chosen("block_size")))
    dtype, dtype_bytes = _kv_dtype(choices.get("kv_type"))
    sampler = chosen("topk_topp_sampler")
    if sampler not in SAMPLER_BYTES:
        raise CourseError(f"vLLM samples top-k/top-p with {' or '.join(SAMPLER_BYTES)}, not {sampler!r}")
    for name in ("flash_attn", "swa_full", "n_ubatch", "n_batch"):
        if choices.get(name) is not None:
            raise CourseError(f"vLLM has no {name.replace('_', '-')} setting (that is llama.cpp's)")
    concurrency = int(choices.get("concurrency") or 1)
    per_token = kv_bytes_per_token(arch, "f16", include_swa=True) * dtype_bytes // BF16
    hybrid = bool(chosen("hybrid_kv_cache_manager"))
    layout = kv_layout(arch, dtype_bytes, block, max_model_len, tokens, hybrid, chosen("kv_group_size"))
    report = chosen("kv_tokens_report")
    if report not in TOKEN_REPORTS:
        raise CourseError(f"vLLM reports its pool in tokens as {' or '.join(map(repr, TOKEN_REPORTS))}, not {report!r}")
    requested = share_bytes(device, util)
    activation = activation_peak_bytes(arch, tokens, seqs, sampler)
    eager = bool(choices.get("enforce_eager"))
    graphs = CUDAGRAPH_BYTES if profile.default("cudagraph_profiling") and not eager else 0
    pool = requested - base["weights_bytes"] - activation - graphs
    blocks, concurrency_x, pool_tokens = pool_figures(layout, pool, block, max_model_len, report)
    settings = {"gpu_memory_utilization": util, "max_model_len": max_model_len, "max_num_seqs": seqs,
                "max_num_batched_tokens": tokens, "block_size": block, "kv_cache_dtype": dtype,
                "enforce_eager": eager, "topk_topp_sampler": sampler, "cudagraph_memory_estimated": bool(graphs),
                "cudagraph_bytes": graphs, "activation_peak_bytes": activation, "share_bytes": requested,
                "hybrid_kv_cache_manager": hybrid, "kv_group_size": chosen("kv_group_size"),
                "kv_tokens_report": report, "kv_cache_groups": layout.describe(), "kv_blocks": blocks,
                "kv_blocks_per_request": layout.blocks_per_request,
                "kv_bytes_per_request": layout.blocks_per_request * layout.block_bytes}
    settings["flags"] = (f"vllm serve --gpu-memory-utilization {util:g} --max-model-len {max_model_len} "
                         f"--max-num-seqs {seqs} --max-num-batched-tokens {tokens} --block-size {block} "
                         f"--kv-cache-dtype {dtype}" + (" --enforce-eager" if eager else "")
                         + ("" if hybrid else " --disable-hybrid-kv-cache-manager"))
    kv = max(pool, 0)
    return dict(base, concurrency=concurrency, kv_type=dtype, kv_bytes_per_token=per_token, kv_cache_bytes=kv,
                compute_buffer_bytes=activation, output_buffer_bytes=0, overhead_bytes=activation + graphs,
                total_bytes=base["weights_bytes"] + kv + activation + graphs, flash_attn=True, swa_full=None,
                n_ubatch=tokens, engine_settings=settings, kv_pool_bytes=pool, kv_pool_tokens=pool_tokens,
                max_concurrency_x=concurrency_x)


def pool_holds(est) -> bool:
    """Does the pool hold `concurrency` requests of `n_ctx` tokens, every group's blocks each? vLLM refuses to
    start unless it holds one (kv_cache_utils.py _check_enough_kv_cache_memory)."""
    s = est.engine_settings
    return est.kv_pool_bytes > 0 and s["kv_blocks"] >= est.concurrency * s["kv_blocks_per_request"]
