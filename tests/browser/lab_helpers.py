"""Operating JupyterLab and the course's calculators the way a person does, through Playwright.

Selectors are JupyterLab 4 / ipywidgets 8 markup: a slider is `.widget-slider`
with a `.noUi-handle` (moved with the arrow keys), a dropdown is
`.widget-dropdown select`, a control's description is its `label.widget-label`,
and a calculator's verdict carries the CSS class `llm-course-verdict` (the
widget contract). A figure drawn into an `Output` widget is an `<img>` whose
`src` (a PNG data URL) changes on every redraw.
"""

from __future__ import annotations

import base64
import io
import re
import time
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

RUN_TIMEOUT_MS = 360_000  # a notebook runs in ~60 s on 2 cores; a machine busy with other work can take 4x
# What ipywidgets shows instead of a widget it could not render (its model missing or its view failing),
# and Voilà's texts for a cell that failed or ran past the app's limit.
ERROR_TEXTS = ("Error displaying widget", "Model not found", "Cell execution timed out",
               "There was an error when executing cell")
STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
# Controls a person operates; each must carry a visible description.
CONTROLS = ".widget-slider, .widget-dropdown, .widget-text, .widget-toggle-buttons, .widget-radio, .widget-checkbox"


def error_outputs(page: Page) -> list[str]:
    """Tracebacks and widgets that failed to render, as short texts (empty when the page is clean)."""
    # stderr also carries harmless logs and warnings; an exception shows a traceback or "SomeError: ...".
    problems = [text[:400] for text in page.locator(STDERR).all_inner_texts()
                if "Traceback" in text or re.search(r"^\w*(Error|Exception)\b", text, re.MULTILINE)]
    for text in page.locator(".jp-OutputArea-output").all_inner_texts():
        problems += [f"an output shows {text[:200]!r}" for marker in ERROR_TEXTS if marker in text]
    return problems


def unlabelled_controls(root: Locator) -> list[str]:
    """The HTML of every slider/dropdown/... under `root` without a visible, non-empty description."""
    missing = []
    for control in root.locator(CONTROLS).all():
        # A checkbox shows its description beside the box (`.widget-label-basic`), the others before it.
        labels = control.locator("label.widget-label, .widget-label-basic")
        texts = [label.inner_text().strip() for label in labels.all() if label.is_visible()]
        if not any(texts):
            missing.append(control.evaluate("e => e.outerHTML.slice(0, 200)"))
    return missing


def corner_luminance(png: bytes, inset: int = 3) -> list[float]:
    """Mean of R, G, B (0-255) at the four corners of a PNG screenshot, `inset` pixels in."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    w, h = image.size
    points = [(inset, inset), (w - 1 - inset, inset), (inset, h - 1 - inset), (w - 1 - inset, h - 1 - inset)]
    return [sum(image.getpixel(p)) / 3 for p in points]


def corner_alpha(png: bytes, inset: int = 1) -> list[int]:
    """Alpha (0 transparent - 255 opaque) at the four corners of a PNG image itself."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGBA")
    w, h = image.size
    points = [(inset, inset), (w - 1 - inset, inset), (inset, h - 1 - inset), (w - 1 - inset, h - 1 - inset)]
    return [image.getpixel(p)[3] for p in points]


def image_bytes(img: Locator) -> bytes:
    """The PNG behind an `<img>` whose src is a data URL (how Jupyter shows figures)."""
    src = img.get_attribute("src") or ""
    assert src.startswith("data:image/png;base64,"), f"not an inline PNG: {src[:60]!r}"
    return base64.b64decode(src.split(",", 1)[1])


def assert_figure_readable(img: Locator, where: str, light_threshold: float = 200) -> None:
    """A figure is opaque (its PNG has no transparent corners) and shows light corners on screen.

    JupyterLab puts a light backing behind a transparent figure it recognises, but
    the standalone app, exported HTML and other front ends may not; so the PNG itself
    must be opaque, and what the screen shows must be light.
    """
    alpha = corner_alpha(image_bytes(img))
    assert min(alpha) == 255, f"{where}: the figure's background is transparent (corner alpha {alpha})"
    img.scroll_into_view_if_needed()
    shown = corner_luminance(img.screenshot())
    assert min(shown) >= light_threshold, f"{where}: the figure's corners show dark on screen {shown}"


