"""Quantization explorer widget (notebook 02): pick a tensor, a format and a block size;
see the histogram of the weights and of the quantization error."""

from __future__ import annotations

import numpy as np

from course_lib import quant
from course_lib.quant_teaching import TEACHING_FORMATS, roundtrip


def tensor_names(reader) -> list[str]:
    return [t.name for t in reader.tensors if len(t.shape) == 2 and t.name != "token_embd.weight"]


def load_tensor(reader, name: str, max_rows: int = 256) -> np.ndarray:
    import gguf

    t = next(t for t in reader.tensors if t.name == name)
    rows = np.asarray(t.data)[:max_rows]
    return gguf.quants.dequantize(rows, t.tensor_type).astype(np.float32)


def error_stats(w: np.ndarray, fmt: str, block: int = 32) -> dict:
    """RMSE, SNR (dB) and max error of a format (GGUF type or teaching format) on w."""
    if fmt in quant.QTYPES:
        back = quant.dequantize(quant.quantize(w, fmt), fmt, w.shape)
    else:
        back = roundtrip(w, fmt, block)
    err = back - w
    rmse = float(np.sqrt(np.mean(err ** 2)))
    signal = float(np.sqrt(np.mean(w ** 2)))
    snr = 20 * np.log10(signal / rmse) if rmse > 0 else float("inf")
    return {"rmse": rmse, "snr_db": float(snr), "max_error": float(np.abs(err).max()), "error": err}


def explorer_widget(model=None):
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    from course_lib.gguf_inspect import read_gguf, tensor_values
    from course_lib.models import model_path

    # gguf.GGUFReader turns each of a 262k-token vocabulary's strings into an array (seconds and
    # hundreds of MB); the header walk of gguf_inspect reads only what the explorer needs.
    path = model_path(model)
    names = [t.name for t in read_gguf(path).tensors if len(t.shape) == 2 and t.name != "token_embd.weight"]
    tensor = widgets.Dropdown(options=names, value=names[0], description="tensor")
    fmt = widgets.Dropdown(options=list(quant.QTYPES) + list(TEACHING_FORMATS), value="Q4_0", description="format")
    block = widgets.Dropdown(options=[32, 64, 128, 256], value=32, description="block (weights)")
    verdict = widgets.HTML()
    verdict.add_class("llm-course-verdict")
    plot = widgets.Output()

    def update(_=None):
        w = tensor_values(path, tensor.value)[:256]
        s = error_stats(w, fmt.value, block.value)
        verdict.value = (f"{tensor.value} as {fmt.value}: RMSE {s['rmse']:.3g}, SNR {s['snr_db']:.1f} dB, "
                         f"max error {s['max_error']:.3g}")
        with plot:
            plot.clear_output(wait=True)
            fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3))
            a.hist(w.ravel(), bins=100)
            a.set(title="weights", xlabel="value", ylabel="count")
            b.hist(s["error"].ravel(), bins=100, color="tab:red")
            b.set(title=f"error ({fmt.value})", xlabel="dequantized - original", ylabel="count")
            fig.tight_layout()
            plt.show()

    for control in (tensor, fmt, block):
        control.observe(update, names="value")
    update()
    return widgets.VBox([widgets.HBox([tensor, fmt, block]), verdict, plot])
