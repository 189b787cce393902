"""The course's calculators in JupyterLab, in headless Chromium, operated as a person would.

Each test opens a teaching notebook, clears its committed outputs, runs all
cells, checks that nothing shows an error and every widget rendered, then uses
the calculator: another model/device/type in a dropdown, a slider moved with
the arrow keys, a typed value. The verdict text and the chart (the figure's
PNG) must change the way the arithmetic says. A screenshot of each calculator
goes to test-artifacts/screenshots/.
"""

from __future__ import annotations

import base64

import nbformat
import pytest
from calculator_checks import check_cost, check_fit, check_gpu_chooser, check_kv, check_offload, check_quant_explorer
from lab_helpers import Calculator, assert_figure_readable, corner_alpha
from playwright.sync_api import expect

# Notebook -> its calculators: (how to find it: a control only it has, the check, the screenshot's file name).
NOTEBOOKS = {
    "00_start_here.ipynb": [
        (dict(control_description="Requests per day", verdict_fallback="Break-even"), check_cost,
         "nb00_cost_break_even.png")],
    "01_memory_math.ipynb": [(dict(control_description="Device"), check_fit, "nb01_will_it_fit.png")],
    "02_quantization_from_scratch.ipynb": [
        (dict(control_description="Tensor"), check_quant_explorer, "nb02_quant_explorer.png")],
    "03_kv_cache_growth.ipynb": [(dict(control_description="GPU / device"), check_kv, "nb03_kv_explorer.png")],
    "07_choosing_your_setup.ipynb": [
        (dict(control_description="Quantization", chart="table", without="Learners"), check_gpu_chooser,
         "nb07_gpu_chooser.png"),
        (dict(control_description="System RAM"), check_offload, "nb07_cpu_offload.png")],
}


@pytest.mark.parametrize("notebook", list(NOTEBOOKS), ids=[name[:2] for name in NOTEBOOKS])
def test_calculators_in_notebook(lab_page, screenshots, notebook):
    page = lab_page.open(f"notebooks/{notebook}")
    lab_page.run_all()
    lab_page.assert_clean()  # every cell ran, no traceback, every widget rendered

    for find, check, screenshot in NOTEBOOKS[notebook]:
        calc = Calculator(page, **find)
        calc.root.scroll_into_view_if_needed()
        check(calc)
        calc.check_figure_fits_and_is_opaque()
        calc.screenshot(screenshots / screenshot)
    lab_page.assert_clean()  # operating the calculators raised nothing either


def committed_figures(folder) -> dict[str, list[bytes]]:
    """Every PNG in the notebooks' committed outputs, by notebook file name."""
    found = {}
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        pngs = [base64.b64decode(out["data"]["image/png"]) for cell in nb.cells if cell.cell_type == "code"
                for out in cell.get("outputs", []) if "image/png" in out.get("data", {})]
        if pngs:
            found[path.name] = pngs
    return found


def test_dark_theme_keeps_figures_readable(lab, lab_page, screenshots):
    """In JupyterLab Dark, a calculator's chart and the committed figures keep an opaque light background."""
    lab.set_theme("JupyterLab Dark")
    page = lab_page.open("fixtures/cost_widget.ipynb")
    expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "false")
    lab_page.run_all()
    lab_page.assert_clean()
    calc = Calculator(page, "Requests per day", verdict_fallback="Break-even")
    verdict, figure = calc.verdict_text(), calc.figure_src()
    calc.type_readout("Requests per day", "60000")
    calc.wait_changed(verdict, figure, "typing the requests per day in the dark theme")
    calc.check_figure_fits_and_is_opaque()
    calc.screenshot(screenshots / "dark_theme_cost_break_even.png")

    # Every committed figure's PNG is opaque (what any front end shows)...
    figures = committed_figures(lab.root / "notebooks")
    transparent = [f"{name} figure {i + 1}: corner alpha {corner_alpha(png)}" for name, pngs in figures.items()
                   for i, png in enumerate(pngs) if min(corner_alpha(png)) < 255]
    assert not transparent, "committed figures with a transparent background:\n" + "\n".join(transparent)
    # ...and one notebook's figures, as JupyterLab Dark shows them, have light corners on screen.
    assert figures, "no committed figures to look at"
    name = next(iter(figures))
    lab_page.open(f"notebooks/{name}")
    images = page.locator(".jp-OutputArea-output img")
    expect(images.first).to_be_visible()
    for i in range(images.count()):
        assert_figure_readable(images.nth(i), f"{name} figure {i + 1} in the dark theme")
    images.first.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / f"dark_theme_{name.removesuffix('.ipynb')}.png"))