class Calculator:
    """One calculator on the page, found by the description of one of its controls.

    Descriptions match whole ("Model" finds "Model:", not "API model:"), ignoring a trailing colon.
    """

    def __init__(self, page: Page, control_description: str, verdict_fallback: str | None = None,
                 without: str | None = None, chart: str = ".widget-output img"):
        self.page = page
        # The output area that holds the whole widget tree (a calculator is one displayed container);
        # `without` tells apart calculators that share a control ("Quantization" with no "Device").
        areas = page.locator(".jp-OutputArea-output").filter(has=self._label(control_description))
        if without:
            areas = areas.filter(has_not=self._label(without))
        self.root = areas.last
        self.verdict_fallback = verdict_fallback
        self.chart = chart  # a figure's <img>, or for a calculator that answers with a table, that table

    def _label(self, description: str) -> Locator:
        exact = re.compile(r"^\s*" + re.escape(description.rstrip(":")) + r"\s*:?\s*$")
        return self.page.locator("label.widget-label", has_text=exact)

    def _control(self, kind: str, description: str) -> Locator:
        control = self.root.locator(kind).filter(has=self._label(description))
        expect(control, f"no {kind} labelled {description!r} in this calculator").to_have_count(1)
        return control

    def dropdown(self, description: str) -> Locator:
        return self._control(".widget-dropdown", description).locator("select")

    def slider_handle(self, description: str) -> Locator:
        return self._control(".widget-slider", description).locator(".noUi-handle")

    def slider_readout(self, description: str) -> Locator:
        return self._control(".widget-slider", description).locator(".widget-readout")

    @property
    def verdict(self) -> Locator:
        tagged = self.root.locator(".llm-course-verdict")
        if tagged.count() or not self.verdict_fallback:
            return tagged.first
        return self.root.locator(".widget-html", has_text=self.verdict_fallback).first

    @property
    def figure(self) -> Locator:
        return self.root.locator(self.chart).first

    def figure_src(self) -> str:
        """What the chart shows: a figure's PNG data URL, or a table's text."""
        expect(self.figure).to_be_visible()
        if self.chart.endswith("img"):
            return self.figure.get_attribute("src") or ""
        return self.figure.inner_text()

    def verdict_text(self) -> str:
        expect(self.verdict).to_be_visible()
        return self.verdict.inner_text().strip()

    def choose_next(self, description: str) -> str:
        """Pick the dropdown's next option (wrapping round), as a person does from its list; return its text.

        (A native `<select>` is keyboard-operable by the browser itself; headless Chromium opens
        its list on ArrowDown instead of stepping, so the choice is made with `select_option`.)
        """
        select = self.dropdown(description)
        before = select.input_value()
        count = select.locator("option").count()
        assert count > 1, f"the {description!r} dropdown offers {count} option(s): nothing to choose"
        index = select.evaluate("s => s.selectedIndex")
        select.select_option(index=(index + 1) % count)
        expect(select).not_to_have_value(before)
        return select.evaluate("s => s.options[s.selectedIndex].text").replace("\xa0", " ")  # ipywidgets uses &nbsp;

    def choose_index(self, description: str, index: int) -> str:
        """Pick a dropdown's option by position; return its text."""
        select = self.dropdown(description)
        select.select_option(index=index)
        expect(select).to_have_js_property("selectedIndex", index)
        return select.evaluate("s => s.options[s.selectedIndex].text").replace("\xa0", " ")  # ipywidgets uses &nbsp;

    def text_box(self, description: str) -> Locator:
        return self._control(".widget-text", description).locator("input")

    def type_into(self, description: str, text: str) -> None:
        """Replace a text/number box's content and press Enter, as a person types a value."""
        box = self.text_box(description)
        box.fill(text)
        box.press("Enter")

    def type_readout(self, description: str, value: str) -> str:
        """Type a value into a slider's readout (ipywidgets makes it editable) and press Enter; return the readout."""
        readout = self.slider_readout(description)
        before = readout.inner_text()
        readout.click()
        self.page.keyboard.press("Control+A")
        self.page.keyboard.type(value)
        self.page.keyboard.press("Enter")
        expect(readout).not_to_have_text(before)
        return readout.inner_text()

    def press_slider(self, description: str, key: str = "ArrowRight", times: int = 5) -> str:
        """Move a slider with the keyboard as a person would; return the new readout."""
        readout = self.slider_readout(description)
        before = readout.inner_text()
        handle = self.slider_handle(description)
        handle.focus()
        for _ in range(times):
            handle.press(key)
        expect(readout).not_to_have_text(before)
        return readout.inner_text()

    def wait_changed(self, verdict_before: str, figure_before: str | None, what: str, timeout: float = 30) -> None:
        """Wait until the verdict text and the chart both differ from before and have settled.

        One action can queue several redraws (each arrow-key step is a change), so "changed"
        alone could catch the first of them; settled means unchanged over a second.
        `figure_before=None`: only the verdict must change (a step too small to move a line by a pixel).
        """
        deadline = time.monotonic() + timeout
        last, steady_since = None, None
        while time.monotonic() < deadline:
            now = (self.verdict_text(), self.figure_src())
            changed = now[0] != verdict_before and (figure_before is None or now[1] != figure_before)
            if changed and now == last:
                if time.monotonic() - steady_since >= 1.0:
                    return
            else:
                last, steady_since = now, time.monotonic()
            self.page.wait_for_timeout(200)
        stale = [
            name for name, same in (("verdict", now[0] == verdict_before), ("chart", now[1] == figure_before)) if same
        ]
        raise AssertionError(f"after {what}, the {' and the '.join(stale) or 'page'} did not "
                             f"{'change' if stale else 'settle'} within {timeout:.0f} s (verdict: {now[0]!r})")

    def check_figure_fits_and_is_opaque(self, light_threshold: float = 200) -> None:
        """The chart fits a laptop-wide window; a figure also has an opaque light background (readable in any theme)."""
        expect(self.figure).to_be_visible()
        box = self.figure.bounding_box()
        viewport = self.page.viewport_size
        assert box and box["width"] > 100, f"the chart is missing or tiny: {box}"
        assert box["x"] + box["width"] <= viewport["width"], (
            f"the chart ({box['width']:.0f} px wide at x={box['x']:.0f}) overflows a {viewport['width']} px window")
        if self.chart.endswith("img"):
            assert_figure_readable(self.figure, "the calculator's chart", light_threshold)

    def screenshot(self, path: Path) -> Path:
        self.root.scroll_into_view_if_needed()
        self.root.screenshot(path=str(path))
        return path


