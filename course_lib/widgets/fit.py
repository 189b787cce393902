"""The "Will it fit?" calculator: engine, model, quantization, context, concurrency and device in; a verdict out.

Derived in notebook 01 (memory math); the calculator app shows the same widget.
Every change redraws a stacked bar of weights / KV cache / overhead / free
memory against the device, the verdict against the engine's own budget (the
course's 10% headroom for llama-cpp-python, llama-server's 1 GiB --fit margin,
vLLM's gpu_memory_utilization), the bound on decoding speed (bandwidth / bytes
read per token) and the line of settings the figures assume.
"""

from __future__ import annotations

from course_lib.errors import CourseError
from course_lib.units import GB, GIB


def _verdict(est, answer, dev, ctx: int, speed: float) -> str:
    from course_lib.sizing import budget_rule

    need, budget = est.need_bytes, answer.budget_bytes
    text = (f"<b>{'FITS' if answer.fits else 'DOES NOT FIT'}</b>: needs {need / GIB:,.2f} GiB "
            f"({need / GB:,.2f} GB) of {dev.memory_bytes / GIB:,.1f} GiB; usable by "
            f"{budget_rule(est, dev)}: {budget / GIB:,.2f} GiB. &nbsp; Largest context: {answer.max_context:,} "
            f"tokens; most sequences at {ctx:,} tokens: {answer.max_concurrency}. &nbsp; "
            f"Decode bound: {speed:,.0f} tokens/s")
    if est.kv_pool_tokens is not None:
        text += (f". &nbsp; KV pool: {est.kv_pool_tokens:,} tokens, {est.max_concurrency_x:.2f}x requests of "
                 f"{est.n_ctx:,} tokens")
        groups = est.engine_settings.get("kv_cache_groups", "")
        if "sliding" in groups:  # the hybrid KV-cache manager: say why the pool holds more than every layer would
            text += f" ({groups})"
    return text


def fit_widget(models=None, devices=None, headroom: float = 0.10):
    """An ipywidgets container; `models` and `devices` default to the course catalogues."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    from course_lib.sizing import (decode_tok_s_bound, estimate, fit_answer, get_device, get_model, list_devices,
                                   list_models, runtime_bytes)
    from course_lib.widgets.style import (choice, context_slider, engine_choice, engine_formats, error_note,
                                          follow_engine, keep_context_within_model, legend_below, redraw_on,
                                          sequences_slider, settings_note, show, stacked_memory_bar, swapping,
                                          verdict_html)

    models = list(models or list_models())
    devices = list(devices or [d.name for d in list_devices()])
    engine = engine_choice()
    model = choice(models, "Model:", "llama-3.1-8b")
    quant = choice(engine_formats(engine.value)[0], "Quantization:", "Q4_K_M")
    ctx = context_slider()
    conc = sequences_slider()
    kv_type = choice(engine_formats(engine.value)[1], "KV cache type:")
    device = choice(devices, "Device:", "RTX 4090")
    verdict = verdict_html()
    plot = widgets.Output()

    def redraw(*_):
        if swapping(engine):
            return
        dev = get_device(device.value)
        try:
            est = estimate(model.value, quant.value, ctx.value, conc.value, kv_type.value, engine=engine.value,
                           device=dev if engine.value == "vllm" else None)
            answer = fit_answer(est, dev, headroom)
        except CourseError as exc:
            verdict.value = error_note(exc)
            plot.clear_output()
            return
        verdict.value = _verdict(est, answer, dev, ctx.value, decode_tok_s_bound(est, dev)) + settings_note(est)
        with plot:
            plot.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(7, 3.0), layout="constrained")
            vllm = est.kv_pool_tokens is not None
            runtime = 0 if vllm else runtime_bytes(dev)  # vLLM's share leaves the CUDA context outside it
            parts = [("weights", est.weights_bytes), ("KV pool (vLLM)" if vllm else "KV cache", est.kv_cache_bytes),
                     ("activations + CUDA graphs" if vllm else "overhead (buffers)", est.overhead_bytes + runtime)]
            left = stacked_memory_bar(ax, parts, GIB, "GiB, 2^30 bytes")
            free = dev.memory_bytes / GIB - left
            if free > 0:
                ax.barh([0], [free], left=left, color="#dddddd", label="free")
            ax.axvline((answer.budget_bytes + runtime) / GIB, color="black", linestyle="--",
                       label=f"{est.engine}'s budget")
            ax.set_title(f"{est.model} {est.quant} in {est.engine} on {dev.name}: {conc.value} x {ctx.value:,} tokens")
            legend_below(fig, ax, ncol=3)
            show(fig)

    follow_engine(engine, quant, kv_type)
    keep_context_within_model(model, ctx, lambda name: get_model(name).max_context)
    redraw_on(redraw, engine, model, quant, ctx, conc, kv_type, device)
    return widgets.VBox([engine, model, quant, ctx, conc, kv_type, device, verdict, plot])
