"""The calculators' shared look and limits: aligned labels, wide tracks, context within the trained context."""

import matplotlib
import pytest

from course_lib.sizing import get_device, get_model
from course_lib.widgets.style import DESCRIPTION_WIDTH, control, fit_context_slider

matplotlib.use("Agg")


def controls_of(box):
    return {c.description: c for c in box.children if getattr(c, "description", "")}


def test_every_calculator_control_shares_the_form_layout():
    from course_lib.widgets import fit_widget, gpu_chooser_widget, kv_widget

    for box in (fit_widget(), kv_widget(), gpu_chooser_widget()):
        for widget in controls_of(box).values():
            assert widget.style.description_width == DESCRIPTION_WIDTH, widget.description
            assert widget.layout.width == "100%", widget.description


def test_context_slider_stops_at_the_trained_context():
    import ipywidgets as widgets

    slider = widgets.IntSlider(value=8192, min=256, max=131072, step=256, **control())
    fit_context_slider(slider, 4096)
    assert (slider.max, slider.value) == (4096, 4096)
    fit_context_slider(slider, None)  # unknown: the calculators' usual 128K ceiling
    assert (slider.max, slider.value) == (131072, 4096)


@pytest.mark.parametrize("factory", ["fit_widget", "kv_widget", "gpu_chooser_widget", "offload_widget"])
def test_choosing_a_model_limits_the_context(factory):
    import course_lib.widgets

    box = getattr(course_lib.widgets, factory)()
    controls = controls_of(box)
    model, ctx = controls["Model:"], controls["Context (tokens):"]
    verdict = next(c for c in box.children if "llm-course-verdict" in c._dom_classes)
    before = verdict.value
    model.value = "llama-2-7b"
    assert ctx.max == get_model("llama-2-7b").max_context == 4096 and ctx.value <= 4096
    assert verdict.value != before
    model.value = "llama-3.1-8b"
    assert ctx.max == 131072


def test_kv_explorer_starts_on_a_real_device():
    from course_lib.widgets import kv_widget

    controls = controls_of(kv_widget())
    assert controls["GPU / device:"].label == "RTX 4090"
    card = get_device("RTX 4090")
    assert controls["GPU / device:"].value == card
    assert controls["Memory (GB):"].value == round(card.memory_bytes / 1e9, 1)


def test_typing_a_memory_size_leaves_the_device_choice():
    from course_lib.widgets import kv_widget

    controls = controls_of(kv_widget())
    device, memory = controls["GPU / device:"], controls["Memory (GB):"]
    memory.value = 12.0
    assert device.index == 0 and device.label == "(type a size below)"
    device.index = 1
    assert memory.value == round(device.value.memory_bytes / 1e9, 1) and device.index == 1


def test_a_calculator_chart_is_opaque_whatever_the_figure_says():
    """A figure drawn with a transparent background and a title wider than itself still shows white corners."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    from course_lib.widgets.style import opaque_png

    fig, ax = plt.subplots(figsize=(3, 2), facecolor=(1, 1, 1, 0))
    ax.set_title("a title much wider than this small figure, as a long model and engine name makes it")
    image = Image.open(io.BytesIO(opaque_png(fig)))
    plt.close(fig)
    w, h = image.size
    assert image.mode == "RGB" and w > 3 * 72  # flattened, and the tight crop kept the whole title
    assert all(image.getpixel(p) == (255, 255, 255) for p in [(0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)])
