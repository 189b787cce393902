"""Engine profiles: each default named with its source, checked against the installed engines where they are here."""

from __future__ import annotations

import inspect

import pytest

from course_lib.errors import CourseError
from course_lib.sizing import (CARD_24GB, ENGINES, batch_defaults, engine_context, engine_versions, estimate,
                               fit_answer, get_device, get_profile, kv_bytes_per_token, list_profiles,
                               resolve_llama_cpp)
from course_lib.sizing.vllm import CUDA_SHORTFALL_BYTES
from course_lib.units import GIB


def test_every_engine_has_a_profile_and_every_default_a_source():
    assert {p.engine for p in list_profiles()} == set(ENGINES)
    for profile in list_profiles():
        for name, default in profile.defaults.items():
            assert len(default.source) > 20, f"{profile.label} {name}: say where the engine sets it"
    assert get_profile().label == "llama-cpp-python 0.3.36"  # the default engine: nothing changes silently
    assert get_profile("vllm").version == engine_versions("vllm")[-1] == "0.21.0"


@pytest.mark.parametrize("engine, version, match", [("sglang", None, "unknown engine"),
                                                     ("vllm", "0.1", "no profile of vllm 0.1")])
def test_unknown_engine_or_version_is_a_one_line_error(engine, version, match):
    with pytest.raises(CourseError, match=match):
        get_profile(engine, version)


def test_llama_cpp_python_profile_is_the_installed_library():
    import llama_cpp

    profile = get_profile("llama-cpp-python")
    assert llama_cpp.__version__ == profile.version
    signature = inspect.signature(llama_cpp.Llama.__init__).parameters
    assert signature["n_batch"].default == profile.default("n_batch")
    assert signature["n_ubatch"].default == profile.default("n_ubatch")
    assert signature["flash_attn"].default is False and profile.default("flash_attn") == "off"
    assert signature["swa_full"].default is None  # so the C default below applies
    c_defaults = llama_cpp.llama_context_default_params()
    assert c_defaults.swa_full is profile.default("swa_full") is True
    assert c_defaults.kv_unified is profile.default("kv_unified") is False
    assert c_defaults.n_outputs_max == 0 and profile.default("n_outputs_max") == "n_batch"  # 0 = n_batch


def test_llama_server_profile_is_the_installed_build():
    import xllamacpp

    profile = get_profile("llama-server")
    assert xllamacpp.__version__.rsplit(".", 1)[-1] == profile.version.lstrip("b")  # 2026.10.11549 = b11549
    params = xllamacpp.CommonParams()
    assert params.n_ctx == 0 and profile.default("n_ctx") == "fit" and params.fit_params
    assert (params.n_batch, params.n_ubatch) == (profile.default("n_batch"), profile.default("n_ubatch"))
    assert params.flash_attn_type == -1 and profile.default("flash_attn") == "auto"  # LLAMA_FLASH_ATTN_TYPE_AUTO
    assert params.swa_full is profile.default("swa_full") is False
    assert params.kv_unified is False and profile.default("kv_unified") == "auto"
    assert params.cache_type_k == params.cache_type_v == 1 and profile.default("type_k") == "f16"  # GGML_TYPE_F16
    assert params.fit_params_min_ctx == profile.default("fit_min_ctx")
    assert params.fit_params_target[0] == profile.default("fit_margin") == GIB


def test_llama_server_slots_and_the_unified_cache():
    server = get_profile("llama-server")
    auto = resolve_llama_cpp(server, 8192)
    assert (auto.n_parallel, auto.kv_unified, auto.n_ctx, auto.n_outputs_max) == (4, True, 8192, 4)
    explicit = resolve_llama_cpp(server, 8192, concurrency=2)
    assert (explicit.n_parallel, explicit.kv_unified, explicit.n_ctx) == (2, False, 16384)
    assert "-np 4 (auto, unified KV)" in auto.flags and "-fa auto (resolves to on)" in auto.flags
    course = resolve_llama_cpp(get_profile("llama-cpp-python"), 8192, concurrency=2)
    assert (course.n_outputs_max, course.flash_attn, course.swa_full) == (512, False, True)


def test_a_quantized_v_cache_needs_flash_attention():
    with pytest.raises(CourseError, match="flash attention on"):
        estimate("llama-3.1-8b", kv_type="q8_0", engine="llama-server", flash_attn="off")
    # llama-cpp-python: the course's loaders switch flash attention on for it, as before.
    assert estimate("llama-3.1-8b", kv_type="q8_0").flash_attn is True


