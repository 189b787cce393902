"""Calculators of notebook 07 (choosing your setup): which GPU, and what CPU offload costs.

The cost break-even calculator is `course_lib.widgets.cost`; these two sit next
to it in the notebook and in the calculator app. Both take the engine: it
decides what fits (vLLM's pool, the others' totals) and, for offload, which
llama.cpp-based engine's caches and buffers sit on the GPU.
"""

from __future__ import annotations

from course_lib.choose import INTERACTIVE_TOK_S, offload_curve, rank_devices
from course_lib.errors import CourseError
from course_lib.sizing import ENGINES, estimate, get_device, get_model, list_devices, list_models, offload_split
from course_lib.units import GB, GIB
from course_lib.widgets.style import (choice, context_slider, engine_choice, engine_formats, error_note,
                                      follow_engine, keep_context_within_model, redraw_on, sequences_slider,
                                      settings_note, show, swapping, verdict_html)

# vLLM pages its cache on one GPU; splitting layers between GPU and CPU is llama.cpp's.
LAYER_OFFLOAD_ENGINES = tuple(e for e in ENGINES if e != "vllm")


def gpu_chooser_widget(models=None, headroom: float = 0.10):
    """Engine, model, quantization, context and concurrency in; the catalogue's GPUs ranked out."""
    import ipywidgets as widgets

    models = list(models or list_models())
    engine = engine_choice()
    model = choice(models, "Model:", "llama-3.1-8b")
    quant = choice(engine_formats(engine.value)[0], "Quantization:", "Q4_K_M")
    ctx = context_slider()
    conc = sequences_slider()
    verdict = verdict_html()
    table = widgets.HTML()

    def redraw(*_):
        if swapping(engine):
            return
        try:
            rows = rank_devices(model.value, quant.value, ctx.value, conc.value, headroom=headroom,
                                engine=engine.value)
        except CourseError as exc:
            verdict.value, table.value = error_note(exc), ""
            return
        need = rows[0].need_bytes
        fitting = [r for r in rows if r.fits]
        if fitting:
            best, cheapest_fit = fitting[0], min(fitting, key=lambda r: r.memory_bytes)
            verdict.value = (f"Needs {need / GIB:,.1f} GiB ({need / GB:,.1f} GB). {len(fitting)} of {len(rows)} GPUs "
                             f"fit; fastest: <b>{best.device}</b> (≤ {best.decode_tok_s_bound:,.0f} tok/s); "
                             f"smallest that fits: <b>{cheapest_fit.device}</b> "
                             f"(≤ {cheapest_fit.decode_tok_s_bound:,.0f} tok/s)")
        else:
            verdict.value = (f"Needs {need / GIB:,.1f} GiB ({need / GB:,.1f} GB): <b>no single GPU in the catalogue "
                             f"fits</b>; quantize harder, shorten the context, split across GPUs or offload")
        device = rows[0].device
        verdict.value += settings_note(estimate(model.value, quant.value, ctx.value, conc.value, engine=engine.value,
                                                device=device if engine.value == "vllm" else None))
        lines = ["<table><tr><th>GPU</th><th>memory (GiB)</th><th>fits</th><th>bandwidth (GB/s)</th>"
                 "<th>FP16 (TFLOP/s)</th><th>decode bound (tok/s, all sequences)</th></tr>"]
        for r in rows:
            flops = f"{r.fp16_flops / 1e12:,.0f}" if r.fp16_flops else "n/a"
            lines.append(f"<tr><td>{r.device}</td><td>{r.memory_bytes / GIB:,.0f}</td><td>{'yes' if r.fits else 'no'}"
                         f"</td><td>{r.bandwidth_bytes_per_s / 1e9:,.0f}</td><td>{flops}</td>"
                         f"<td>{r.decode_tok_s_bound:,.0f}</td></tr>")
        table.value = "".join(lines) + "</table>"

    follow_engine(engine, quant, None)
    keep_context_within_model(model, ctx, lambda name: get_model(name).max_context)
    redraw_on(redraw, engine, model, quant, ctx, conc)
    return widgets.VBox([engine, model, quant, ctx, conc, verdict, table])


def offload_widget(models=None, gpus=None, rams=None):
    """Engine, model, GPU and system RAM in; decode speed against n_gpu_layers out, with the layers that fit marked."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    engine = engine_choice(LAYER_OFFLOAD_ENGINES)
    models = list(models or list_models())
    gpus = list(gpus or [d.name for d in list_devices() if d.kind == "gpu"])
    rams = list(rams or [d.name for d in list_devices() if d.kind == "cpu"])
    model = choice(models, "Model:", "llama-3.1-70b")
    gpu = choice(gpus, "GPU:", "RTX 4090")
    ram = choice(rams, "System RAM:", rams[-1])
    ctx = context_slider(value=4096, max=32768)
    conc = sequences_slider(max=32)
    verdict = verdict_html()
    plot = widgets.Output()

    def redraw(*_):
        dev = get_device(gpu.value)
        curve = offload_curve(model.value, gpu.value, ram.value, n_ctx=ctx.value, concurrency=conc.value,
                              engine=engine.value)
        split = offload_split(model.value, dev.usable_bytes, n_ctx=ctx.value, concurrency=conc.value,
                              engine=engine.value)
        ngl = min(split.n_gpu_layers, curve[-1].n_layers)
        at = curve[ngl]
        feel = "fast enough to read along" if at.tok_s_per_sequence >= INTERACTIVE_TOK_S else "too slow for chat"
        verdict.value = (f"{ngl} of {at.n_layers} layers fit on the {dev.name}: ≤ {at.tok_s_per_sequence:,.1f} tok/s "
                         f"per sequence ({feel}), ≤ {at.tok_s:,.1f} tok/s in all; the CPU's share of each step: "
                         f"{at.cpu_time_share:.0%}"
                         + settings_note(estimate(model.value, None, ctx.value, conc.value, engine=engine.value)))
        with plot:
            plot.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(7, 3.2))
            ax.plot([s.n_gpu_layers for s in curve], [s.tok_s_per_sequence for s in curve], label="per sequence")
            ax.axvline(ngl, color="grey", linestyle=":", label="layers that fit")
            ax.axhline(INTERACTIVE_TOK_S, color="tab:red", linestyle="--", label="comfortable reading speed (assumed)")
            ax.set_yscale("log")
            ax.set_xlabel("layers on the GPU (n_gpu_layers)")
            ax.set_ylabel("decode bound (tokens/s)")
            ax.set_title(f"{model.value}: speed vs layers offloaded to the {dev.name}")
            ax.legend(fontsize=8)
            fig.tight_layout()
            show(fig)

    keep_context_within_model(model, ctx, lambda name: get_model(name).max_context)
    redraw_on(redraw, engine, model, gpu, ram, ctx, conc)
    return widgets.VBox([engine, model, gpu, ram, ctx, conc, verdict, plot])
