"""CPU offload speed model of notebook 07."""

import pytest

from course_lib.choose import batch_job_hours, offload_curve, offload_speed
from course_lib.errors import CourseError
from course_lib.sizing import decode_tok_s_bound, estimate, get_device, offload_split

GPU, RAM = "RTX 4090", "CPU DDR5-5600 2ch 64GB"


def test_all_on_gpu_matches_the_memory_helpers_decode_bound():
    est = estimate("llama-3.1-8b", "Q4_K_M", 4096)
    s = offload_speed("llama-3.1-8b", GPU, RAM, n_gpu_layers=est.arch.n_layers)
    assert s.cpu_read_bytes == 0 and s.cpu_s == 0
    assert s.tok_s == pytest.approx(decode_tok_s_bound(est, get_device(GPU)))


def test_all_in_ram_reads_at_ram_bandwidth():
    est = estimate("llama-3.1-8b", "Q4_K_M", 4096)
    s = offload_speed("llama-3.1-8b", GPU, RAM, n_gpu_layers=0)
    assert s.gpu_read_bytes == 0
    per_token = est.active_weights_bytes + est.kv_cache_bytes
    assert s.tok_s == pytest.approx(get_device(RAM).bandwidth_bytes_per_s / per_token)


def test_times_add_so_half_offloaded_is_near_cpu_speed():
    gpu_bw, cpu_bw = get_device(GPU).bandwidth_bytes_per_s, get_device(RAM).bandwidth_bytes_per_s
    curve = offload_curve("llama-3.1-8b", gpu_bw, cpu_bw)
    speeds = [s.tok_s for s in curve]
    assert speeds == sorted(speeds)  # every layer moved to the GPU helps
    half = curve[len(curve) // 2]
    # Harmonic, not arithmetic: half the layers on a ~11x faster GPU buys less than 2x over all-CPU.
    assert half.tok_s < 2 * curve[0].tok_s
    assert half.tok_s == pytest.approx(1 / (0.5 / curve[-1].tok_s + 0.5 / curve[0].tok_s), rel=0.01)
    assert half.cpu_time_share > 0.9


def test_default_layers_come_from_offload_split():
    split = offload_split("llama-3.1-70b", get_device(GPU).usable_bytes)
    s = offload_speed("llama-3.1-70b", GPU, RAM)
    assert s.n_gpu_layers == split.n_gpu_layers
    assert 0 < s.n_gpu_layers < s.n_layers


def test_streaming_pays_pcie_not_ram():
    a = offload_speed("llama-3.1-70b", GPU, RAM, n_gpu_layers=40, mode="stream", pcie_bytes_per_s=25e9)
    b = offload_speed("llama-3.1-70b", GPU, RAM, n_gpu_layers=40, mode="stream", pcie_bytes_per_s=50e9)
    assert a.cpu_s == pytest.approx(2 * b.cpu_s)


def test_batching_amortises_ram_reads_until_cpu_compute_binds():
    one = offload_speed("llama-3.1-70b", GPU, RAM, n_gpu_layers=40, n_ctx=1024)
    many = offload_speed("llama-3.1-70b", GPU, RAM, n_gpu_layers=40, n_ctx=1024, concurrency=8)
    assert many.tok_s > 4 * one.tok_s  # weights read once per step for all 8
    capped = offload_speed("llama-3.1-70b", GPU, RAM, n_gpu_layers=40, n_ctx=1024, concurrency=8, cpu_flops=1e11)
    assert capped.tok_s < many.tok_s


def test_batch_job_hours():
    s = offload_speed("llama-3.1-8b", 100e9, 10e9, n_gpu_layers=16)
    assert batch_job_hours(s, 3600, 100) == pytest.approx(3600 * 100 / s.tok_s / 3600)


def test_bad_inputs():
    for call in (lambda: offload_speed("llama-3.1-8b", GPU, RAM, n_gpu_layers=99),
                 lambda: offload_speed("llama-3.1-8b", GPU, RAM, mode="magic"),
                 lambda: offload_speed("llama-3.1-8b", 1e12, 50e9),  # no device: layers cannot be worked out
                 lambda: offload_speed("llama-3.1-8b", GPU, -5.0, n_gpu_layers=3),
                 lambda: offload_speed("no-such-model", GPU, RAM)):
        with pytest.raises(CourseError):
            call()


def test_offload_widget_reports_the_split():
    import matplotlib

    matplotlib.use("Agg")
    from course_lib.widgets import offload_widget

    w = offload_widget()
    engine, model, gpu, ram, ctx, conc, verdict, _ = w.children
    assert "llm-course-verdict" in verdict._dom_classes
    assert "vllm" not in [value for _, value in engine.options]  # layer offload is llama.cpp's
    model.value, gpu.value, ctx.value = "llama-3.1-70b", GPU, 4096
    split = offload_split("llama-3.1-70b", get_device(GPU).usable_bytes, n_ctx=4096)
    assert f"{split.n_gpu_layers} of 80 layers fit on the {GPU}" in verdict.value
    assert "too slow for chat" in verdict.value
    engine.value = "llama-server"  # flash attention and one row of logits: a smaller compute buffer on the GPU
    split = offload_split("llama-3.1-70b", get_device(GPU).usable_bytes, n_ctx=4096, engine="llama-server")
    assert f"{split.n_gpu_layers} of 80 layers fit" in verdict.value and "Assumes llama-server" in verdict.value
    model.value = "llama-3.2-1b"
    assert "fast enough to read along" in verdict.value
