"""KV-cache sizes: hand-derived values for real architectures, and llama.cpp's own allocation."""

from pathlib import Path

import pytest

from course_lib.architecture import arch_from_gguf, arch_from_hf_config
from course_lib.errors import CourseError
from course_lib.kv import (KV_CACHE_TYPES, attention_kind, cache_type, kv_bytes_per_token, kv_cache_bytes,
                           kv_caches, llama_cpp_n_ctx, load_arch, swa_cells)

DATA = Path(__file__).parent / "data"


def arch(name):
    return arch_from_hf_config(DATA / f"{name}_config.json")


def test_cache_type_block_sizes():
    assert KV_CACHE_TYPES["f16"].bits_per_value == 16
    assert KV_CACHE_TYPES["q8_0"].bits_per_value == 8.5  # 32 int8 + one f16 scale = 34 bytes
    assert KV_CACHE_TYPES["q4_0"].bits_per_value == 4.5  # 32 nibbles + one f16 scale = 18 bytes
    assert KV_CACHE_TYPES["q8_0"].ggml_type == 8 and KV_CACHE_TYPES["f16"].ggml_type == 1
    assert set(KV_CACHE_TYPES) == {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1"}


@pytest.mark.parametrize("name, per_token", [
    ("llama-2-7b", 2 * 32 * 32 * 128 * 2),  # MHA: 2 (K,V) x layers x KV heads x head dim x 2 bytes = 512 KiB
    ("llama-3.1-8b", 2 * 32 * 8 * 128 * 2),  # GQA 4:1
    ("qwen2.5-7b", 2 * 28 * 4 * 128 * 2),  # GQA 7:1
    ("deepseek-v3", 61 * (512 + 64) * 2),  # MLA: latent + rope key, no separate V
    ("gemma-3-1b", 2 * 4 * 1 * 256 * 2),  # only the 4 global layers grow with context
    ("hybrid-layer-types", 2 * 2 * 2 * 256 * 2),  # only 2 of 8 layers keep KV
])
def test_bytes_per_token_f16(name, per_token):
    assert kv_bytes_per_token(arch(name)) == per_token


def test_quantized_cache_types_use_their_block_sizes():
    l3 = arch("llama-3.1-8b")
    assert kv_bytes_per_token(l3, "q8_0") == 2 * 32 * 8 * (128 // 32 * 34)
    assert kv_bytes_per_token(l3, "q8_0", "q4_0") == 32 * 8 * (4 * 34 + 4 * 18)
    assert kv_bytes_per_token(l3, "f32") == 2 * kv_bytes_per_token(l3, "bf16")


def test_sliding_window_cache_full_size_vs_reduced():
    g = arch("gemma-3-1b")
    n = 32768
    full = kv_cache_bytes(g, n, swa_full=True)
    reduced = kv_cache_bytes(g, n, swa_full=False)
    per_layer_token = 2 * 256 * 2
    assert full == 26 * n * per_layer_token
    # reduced: window 512 + micro-batch 512 = 1024 cells for the 22 local layers
    assert swa_cells(g, n, swa_full=False) == 1024
    assert reduced == 4 * n * per_layer_token + 22 * 1024 * per_layer_token
    assert kv_cache_bytes(g, n) == full  # llama.cpp's default is the full-size SWA cache
    assert swa_cells(g, 700, swa_full=False) == 700  # never more than the context


def test_sequences_multiply_the_cache():
    l2 = arch("llama-2-7b")
    assert kv_cache_bytes(l2, 4096, n_seq=8) == 8 * kv_cache_bytes(l2, 4096) == 8 * 4096 * 524288


def test_seven_b_at_32k_vs_thirteen_b_at_4k():
    # The rule of thumb compares a 7B model at 32K with a 13B at 4K: for Llama 2 (MHA) the 7B's
    # cache is 5.12x the 13B's, not equal; GQA in Llama 3.1 8B brings it to 1.28x.
    ratio = kv_cache_bytes(arch("llama-2-7b"), 32768) / kv_cache_bytes(arch("llama-2-13b"), 4096)
    assert ratio == pytest.approx(5.12)
    assert kv_cache_bytes(arch("llama-3.1-8b"), 32768) / kv_cache_bytes(arch("llama-2-13b"), 4096) == pytest.approx(1.28)


def test_labels_and_padding():
    assert attention_kind(arch("llama-2-7b")) == "MHA"
    assert attention_kind(arch("llama-3.1-8b")).startswith("GQA (4 ")
    assert attention_kind(arch("deepseek-v3")) == "MLA"
    assert "SWA (22/26" in attention_kind(arch("gemma-3-1b"))
    assert llama_cpp_n_ctx(1000) == 1024 and llama_cpp_n_ctx(1024) == 1024 and llama_cpp_n_ctx(1025) == 1280


def test_bad_inputs():
    l2 = arch("llama-2-7b")
    with pytest.raises(CourseError, match="unknown KV cache type"):
        cache_type("q3_k")
    with pytest.raises(CourseError, match="n_ctx"):
        kv_cache_bytes(l2, 0)
    with pytest.raises(CourseError, match="n_seq"):
        kv_cache_bytes(l2, 10, n_seq=-1)
    with pytest.raises(CourseError, match="blocks of 32"):
        kv_bytes_per_token(arch_from_hf_config({"num_hidden_layers": 1, "hidden_size": 48,
                                                 "num_attention_heads": 2}), "q8_0")
    with pytest.raises(CourseError):
        load_arch("/nonexistent/model.gguf")


def test_load_arch_accepts_paths(gemma_path):
    assert load_arch(str(gemma_path)).n_layers == 18
    assert load_arch(str(DATA / "llama-2-7b_config.json")).n_kv_heads == 32
