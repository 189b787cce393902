"""Layer offload drawn: which layers sit on the GPU, and where one decoding step's time goes (notebook 07).

llama.cpp's `n_gpu_layers` keeps the last layers on the GPU and the rest in
system RAM. A decoding step runs the layers in order, so the step's time is
the GPU part plus the CPU part; the left panel shows the split of the model,
the right one the split of the time (`choose.offload.OffloadSpeed`).
"""

from __future__ import annotations

from course_lib.diagrams.figure import shown


def offload_layout(speed):
    """`speed` is an `OffloadSpeed`: the layers on each side, and each side's share of a step's time."""
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(8, 3.2), facecolor="white", layout="constrained")
    layers, time = fig.subplots(1, 2, width_ratios=[1, 1.4])
    on_gpu = min(speed.n_gpu_layers, speed.n_layers)
    for layer in range(speed.n_layers):
        gpu = layer >= speed.n_layers - on_gpu  # llama.cpp offloads from the last layer backwards
        layers.barh([layer], [1], color="#55a868" if gpu else "#c44e52")
    layers.invert_yaxis()
    layers.set_xticks([])
    layers.set_ylabel("layer (first at the top)")
    layers.set_title(f"{on_gpu} of {speed.n_layers} layers on the GPU (green),\nthe rest in system RAM (red)",
                     fontsize=9)

    gpu_ms, cpu_ms = 1000 * speed.gpu_s, 1000 * speed.cpu_s
    share = speed.gpu_read_bytes / (speed.gpu_read_bytes + speed.cpu_read_bytes)
    time.barh(["bytes read"], [100 * share], color="#55a868", label="on the GPU")
    time.barh(["bytes read"], [100 * (1 - share)], left=100 * share, color="#c44e52", label="in system RAM")
    time.barh(["time per step"], [100 * gpu_ms / (gpu_ms + cpu_ms)], color="#55a868")
    time.barh(["time per step"], [100 * cpu_ms / (gpu_ms + cpu_ms)], left=100 * gpu_ms / (gpu_ms + cpu_ms),
              color="#c44e52")
    time.set_xlim(0, 100)
    time.set_xlabel("share of one decoding step (%)")
    time.set_title(f"GPU {gpu_ms:.1f} ms + CPU {cpu_ms:.1f} ms = {speed.step_s * 1000:.1f} ms per step "
                   f"({speed.tok_s_per_sequence:.1f} tokens/s)", fontsize=9)
    time.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2, fontsize=8, frameon=False)
    return shown(fig)
