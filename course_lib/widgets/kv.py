"""The KV-cache explorer: engine, model, context, concurrency and cache type in; memory and what fits out.

Derived in notebook 03 (KV-cache growth); the calculator app shows the same
widget. The total and the limits are notebook 01's (`sizing.estimate` at 4-bit
weights, `sizing.fit_answer`), so this panel and "Will it fit?" agree on the
same inputs; this one adds the cache split by layer kind, the sliding-window
policy (each engine's default, switchable) and a memory size that can be typed
in. For vLLM the bar shows the pool it pre-allocates and how many requests of
the chosen length it holds.
"""

from __future__ import annotations

from course_lib.errors import CourseError
from course_lib.sizing import (KV_CACHE_TYPES, Device, ModelArch, custom_device, fit_answer, get_model, get_profile,
                               kv_caches, list_devices, list_models)
from course_lib.sizing import estimate, runtime_bytes
from course_lib.units import GB, GIB

WEIGHTS_QUANT = "Q4_K_M"  # the usual local choice; notebook 01's calculator offers the others
VLLM_WEIGHTS = "AWQ"  # vLLM's usual 4-bit checkpoint, the counterpart of Q4_K_M


def _default_models() -> dict[str, ModelArch]:
    return {name: get_model(name) for name in list_models()}


def _default_devices() -> dict[str, Device]:
    return {d.name: d for d in list_devices()}


def _parts(est, arch, runtime: int) -> list[tuple[str, int]]:
    """What the bar stacks: weights, the caches by layer kind (vLLM: its pool), the buffers."""
    if est.kv_pool_tokens is not None:
        return [(f"weights ({est.quant})", est.weights_bytes), ("KV pool vLLM pre-allocates", est.kv_cache_bytes),
                ("activations + CUDA graphs", est.overhead_bytes)]
    s = est.engine_settings
    caches = kv_caches(arch, s["cells_per_stream"] * s["streams"] // s["n_parallel"], s["n_parallel"], s["type_k"],
                       s["type_v"], s["swa_full"], est.n_ubatch, s["kv_unified"])
    return [(f"weights ({est.quant})", est.weights_bytes)] + [
        (f"KV, {'sliding-window' if c.kind == 'swa' else 'full-attention'} layers", c.total_bytes) for c in caches
    ] + [("buffers (compute, output, CUDA)", est.overhead_bytes + runtime)]


def kv_widget(models: dict[str, ModelArch] | None = None, devices: dict[str, Device] | None = None,
              headroom: float = 0.10):
    """An ipywidgets explorer: pick an engine, a model, context, concurrency, cache type and a memory budget."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    from course_lib.widgets.style import (choice, context_slider, control, engine_choice, engine_formats, error_note,
                                          follow_engine, keep_context_within_model, legend_below, redraw_on,
                                          sequences_slider, settings_note, show, stacked_memory_bar, swapping,
                                          verdict_html)

    models = models or _default_models()
    devices = devices if devices is not None else _default_devices()
    engine = engine_choice()
    model = choice(list(models), "Model:")
    ctx = context_slider(min=512, step=512)
    conc = sequences_slider()
    ktype = choice(engine_formats(engine.value)[1], "KV cache type:")
    swa = widgets.Checkbox(value=get_profile(engine.value).default("swa_full"), description="Full-size SWA cache",
                           **control())
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
    assert set(engine_formats("llama-cpp-python")[1]) <= set(KV_CACHE_TYPES)

    def on_device(change):
        if change["new"]:
            memory.value = round(change["new"].memory_bytes / GB, 1)

    def on_memory(change):
        # A typed size that is not the chosen card's: the dropdown must not go on naming that card.
        if device.value and abs(device.value.memory_bytes / GB - change["new"]) > 0.05:
            device.index = 0

    def on_engine(change):
        profile = get_profile(change["new"])
        swa.disabled = profile.backend == "vllm"  # vLLM pages every layer's cache alike
        if "swa_full" in profile.defaults:
            swa.value = profile.default("swa_full")

    def redraw(*_):
        if swapping(engine):
            return
        arch = models[model.value]
        dev = device.value or custom_device(memory.value)
        vllm = get_profile(engine.value).backend == "vllm"
        try:
            est = estimate(arch, VLLM_WEIGHTS if vllm else WEIGHTS_QUANT, ctx.value, conc.value, ktype.value,
                           engine=engine.value, swa_full=None if vllm else swa.value, device=dev if vllm else None)
            answer = fit_answer(est, dev, headroom)
        except CourseError as exc:
            verdict.value = error_note(exc)
            plot.clear_output()
            return
        kv = est.sequences_kv_bytes
        limit = f"{arch.max_context:,}" if arch.max_context else "none"
        verdict.value = (f"<b>KV cache:</b> {kv / GIB:,.2f} GiB ({kv / GB:,.2f} GB) &nbsp; "
                         f"<b>{'fits' if answer.fits else 'does not fit'}</b> in {memory.value:g} GB "
                         f"({est.engine}'s budget) &nbsp; "
                         f"<b>Largest context</b> (model limit {limit}) at {conc.value} sequence(s): "
                         f"{answer.max_context:,} tokens &nbsp; <b>Most sequences</b> at {ctx.value:,} tokens: "
                         f"{answer.max_concurrency:,}" + settings_note(est))
        with plot:
            plot.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
            runtime = 0 if vllm else runtime_bytes(dev)
            stacked_memory_bar(ax, _parts(est, arch, runtime), GB, "GB, 10^9 bytes")
            ax.axvline(dev.memory_bytes / GB, color="black", linestyle="--",
                       label=f"device memory ({dev.memory_bytes / GB:g} GB)")
            ax.axvline((answer.budget_bytes + runtime) / GB, color="grey", linestyle=":",
                       label=f"{est.engine}'s budget")
            ax.set_title(f"{arch.name} in {est.engine}: {conc.value} x {ctx.value:,} tokens, {ktype.value} cache")
            legend_below(fig, ax, ncol=2)
            show(fig)

    device.observe(on_device, names="value")
    memory.observe(on_memory, names="value")
    follow_engine(engine, None, ktype)
    engine.observe(on_engine, names="value")
    keep_context_within_model(model, ctx, lambda name: models[name].max_context)
    redraw_on(redraw, engine, model, ctx, conc, ktype, swa, memory, device)
    return widgets.VBox([engine, model, ctx, conc, ktype, swa, device, memory, verdict, plot])