class LabPage:
    def __init__(self, page: Page, lab):
        self.page = page
        self.lab = lab

    def open(self, notebook: str) -> Page:
        """Open a notebook (path relative to the server's root) in a fresh workspace; wait for its kernel."""
        self.page.goto(self.lab.url(f"/lab/tree/{notebook}?reset"))
        expect(self.page.locator(".jp-Notebook")).to_be_visible(timeout=60_000)
        self.wait_kernel_idle(timeout=60_000)
        return self.page

    def wait_kernel_idle(self, timeout: float = RUN_TIMEOUT_MS) -> None:
        self.page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=timeout)
        expect(self.page.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute(
            "data-status", "idle", timeout=timeout)

    def menu(self, menu: str, item: str) -> None:
        self.page.locator(f".lm-MenuBar-itemLabel:text-is('{menu}')").click()
        self.page.locator(f".lm-Menu-itemLabel:text-is('{item}')").click()

    def prompts(self) -> list[str]:
        return [p.strip() for p in self.page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()]

    def run_all(self) -> float:
        """Clear the committed outputs, run every cell, wait until the kernel is done; return seconds taken.

        Clearing first means every output checked afterwards came from this run, not from the file.
        """
        self.menu("Edit", "Clear Outputs of All Cells")
        expect(self.page.locator(".jp-CodeCell .jp-OutputArea-output")).to_have_count(0)
        start = time.monotonic()
        self.menu("Run", "Run All Cells")
        # Done: no cell queued or running ([*]), the first cell has run, and the kernel is idle.
        self.page.wait_for_function(
            """() => {
                const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(e => e.textContent);
                const indicator = document.querySelector('.jp-Notebook-ExecutionIndicator');
                return prompts.length > 0 && /\\[\\d+\\]/.test(prompts[0]) && !prompts.some(p => p.includes('*'))
                    && indicator && indicator.dataset.status === 'idle';
            }""", timeout=RUN_TIMEOUT_MS, polling=500)
        return time.monotonic() - start

    def unrun_cells(self) -> list[int]:
        """Indices of code cells that did not run (execution stops at the first error)."""
        return [i for i, p in enumerate(self.prompts()) if not re.search(r"\[\d+\]", p)]

    def assert_clean(self) -> None:
        problems = error_outputs(self.page)
        assert not problems, "the notebook shows errors:\n" + "\n---\n".join(problems)
        assert not self.unrun_cells(), f"code cells {self.unrun_cells()} did not run"
