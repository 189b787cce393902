"""One look for every calculator (notebooks 00, 01, 02, 03, 07 and `llm-course app`).

Descriptions share one width so the controls line up as a form, and each
control stretches to the width of the page up to a limit: a slider's track is
then long enough to aim at on a laptop, and its arrow-key steps are visible.
Chart legends go below the axes in their own space (`legend_below`), never over
the axis label.
"""

from __future__ import annotations

DESCRIPTION_WIDTH = "13em"  # the longest description, "Output tokens per request:", fits
MAX_CONTROL_WIDTH = "42em"


def control(**overrides) -> dict:
    """Keyword arguments that give an ipywidgets control the course's label width and layout."""
    import ipywidgets as widgets

    kwargs = {"style": {"description_width": DESCRIPTION_WIDTH},
              "layout": widgets.Layout(width="100%", max_width=MAX_CONTROL_WIDTH)}
    kwargs.update(overrides)
    return kwargs


def legend_below(fig, ax, ncol: int = 3) -> None:
    """A legend under the axes and their x label, the figure grown to make room for it."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=ncol, fontsize=8, frameon=False)


def fit_context_slider(slider, max_context: int | None) -> None:
    """Limit a context slider to the model's trained context: llama.cpp warns beyond it and quality collapses."""
    limit = int(max_context) if max_context else 131072
    limit = max(limit, slider.min)
    if slider.value > limit:
        slider.value = limit
    slider.max = limit


def keep_context_within_model(model, context, max_context_of) -> None:
    """Cap the `context` slider at the trained context of the `model` dropdown's choice, now and on every change.

    `max_context_of(name)` gives a model's trained context. Register this before the redraw
    observers, so that a redraw sees the capped context.
    """
    fit_context_slider(context, max_context_of(model.value))
    model.observe(lambda change: fit_context_slider(context, max_context_of(change["new"])), names="value")


def redraw_on(redraw, *controls) -> None:
    """Call `redraw` whenever one of `controls` changes value, and once now."""
    for widget in controls:
        widget.observe(redraw, names="value")
    redraw()


def stacked_memory_bar(ax, parts, unit: int, unit_label: str) -> float:
    """One horizontal bar of (label, bytes) parts in `unit` bytes; returns where the bar ends, in that unit."""
    left = 0.0
    for label, size in parts:
        ax.barh([0], [size / unit], left=left, label=label)
        left += size / unit
    ax.set_yticks([])
    ax.set_xlabel(f"memory ({unit_label})")
    return left


def opaque_png(fig) -> bytes:
    """The figure as a PNG on white, edge to edge.

    The inline backend's transparency follows whatever rcParams the notebook ran
    before, and a tight crop that reaches past the figure (a long title) leaves
    transparent margins; a calculator's chart must read the same in a dark
    theme, the app and exported HTML, so it is flattened onto white here.
    """
    import io

    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", facecolor="white", bbox_inches="tight")
    image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGBA")
    flat = Image.new("RGBA", image.size, "white")
    flat.alpha_composite(image)
    out = io.BytesIO()
    flat.convert("RGB").save(out, format="PNG")
    return out.getvalue()


def show(fig) -> None:
    """Display a figure inside an Output widget and let pyplot forget it (the widget keeps the image)."""
    import matplotlib.pyplot as plt
    from IPython.display import Image, display

    display(Image(data=opaque_png(fig)))
    plt.close(fig)


def choice(options, description: str, preferred=None):
    """A labelled dropdown starting on `preferred` when it is one of the options, else on the first."""
    import ipywidgets as widgets

    options = list(options)
    values = [o[1] if isinstance(o, tuple) else o for o in options]
    value = preferred if preferred in values else values[0]
    return widgets.Dropdown(options=options, value=value, description=description, **control())


def context_slider(value: int = 8192, min: int = 256, max: int = 131072, step: int = 256):
    """The context-length slider every memory calculator has; it redraws on release, not while dragged."""
    import ipywidgets as widgets

    return widgets.IntSlider(value=value, min=min, max=max, step=step, description="Context (tokens):",
                             continuous_update=False, **control())


def sequences_slider(max: int = 64):
    """How many sequences share the model (parallel requests, each with its own KV cache)."""
    import ipywidgets as widgets

    return widgets.IntSlider(value=1, min=1, max=max, description="Concurrent sequences:", continuous_update=False,
                             **control())


def verdict_html():
    """The calculator's one-paragraph answer; browser tests and the app find it by its CSS class."""
    import ipywidgets as widgets

    verdict = widgets.HTML()
    verdict.add_class("llm-course-verdict")
    return verdict


def engine_choice(engines=None):
    """The engine dropdown every memory calculator has: labelled with the profiled version, starting on the default."""
    from course_lib.sizing import DEFAULT_ENGINE, ENGINES, get_profile

    return choice([(get_profile(e).label, e) for e in (engines or ENGINES)], "Engine:", DEFAULT_ENGINE)


def engine_formats(engine: str) -> tuple[list[str], list[str]]:
    """(weight formats, KV cache types) an engine loads: GGUF for the llama.cpp engines, checkpoints for vLLM."""
    from course_lib.sizing import get_profile, list_quants

    if get_profile(engine).backend == "vllm":
        return ["BF16", "AWQ", "GPTQ", "FP8"], ["auto", "fp8"]
    return list_quants(), ["f16", "q8_0", "q4_0"]


def follow_engine(engine, quant, kv_type) -> None:
    """Swap the weight-format and KV-type choices when the engine changes, keeping a choice that stays valid.

    Register before the redraw observers. While the options change, `swapping(engine)`
    is true (a redraw then waits); the engine's own redraw comes after, on the new options.
    """
    engine.swapping = False

    def update(change):
        formats, kinds = engine_formats(change["new"])
        engine.swapping = True
        try:
            for dropdown, options in ((quant, formats), (kv_type, kinds)):
                if dropdown is not None and list(dropdown.options) != options:
                    keep = dropdown.value if dropdown.value in options else options[0]
                    dropdown.options = options
                    dropdown.value = keep
        finally:
            engine.swapping = False

    engine.observe(update, names="value")


def swapping(engine) -> bool:
    """True while `follow_engine` is changing the options (a redraw then would see half the change)."""
    return getattr(engine, "swapping", False)


def settings_note(est) -> str:
    """The line under a verdict that names the engine and every setting the figures assume."""
    import html

    return f"<br><span class='llm-course-settings'>Assumes {html.escape(est.settings_line)}</span>"


def error_note(exc) -> str:
    """A setting the engine cannot run, said in the verdict's place (one line, no traceback)."""
    import html

    return f"<b>Cannot estimate:</b> {html.escape(str(exc))}"
