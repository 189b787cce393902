"""Memory estimates against the real file, the real engine and published GGUF sizes."""

import pytest

from course_lib.errors import CourseError
from course_lib.runtime import engine_buffers, load_with_kv_report, measure_load
from course_lib.sizing import (budget_bytes, compute_buffer_bytes, decode_tok_s_bound, estimate, fits, get_device,
                               get_model, gguf_file_bytes, guide_estimate_vram_gb, list_models, max_concurrency,
                               max_context, model_row, offload_split, solve_budget)
from course_lib.units import MIB

PUBLISHED = [(name, p["quant"], p["bytes"]) for name in list_models() for p in model_row(name)["published_gguf"]]


@pytest.mark.parametrize("name,quant,published", PUBLISHED)
def test_predicted_gguf_size_within_three_percent(name, quant, published):
    assert abs(gguf_file_bytes(get_model(name), quant) / published - 1) < 0.03


def test_at_least_eight_published_sizes():
    assert len(PUBLISHED) >= 8


def test_weights_of_the_real_file_are_exact(gemma_path):
    from course_lib.gguf_file import read_gguf

    est = estimate(gemma_path, n_ctx=1024)
    assert est.weights_bytes == read_gguf(gemma_path).tensor_bytes == 246_587_904
    assert estimate("gemma-3-270m", "Q4_K_M", n_ctx=1024).weights_bytes == est.weights_bytes


@pytest.mark.slow
@pytest.mark.parametrize("n_ctx,n_ubatch", [(1024, 512), (2048, 128)])
def test_kv_and_buffers_equal_llama_cpp_figures(gemma_path, n_ctx, n_ubatch):
    llm, report = load_with_kv_report(gemma_path, n_ctx=n_ctx, n_ubatch=n_ubatch)
    llm.close()
    logged = engine_buffers(report.log)
    est = estimate(gemma_path, n_ctx=n_ctx)
    assert logged["kv"] == est.kv_cache_bytes
    assert abs(logged["compute"] - compute_buffer_bytes(est.arch, n_ctx, n_ubatch)) <= 0.01 * MIB
    assert logged["output"] == est.output_buffer_bytes


@pytest.mark.slow
def test_total_against_engine_and_process_memory(gemma_path):
    m = measure_load(gemma_path, n_ctx=1024)
    est = estimate(gemma_path, n_ctx=1024)
    engine_total = sum(m["buffers"].values())
    assert abs(est.total_bytes - engine_total) / engine_total < 0.001
    # On a CPU the logits part of the compute buffer is reserved, not touched: resident memory holds the
    # weights, cache and buffers in use, and stays under the reserved total.
    assert est.weights_bytes + est.kv_cache_bytes < m["rss_growth"] < est.total_bytes


def test_compute_buffer_grows_with_batch_times_vocabulary():
    g = get_model("gemma-3-270m")
    assert abs(compute_buffer_bytes(g, 4096, 512) / 2**30 - 0.5) < 0.01  # "about 0.5 GiB"
    assert compute_buffer_bytes(g, 4096, 128) * 4 == compute_buffer_bytes(g, 4096, 512)


def test_verdict_and_solvers_sit_on_the_boundary():
    gpu = get_device("RTX 4090")
    est = estimate("llama-3.1-8b", "Q4_K_M", n_ctx=8192)
    assert fits(est, gpu) and not fits(estimate("llama-3.1-70b", "Q4_K_M"), gpu)
    ctx = max_context(est, gpu)
    assert fits(estimate("llama-3.1-8b", "Q4_K_M", n_ctx=ctx), gpu)
    assert not fits(estimate("llama-3.1-8b", "Q4_K_M", n_ctx=ctx + 256), gpu)
    n = max_concurrency(est, gpu)
    assert fits(estimate("llama-3.1-8b", "Q4_K_M", 8192, n), gpu)
    assert not fits(estimate("llama-3.1-8b", "Q4_K_M", 8192, n + 1), gpu)
    assert est.total_bytes <= budget_bytes(gpu) < gpu.memory_bytes * 0.9


