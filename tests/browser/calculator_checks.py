"""What each calculator must do when a person operates it; shared by the notebook and the app tests.

Each check takes a `Calculator` whose cells have run, operates its controls
(dropdowns, sliders moved with the keyboard, typed values) and asserts that the
verdict text and the chart change the way the arithmetic says they must.
"""

from __future__ import annotations

import re

import pytest
from lab_helpers import Calculator, unlabelled_controls
from playwright.sync_api import expect


def number_after(text: str, label: str, unit: str = "") -> float:
    """The number after `label` in a verdict, e.g. ('API: $1,650/month', 'API: $') -> 1650.0."""
    match = re.search(re.escape(label) + r"\s*([\d,]+(?:\.\d+)?)\s*" + re.escape(unit), text)
    assert match, f"no '{label} <number>{unit}' in the verdict {text!r}"
    return float(match.group(1).replace(",", ""))


def readout_int(calc: Calculator, slider: str) -> int:
    return int(calc.slider_readout(slider).inner_text().replace(",", ""))


# What a person can reach with the Tab key in an ipywidgets form, in document order.
FOCUSABLE = "select, input, .noUi-handle, .widget-readout[contenteditable='true']"


def lengthen_context(calc: Calculator, verdict: str, chart: str, steps: int) -> tuple[str, str]:
    """Move the context slider `steps` to the right with the keyboard; return the verdict and chart once they follow."""
    before = readout_int(calc, "Context (tokens)")
    after = int(calc.press_slider("Context (tokens)", "ArrowRight", steps).replace(",", ""))
    assert after > before, f"the context slider did not move from {before}"
    calc.wait_changed(verdict, chart, "moving the context slider")
    return calc.verdict_text(), calc.figure_src()


def check_labels(calc: Calculator) -> None:
    missing = unlabelled_controls(calc.root)
    assert not missing, f"controls without a visible label: {missing}"
    check_tab_order(calc)


def check_tab_order(calc: Calculator) -> None:
    """Every enabled control is reached with the Tab key, one after another, in the order shown."""
    stops = [c for c in calc.root.locator(FOCUSABLE).all() if c.is_visible() and c.is_enabled()]
    assert len(stops) >= 2, "a calculator with fewer than two controls?"
    stops[0].focus()
    for i, stop in enumerate(stops[1:], start=1):
        calc.page.keyboard.press("Tab")
        focused = stop.evaluate("e => e === document.activeElement || e.contains(document.activeElement)")
        assert focused, (f"Tab from control {i - 1} did not reach control {i} "
                         f"({stop.evaluate('e => e.outerHTML.slice(0, 120)')}); focus is on "
                         + calc.page.evaluate("document.activeElement.outerHTML.slice(0, 120)"))


def check_cost(calc: Calculator) -> None:
    """Cost break-even (notebook 00, the app): API bill follows the API and the traffic; own bill the setup."""
    check_labels(calc)
    verdict, figure = calc.verdict_text(), calc.figure_src()
    api, own = number_after(verdict, "API: $"), number_after(verdict, "Self-hosted: $")

    chosen = calc.choose_next("API model")
    calc.wait_changed(verdict, figure, f"choosing the API model {chosen!r}")
    verdict, figure = calc.verdict_text(), calc.figure_src()
    assert number_after(verdict, "API: $") > api, f"{chosen} is dearer than the first API, yet: {verdict}"
    assert number_after(verdict, "Self-hosted: $") == own, "changing the API must not change the self-hosted bill"
    api = number_after(verdict, "API: $")

    # Five arrow-key steps (+500 requests/day) move the bill; a line on a 1M-wide axis barely moves.
    before = readout_int(calc, "Requests per day")
    after = int(calc.press_slider("Requests per day", "ArrowRight", 5).replace(",", ""))
    assert after > before
    calc.wait_changed(verdict, None, "moving the requests-per-day slider")
    verdict = calc.verdict_text()
    # The API bill is proportional to traffic (the verdict rounds to whole dollars).
    assert number_after(verdict, "API: $") == pytest.approx(api * after / before, abs=1)
    # A person can also type the traffic into the slider's readout.
    typed = int(calc.type_readout("Requests per day", "40000").replace(",", ""))
    assert typed == 40000
    calc.wait_changed(verdict, figure, "typing 40000 requests per day")
    verdict, figure = calc.verdict_text(), calc.figure_src()
    assert number_after(verdict, "API: $") == pytest.approx(api * typed / before, abs=1)

    chosen = calc.choose_next("Self-hosted setup")
    calc.wait_changed(verdict, figure, f"choosing the self-hosted setup {chosen!r}")
    assert number_after(calc.verdict_text(), "Self-hosted: $") != own


