"""KV-cache sizes: hand-derived values for real architectures, and llama.cpp's own allocation."""

from pathlib import Path

import pytest

from course_lib.errors import CourseError
from course_lib.sizing import (KV_CACHE_TYPES, arch_from_gguf, arch_from_hf_config, attention_kind, cache_type,
                               kv_bytes_per_token, kv_cache_bytes, kv_caches, llama_cpp_n_ctx, load_arch, swa_cells)

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
    assert kv_cache_bytes(arch("llama-3.1-8b"), 32768) / kv_cache_bytes(arch("llama-2-13b"), 4096) == pytest.approx(
        1.28
    )


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


# ------------------------------------------------------ against the engine (real Gemma 3 270M)

from course_lib.runtime import load_memory_in_fresh_process, measure_kv_allocation, parse_kv_log  # noqa: E402

ENGINE_SETTINGS = [
    # (n_ctx asked, type_k, type_v, swa_full)
    (1000, "f16", None, None),  # padded to 1024 by llama.cpp
    (2048, "f16", None, None),
    (4096, "f16", None, None),
    (2048, "f16", None, False),  # reduced SWA cache: window + micro-batch
    (4096, "f16", None, False),
    (2048, "q8_0", None, None),  # quantized K and V (flash attention on)
    (2048, "q4_0", None, None),
    (4096, "q8_0", "q4_0", False),
    (2048, "q8_0", "f16", None),  # quantized K alone works without flash attention
]


@pytest.fixture(scope="module")
def gemma_arch(gemma_path):
    return arch_from_gguf(gemma_path)


@pytest.mark.parametrize("n_ctx, type_k, type_v, swa_full", ENGINE_SETTINGS)
def test_prediction_equals_llama_cpp_allocation(gemma_path, gemma_arch, n_ctx, type_k, type_v, swa_full):
    engine = measure_kv_allocation(gemma_path, n_ctx=n_ctx, type_k=type_k, type_v=type_v, swa_full=swa_full)
    assert engine.n_ctx == llama_cpp_n_ctx(n_ctx)
    predicted = kv_caches(gemma_arch, engine.n_ctx, type_k=type_k, type_v=type_v, swa_full=swa_full)
    assert [c.kind for c in engine.caches] == [c.kind for c in predicted] == ["full", "swa"]
    assert engine.swa_full == (swa_full is not False)  # the engine's own "using full-size SWA cache" line
    for got, want in zip(engine.caches, predicted):
        assert (got.total_cells, got.layers) == (want.cells, want.layers)
        assert (got.k_type, got.v_type) == (type_k, type_v or type_k)
        # llama.cpp prints MiB with two decimals: the prediction must round to what it printed.
        assert abs(want.total_bytes / 2**20 - got.size_mib) <= 0.005 + 1e-9
        assert abs(want.total_bytes - got.size_bytes) / got.size_bytes < 0.01
    total = kv_cache_bytes(gemma_arch, engine.n_ctx, type_k=type_k, type_v=type_v, swa_full=swa_full)
    assert abs(total - engine.total_bytes) / engine.total_bytes < 0.01


@pytest.mark.parametrize("n_ctx_total, n_seq, unified, swa_full, type_k", [
    (4096, 4, False, None, "f16"),  # llama.cpp's default: one stream of n_ctx / n_seq cells per sequence
    (8192, 4, False, False, "f16"),  # reduced SWA: window + micro-batch in each stream
    (4096, 4, True, False, "f16"),  # unified: one stream, a window per sequence in the SWA cache
    (4096, 2, False, None, "q8_0"),
])
def test_parallel_sequences_match_llama_cpp(gemma_path, gemma_arch, n_ctx_total, n_seq, unified, swa_full, type_k):
    from course_lib.runtime import measure_context_kv

    engine = measure_context_kv(gemma_path, n_ctx=n_ctx_total, n_seq=n_seq, kv_unified=unified,
                                swa_full=swa_full, type_k=type_k)
    predicted = kv_caches(gemma_arch, n_ctx_total // n_seq, n_seq=n_seq, type_k=type_k, swa_full=swa_full,
                          kv_unified=unified)
    assert len(engine.caches) == len(predicted) == 2
    for got, want in zip(engine.caches, predicted):
        assert (got.kind, got.total_cells, got.layers) == (want.kind, want.cells, want.layers)
        assert got.n_streams == (1 if unified else n_seq)
        assert abs(want.total_bytes / 2**20 - got.size_mib) <= 0.005 + 1e-9


