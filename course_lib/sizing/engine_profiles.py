"""The engine profiles themselves: each memory-deciding default of a named engine version, and its source.

Derived in notebooks 01 (memory math) and 03 (KV-cache growth); `sizing.engines`
resolves them into the settings an estimate assumes. The newest profile of each
engine is what the calculators show; the older ones answer `--engine-version`
and let `tests/test_engine_ground_truth.py` compare each published setup with
the behaviour of its own version. Two changes in llama.cpp decide which build
behaves how (both measured here through the xllamacpp wheels of those builds):

* before PR #23861 (merged 2026-06-01, between b9294 and b9538) the compute
  buffer reserves a row of logits for every token of the micro-batch; after it,
  llama-server reserves one per slot;
* before PR #23764 (2026-05-29) the attention mask is an F32 input that flash
  attention casts to F16, and both are alive at the cast.

Ollama's versions before 0.30 run their own runner on a vendored llama.cpp
(before 0.11.5 one so old that every sequence shares one KV stream and the
sliding-window cache is full-size); from 0.30 they launch llama-server.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from course_lib.sizing.buffers import (LLAMA_CPP_B9294_GRAPH, LLAMA_CPP_B9538_GRAPH, LLAMA_CPP_PYTHON_GRAPH,
                                       LLAMA_SERVER_GRAPH, GraphWorkspace)
from course_lib.units import GIB, MIB

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
_SERVER = "tools/server/server.cpp: `if (params.n_parallel < 0) { n_parallel = 4; kv_unified = true; }`"
_RESERVE_ALL = ("src/llama-context.cpp before PR #23861: graph_reserve(n_tokens, n_seqs, n_tokens), a row of logits "
                "for every token of the micro-batch (measured: 514.5 MiB for Gemma 3 270M at -ub 512)")
_VLLM_ARGS = ("vllm/engine/arg_utils.py EngineArgs.get_batch_defaults: `vllm serve` on >= 70 GiB and not "
              "an A100 -> 8192 tokens / 1024 seqs, else 2048 / 256 (PR #16158; A100 exception PR #17885)")


def _llama_server(build: str, wheel: str, graph: GraphWorkspace, outputs: Default) -> EngineProfile:
    """llama-server at `build`: the same defaults in every build the course measured (read from each wheel)."""
    common = f"common/common.h, read from xllamacpp.CommonParams() of the {build} build"
    return EngineProfile(
        "llama-server", build, LLAMA_CPP,
        f"llama.cpp's own server (`llama-server -m model.gguf`), build {build} as bundled in the xllamacpp "
        f"{wheel} wheel",
        {
            "n_ctx": Default("fit", f"-c 0 = the model's trained context ({common}: n_ctx 0), shrunk by --fit "
                                    "(on: fit_params true) to leave 1 GiB free per device (fit_params_target), "
                                    "never below 4,096 (fit_params_min_ctx); common/fit.cpp step 2"),
            "n_parallel": Default("auto", "-np -1 = auto (common/arg.cpp, LLAMA_EXAMPLE_SERVER), which "
                                          f"becomes 4 slots: {_SERVER}"),
            "kv_unified": Default("auto", f"{common}: kv_unified false; the automatic slots turn it on: {_SERVER}"),
            "flash_attn": Default("auto", f"{common}: flash_attn_type auto; llama.cpp enables it when the "
                                          "backend supports every layer (PR #15434), logging 'Flash Attention "
                                          "enabled'"),
            "swa_full": Default(False, f"{common}: swa_full false: the SWA cache holds the window plus one "
                                       "micro-batch per sequence (src/llama-kv-cache-iswa.cpp size_swa)"),
            "n_batch": Default(2048, f"{common}: n_batch 2048"),
            "n_ubatch": Default(512, f"{common}: n_ubatch 512"),
            "type_k": Default("f16", f"{common}: cache_type_k/v F16"),
            "n_outputs_max": outputs,
            "fit_margin": Default(GIB, f"{common}: fit_params_target 1 GiB per device"),
            "fit_min_ctx": Default(4096, f"{common}: fit_params_min_ctx 4096"),
        },
        graph)


_PER_SLOT = Default("n_parallel", "tools/server/server-context.cpp server_output_limits() (PR #23861): one row "
                                  "of logits per slot (the log prints n_outputs_max = 4)")


def _ollama_runner(version: str, vendored: str, lines: dict, one_stream: bool) -> EngineProfile:
    """Ollama before 0.30: its own runner (runner/llamarunner) on the llama.cpp it vendors at `vendored`."""
    src = f"ollama/ollama v{version}"
    llama = f"the vendored llama.cpp ({vendored}) llama_context_default_params()"
    return EngineProfile(
        "ollama", version, LLAMA_CPP,
        f"Ollama {version} runs GGUF models in its own runner on a vendored llama.cpp ({vendored})"
        + ("; every sequence shares one KV stream" if one_stream else ""),
        {
            "n_ctx": Default(4096, f"{src} envconfig/config.go L185: OLLAMA_CONTEXT_LENGTH default 4096 "
                                   f"(api/types.go L{lines['num_ctx']} NumCtx)"),
            "n_parallel": Default(1, f"{src} envconfig/config.go L{lines['parallel']}: OLLAMA_NUM_PARALLEL default 1"),
            "kv_unified": Default(True if one_stream else False,
                                  f"{llama}: " + ("no per-sequence streams yet (no kv_unified parameter): one cache of "
                                                  "num_ctx x parallel cells that every sequence reads" if one_stream
                                                  else "kv_unified false: a stream of num_ctx cells per sequence")),
            "flash_attn": Default("off", f"{src} llm/server.go L{lines['fa']}: OLLAMA_FLASH_ATTENTION unset = false"),
            "swa_full": Default(True, f"{llama}: " + ("predates the reduced sliding-window cache" if one_stream
                                                      else "swa_full true")),
            "n_batch": Default("512 x parallel", f"{src} runner/llamarunner/runner.go L{lines['runner']}: "
                                                 "NewContextParams(kvSize, batchSize*parallel, ...) sets n_batch"),
            "n_ubatch": Default(512, f"{llama}: n_ubatch 512 (Ollama does not set it)"),
            "type_k": Default("f16", f"{src} envconfig/config.go L171: OLLAMA_KV_CACHE_TYPE unset = f16"),
            "n_outputs_max": Default("n_ubatch", _RESERVE_ALL),
            "fit_margin": Default(457 * MIB, f"{src} discover/gpu.go L41: cudaMinimumMemory 457 MiB left free per "
                                             "GPU by Ollama's own estimate (no llama.cpp --fit)"),
            "command": Default("ollama runner", f"{src} llm/server.go L{lines['ctx']}: a KV cache of num_ctx x "
                                                "parallel cells"),
        },
        LLAMA_CPP_B9294_GRAPH)


def _ollama_server(version: str, build: str, lines: dict, graph: GraphWorkspace) -> EngineProfile:
    """Ollama from 0.30: llama-server at its LLAMA_CPP_VERSION, launched with Ollama's flags."""
    src = f"ollama/ollama v{version}"
    return EngineProfile(
        "ollama", version, LLAMA_CPP,
        f"Ollama {version} runs GGUF models in llama.cpp's server (build {build}, its LLAMA_CPP_VERSION) "
        "with its own flags",
        {
            "n_ctx": Default("vram", f"{src} server/routes.go L{lines['vram']}: num_ctx 262,144 from 47 GiB of "
                                     "total VRAM, 32,768 from 23 GiB, else 4,096 (OLLAMA_CONTEXT_LENGTH unset), "
                                     "capped at the trained context (llm/server.go L112-116)"),
            "n_parallel": Default(1, f"{src} envconfig/config.go L275: OLLAMA_NUM_PARALLEL default 1"),
            "kv_unified": Default(False, f"{src} llm/llama_server.go L{lines['ctx']}: `-c num_ctx*parallel "
                                         "-np parallel`, no --kv-unified"),
            "flash_attn": Default("auto", f"{src} llm/llama_server.go L{lines['fa']}: --flash-attn auto when every "
                                          "GPU supports it (ml/device.go: CPU, Metal, CUDA >= 6.0, ROCm, "
                                          "Vulkan), else off; OLLAMA_FLASH_ATTENTION overrides"),
            "swa_full": Default(False, "llama-server's default (not passed by Ollama)"),
            "n_batch": Default(512, f"{src} api/types.go L{lines['batch']} NumBatch 512, passed as -b and -ub "
                                    f"(llm/llama_server.go L{lines['append']} appendBatchArgs)"),
            "n_ubatch": Default(512, f"= num_batch, passed as -ub too ({src} llm/llama_server.go appendBatchArgs)"),
            "type_k": Default("f16", f"{src} envconfig/config.go L222: OLLAMA_KV_CACHE_TYPE unset = f16, "
                                     "passed as --cache-type-k and --cache-type-v"),
            "n_outputs_max": Default("n_parallel", f"llama-server {build}'s: one row of logits per slot"),
            "fit_margin": Default(GIB, "llama-server's --fit keeps 1 GiB free per device (Ollama sets -c, so --fit "
                                       f"moves layers to the CPU instead of shrinking it); {src} envconfig "
                                       "OLLAMA_GPU_OVERHEAD adds nothing by default"),
        },
        graph)