def choose_engine(calc: Calculator, engine: str, verdict: str, figure: str | None) -> tuple[str, str | None]:
    """Pick `engine` in the calculator's Engine dropdown; the verdict must then name it and its settings."""
    select = calc.dropdown("Engine")
    # The options read "<engine> <profiled version>", e.g. "llama-server b11549"; ipywidgets renders the space
    # as a no-break space, so the prefix is matched on any white space.
    options = select.evaluate("s => [...s.options].map(o => o.text)")
    label = next((text for text in options if text.split()[0] == engine), None)
    assert label, f"no engine {engine!r} in the Engine dropdown: {options}"
    select.select_option(label=label)
    calc.wait_changed(verdict, figure, f"choosing the engine {engine!r}")
    verdict = calc.verdict_text()
    assert f"Assumes {engine} " in verdict, f"the verdict does not name the settings of {engine}: {verdict}"
    return verdict, (calc.figure_src() if figure is not None else None)


def check_kv(calc: Calculator) -> None:
    """KV-cache explorer (notebook 03, the app): the cache grows with context, shrinks with a quantized type,
    and follows the engine's sliding-window default."""
    check_labels(calc)
    verdict, figure = calc.verdict_text(), calc.figure_src()
    assert "Assumes llama-cpp-python" in verdict, f"the explorer should start on the course's engine: {verdict}"
    kv = number_after(verdict, "KV cache:", "GiB")

    verdict, figure = lengthen_context(calc, verdict, figure, steps=4)
    assert number_after(verdict, "KV cache:", "GiB") > kv, f"more context, yet no bigger cache: {verdict}"
    kv = number_after(verdict, "KV cache:", "GiB")

    chosen = calc.choose_next("KV cache type")
    calc.wait_changed(verdict, figure, f"choosing the cache type {chosen!r}")
    verdict, figure = calc.verdict_text(), calc.figure_src()
    assert number_after(verdict, "KV cache:", "GiB") < kv, f"a {chosen} cache is smaller than f16, yet: {verdict}"

    chosen = calc.choose_next("Model")
    calc.wait_changed(verdict, figure, f"choosing the model {chosen!r}")
    verdict, figure = calc.verdict_text(), calc.figure_src()

    # The explorer starts on a catalogue device; another one fills in its own memory.
    memory = calc.text_box("Memory (GB)").input_value()
    select = calc.dropdown("GPU / device")
    assert "4090" in select.evaluate("s => s.options[s.selectedIndex].text"), (
        "the explorer should start on the RTX 4090"
    )
    other = select.evaluate("s => [...s.options].findIndex(o => o.text.includes('3060'))")  # 12 GB, not 24
    assert other > 0, "no RTX 3060 in the device list"
    chosen = calc.choose_index("GPU / device", other)
    expect(calc.text_box("Memory (GB)")).not_to_have_value(memory)
    calc.wait_changed(verdict, figure, f"choosing the device {chosen!r}")
    verdict, figure = calc.verdict_text(), calc.figure_src()

    calc.type_into("Memory (GB)", "0.01")  # far too little for any model: the verdict must say so
    calc.wait_changed(verdict, figure, "typing a 0.01 GB memory budget")
    assert "does not fit" in calc.verdict_text(), calc.verdict_text()
    expect(calc.dropdown("GPU / device")).to_have_js_property("selectedIndex", 0)  # no card has 0.01 GB

    # llama-server keeps a reduced sliding-window cache by default: the box follows the engine.
    swa = calc.root.locator(".widget-checkbox input")
    expect(swa).to_be_checked()
    choose_engine(calc, "llama-server", calc.verdict_text(), calc.figure_src())
    expect(swa).not_to_be_checked()


