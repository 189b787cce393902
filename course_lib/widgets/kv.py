"""The KV-cache explorer: model, context, concurrency and cache type in; memory and what fits out.

Derived in notebook 03 (KV-cache growth); the calculator app shows the same
widget. The total and the limits are notebook 01's (`sizing.estimate` at
Q4_K_M, `sizing.fit_answer`), so this panel and "Will it fit?" agree on the
same inputs; this one adds the cache split by layer kind and a memory size
that can be typed in.
"""

from __future__ import annotations

from course_lib.sizing import (KV_CACHE_TYPES, Device, ModelArch, custom_device, fit_answer, get_model, kv_caches,
                               list_devices, list_models)
from course_lib.sizing import estimate, runtime_bytes
from course_lib.units import GB, GIB

WEIGHTS_QUANT = "Q4_K_M"  # the usual local choice; notebook 01's calculator offers the others


def _default_models() -> dict[str, ModelArch]:
    return {name: get_model(name) for name in list_models()}


def _default_devices() -> dict[str, Device]:
    return {d.name: d for d in list_devices()}


def kv_widget(models: dict[str, ModelArch] | None = None, devices: dict[str, Device] | None = None,
              headroom: float = 0.10):
    """An ipywidgets explorer: pick a model, context, concurrency, cache type and a memory budget."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    from course_lib.widgets.style import (choice, context_slider, control, keep_context_within_model, legend_below,
                                          redraw_on, sequences_slider, show, stacked_memory_bar, verdict_html)

    models = models or _default_models()
    devices = devices if devices is not None else _default_devices()
    model = choice(list(models), "Model:")
    ctx = context_slider(min=512, step=512)
    conc = sequences_slider()
    ktype = choice(["f16", "q8_0", "q4_0"], "KV cache type:")
    swa = widgets.Checkbox(value=True, description="Full-size SWA cache (llama.cpp default)", **control())
    # Start on a common 24 GB card rather than a blank choice; "(type a size below)" keeps any typed size.
    start = next((name for name in devices if "4090" in name), next(iter(devices), None))
    device = widgets.Dropdown(options=[("(type a size below)", 0)] + [(n, d) for n, d in devices.items()],
                              description="GPU / device:", **control())
    if start:
        device.index = list(devices).index(start) + 1  # by position: two cards can have the same memory
    memory = widgets.FloatText(value=round(devices[start].memory_bytes / GB, 1) if start else 24.0,
                               description="Memory (GB):", **control())
    verdict = verdict_html()
    plot = widgets.Output()
    assert set(ktype.options) <= set(KV_CACHE_TYPES)

    def on_device(change):
        if change["new"]:
            memory.value = round(change["new"].memory_bytes / GB, 1)

    def on_memory(change):
        # A typed size that is not the chosen card's: the dropdown must not go on naming that card.
        if device.value and abs(device.value.memory_bytes / GB - change["new"]) > 0.05:
            device.index = 0

    def redraw(*_):
        arch = models[model.value]
        dev = device.value or custom_device(memory.value)
        est = estimate(arch, WEIGHTS_QUANT, ctx.value, conc.value, ktype.value, swa_full=swa.value)
        answer = fit_answer(est, dev, headroom)
        caches = kv_caches(arch, est.n_ctx, est.concurrency, est.kv_type, None, est.swa_full)
        kv = est.kv_cache_bytes
        limit = f"{arch.max_context:,}" if arch.max_context else "none"
        verdict.value = (f"<b>KV cache:</b> {kv / GIB:,.2f} GiB ({kv / GB:,.2f} GB) &nbsp; "
                         f"<b>{'fits' if answer.fits else 'does not fit'}</b> in {memory.value:g} GB with "
                         f"{headroom:.0%} headroom{' and the CUDA context' if runtime_bytes(dev) else ''} &nbsp; "
                         f"<b>Largest context</b> (model limit {limit}) at {conc.value} sequence(s): "
                         f"{answer.max_context:,} tokens &nbsp; <b>Most sequences</b> at {ctx.value:,} tokens: "
                         f"{answer.max_concurrency:,}")
        with plot:
            plot.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
            parts = [(f"weights ({WEIGHTS_QUANT})", est.weights_bytes)] + [
                (f"KV, {'sliding-window' if c.kind == 'swa' else 'full-attention'} layers", c.total_bytes)
                for c in caches] + [("buffers (compute, output, CUDA)", est.overhead_bytes + runtime_bytes(dev))]
            stacked_memory_bar(ax, parts, GB, "GB, 10^9 bytes")
            ax.axvline(dev.memory_bytes / GB, color="black", linestyle="--",
                       label=f"device memory ({dev.memory_bytes / GB:g} GB)")
            ax.axvline((answer.budget_bytes + runtime_bytes(dev)) / GB, color="grey", linestyle=":",
                       label=f"usable ({1 - headroom:.0%})")
            ax.set_title(f"{arch.name}: {conc.value} x {ctx.value:,} tokens, {ktype.value} cache")
            legend_below(fig, ax, ncol=2)
            show(fig)

    device.observe(on_device, names="value")
    memory.observe(on_memory, names="value")
    keep_context_within_model(model, ctx, lambda name: models[name].max_context)
    redraw_on(redraw, model, ctx, conc, ktype, swa, memory, device)
    return widgets.VBox([model, ctx, conc, ktype, swa, device, memory, verdict, plot])
