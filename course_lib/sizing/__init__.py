"""Memory math: will a model fit, and how far can context and concurrency go (notebooks 01 and 03).

Architecture (`architecture`, `catalogue`, `load`), parameter counts
(`params`), weight bytes (`weights`), KV cache (`kv`, `paged`), engine buffers
(`buffers`), engine profiles with every memory-deciding default
(`engine_profiles`, resolved by `engines`),
vLLM's paged pool (`vllm`), the estimate and its budget (`memory`), the one
search for the largest context and concurrency (`fit`), CPU offload
(`offload`), decode speed bounds (`speed`) and a popular guide's formula
(`guide`).
"""

from course_lib.sizing.architecture import ModelArch, arch_from_gguf, arch_from_gguf_contents, arch_from_hf_config
from course_lib.sizing.buffers import (CUDA_CONTEXT_BYTES, F32, LLAMA_CPP_PYTHON_GRAPH, LLAMA_SERVER_GRAPH,
                                      GraphWorkspace, compute_buffer_bytes, layer_widths, output_buffer_bytes)
from course_lib.sizing.catalogue import (QKV_BIAS_MODEL_TYPES, Device, arch_extras, custom_device, get_device,
                                         get_model, list_devices, list_models, model_row)
from course_lib.sizing.engine_profiles import Default, EngineProfile
from course_lib.sizing.engines import (DEFAULT_ENGINE, ENGINES, FLASH_ATTN_CHOICES, LlamaCppSettings, engine_versions,
                                      get_profile, list_profiles, resolve_llama_cpp)
from course_lib.sizing.fit import (CARD_24GB, MAX_SEARCH_CONTEXT, MAX_SEARCH_SEQUENCES, FitAnswer, engine_context,
                                   fit_answer, max_concurrency, max_context, solve_budget)
from course_lib.sizing.ground_truth import (Comparison, compare, error_table, format_error_table, load_ground_truth,
                                            predict, profile_for)
from course_lib.sizing.guide import guide_estimate_vram_gb
from course_lib.sizing.kv import (KV_CACHE_TYPES, LLAMA_CPP_CTX_PAD, LLAMA_CPP_N_UBATCH, LLAMA_CPP_SWA_FULL_DEFAULT,
                                  CacheType, KVCache, attention_kind, cache_type, kv_bytes_per_token, kv_cache_bytes,
                                  kv_caches, llama_cpp_n_ctx, swa_cells)
from course_lib.sizing.load import ResolvedModel, load_arch, resolve_model
from course_lib.sizing.memory import (DEFAULT_CONTEXT, DEFAULT_HEADROOM, DEFAULT_QUANT, VLLM_ONLY_KEYS, MemoryEstimate,
                                      budget_bytes, budget_rule, engine_budget_bytes, estimate, fits, on_device, resize,
                                      runtime_bytes)
from course_lib.sizing.offload import OffloadSplit, offload_split, require_layer_offload
from course_lib.sizing.paged import Request, ServingResult, Waste, allocation_waste, sample_requests, simulate_serving
from course_lib.sizing.params import ParamCount, count_params, param_count
from course_lib.sizing.speed import bytes_read_per_token, decode_tok_s_bound
from course_lib.sizing.vllm import KVLayout, activation_peak_bytes, batch_defaults, kv_layout, pool_holds
from course_lib.sizing.weights import (GPU_FORMATS, HEADER_BYTES_PER_VOCAB, Tensor, WeightsEstimate, bits_per_weight,
                                       file_tensors, gguf_file_bytes, gguf_tensors, list_quants, normalize_quant,
                                       preset_tensor_type, tensor_sizes, weights_bytes)

__all__ = [
    "ModelArch",
    "arch_from_hf_config",
    "arch_from_gguf",
    "arch_from_gguf_contents",
    "QKV_BIAS_MODEL_TYPES",
    "Device",
    "arch_extras",
    "list_models",
    "model_row",
    "get_model",
    "list_devices",
    "get_device",
    "custom_device",
    "ResolvedModel",
    "resolve_model",
    "load_arch",
    "ParamCount",
    "count_params",
    "param_count",
    "GPU_FORMATS",
    "bits_per_weight",
    "list_quants",
    "normalize_quant",
    "Tensor",
    "gguf_tensors",
    "preset_tensor_type",
    "WeightsEstimate",
    "file_tensors",
    "tensor_sizes",
    "weights_bytes",
    "HEADER_BYTES_PER_VOCAB",
    "gguf_file_bytes",
    "LLAMA_CPP_CTX_PAD",
    "LLAMA_CPP_N_UBATCH",
    "LLAMA_CPP_SWA_FULL_DEFAULT",
    "CacheType",
    "KV_CACHE_TYPES",
    "cache_type",
    "llama_cpp_n_ctx",
    "kv_bytes_per_token",
    "KVCache",
    "swa_cells",
    "kv_caches",
    "kv_cache_bytes",
    "attention_kind",
    "F32",
    "CUDA_CONTEXT_BYTES",
    "GraphWorkspace",
    "LLAMA_CPP_PYTHON_GRAPH",
    "LLAMA_SERVER_GRAPH",
    "layer_widths",
    "compute_buffer_bytes",
    "output_buffer_bytes",
    "ENGINES",
    "DEFAULT_ENGINE",
    "FLASH_ATTN_CHOICES",
    "Default",
    "EngineProfile",
    "LlamaCppSettings",
    "engine_versions",
    "get_profile",
    "list_profiles",
    "resolve_llama_cpp",
    "batch_defaults",
    "activation_peak_bytes",
    "pool_holds",
    "KVLayout",
    "kv_layout",
    "DEFAULT_CONTEXT",
    "VLLM_ONLY_KEYS",
    "DEFAULT_HEADROOM",
    "DEFAULT_QUANT",
    "MemoryEstimate",
    "estimate",
    "resize",
    "on_device",
    "runtime_bytes",
    "budget_bytes",
    "engine_budget_bytes",
    "budget_rule",
    "fits",
    "bytes_read_per_token",
    "decode_tok_s_bound",
    "MAX_SEARCH_CONTEXT",
    "MAX_SEARCH_SEQUENCES",
    "max_context",
    "max_concurrency",
    "FitAnswer",
    "fit_answer",
    "engine_context",
    "CARD_24GB",
    "solve_budget",
    "OffloadSplit",
    "offload_split",
    "require_layer_offload",
    "Request",
    "sample_requests",
    "Waste",
    "allocation_waste",
    "ServingResult",
    "simulate_serving",
    "guide_estimate_vram_gb",
    "load_ground_truth",
    "profile_for",
    "predict",
    "Comparison",
    "compare",
    "error_table",
    "format_error_table",
]