def check_fit(calc: Calculator) -> None:
    """Will it fit? (notebook 01, the app): a bigger model, context or quantization needs more memory."""
    check_labels(calc)
    verdict, figure = calc.verdict_text(), calc.figure_src()
    need = number_after(verdict, "needs", "GiB")

    verdict, figure = lengthen_context(calc, verdict, figure, steps=8)
    assert number_after(verdict, "needs", "GiB") > need, f"more context, yet no more memory: {verdict}"
    need = number_after(verdict, "needs", "GiB")

    device_memory = number_after(verdict, "of", "GiB")
    chosen = calc.choose_next("Device")
    calc.wait_changed(verdict, figure, f"choosing the device {chosen!r}")
    verdict, figure = calc.verdict_text(), calc.figure_src()
    assert number_after(verdict, "of", "GiB") != device_memory, f"{chosen} has other memory, yet: {verdict}"
    assert number_after(verdict, "needs", "GiB") == need, "the device must not change what the model needs"

    quant = calc.dropdown("Quantization").input_value()
    chosen = calc.choose_next("Quantization")
    calc.wait_changed(verdict, figure, f"choosing the quantization {chosen!r}")
    verdict, figure = calc.verdict_text(), calc.figure_src()
    assert number_after(verdict, "needs", "GiB") != need, f"{quant} -> {chosen} changed nothing: {verdict}"
    need = number_after(verdict, "needs", "GiB")

    # Another engine: llama-server's buffers are smaller (flash attention, one row of logits per slot).
    assert "Assumes llama-cpp-python" in verdict, verdict
    verdict, figure = choose_engine(calc, "llama-server", verdict, figure)
    assert number_after(verdict, "needs", "GiB") < need, f"llama-server needs less than llama-cpp-python: {verdict}"
    verdict, figure = choose_engine(calc, "vllm", verdict, figure)  # checkpoints, not GGUF presets
    assert calc.dropdown("Quantization").input_value() in ("BF16", "AWQ", "GPTQ", "FP8"), verdict
    assert "KV pool" in verdict, f"vLLM's verdict should give its pool: {verdict}"
    verdict, figure = choose_engine(calc, "llama-cpp-python", verdict, figure)

    # Largest models last: a 70B-class model never fits a single consumer device at this context.
    select = calc.dropdown("Model")
    big = select.evaluate("s => [...s.options].map(o => o.value).find(v => /70b|72b/i.test(v))")
    assert big, "the model list has no 70B-class model to overflow the device with"
    select.select_option(big)
    calc.wait_changed(verdict, figure, f"choosing the model {big!r}")
    assert "DOES NOT FIT" in calc.verdict_text().upper(), calc.verdict_text()


def check_gpu_chooser(calc: Calculator) -> None:
    """Which GPU? (notebook 07, the app): the need follows model, context and quantization; the ranking too."""
    check_labels(calc)
    verdict, table = calc.verdict_text(), calc.figure_src()
    need = number_after(verdict, "Needs", "GiB")
    assert "fit" in verdict and calc.figure.locator("tr").count() > 2, "no GPU ranking shown"

    verdict, table = lengthen_context(calc, verdict, table, steps=40)
    assert number_after(verdict, "Needs", "GiB") > need, f"more context, yet no more memory: {verdict}"

    select = calc.dropdown("Model")
    big = select.evaluate("s => [...s.options].map(o => o.value).find(v => /70b|72b/i.test(v))")
    assert big, "the model list has no 70B-class model"
    select.select_option(big)
    calc.wait_changed(verdict, table, f"choosing the model {big!r}")
    verdict, table = calc.verdict_text(), calc.figure_src()
    need = number_after(verdict, "Needs", "GiB")
    assert need > 30, f"a 70B-class model at 4 bits needs more than 30 GiB, yet: {verdict}"

    chosen = calc.choose_next("Quantization")
    calc.wait_changed(verdict, table, f"choosing the quantization {chosen!r}")
    assert number_after(calc.verdict_text(), "Needs", "GiB") != need
    choose_engine(calc, "vllm", calc.verdict_text(), calc.figure_src())


