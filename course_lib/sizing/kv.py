"""How many bytes the KV cache takes, per token and per sequence, exactly as llama.cpp lays it out.

Derived in notebook 03 (KV-cache growth). Each attention layer stores, for
every cached token, one key and one value vector per KV head. Grouped-query
and multi-query attention shrink the number of KV heads; sliding-window layers
cap how many tokens they keep; multi-head latent attention (DeepSeek) stores
one compressed latent plus the rotary part instead of per-head K and V; some
hybrid layers keep nothing. Quantized cache types store blocks of 32 values
with a scale, so their size per value is block bytes / block size.
"""

from __future__ import annotations

from dataclasses import dataclass

from course_lib.errors import CourseError, require_positive
from course_lib.runtime.engine import N_UBATCH
from course_lib.sizing.architecture import ModelArch

# llama.cpp rounds the context it is asked for up to a multiple of this many cells.
LLAMA_CPP_CTX_PAD = 256
# A reduced SWA cache keeps the window plus one micro-batch (llama-cpp-python's, by default).
LLAMA_CPP_N_UBATCH = N_UBATCH
# llama.cpp's C API allocates the SWA cache at full context size unless told otherwise (it logs
# "using full-size SWA cache" at load), and llama-cpp-python keeps that default; `swa_full=None`
# follows it. llama-server and Ollama default to the reduced cache (sizing.engines has each engine's).
LLAMA_CPP_SWA_FULL_DEFAULT = True


@dataclass(frozen=True)
class CacheType:
    name: str
    ggml_type: int  # the id llama.cpp's `type_k` / `type_v` take
    block_size: int  # values per block
    block_bytes: int  # bytes per block (quantized types carry a scale, some a minimum)

    @property
    def bits_per_value(self) -> float:
        return 8 * self.block_bytes / self.block_size

    def row_bytes(self, n_values: int) -> int:
        """Bytes of `n_values` contiguous values (ggml_row_size)."""
        if n_values % self.block_size:
            raise CourseError(f"cache type {self.name} stores blocks of {self.block_size} values; "
                              f"a head of {n_values} values does not divide into them")
        return n_values // self.block_size * self.block_bytes


def _cache_types() -> dict[str, CacheType]:
    # Block sizes come from the gguf package (the same table llama.cpp's ggml uses), not typed here.
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    types = {}
    for name in ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1"):
        qtype = GGMLQuantizationType[name.upper()]
        block_size, block_bytes = GGML_QUANT_SIZES[qtype]
        types[name] = CacheType(name, int(qtype), block_size, block_bytes)
    return types


KV_CACHE_TYPES: dict[str, CacheType] = _cache_types()


def cache_type(name: str | CacheType) -> CacheType:
    if isinstance(name, CacheType):
        return name
    key = str(name).lower()
    if key not in KV_CACHE_TYPES:
        raise CourseError(f"unknown KV cache type {name!r}; choose one of {', '.join(KV_CACHE_TYPES)}")
    return KV_CACHE_TYPES[key]