def test_flash_attention_removes_the_scores_from_the_compute_buffer():
    off = estimate("llama-3.1-8b", "Q4_K_M", 32768, 1, engine="llama-server", flash_attn="off")
    on = estimate("llama-3.1-8b", "Q4_K_M", 32768, 1, engine="llama-server", flash_attn="on")
    scores = 4 * 512 * 32 * 32768  # F32 x n_ubatch x heads x context
    assert off.compute_buffer_bytes > scores > 5 * on.compute_buffer_bytes
    assert off.kv_cache_bytes == on.kv_cache_bytes  # flash attention changes the workspace, not the cache


def test_the_sliding_window_cache_by_engine():
    course = estimate("gemma-3-27b", "Q4_K_M", 32768, 1)  # llama-cpp-python: full-size
    server = estimate("gemma-3-27b", "Q4_K_M", 32768, 1, engine="llama-server")  # reduced
    per_token = kv_bytes_per_token(course.arch, include_swa=True)
    assert course.kv_cache_bytes == 32768 * per_token
    assert server.kv_cache_bytes < course.kv_cache_bytes / 3


def test_ollama_context_by_gpu_memory():
    # server/routes.go: 4K below 23 GiB, 32K from 23 GiB, 256K from 47 GiB, capped at the trained context
    assert engine_context("llama-3.1-8b", "RTX 4070", engine="ollama") == 4096
    assert engine_context("llama-3.1-8b", "RTX 4090", engine="ollama") == 32768
    assert engine_context("llama-3.1-8b", "H100 80GB", engine="ollama") == 131072
    est = estimate("llama-3.1-8b", "Q4_K_M", 8192, engine="ollama")
    assert "-c 8192 -np 1" in est.engine_settings["flags"] and "-b 512 -ub 512" in est.engine_settings["flags"]


def test_llama_server_fits_its_default_context_to_the_card():
    card = get_device(CARD_24GB)
    n_ctx = engine_context("gemma-3-27b", card, engine="llama-server")
    est = estimate("gemma-3-27b", "Q4_K_M", n_ctx, engine="llama-server", device=card)
    assert 4096 < n_ctx < 131072 and fit_answer(est, card).fits
    assert not fit_answer(estimate("gemma-3-27b", "Q4_K_M", n_ctx + 256, engine="llama-server"), card).fits


def test_vllm_pool_is_its_share_of_the_card_less_weights_activations_and_graphs():
    card = get_device("H100 80GB")
    est = estimate("llama-3.1-8b", "BF16", 131072, engine="vllm", device=card)
    s = est.engine_settings
    assert (s["max_num_batched_tokens"], s["max_num_seqs"]) == batch_defaults(card) == (8192, 1024)
    share = int((card.memory_bytes - CUDA_SHORTFALL_BYTES) * 0.92)  # of what CUDA reports
    assert est.kv_pool_bytes == share - est.weights_bytes - s["activation_peak_bytes"] - s["cudagraph_bytes"]
    assert est.kv_pool_tokens == est.kv_pool_bytes // (16 * 131072) * 16  # whole blocks of 16 tokens
    assert est.max_concurrency_x == pytest.approx(est.kv_pool_tokens / 131072)
    assert est.total_bytes == share  # vLLM takes its share whatever the context
    older = estimate("llama-3.1-8b", "BF16", 131072, engine="vllm", engine_version="0.10.1.1", device=card)
    assert older.engine_settings["gpu_memory_utilization"] == 0.90 and older.engine_settings["cudagraph_bytes"] == 0
    assert batch_defaults(get_device("A100 80GB")) == (2048, 256)  # the A100 exception (PR #17885)


def test_vllm_refuses_what_it_does_not_have():
    card = get_device("L4")
    with pytest.raises(CourseError, match="name a device"):
        estimate("llama-3.1-8b", "BF16", engine="vllm")
    with pytest.raises(CourseError, match="gpu_memory_utilization"):
        estimate("llama-3.1-8b", "BF16", engine="vllm", device=card, gpu_memory_utilization=1.2)
    with pytest.raises(CourseError, match="no flash-attn"):
        estimate("llama-3.1-8b", "BF16", engine="vllm", device=card, flash_attn="on")
    with pytest.raises(CourseError, match="has no setting gpu_memory_utilization"):
        estimate("llama-3.1-8b", engine="ollama", gpu_memory_utilization=0.5)


