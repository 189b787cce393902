"""The class-size calculator: a machine, a model served to the class, N learners; is one server enough?

Derived in notebook 07 (choosing your setup), on `course_lib.choose.capacity`
(the same plan `llm-course class plan` prints). The chart shows the last
learner's wait for a whole answer as more of the class presses "run" at once,
against the time it takes to read that answer; the table lists the catalogue's
GPUs that keep every learner within it, with what they cost.
"""

from __future__ import annotations

from course_lib.choose.capacity import CLASS_ENGINE, ClassLoad, class_latency, plan_class, policy_of, seconds
from course_lib.choose.offload import INTERACTIVE_TOK_S
from course_lib.errors import CourseError
from course_lib.units import format_bytes
from course_lib.widgets.style import (choice, context_slider, control, engine_choice, engine_formats, error_note,
                                      follow_engine, keep_context_within_model, legend_below, redraw_on,
                                      settings_note, show, swapping, verdict_html)

# Points on the chart's "learners at once" axis: enough for the curve's shape, few enough to redraw quickly.
CURVE_POINTS = 12


def options_table(plan) -> str:
    """The plan's alternatives as an HTML table (GPU, servers, learners each, slowest pace, rent, buy)."""
    if not plan.options:
        return "<p>No GPU in the catalogue keeps every learner within reading time.</p>"
    rows = ["<table><tr><th>GPU</th><th>servers</th><th>learners each</th><th>slowest learner (tok/s)</th>"
            "<th>rent (USD/h, all)</th><th>buy (USD, all)</th></tr>"]
    for o in plan.options:
        rent = f"{o.rent_usd_per_hour:,.2f}" if o.rent_usd_per_hour else "n/a"
        buy = f"{o.buy_usd:,.0f}" if o.buy_usd else "n/a"
        rows.append(f"<tr><td>{o.device}</td><td>{o.servers}</td><td>{o.latency.learners}</td>"
                    f"<td>{o.latency.slowest_tok_s:,.1f}</td><td>{rent}</td><td>{buy}</td></tr>")
    return "".join(rows) + "</table><p>Prices: dated assumptions with sources (course_lib/data/gpu_prices.json).</p>"


def class_plan_widget(models=None, devices=None):
    """Machine, model, quantization, engine, context, class size and share active in; the plan out."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    from course_lib.sizing import get_model, list_devices, list_models

    models = list(models or list_models())
    devices = list(devices or [d.name for d in list_devices()])
    device = choice(devices, "Machine:", "RTX 4090")
    model = choice(models, "Model:", "llama-3.1-8b")
    engine = engine_choice()
    engine.value = CLASS_ENGINE  # a class shares one server that batches its requests (notebook 06)
    quant = choice(engine_formats(CLASS_ENGINE)[0], "Quantization:", "Q4_K_M")
    ctx = context_slider(value=4096, max=32768)
    learners = widgets.IntSlider(value=30, min=1, max=500, description="Learners:", continuous_update=False,
                                 **control())
    active = widgets.FloatSlider(value=1.0, min=0.05, max=1.0, step=0.05, readout_format=".0%",
                                 description="Active at once:", continuous_update=False, **control())
    verdict = verdict_html()
    plot = widgets.Output()
    table = widgets.HTML()

    def redraw(*_):
        if swapping(engine):
            return
        load = ClassLoad(learners.value, active.value)
        try:
            plan = plan_class(device.value, model.value, quant.value, ctx.value, engine.value, load)
        except CourseError as exc:  # a setting the engine cannot run: say why, draw nothing
            verdict.value = error_note(exc)
            table.value = ""
            with plot:
                plot.clear_output()
            return
        verdict.value = plan.verdict() + settings_note(plan.estimate)
        table.value = options_table(plan)
        with plot:
            plot.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
            if plan.latency is not None:
                most = max(plan.latency.learners, 2)
                counts = sorted({max(1, round(most * i / (CURVE_POINTS - 1))) for i in range(CURVE_POINTS)})
                waits = [class_latency(plan.estimate, plan.device, n, min(n, plan.max_slots), policy_of(plan.engine),
                                       load.prompt_tokens, load.output_tokens).answer_max_s for n in counts]
                ax.plot(counts, waits, "o-", label=f"one server on {plan.device.name} (bound)")
                ax.plot([plan.latency.learners], [plan.latency.answer_max_s], "s", color="tab:red",
                        label=f"this class: {plan.latency.learners} per server")
            ax.axhline(load.output_tokens / INTERACTIVE_TOK_S, color="grey", linestyle="--",
                       label=f"reading time of {load.output_tokens} tokens at {INTERACTIVE_TOK_S:g} tok/s (assumed)")
            ax.set_xlabel("learners sending a request at once (per server)")
            ax.set_ylabel("last learner's whole answer (s)")
            ax.set_title(f"{plan.estimate.model} {plan.estimate.quant} via {plan.engine}: "
                         f"{format_bytes(plan.estimate.total_bytes)} per server, waits "
                         f"{seconds(plan.latency.answer_max_s) if plan.latency else 'n/a'}", fontsize=9)
            legend_below(fig, ax, ncol=2)
            show(fig)

    keep_context_within_model(model, ctx, lambda name: get_model(name).max_context)
    follow_engine(engine, quant, None)
    redraw_on(redraw, device, model, engine, quant, ctx, learners, active)
    return widgets.VBox([device, model, engine, quant, ctx, learners, active, verdict, plot, table])