def _vllm(version: str, summary: str, utilization: Default, cudagraphs: Default, sampler: Default,
          hybrid: Default, group_size: Default, token_report: Default) -> EngineProfile:
    return EngineProfile(
        "vllm", version, VLLM, summary,
        {
            "gpu_memory_utilization": utilization,
            "max_num_seqs": Default("device", _VLLM_ARGS),
            "max_num_batched_tokens": Default("device", _VLLM_ARGS),
            "block_size": Default(16, "vllm/config/cache.py CacheConfig.DEFAULT_BLOCK_SIZE = 16"),
            "kv_cache_dtype": Default("auto", "vllm/config/cache.py cache_dtype 'auto' = the model's dtype"),
            "max_model_len": Default("model", "the model's max_position_embeddings (vllm/config ModelConfig)"),
            "cudagraph_profiling": cudagraphs,
            "enforce_eager": Default(False, "ModelConfig.enforce_eager False: CUDA graphs are captured"),
            "topk_topp_sampler": sampler,
            "hybrid_kv_cache_manager": hybrid,
            "kv_group_size": group_size,
            "kv_tokens_report": token_report,
        })


PROFILES = [
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
    _llama_server("b9294", "2026.5.9294", LLAMA_CPP_B9294_GRAPH, Default("n_ubatch", _RESERVE_ALL)),
    _llama_server("b9538", "2026.6.9538", LLAMA_CPP_B9538_GRAPH, _PER_SLOT),
    _llama_server("b11549", "2026.10.11549", LLAMA_SERVER_GRAPH, _PER_SLOT),
    _ollama_runner("0.11.4", "de4c07f9", {"num_ctx": 723, "parallel": 222, "runner": 754, "fa": 204, "ctx": 179},
                   one_stream=True),
    _ollama_runner("0.11.5", "e54d41be", {"num_ctx": 744, "parallel": 224, "runner": 750, "fa": 197, "ctx": 176},
                   one_stream=False),
    # Ollama 0.30.9's llama.cpp b9626 is the first it ships after PR #23861; b9538's workspace is the nearest measured.
    _ollama_server("0.30.9", "b9626", {"vram": "2024-2030", "ctx": "345-346", "fa": "570-595", "batch": 1111,
                                       "append": 554}, LLAMA_CPP_B9538_GRAPH),
    _ollama_server("0.32.15", "b10488", {"vram": "2048-2058", "ctx": "375-376", "fa": "597-622", "batch": 1116,
                                         "append": 581}, LLAMA_SERVER_GRAPH),
    _vllm("0.10.1.1",
          "vLLM 0.10 (V1 engine): reserves gpu_memory_utilization of the GPU, the rest after weights and "
          "the profiled activation peak becomes a paged KV pool; CUDA graphs captured afterwards",
          Default(0.90, "vllm/config CacheConfig.gpu_memory_utilization = 0.90 (0.90 from v0.2 to v0.20); a "
                        "fraction of total memory"),
          Default(False, "CUDA graphs captured after the pool is sized: they use the (1 - utilization) slack"),
          Default("pytorch", "vllm/v1/sample/ops/topk_topp_sampler.py L34-59 (0.10.1.1): FlashInfer only when "
                             "it is installed, and `pip install vllm` leaves it out (flashinfer-python is the "
                             "wheel's [flashinfer] extra); the PyTorch sampler sorts the vocabulary"),
          Default(True, "vllm/config/__init__.py L3653-3684 (0.10.1.1): SchedulerConfig.disable_hybrid_kv_cache_"
                        "manager False, turned on only off CUDA/ROCm, with a KV connector or KV events"),
          Default("min", "vllm/v1/core/kv_cache_utils.py L966 (0.10.1.1): group_size = the rarest attention "
                         "type's layer count"),
          Default("blocks per group", "vllm/v1/core/kv_cache_utils.py L1011 (0.10.1.1): 'GPU KV cache size' = "
                                      "num_blocks // number of groups * block_size")),
    _vllm("0.21.0",
          "vLLM from 0.21: the same pool, but the utilization default rose to 0.92 and CUDA-graph memory is "
          "estimated and taken from the pool before it is sized",
          Default(0.92, "vllm/config/cache.py L66 (0.21.0) CacheConfig: Field(default=0.92, gt=0, le=1) (PR #38284)"),
          Default(True, "VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS=1; vLLM logs 'CUDA graph memory profiling is "
                        "enabled (default since v0.21.0)'"),
          Default("flashinfer", "vllm/envs.py L48 (0.21.0): VLLM_USE_FLASHINFER_SAMPLER defaults to True, and "
                                "topk_topp_sampler.py L39-49 then samples with FlashInfer, a requirement of the "
                                "wheel (flashinfer-python==0.6.8.post1)"),
          Default(True, "vllm/config/vllm.py L1311-1357 (0.21.0): disable_hybrid_kv_cache_manager None resolves "
                        "to False on CUDA/ROCm without a KV connector or chunked local attention"),
          Default("min, or max within 1.5x", "vllm/v1/core/kv_cache_utils.py L1136-1147 (0.21.0): the rarest "
                                            "type's count, or the commonest's when it is under 1.5x that"),
          Default("concurrency x max_model_len", "vllm/v1/core/kv_cache_utils.py L1701-1708 (0.21.0): 'GPU KV "
                                                 "cache size' = int(max concurrency * max_model_len)")),
]
