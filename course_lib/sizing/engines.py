"""Engine profiles: every setting that decides memory, with its default for a named engine version.

Derived in notebooks 01 (memory math) and 03 (KV-cache growth); used by every
calculator. The same model takes very different memory in different engines:
llama-cpp-python reserves a row of logits for every token of a micro-batch and
keeps a full-size sliding-window cache; llama.cpp's server turns flash
attention on when the backend has it, keeps a reduced sliding-window cache and
four slots; Ollama launches that server with its own context and slot defaults;
vLLM reserves a fixed share of the GPU up front and hands out the rest as a
paged KV pool. A profile states each default and where the engine sets it
(file and line, or the documentation, for that version); `resolve` turns a
profile plus what the user chose into the settings an estimate assumes.

The llama.cpp-based profiles are checked on this machine against the engines
themselves (tests/test_engines_llama_cpp.py); all of them against what GPU
users' engines printed (tests/test_engine_ground_truth.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from course_lib.errors import CourseError, require_fraction, require_positive
from course_lib.sizing.buffers import LLAMA_CPP_PYTHON_GRAPH, LLAMA_SERVER_GRAPH, GraphWorkspace
from course_lib.sizing.kv import LLAMA_CPP_CTX_PAD, cache_type
from course_lib.units import GIB

LLAMA_CPP = "llama.cpp"
VLLM = "vllm"


@dataclass(frozen=True)
class Default:
    value: object
    source: str  # where this version of the engine sets it


@dataclass(frozen=True)
class EngineProfile:
    engine: str
    version: str
    backend: str  # LLAMA_CPP or VLLM: which memory model applies
    summary: str
    defaults: dict = field(compare=False)  # setting name -> Default
    graph: GraphWorkspace | None = field(default=None, compare=False)

    def default(self, name: str):
        return self.defaults[name].value

    @property
    def label(self) -> str:
        return f"{self.engine} {self.version}"


_LCP = "llama_cpp/llama.py (llama-cpp-python 0.3.36, as installed)"
_LCP_C = "llama_context_default_params() of the bundled libllama (read from the library)"
_COMMON = "common/common.h, read from xllamacpp.CommonParams() of the b11549 build"
_SERVER = "tools/server/server.cpp: `if (params.n_parallel < 0) { n_parallel = 4; kv_unified = true; }`"
_OLLAMA = "ollama/ollama v0.32.15"
_VLLM_ARGS = ("vllm/engine/arg_utils.py EngineArgs.get_batch_defaults: `vllm serve` on >= 70 GiB and not "
              "an A100 -> 8192 tokens / 1024 seqs, else 2048 / 256 (PR #16158; A100 exception PR #17885)")

_PROFILES = [
    EngineProfile(
        "llama-cpp-python", "0.3.36", LLAMA_CPP,
        "llama.cpp through its Python bindings (`Llama(...)`): the course's own engine",
        {
            "n_ctx": Default(4096, "the course's default question (Llama(n_ctx=512), llama.py L75, is the "
                                   "library's; the course's calculators ask about 4,096 tokens)"),
            "n_parallel": Default(1, "Llama keeps one sequence (n_seq_max 1: " + _LCP_C + ")"),
            "kv_unified": Default(False, "kv_unified false: " + _LCP_C),
            "flash_attn": Default("off", f"Llama(flash_attn=False) mapped to LLAMA_FLASH_ATTN_TYPE_DISABLED, "
                                         f"{_LCP} L95 and L354-358; the course turns it on for a quantized V cache"),
            "swa_full": Default(True, f"Llama(swa_full=None) leaves the C default (true: {_LCP_C}), {_LCP} L97, "
                                      "L363-364; llama.cpp logs 'using full-size SWA cache'"),
            "n_batch": Default(512, f"Llama(n_batch=512), {_LCP} L76"),
            "n_ubatch": Default(512, f"Llama(n_ubatch=512), {_LCP} L77"),
            "type_k": Default("f16", f"Llama(type_k=None) keeps the C default F16, {_LCP} L115-116"),
            "n_outputs_max": Default("n_batch", "n_outputs_max 0 = n_batch: " + _LCP_C + "; Llama does not set it"),
        },
        LLAMA_CPP_PYTHON_GRAPH),
    EngineProfile(
        "llama-server", "b11549", LLAMA_CPP,
        "llama.cpp's own server (`llama-server -m model.gguf`), build b11549 as bundled in the "
        "xllamacpp 2026.10.11549 wheel",
        {
            "n_ctx": Default("fit", f"-c 0 = the model's trained context ({_COMMON}: n_ctx 0), shrunk by --fit "
                                    "(on: fit_params true) to leave 1 GiB free per device (fit_params_target), "
                                    "never below 4,096 (fit_params_min_ctx); common/fit.cpp step 2"),
            "n_parallel": Default("auto", "-np -1 = auto (common/arg.cpp, LLAMA_EXAMPLE_SERVER), which "
                                          f"becomes 4 slots: {_SERVER}"),
            "kv_unified": Default("auto", f"{_COMMON}: kv_unified false; the automatic slots turn it on: {_SERVER}"),
            "flash_attn": Default("auto", f"{_COMMON}: flash_attn_type auto; llama.cpp enables it when the "
                                          "backend supports every layer (PR #15434), logging 'Flash Attention "
                                          "enabled'"),
            "swa_full": Default(False, f"{_COMMON}: swa_full false: the SWA cache holds the window plus one "
                                       "micro-batch per sequence (src/llama-kv-cache-iswa.cpp size_swa)"),
            "n_batch": Default(2048, f"{_COMMON}: n_batch 2048"),
            "n_ubatch": Default(512, f"{_COMMON}: n_ubatch 512"),
            "type_k": Default("f16", f"{_COMMON}: cache_type_k/v F16"),
            "n_outputs_max": Default("n_parallel", "tools/server/server-context.cpp server_output_limits(): one "
                                                   "row of logits per slot (the log prints n_outputs_max = 4)"),
            "fit_margin": Default(GIB, f"{_COMMON}: fit_params_target 1 GiB per device"),
            "fit_min_ctx": Default(4096, f"{_COMMON}: fit_params_min_ctx 4096"),
        },
        LLAMA_SERVER_GRAPH),
    EngineProfile(
        "ollama", "0.32.15", LLAMA_CPP,
        "Ollama 0.32.15 runs GGUF models in llama.cpp's server (build b10488, its LLAMA_CPP_VERSION) "
        "with its own flags",
        {
            "n_ctx": Default("vram", f"{_OLLAMA} server/routes.go L2048-2058: num_ctx 262,144 from 47 GiB of "
                                     "total VRAM, 32,768 from 23 GiB, else 4,096 (OLLAMA_CONTEXT_LENGTH unset), "
                                     "capped at the trained context (llm/server.go L112-116)"),
            "n_parallel": Default(1, f"{_OLLAMA} envconfig/config.go L275: OLLAMA_NUM_PARALLEL default 1"),
            "kv_unified": Default(False, f"{_OLLAMA} llm/llama_server.go L375-376: `-c num_ctx*parallel "
                                         "-np parallel`, no --kv-unified"),
            "flash_attn": Default("auto", f"{_OLLAMA} llm/llama_server.go L597-622: --flash-attn auto when every "
                                          "GPU supports it (ml/device.go L571: CPU, Metal, CUDA >= 6.0, ROCm, "
                                          "Vulkan), else off; OLLAMA_FLASH_ATTENTION overrides"),
            "swa_full": Default(False, "llama-server's default (not passed by Ollama)"),
            "n_batch": Default(512, f"{_OLLAMA} api/types.go L1116 NumBatch 512, passed as -b and -ub "
                                    "(llm/llama_server.go L581 appendBatchArgs)"),
            "n_ubatch": Default(512, f"= num_batch, passed as -ub too ({_OLLAMA} llm/llama_server.go appendBatchArgs)"),
            "type_k": Default("f16", f"{_OLLAMA} envconfig/config.go L222: OLLAMA_KV_CACHE_TYPE unset = f16, "
                                     "passed as --cache-type-k and --cache-type-v"),
            "n_outputs_max": Default("n_parallel", "llama-server's: one row of logits per slot"),
            "fit_margin": Default(GIB, "llama-server's --fit keeps 1 GiB free per device (Ollama sets -c, so --fit "
                                       f"moves layers to the CPU instead of shrinking it); {_OLLAMA} envconfig "
                                       "OLLAMA_GPU_OVERHEAD adds nothing by default"),
        },
        LLAMA_SERVER_GRAPH),
    EngineProfile(
        "vllm", "0.10.1.1", VLLM,
        "vLLM 0.10 (V1 engine): reserves gpu_memory_utilization of the GPU, the rest after weights and "
        "the profiled activation peak becomes a paged KV pool; CUDA graphs captured afterwards",
        {
            "gpu_memory_utilization": Default(0.90, "vllm/config CacheConfig.gpu_memory_utilization = 0.90 "
                                                    "(0.90 from v0.2 to v0.20); a fraction of total memory"),
            "max_num_seqs": Default("device", _VLLM_ARGS),
            "max_num_batched_tokens": Default("device", _VLLM_ARGS),
            "block_size": Default(16, "vllm/config/cache.py CacheConfig.DEFAULT_BLOCK_SIZE = 16"),
            "kv_cache_dtype": Default("auto", "vllm/config/cache.py cache_dtype 'auto' = the model's dtype"),
            "max_model_len": Default("model", "the model's max_position_embeddings (vllm/config ModelConfig)"),
            "cudagraph_profiling": Default(False, "CUDA graphs captured after the pool is sized: they use the "
                                                  "(1 - utilization) slack"),
            "enforce_eager": Default(False, "ModelConfig.enforce_eager False: CUDA graphs are captured"),
        }),
    EngineProfile(
        "vllm", "0.21.0", VLLM,
        "vLLM from 0.21: the same pool, but the utilization default rose to 0.92 and CUDA-graph memory is "
        "estimated and taken from the pool before it is sized",
        {
            "gpu_memory_utilization": Default(0.92, "vllm/config/cache.py CacheConfig: "
                                                    "Field(default=0.92, gt=0, le=1) (PR #38284)"),
            "max_num_seqs": Default("device", _VLLM_ARGS),
            "max_num_batched_tokens": Default("device", _VLLM_ARGS),
            "block_size": Default(16, "vllm/config/cache.py CacheConfig.DEFAULT_BLOCK_SIZE = 16"),
            "kv_cache_dtype": Default("auto", "vllm/config/cache.py cache_dtype 'auto' = the model's dtype"),
            "max_model_len": Default("model", "the model's max_position_embeddings (vllm/config ModelConfig)"),
            "cudagraph_profiling": Default(True, "VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS=1; vLLM logs 'CUDA "
                                                 "graph memory profiling is enabled (default since v0.21.0)'"),
            "enforce_eager": Default(False, "ModelConfig.enforce_eager False: CUDA graphs are captured"),
        }),
]

ENGINES = ("llama-cpp-python", "llama-server", "ollama", "vllm")
DEFAULT_ENGINE = "llama-cpp-python"
FLASH_ATTN_CHOICES = ("on", "off", "auto")


def _version_key(version: str) -> tuple:
    return tuple(int(p) for p in version.lstrip("bv").split("."))


def engine_versions(engine: str) -> list[str]:
    """Versions profiled for `engine`, oldest first."""
    return sorted((p.version for p in _PROFILES if p.engine == engine), key=_version_key)


def get_profile(engine: str | EngineProfile | None = None, version: str | None = None) -> EngineProfile:
    """The profile of `engine` at `version` (default: the newest one profiled); unknown names are one-line errors."""
    if isinstance(engine, EngineProfile):
        return engine
    engine = str(engine or DEFAULT_ENGINE).strip().lower()
    if engine not in ENGINES:
        raise CourseError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    versions = engine_versions(engine)
    version = str(version).strip().lstrip("v") if version else versions[-1]
    for profile in _PROFILES:
        if profile.engine == engine and profile.version == version:
            return profile
    raise CourseError(f"no profile of {engine} {version}; profiled versions: {', '.join(versions)}")


def list_profiles() -> list[EngineProfile]:
    return list(_PROFILES)


@dataclass(frozen=True)
class LlamaCppSettings:
    """What a llama.cpp-based engine is asked for, in llama.cpp's own terms (its command-line flags)."""
    engine: str
    version: str
    n_ctx: int  # -c: cells in all, before llama.cpp pads them
    n_parallel: int  # -np: slots (sequences decoded together)
    kv_unified: bool  # one cache stream that every slot shares
    flash_attn: bool  # as resolved on the device
    flash_attn_setting: str  # on / off / auto, as asked
    swa_full: bool
    n_batch: int
    n_ubatch: int
    type_k: str
    type_v: str
    n_outputs_max: int  # rows of logits reserved per micro-batch

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in ("engine", "version")}

    @property
    def flags(self) -> str:
        """The command line (or Python call) that asks the engine for exactly these settings."""
        fa = self.flash_attn_setting + (f" (resolves to {'on' if self.flash_attn else 'off'})"
                                        if self.flash_attn_setting == "auto" else "")
        if self.engine == "llama-cpp-python":
            return (f"Llama(n_ctx={self.n_ctx}, n_batch={self.n_batch}, n_ubatch={self.n_ubatch}, "
                    f"flash_attn={self.flash_attn}, swa_full={self.swa_full}, type_k/type_v={self.type_k}"
                    + (f", {self.n_parallel} sequences" if self.n_parallel > 1 else "") + ")")
        slots = f"-np {self.n_parallel}" + (" (auto, unified KV)" if self.kv_unified else "")
        prefix = "ollama: llama-server" if self.engine == "ollama" else "llama-server"
        return (f"{prefix} -c {self.n_ctx} {slots} -fa {fa} -b {self.n_batch} -ub {self.n_ubatch} "
                f"--cache-type-k {self.type_k} --cache-type-v {self.type_v}"
                f"{' --swa-full' if self.swa_full else ''}")