def offload_layers(verdict: str) -> tuple[int, int, str]:
    """(layers on the GPU, layers in all, the GPU) from 'N of M layers fit on the GPU: ...'."""
    match = re.search(r"(\d+) of (\d+) layers fit on the (.+?):", verdict)
    assert match, f"no 'N of M layers fit on the GPU' in the verdict {verdict!r}"
    return int(match.group(1)), int(match.group(2)), match.group(3)


def check_offload(calc: Calculator) -> None:
    """CPU offload (notebook 07, the app): the verdict follows RAM, GPU and context; a big GPU holds every layer."""
    check_labels(calc)
    verdict, figure = calc.verdict_text(), calc.figure_src()
    on_gpu, total, gpu = offload_layers(verdict)
    assert on_gpu < total, f"the default setup should need offloading: {verdict}"

    chosen = calc.choose_next("System RAM")  # the offloaded layers run at the RAM's bandwidth
    calc.wait_changed(verdict, figure, f"choosing the system RAM {chosen!r}")
    verdict, figure = calc.verdict_text(), calc.figure_src()

    chosen = calc.choose_next("GPU")
    calc.wait_changed(verdict, figure, f"choosing the GPU {chosen!r}")
    verdict, figure = calc.verdict_text(), calc.figure_src()
    assert offload_layers(verdict)[2] == chosen, f"the verdict does not name the chosen GPU {chosen!r}: {verdict}"

    verdict, figure = lengthen_context(calc, verdict, figure, steps=16)

    select = calc.dropdown("GPU")
    biggest = select.evaluate("s => [...s.options].map(o => o.value).find(v => /H200|H100|A100 80/.test(v))")
    assert biggest, "no 80 GB-class GPU in the list"
    select.select_option(biggest)
    calc.wait_changed(verdict, figure, f"choosing the GPU {biggest!r}")
    on_gpu, total, _ = offload_layers(calc.verdict_text())
    assert on_gpu == total, f"the {biggest} holds the whole default model, yet: {calc.verdict_text()}"
    options = calc.dropdown("Engine").evaluate("s => [...s.options].map(o => o.text)")
    assert not any(o.startswith("vllm") for o in options), f"layer offload is llama.cpp's; offered: {options}"
    # Every layer fits either way, so the chart may stay as it was; the verdict names the engine's settings.
    choose_engine(calc, "ollama", calc.verdict_text(), None)


def check_quant_explorer(calc: Calculator) -> None:
    """Quantization explorer (notebook 02, the app): bits and error follow the format, the block and the tensor."""
    check_labels(calc)
    verdict, figure = calc.verdict_text(), calc.figure_src()
    snr_q4 = number_after(verdict, "SNR", "dB")
    assert number_after(verdict, "as Q4_0:", "bits per weight") == 4.5, verdict
    block = calc.dropdown("Block size (weights)")
    expect(block).to_be_disabled()  # a GGUF type has its own block

    calc.dropdown("Format").select_option(label="Q8_0")
    calc.wait_changed(verdict, figure, "choosing the format Q8_0")
    verdict, figure = calc.verdict_text(), calc.figure_src()
    assert number_after(verdict, "as Q8_0:", "bits per weight") == 8.5, verdict
    assert number_after(verdict, "SNR", "dB") > snr_q4 + 20, f"8 bits should beat 4 by ~24 dB: {verdict}"

    calc.dropdown("Format").select_option(label="absmax_int8_block")
    calc.wait_changed(verdict, figure, "choosing the format absmax_int8_block")
    verdict, figure = calc.verdict_text(), calc.figure_src()
    expect(block).to_be_enabled()
    assert number_after(verdict, "blocks of 32:", "bits per weight") == 9, verdict  # 8-bit codes + fp32 scale / 32
    snr_32 = number_after(verdict, "SNR", "dB")

    block.select_option(label="256")
    calc.wait_changed(verdict, figure, "choosing blocks of 256 weights")
    verdict, figure = calc.verdict_text(), calc.figure_src()
    assert number_after(verdict, "blocks of 256:", "bits per weight") == 8.12, verdict
    assert number_after(verdict, "SNR", "dB") < snr_32, f"a coarser block must cost accuracy: {verdict}"

    chosen = calc.choose_next("Tensor")
    calc.wait_changed(verdict, figure, f"choosing the tensor {chosen!r}")
    assert calc.verdict_text().startswith(chosen), calc.verdict_text()
