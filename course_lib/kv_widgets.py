"""The KV-cache explorer: model, context, concurrency and cache type in; memory and what fits out.

Derived in notebook 03 (KV-cache growth); the calculator app shows the same
widget. Weights come from the memory estimator (`course_lib.memory`) when it
is installed; otherwise the chart shows the KV cache alone and says so.
"""

from __future__ import annotations

from course_lib.architecture import ModelArch
from course_lib.kv import KV_CACHE_TYPES, kv_caches

GB = 10**9
GIB = 2**30


def _weights_bytes(arch: ModelArch) -> int | None:
    try:
        from course_lib.memory import estimate
    except ImportError:
        return None
    try:
        return int(estimate(arch, quant="Q4_K_M", n_ctx=1, concurrency=1).weights_bytes)
    except Exception:  # the estimator may not know this architecture; show the KV cache alone
        return None


def _default_models() -> dict[str, ModelArch]:
    try:
        from course_lib.catalogue import get_model, list_models

        return {name: get_model(name) for name in list_models()}
    except ImportError:
        from course_lib.architecture import arch_from_gguf
        from course_lib.models import model_path

        arch = arch_from_gguf(model_path())
        return {arch.name: arch}


def _default_devices() -> dict[str, int]:
    try:
        from course_lib.catalogue import list_devices

        return {d.name: int(d.memory_bytes) for d in list_devices()}
    except ImportError:
        return {}


def largest_fit(arch: ModelArch, budget_bytes: int, fixed_bytes: int, *, n_ctx: int, n_seq: int,
                kv_type: str, swa_full: bool | None, max_ctx: int = 1 << 20, max_seq: int = 4096) -> tuple[int, int]:
    """(largest context at `n_seq` sequences, most sequences at `n_ctx`) whose KV cache fits the budget."""
    def fits(ctx, seq):
        return fixed_bytes + sum(c.total_bytes for c in kv_caches(arch, ctx, seq, kv_type, None, swa_full)) <= budget_bytes

    def search(lo, hi, ok):  # largest value in [lo, hi] with ok(value), 0 if none
        if not ok(lo):
            return 0
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if ok(mid) else (lo, mid - 1)
        return lo

    return search(1, max_ctx, lambda c: fits(c, n_seq)), search(1, max_seq, lambda s: fits(n_ctx, s))


def kv_widget(models: dict[str, ModelArch] | None = None, devices: dict[str, int] | None = None,
              headroom: float = 0.10):
    """An ipywidgets explorer: pick a model, context, concurrency, cache type and a memory budget."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    models = models or _default_models()
    devices = devices if devices is not None else _default_devices()
    style = {"description_width": "initial"}
    model = widgets.Dropdown(options=list(models), description="Model:", style=style)
    ctx = widgets.IntSlider(value=8192, min=512, max=131072, step=512, description="Context (tokens):",
                            style=style, continuous_update=False)
    conc = widgets.IntSlider(value=1, min=1, max=64, description="Concurrent sequences:", style=style,
                             continuous_update=False)
    ktype = widgets.Dropdown(options=["f16", "q8_0", "q4_0"], value="f16", description="KV cache type:", style=style)
    swa = widgets.Checkbox(value=True, description="Full-size SWA cache (llama.cpp default)", style=style)
    device = widgets.Dropdown(options=[("(type a size below)", None)] + [(n, b) for n, b in devices.items()],
                              description="GPU / device:", style=style)
    memory = widgets.FloatText(value=24.0, description="Memory (GB):", style=style)
    verdict = widgets.HTML()
    verdict.add_class("llm-course-verdict")
    plot = widgets.Output()
    assert set(ktype.options) <= set(KV_CACHE_TYPES)

    def on_device(change):
        if change["new"]:
            memory.value = round(change["new"] / GB, 1)

    def redraw(*_):
        arch = models[model.value]
        caches = kv_caches(arch, ctx.value, conc.value, ktype.value, None, swa.value)
        weights = _weights_bytes(arch)
        budget = int(max(memory.value, 0) * GB * (1 - headroom))
        fixed = weights or 0
        kv = sum(c.total_bytes for c in caches)
        best_ctx, best_seq = largest_fit(arch, budget, fixed, n_ctx=ctx.value, n_seq=conc.value,
                                         kv_type=ktype.value, swa_full=swa.value, max_ctx=arch.max_context or 1 << 20)
        fits = fixed + kv <= budget
        note = "" if weights is not None else " (weights not included: memory estimator not installed)"
        verdict.value = (f"<b>KV cache:</b> {kv / GIB:,.2f} GiB ({kv / GB:,.2f} GB){note} &nbsp; "
                         f"<b>{'fits' if fits else 'does not fit'}</b> in {memory.value:g} GB with "
                         f"{headroom:.0%} headroom &nbsp; <b>Largest context</b> (model limit {arch.max_context or 'none'}) at {conc.value} sequence(s): "
                         f"{best_ctx:,} tokens &nbsp; <b>Most sequences</b> at {ctx.value:,} tokens: {best_seq:,}")
        with plot:
            plot.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(7, 2.6))
            left = 0.0
            parts = ([("weights (Q4_K_M)", weights)] if weights else []) + [
                (f"KV, {'sliding-window' if c.kind == 'swa' else 'full-attention'} layers", c.total_bytes)
                for c in caches]
            for label, size in parts:
                ax.barh([0], [size / GB], left=left, label=label)
                left += size / GB
            ax.axvline(memory.value, color="black", linestyle="--", label=f"device memory ({memory.value:g} GB)")
            ax.axvline(budget / GB, color="grey", linestyle=":", label=f"usable ({1 - headroom:.0%})")
            ax.set_yticks([])
            ax.set_xlabel("memory (GB, 10^9 bytes)")
            ax.set_title(f"{arch.name}: {conc.value} x {ctx.value:,} tokens, {ktype.value} cache")
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=2, fontsize=8)
            fig.tight_layout()
            plt.show()

    device.observe(on_device, names="value")
    for control in (model, ctx, conc, ktype, swa, memory):
        control.observe(redraw, names="value")
    redraw()
    return widgets.VBox([model, ctx, conc, ktype, swa, device, memory, verdict, plot])