def test_decode_bound_is_bandwidth_over_bytes_per_token():
    gpu = get_device("RTX 4090")
    est = estimate("llama-3.1-8b", "Q4_K_M", n_ctx=4096)
    assert decode_tok_s_bound(est, gpu) == pytest.approx(1008e9 / (est.active_weights_bytes + est.kv_cache_bytes))
    # Llama 3.1 8B's untied embedding is looked up, not read: 128256 x 4096 Q4_K weights fewer per token.
    assert est.weights_bytes - est.active_weights_bytes == 128256 * 4096 // 256 * 144
    tied = estimate("gemma-3-270m", "Q4_K_M")
    assert tied.active_weights_bytes == tied.weights_bytes
    moe = estimate("mixtral-8x7b", "Q4_K_M")
    assert moe.active_weights_bytes < 0.35 * moe.weights_bytes  # 2 of 8 experts read per token


def test_offload_split():
    split = offload_split("llama-3.1-70b", 24 * 2**30)
    assert 0 < split.n_gpu_layers < split.n_layers and split.gpu_bytes <= 24 * 2**30 * 0.9
    full = offload_split("llama-3.2-1b", 24 * 2**30)
    assert full.n_gpu_layers == 17 and full.cpu_read_bytes == 0  # 16 layers + the output
    # Half on the CPU: the slow side dominates, far below the all-GPU bound.
    gpu, cpu = get_device("RTX 4090"), get_device("CPU DDR5-5600 2ch 64GB")
    assert split.tok_s_bound(gpu, cpu) < 2 * cpu.bandwidth_bytes_per_s / (split.gpu_read_bytes + split.cpu_read_bytes)
    assert split.tok_s_bound(gpu, cpu) < decode_tok_s_bound(estimate("llama-3.1-70b", "Q4_K_M"), cpu) * 2.1


def test_solve_a_24_gb_budget():
    rows = solve_budget(24 * 10**9)
    names = {r["model"] for r in rows}
    assert "llama-3.1-8b" in names and "llama-3.1-70b" not in names
    # every model that fits gets at least 4,096 tokens, or all it was trained on
    assert all(r["max_context"] >= min(4096, get_model(r["model"]).max_context) for r in rows)


def test_guide_heuristic_reproduced():
    assert guide_estimate_vram_gb(7, 4.0, 4096) == {"weights_gb": 4.4, "kv_cache_gb": 0.5, "overhead_gb": 0.8,
                                                   "total_gb": 5.7}


@pytest.mark.parametrize("kwargs,match", [({"n_ctx": 0}, "context"), ({"concurrency": -1}, "concurrency"),
                                          ({"quant": "Q9_X"}, "quantization"), ({"kv_type": "q3"}, "KV cache type")])
def test_bad_inputs(kwargs, match):
    with pytest.raises(CourseError, match=match):
        estimate("llama-3.1-8b", **kwargs)


def test_fit_widget_redraws_with_the_library_figures():
    import matplotlib

    matplotlib.use("Agg")
    from course_lib.widgets import fit_widget

    box = fit_widget()
    controls = {c.description: c for c in box.children if getattr(c, "description", "")}
    assert {"Model:", "Quantization:", "Context (tokens):", "Concurrent sequences:", "KV cache type:",
            "Device:"} <= set(controls)
    verdict = next(c for c in box.children if "llm-course-verdict" in c._dom_classes)
    assert verdict.value.startswith("<b>FITS</b>")
    controls["Model:"].value = "llama-3.1-70b"
    assert verdict.value.startswith("<b>DOES NOT FIT</b>")
    need = estimate("llama-3.1-70b", "Q4_K_M", 8192).total_bytes / 2**30
    assert f"{need:,.2f} GiB" in verdict.value
    controls["Device:"].value = "Apple M3 Max 128GB"
    assert verdict.value.startswith("<b>FITS</b>")


def test_solver_marks_contexts_beyond_training():
    rows = {(r["model"], r["quant"]): r for r in solve_budget(24 * 10**9, models=["llama-2-7b", "llama-3.1-8b"])}
    assert rows[("llama-2-7b", "Q4_K_M")]["max_concurrency_at_8192"] is None
    assert rows[("llama-2-7b", "Q4_K_M")]["max_context"] == 4096
    assert rows[("llama-3.1-8b", "Q4_K_M")]["max_concurrency_at_8192"] >= 1
