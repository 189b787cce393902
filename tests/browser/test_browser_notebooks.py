"""The course's calculators in JupyterLab, in headless Chromium, operated as a person would.

Each test opens a teaching notebook, clears its committed outputs, runs all
cells, checks that nothing shows an error and every widget rendered, then uses
the calculator: another model/device/type in a dropdown, a slider moved with
the arrow keys, a typed value. The verdict text and the chart (the figure's
PNG) must change the way the arithmetic says. A screenshot of each calculator
goes to test-artifacts/screenshots/.
"""

from __future__ import annotations

import nbformat
import pytest
from calculator_checks import check_cost, check_fit, check_kv
from lab_helpers import Calculator, assert_figure_readable
from playwright.sync_api import expect


# (notebook, a control that identifies its calculator, the check, the screenshot's file name)
CALCULATORS = [
    ("00_start_here.ipynb", "Requests per day", check_cost, "nb00_cost_break_even.png"),
    ("01_memory_math.ipynb", "Quantization", check_fit, "nb01_will_it_fit.png"),
    ("03_kv_cache_growth.ipynb", "GPU / device", check_kv, "nb03_kv_explorer.png"),
]


@pytest.mark.parametrize("notebook, control, check, screenshot", CALCULATORS, ids=[c[0][:2] + "-" + c[2].__name__[6:]
                                                                                   for c in CALCULATORS])
def test_calculator_in_notebook(lab_page, screenshots, notebook, control, check, screenshot):
    page = lab_page.open(f"notebooks/{notebook}")
    lab_page.run_all()
    lab_page.assert_clean()  # every cell ran, no traceback, every widget rendered

    calc = Calculator(page, control, verdict_fallback="Break-even")
    check(calc)
    calc.check_figure_fits_and_is_opaque()
    calc.screenshot(screenshots / screenshot)
    lab_page.assert_clean()  # operating the calculator raised nothing either


def notebooks_with_figures(folder) -> list[str]:
    found = []
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        if any("image/png" in out.get("data", {}) for cell in nb.cells if cell.cell_type == "code"
               for out in cell.get("outputs", [])):
            found.append(path.name)
    return found


def test_dark_theme_keeps_figures_readable(lab, lab_page, screenshots):
    """In JupyterLab Dark, a calculator's chart and every committed figure keep an opaque light background."""
    lab.set_theme("JupyterLab Dark")
    page = lab_page.open("fixtures/cost_widget.ipynb")
    expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "false")
    lab_page.run_all()
    lab_page.assert_clean()
    calc = Calculator(page, "Requests per day", verdict_fallback="Break-even")
    verdict, figure = calc.verdict_text(), calc.figure_src()
    calc.press_slider("Requests per day", "ArrowRight", 3)
    calc.wait_changed(verdict, figure, "moving the requests-per-day slider in the dark theme")
    calc.check_figure_fits_and_is_opaque()
    calc.screenshot(screenshots / "dark_theme_cost_break_even.png")

    unreadable = []
    for name in notebooks_with_figures(lab.root / "notebooks"):  # the committed figures, as a learner first sees them
        lab_page.open(f"notebooks/{name}")
        images = page.locator(".jp-OutputArea-output img")
        expect(images.first).to_be_visible()
        for i in range(images.count()):
            try:
                assert_figure_readable(images.nth(i), f"{name} figure {i + 1}")
            except AssertionError as exc:
                unreadable.append(str(exc))
    assert not unreadable, "figures unreadable in the dark theme:\n" + "\n".join(unreadable)
