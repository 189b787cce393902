"""Quantization explorer (notebook 02, and the calculator app): pick a weight tensor of the
real model, a format and a block size; see what the format costs in bits and in error, and
the histograms of the weights and of the error."""

from __future__ import annotations

import numpy as np

from course_lib import quant
from course_lib.quant.policy import K_FALLBACK
from course_lib.quant.quality import error_stats
from course_lib.quant.teaching import TEACHING_FORMATS

# Enough rows for a smooth histogram, few enough that every change redraws in well under a second.
SAMPLE_ROWS = 256
# Teaching formats whose scale is per block; every GGUF type has its own fixed block.
BLOCK_FORMATS = ("absmax_int8_block", "zeropoint_int8_block", "nf4")


def explorer_tensor_names(contents) -> list[str]:
    """The 2-D weight matrices of a GGUF (a `gguf_inspect.GGUFContents`), embedding left out (too big to redraw)."""
    return [t.name for t in contents.tensors if len(t.shape) == 2 and t.name != "token_embd.weight"]


def explorer_widget(model=None):
    """An ipywidgets container on the course model (or `model`, a GGUF path)."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    from course_lib.errors import CourseError
    from course_lib.gguf_file import read_gguf, tensor_values
    from course_lib.runtime.models import model_path
    from course_lib.widgets.style import choice, control, redraw_on, show, verdict_html

    try:
        path = model_path(model, progress=False)  # a calculator shows no housekeeping
        contents = read_gguf(path)
    except CourseError as exc:  # the app shows this instead of a traceback
        return widgets.HTML(f"<b>The quantization explorer needs a GGUF model:</b> {exc}")
    stored = {t.name: t.type_name for t in contents.tensors}
    names = explorer_tensor_names(contents)
    tensor = choice(names, "Tensor:")
    fmt = choice(list(quant.QTYPES) + list(TEACHING_FORMATS), "Format:", "Q4_0")
    block = widgets.Dropdown(options=[16, 32, 64, 128, 256], value=32, description="Block size (weights):",
                             **control(), disabled=True)
    verdict = verdict_html()
    plot = widgets.Output()
    cache: dict[str, np.ndarray] = {}

    def weights(name: str) -> np.ndarray:
        if name not in cache:
            cache.clear()  # one tensor at a time: a Binder kernel has little memory to spare
            cache[name] = np.ascontiguousarray(tensor_values(path, name)[:SAMPLE_ROWS])
        return cache[name]

    def update(_=None):
        # GGUF types carry their own block (32 or 256 weights); only the teaching formats take one.
        block.disabled = fmt.value not in BLOCK_FORMATS
        w = weights(tensor.value)
        whole = quant.block_layout(fmt.value)[0] if fmt.value in quant.QTYPES else 1
        if w.shape[1] % whole:  # a K-quant on 640-wide rows: say what llama.cpp does instead
            verdict.value = (
                f"<b>{tensor.value}</b>: rows of {w.shape[1]} weights do not divide into <b>{fmt.value}</b>'s "
                f"super-blocks of {whole}; llama.cpp stores such a tensor as {K_FALLBACK[fmt.value]} instead")
            with plot:
                plot.clear_output()
            return
        s = error_stats(w, fmt.value, block.value)
        blocks = f", blocks of {block.value}" if not block.disabled else ""
        verdict.value = (
            f"<b>{tensor.value}</b> (stored as {stored[tensor.value]}; first {w.shape[0]} rows of {w.shape[1]} "
            f"weights) as <b>{fmt.value}</b>{blocks}: <b>{s['bits_per_weight']:.3g} bits per weight</b>, "
            f"RMSE {s['rmse']:.3g}, SNR {s['snr_db']:.1f} dB, max error {s['max_error']:.3g}")
        with plot:
            plot.clear_output(wait=True)
            fig, (a, b) = plt.subplots(1, 2, figsize=(7.5, 2.8))
            a.hist(w.ravel(), bins=100)
            a.set(title="weights", xlabel="weight value (dimensionless)", ylabel="count (weights)")
            b.hist(s["error"].ravel(), bins=100, color="tab:red")
            b.set(title=f"error as {fmt.value}", xlabel="dequantized - original", ylabel="count (weights)")
            fig.tight_layout()
            show(fig)

    redraw_on(update, tensor, fmt, block)
    return widgets.VBox([tensor, fmt, block, verdict, plot])
