"""The KV-cache explorer: model, context, concurrency and cache type in; memory and what fits out.

Derived in notebook 03 (KV-cache growth); the calculator app shows the same
widget. Weights come from the memory estimator (`course_lib.memory`) at Q4_K_M.
"""

from __future__ import annotations

from course_lib.architecture import ModelArch
from course_lib.kv import KV_CACHE_TYPES, kv_caches

GB = 10**9
GIB = 2**30


def _weights_bytes(arch: ModelArch) -> int:
    """The weights of `arch` at Q4_K_M, the usual local choice, from the memory estimator (notebook 01)."""
    from course_lib.memory import estimate

    return int(estimate(arch, quant="Q4_K_M", n_ctx=1, concurrency=1).weights_bytes)


def _default_models() -> dict[str, ModelArch]:
    from course_lib.catalogue import get_model, list_models

    return {name: get_model(name) for name in list_models()}


def _default_devices() -> dict[str, int]:
    from course_lib.catalogue import list_devices

    return {d.name: int(d.memory_bytes) for d in list_devices()}


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

    from course_lib.widget_style import (choice, context_slider, control, keep_context_within_model, legend_below,
                                         redraw_on, sequences_slider, show, verdict_html)

    models = models or _default_models()
    devices = devices if devices is not None else _default_devices()
    model = choice(list(models), "Model:")
    ctx = context_slider(min=512, step=512)
    conc = sequences_slider()
    ktype = choice(["f16", "q8_0", "q4_0"], "KV cache type:")
    swa = widgets.Checkbox(value=True, description="Full-size SWA cache (llama.cpp default)", **control())
    # Start on a common 24 GB card rather than a blank choice; "(type a size below)" keeps any typed size.
    start = next((name for name in devices if "4090" in name), next(iter(devices), None))
    device = widgets.Dropdown(options=[("(type a size below)", 0)] + [(n, b) for n, b in devices.items()],
                              description="GPU / device:", **control())
    if start:
        device.index = list(devices).index(start) + 1  # by position: two cards can have the same memory
    memory = widgets.FloatText(value=round(devices[start] / GB, 1) if start else 24.0, description="Memory (GB):",
                               **control())
    verdict = verdict_html()
    plot = widgets.Output()
    assert set(ktype.options) <= set(KV_CACHE_TYPES)

    def on_device(change):
        if change["new"]:
            memory.value = round(change["new"] / GB, 1)

    def on_memory(change):
        # A typed size that is not the chosen card's: the dropdown must not go on naming that card.
        if device.value and abs(device.value / GB - change["new"]) > 0.05:
            device.index = 0

    def redraw(*_):
        arch = models[model.value]
        caches = kv_caches(arch, ctx.value, conc.value, ktype.value, None, swa.value)
        weights = _weights_bytes(arch)
        budget = int(max(memory.value, 0) * GB * (1 - headroom))
        kv = sum(c.total_bytes for c in caches)
        best_ctx, best_seq = largest_fit(arch, budget, weights, n_ctx=ctx.value, n_seq=conc.value,
                                         kv_type=ktype.value, swa_full=swa.value, max_ctx=arch.max_context or 1 << 20)
        fits = weights + kv <= budget
        limit = f"{arch.max_context:,}" if arch.max_context else "none"
        verdict.value = (f"<b>KV cache:</b> {kv / GIB:,.2f} GiB ({kv / GB:,.2f} GB) &nbsp; "
                         f"<b>{'fits' if fits else 'does not fit'}</b> in {memory.value:g} GB with "
                         f"{headroom:.0%} headroom &nbsp; <b>Largest context</b> (model limit {limit}) at {conc.value} sequence(s): "
                         f"{best_ctx:,} tokens &nbsp; <b>Most sequences</b> at {ctx.value:,} tokens: {best_seq:,}")
        with plot:
            plot.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
            left = 0.0
            parts = [("weights (Q4_K_M)", weights)] + [
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
            legend_below(fig, ax, ncol=2)
            show(fig)

    device.observe(on_device, names="value")
    memory.observe(on_memory, names="value")
    keep_context_within_model(model, ctx, lambda name: models[name].max_context)
    redraw_on(redraw, model, ctx, conc, ktype, swa, memory)
    return widgets.VBox([model, ctx, conc, ktype, swa, device, memory, verdict, plot])
