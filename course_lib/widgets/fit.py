"""The "Will it fit?" calculator: model, quantization, context, concurrency and device in; a verdict out.

Derived in notebook 01 (memory math); the calculator app shows the same widget.
Every change redraws a stacked bar of weights / KV cache / overhead / free
memory against the device, the verdict with 10% headroom, and the bound on
decoding speed (bandwidth / bytes read per token).
"""

from __future__ import annotations

from course_lib.units import GB, GIB


def fit_widget(models=None, devices=None, headroom: float = 0.10):
    """An ipywidgets container; `models` and `devices` default to the course catalogues."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    from course_lib.sizing import (KV_CACHE_TYPES, decode_tok_s_bound, estimate, fit_answer, get_device, get_model,
                                   list_devices, list_models, list_quants, runtime_bytes)
    from course_lib.widgets.style import (choice, context_slider, keep_context_within_model, legend_below, redraw_on,
                                          sequences_slider, show, stacked_memory_bar,
                                          verdict_html)

    models = list(models or list_models())
    devices = list(devices or [d.name for d in list_devices()])
    model = choice(models, "Model:", "llama-3.1-8b")
    quant = choice(list_quants(), "Quantization:", "Q4_K_M")
    ctx = context_slider()
    conc = sequences_slider()
    kv_type = choice([t for t in ("f16", "q8_0", "q4_0") if t in KV_CACHE_TYPES], "KV cache type:")
    device = choice(devices, "Device:", "RTX 4090")
    verdict = verdict_html()
    plot = widgets.Output()

    def redraw(*_):
        dev = get_device(device.value)
        est = estimate(model.value, quant.value, ctx.value, conc.value, kv_type.value)
        answer = fit_answer(est, dev, headroom)
        ok, budget = answer.fits, answer.budget_bytes
        speed = decode_tok_s_bound(est, dev)
        verdict.value = (
            f"<b>{'FITS' if ok else 'DOES NOT FIT'}</b>: needs {est.total_bytes / GIB:,.2f} GiB "
            f"({est.total_bytes / GB:,.2f} GB) of {dev.memory_bytes / GIB:,.1f} GiB; "
            f"usable after {headroom:.0%} headroom"
            f"{' and the CUDA context' if runtime_bytes(dev) else ''}: {budget / GIB:,.2f} GiB. "
            f"&nbsp; Largest context: {answer.max_context:,} tokens; most sequences at "
            f"{ctx.value:,} tokens: {answer.max_concurrency}. &nbsp; "
            f"Decode bound: {speed:,.0f} tokens/s"
        )
        with plot:
            plot.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(7, 3.0), layout="constrained")
            parts = [("weights", est.weights_bytes), ("KV cache", est.kv_cache_bytes),
                     ("overhead (buffers)", est.overhead_bytes + runtime_bytes(dev))]
            left = stacked_memory_bar(ax, parts, GIB, "GiB, 2^30 bytes")
            free = dev.memory_bytes / GIB - left
            if free > 0:
                ax.barh([0], [free], left=left, color="#dddddd", label="free")
            ax.axvline(budget / GIB + runtime_bytes(dev) / GIB, color="black", linestyle="--",
                       label=f"{1 - headroom:.0%} of usable memory")
            ax.set_title(f"{est.model} {est.quant} on {dev.name}: {conc.value} x {ctx.value:,} tokens")
            legend_below(fig, ax, ncol=3)
            show(fig)

    keep_context_within_model(model, ctx, lambda name: get_model(name).max_context)
    redraw_on(redraw, model, quant, ctx, conc, kv_type, device)
    return widgets.VBox([model, quant, ctx, conc, kv_type, device, verdict, plot])