def _choice(profile: EngineProfile, name: str, value):
    return profile.default(name) if value is None else value


def resolve_llama_cpp(profile: EngineProfile, n_ctx: int, concurrency: int | None = None, kv_type: str | None = None,
                      flash_attn: bool | str | None = None, swa_full: bool | None = None,
                      n_ubatch: int | None = None, n_batch: int | None = None) -> LlamaCppSettings:
    """The settings a llama.cpp-based engine runs `concurrency` sequences of `n_ctx` tokens with.

    `concurrency=None` keeps the engine's own slots: llama-server's automatic
    four slots share one unified cache of `n_ctx` cells (one conversation may
    use all of it); an explicit number of slots gets `-np N -c N x n_ctx`, a
    cache stream per slot.
    """
    require_positive("context length", n_ctx)
    kinds = cache_type(_choice(profile, "type_k", kv_type)).name
    fa_setting = flash_attn
    if isinstance(flash_attn, bool):
        fa_setting = "on" if flash_attn else "off"
    if fa_setting is not None and fa_setting not in FLASH_ATTN_CHOICES:
        raise CourseError(f"flash attention must be one of {', '.join(FLASH_ATTN_CHOICES)}, got {flash_attn!r}")
    quantized_v = cache_type(kinds).block_size > 1
    if fa_setting is None:
        fa_setting = profile.default("flash_attn")
        if profile.engine == "llama-cpp-python" and quantized_v:
            fa_setting = "on"  # the course's loaders switch it on for a quantized V cache (runtime.measure)
    # Every backend the course sizes for (CPU, CUDA >= 6.0, Metal) runs flash attention, so auto resolves to on.
    fa = fa_setting != "off"
    if quantized_v and not fa:
        raise CourseError(f"llama.cpp quantizes the V cache ({kinds}) only with flash attention on")
    slots = _choice(profile, "n_parallel", concurrency)
    unified = False
    if slots == "auto":
        slots, unified = 4, True  # tools/server/server.cpp, the automatic slots
        total = n_ctx
    else:
        require_positive("concurrency", slots)
        total = int(slots) * int(n_ctx)
    if profile.default("kv_unified") is True:
        unified = True
    ubatch = int(require_positive("n_ubatch", _choice(profile, "n_ubatch", n_ubatch)))
    batch = int(require_positive("n_batch", _choice(profile, "n_batch", n_batch)))
    if profile.engine == "ollama" and n_ubatch is not None and n_batch is None:
        batch = ubatch  # Ollama passes num_batch as both -b and -ub
    outputs = profile.default("n_outputs_max")
    rows = batch if outputs == "n_batch" else int(slots)
    return LlamaCppSettings(profile.engine, profile.version, int(total), int(slots), unified, fa, fa_setting,
                            bool(_choice(profile, "swa_full", swa_full)), batch, min(ubatch, batch), kinds, kinds,
                            rows)


def padded(n: int) -> int:
    return -(-int(n) // LLAMA_CPP_CTX_PAD) * LLAMA_CPP_CTX_PAD


def llama_cpp_cells(settings: LlamaCppSettings) -> tuple[int, int]:
    """(cells per stream, streams) llama.cpp gives the full-attention cache (src/llama-context.cpp).

    The context is padded to 256 cells; a unified cache is one stream of all of
    them, otherwise each slot gets n_ctx / n_parallel, padded to 256 again.
    """
    total = padded(settings.n_ctx)
    if settings.kv_unified or settings.n_parallel == 1:
        return total, 1
    return padded(total // settings.n_parallel), settings.n_parallel


def check_fraction(name: str, value) -> float:
    return float(require_fraction(name, value))