def llama_cpp_n_ctx(n_ctx: int) -> int:
    """The number of cells llama.cpp allocates when asked for `n_ctx` (rounded up to 256)."""
    require_positive("n_ctx", n_ctx)
    return -(-int(n_ctx) // LLAMA_CPP_CTX_PAD) * LLAMA_CPP_CTX_PAD


def _layer_row_bytes(arch: ModelArch, tk: CacheType, tv: CacheType) -> tuple[int, int]:
    """(K bytes, V bytes) one token takes in one attention layer."""
    if arch.uses_mla:
        # The cache holds the compressed latent c_KV plus the shared rotary key; values are
        # recovered from the latent, so llama.cpp keeps no separate V cache.
        return tk.row_bytes(arch.kv_lora_rank + arch.qk_rope_head_dim), 0
    return (tk.row_bytes(arch.head_dim) * arch.n_kv_heads,
            tv.row_bytes(arch.v_head_dim) * arch.n_kv_heads)


def layer_groups(arch: ModelArch) -> tuple[list[int], list[int]]:
    """(full-attention layers, sliding-window layers) that keep a KV cache."""
    skip = set(arch.no_kv_layers)
    swa = set(arch.swa_layers) if arch.sliding_window else set()
    full = [i for i in range(arch.n_layers) if i not in skip and i not in swa]
    local = [i for i in range(arch.n_layers) if i not in skip and i in swa]
    return full, local


def kv_bytes_per_token(arch: ModelArch, type_k: str = "f16", type_v: str | None = None,
                       include_swa: bool = False) -> int:
    """Bytes the cache grows by per token of context.

    Only full-attention layers are counted by default: sliding-window layers stop
    growing at their window (see `kv_cache_bytes`). `include_swa=True` counts
    them too, which is the growth before the window fills, or with a full-size
    SWA cache.
    """
    tk = cache_type(type_k)
    tv = cache_type(type_v if type_v is not None else type_k)
    full, local = layer_groups(arch)
    k, v = _layer_row_bytes(arch, tk, tv)
    return (len(full) + (len(local) if include_swa else 0)) * (k + v)


@dataclass(frozen=True)
class KVCache:
    """One of llama.cpp's caches (the non-SWA or the SWA one) as it would allocate it."""
    kind: str  # "full" or "swa"
    cells: int  # token slots
    layers: int
    k_bytes: int
    v_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.k_bytes + self.v_bytes


def swa_cells(arch: ModelArch, n_ctx: int, swa_full: bool | None = None,
              n_ubatch: int = LLAMA_CPP_N_UBATCH, n_seq_shared: int = 1) -> int:
    """Cells llama.cpp gives one sliding-window cache holding `n_ctx` cells in all.

    Full-size: the whole context. Reduced: the window plus one micro-batch (the
    tokens being added while the oldest are still needed), rounded up to 256 and
    never more than the context. A unified cache shared by `n_seq_shared`
    sequences keeps a window for each of them.
    """
    if swa_full is None:
        swa_full = LLAMA_CPP_SWA_FULL_DEFAULT
    if swa_full or not arch.sliding_window:
        return n_ctx
    return min(n_ctx, llama_cpp_n_ctx(arch.sliding_window * n_seq_shared + n_ubatch))


def kv_caches(arch: ModelArch, n_ctx: int, n_seq: int = 1, type_k: str = "f16", type_v: str | None = None,
              swa_full: bool | None = None, n_ubatch: int = LLAMA_CPP_N_UBATCH,
              kv_unified: bool = False) -> list[KVCache]:
    """The caches for `n_seq` sequences of `n_ctx` tokens each, split like llama.cpp's log prints them.

    Cells are totals over the sequences. llama.cpp's default gives each sequence
    its own stream (`kv_unified=False`); a unified cache is one stream that all
    sequences share, so a reduced SWA cache needs one window per sequence in it.
    """
    require_positive("n_ctx", n_ctx)
    require_positive("n_seq", n_seq)
    require_positive("n_ubatch", n_ubatch)
    tk = cache_type(type_k)
    tv = cache_type(type_v if type_v is not None else type_k)
    k, v = _layer_row_bytes(arch, tk, tv)
    full, local = layer_groups(arch)
    caches = []
    if full:
        cells = int(n_ctx) * int(n_seq)
        caches.append(KVCache("full", cells, len(full), cells * len(full) * k, cells * len(full) * v))
    if local:
        if kv_unified:
            cells = swa_cells(arch, int(n_ctx) * int(n_seq), swa_full, n_ubatch, n_seq_shared=int(n_seq))
        else:
            cells = swa_cells(arch, int(n_ctx), swa_full, n_ubatch) * int(n_seq)
        caches.append(KVCache("swa", cells, len(local), cells * len(local) * k, cells * len(local) * v))
    return caches


def kv_cache_bytes(arch: ModelArch, n_ctx: int, n_seq: int = 1, type_k: str = "f16", type_v: str | None = None,
                   swa_full: bool | None = None, n_ubatch: int = LLAMA_CPP_N_UBATCH, kv_unified: bool = False) -> int:
    """Exact bytes of the KV cache for `n_seq` sequences of `n_ctx` tokens each.

    `n_ctx` is taken as given; `llama_cpp_n_ctx` gives the padded size llama.cpp
    really allocates. `swa_full=None` follows llama.cpp's default (full-size).
    """
    return sum(c.total_bytes for c in kv_caches(arch, n_ctx, n_seq, type_k, type_v, swa_full, n_ubatch, kv_unified))


def attention_kind(arch: ModelArch) -> str:
    """MHA, GQA, MQA or MLA, plus SWA / no-KV layers when present: the label notebook 03 uses."""
    if arch.uses_mla:
        kind = "MLA"
    elif arch.n_kv_heads == arch.n_heads:
        kind = "MHA"
    elif arch.n_kv_heads == 1:
        kind = "MQA"
    else:
        kind = f"GQA ({arch.n_heads // arch.n_kv_heads} query heads per KV head)"
    if arch.sliding_window and arch.swa_layers:
        kind += f" + SWA ({len(arch.swa_layers)}/{arch.n_layers} layers, window {arch.sliding_window})"
    if arch.no_kv_layers:
        kind += f" + {len(arch.no_kv_layers)} layers without KV"
    return kind