def test_quantized_v_cache_needs_flash_attention(gemma_path):
    from course_lib.runtime import load_model

    # The engine itself refuses (the course's pre-check is tested separately below).
    with pytest.raises(CourseError, match="could not load"):
        load_model(gemma_path, n_ctx=256, type_k=8, type_v=8, flash_attn=False)
    with pytest.raises(CourseError, match="flash attention"):
        measure_kv_allocation(gemma_path, n_ctx=256, type_v="q8_0", flash_attn=False)


def test_log_parser_on_a_plain_cache_line():
    line = ("llama_kv_cache: size = 4096.00 MiB ( 32768 cells,  32 layers,  1/1 seqs), "
            "K (f16): 2048.00 MiB, V (f16): 2048.00 MiB\n")
    [c] = parse_kv_log(line)
    assert (c.kind, c.cells, c.layers, c.size_mib, c.k_type) == ("full", 32768, 32, 4096.0, "f16")


def test_process_memory_grows_like_the_prediction(gemma_path, gemma_arch):
    small = load_memory_in_fresh_process(gemma_path, n_ctx=1024)
    large = load_memory_in_fresh_process(gemma_path, n_ctx=16384)
    grown = (large["rss_after"] - large["rss_before"]) - (small["rss_after"] - small["rss_before"])
    predicted = kv_cache_bytes(gemma_arch, 16384) - kv_cache_bytes(gemma_arch, 1024)
    # llama.cpp zeroes the whole cache at load, so resident memory grows by the cache size
    # (plus small context-dependent buffers).
    assert 0.95 * predicted < grown < 1.10 * predicted


# ------------------------------------------------------ llm-course kv

def test_cli_json_matches_the_library(capsys, gemma_path, gemma_arch):
    import json

    from course_lib.cli import main

    assert main(["kv", str(gemma_path), "--ctx", "4096", "--kv-type", "q8_0", "--concurrency", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kv_bytes_per_token"] == kv_bytes_per_token(gemma_arch, "q8_0") == 3 * 2 * 256 // 32 * 34
    assert out["kv_cache_bytes"] == kv_cache_bytes(gemma_arch, 4096, n_seq=2, type_k="q8_0")
    assert main(["kv", str(DATA / "llama-2-7b_config.json"), "--ctx", "32768"]) == 0
    assert "16.00 GiB" in capsys.readouterr().out  # 512 KiB per token x 32768 tokens


def test_cli_errors_are_one_line(capsys):
    from course_lib.cli import main

    assert main(["kv", str(DATA / "llama-2-7b_config.json"), "--ctx", "-5"]) == 2
    err = capsys.readouterr().err.strip()
    assert "n_ctx" in err and len(err.splitlines()) == 1
    assert main(["kv", "/nonexistent/config.json", "--ctx", "5"]) == 2
    assert "not found" in capsys.readouterr().err


def test_kv_widget_builds_and_reacts():
    import matplotlib

    matplotlib.use("Agg")
    from course_lib.sizing import custom_device
    from course_lib.widgets import kv_widget

    w = kv_widget({"Llama 3.1 8B": arch("llama-3.1-8b")}, {"a 24 GB card": custom_device(24)})
    controls = {c.description: c for c in w.children if getattr(c, "description", "")}
    verdict = next(c for c in w.children if "llm-course-verdict" in c._dom_classes)
    controls["Context (tokens):"].value = 32768
    assert "4.00 GiB" in verdict.value
    controls["KV cache type:"].value = "q8_0"
    assert "2.12 GiB" in verdict.value  # 8.5 bits instead of 16


def test_cli_follows_the_engines_sliding_window_default(capsys):
    import json

    from course_lib.cli import main

    sizes = {}
    for engine in ("llama-cpp-python", "llama-server"):
        assert main(["kv", "gemma-3-27b", "--ctx", "32768", "--engine", engine, "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        sizes[engine] = (out["swa_full"], out["kv_cache_bytes"])
    assert sizes["llama-cpp-python"][0] is True and sizes["llama-server"][0] is False
    assert sizes["llama-server"][1] == kv_cache_bytes(load_arch("gemma-3-27b"), 32768, swa_full=False)
    assert main(["kv", "gemma-3-27b", "--ctx", "32768", "--engine", "vllm"]) == 2
    assert "one pool" in capsys.readouterr().err