# What llama.cpp printed ("compute buffer size") for builds older than the installed one, on this machine, through
# their xllamacpp wheels (`pip install --target DIR xllamacpp==2026.5.9294`, then PYTHONPATH=DIR and
# course_lib.runtime.measure_server_memory): (build, model, -c, -np, -fa, -ub, --swa-full, MiB printed).
OLDER_BUILDS = [
    ("b9294", "gemma", 4096, 1, "on", 512, False, 514.50),  # a row of logits for every micro-batch token
    ("b9294", "gemma", 65536, 1, "off", 128, False, 162.82),
    ("b9294", "smollm2", 32768, 1, "on", 512, False, 101.64),  # the F32 mask and its F16 cast, together
    ("b9294", "smollm2", 65536, 1, "on", 512, True, 197.64),
    ("b9294", "smollm2", 32768, 1, "off", 512, False, 646.38),
    ("b9538", "gemma", 4096, 1, "on", 512, False, 22.77),  # one row per slot since PR #23861
    ("b9538", "gemma", 32768, 1, "off", 512, False, 331.76),
    ("b9538", "smollm2", 4096, 1, "on", 512, False, 17.51),
    ("b9538", "smollm2", 65536, 1, "on", 512, True, 77.51),
]


@pytest.mark.parametrize("build, model, n_ctx, parallel, fa, ubatch, swa_full, printed_mib", OLDER_BUILDS)
def test_older_llama_server_builds_as_measured(gemma_path, build, model, n_ctx, parallel, fa, ubatch, swa_full,
                                               printed_mib):
    from course_lib.runtime import instruct_model_path

    path = gemma_path if model == "gemma" else instruct_model_path()
    est = estimate(path, n_ctx=n_ctx // parallel, concurrency=parallel, engine="llama-server", engine_version=build,
                   flash_attn=fa, n_ubatch=ubatch, swa_full=swa_full)
    assert est.compute_buffer_bytes / (printed_mib * 2**20) - 1 == pytest.approx(0, abs=0.012), est.engine_settings


def test_ollama_before_0_30_ran_its_own_runner():
    one_stream = estimate("llama-3.1-8b", n_ctx=2048, concurrency=4, engine="ollama", engine_version="0.11.4")
    streams = estimate("llama-3.1-8b", n_ctx=2048, concurrency=4, engine="ollama", engine_version="0.11.5")
    assert one_stream.engine_settings["flags"].startswith("ollama: ollama runner --ctx-size 8192 --parallel 4")
    assert one_stream.engine_settings["kv_unified"] and not streams.engine_settings["kv_unified"]
    assert one_stream.kv_cache_bytes == streams.kv_cache_bytes  # the same cells, read by every sequence or by one
    assert one_stream.compute_buffer_bytes > streams.compute_buffer_bytes  # attention over all 8,192 cells
    assert streams.engine_settings["n_outputs_max"] == 512  # a row of logits per micro-batch token, as then


def test_vllm_sampler_peak():
    """vLLM's profiling run samples max_num_seqs rows of the vocabulary: a sort of them without FlashInfer."""
    card = get_device("H100 80GB")
    kwargs = dict(n_ctx=4096, engine="vllm", device=card, max_num_seqs=1024, max_num_batched_tokens=8192)
    torch_sort = estimate("qwen3-30b-a3b", "BF16", engine_version="0.10.1.1", **kwargs)
    flashinfer = estimate("qwen3-30b-a3b", "BF16", topk_topp_sampler="flashinfer", **kwargs)
    assert get_profile("vllm", "0.10.1.1").default("topk_topp_sampler") == "pytorch"  # a `pip install vllm`
    # vLLM 0.10.2 printed "5.58 GiB for peak activation" for this model and these settings.
    assert torch_sort.engine_settings["activation_peak_bytes"] / (5.58 * GIB) == pytest.approx(1, abs=0.02)
    assert flashinfer.engine_settings["activation_peak_bytes"] < torch_sort.engine_settings["activation_peak_bytes"] / 2
    with pytest.raises(CourseError, match="samples top-k/top-p with"):
        estimate("qwen3-30b-a3b", "BF16", topk_topp_sampler="cuda", **kwargs)
