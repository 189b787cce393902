"""The course's calculators in JupyterLab, in headless Chromium, operated as a person would.

Each test opens a teaching notebook, clears its committed outputs, runs all
cells, checks that nothing shows an error and every widget rendered, then uses
the calculator: another choice in a dropdown (keyboard: focus, ArrowDown), a
slider moved with the arrow keys. The verdict text and the chart (the figure's
PNG) must change the way the arithmetic says. A screenshot of each calculator
goes to test-artifacts/screenshots/.
"""

from __future__ import annotations

import re

import nbformat
import pytest
from lab_helpers import Calculator, assert_figure_readable, unlabelled_controls
from playwright.sync_api import expect

from conftest import ROOT


def dollars(verdict: str, label: str) -> float:
    """The dollar amount after `label:` in a verdict, e.g. 'API: $1,650/month' -> 1650.0."""
    match = re.search(rf"{label}:\s*\$([\d,.]+)", verdict)
    assert match, f"no '{label}: $...' in the verdict {verdict!r}"
    return float(match.group(1).replace(",", ""))


def test_cost_calculator_in_notebook_00(lab_page, screenshots):
    page = lab_page.open("notebooks/00_start_here.ipynb")
    lab_page.run_all()
    lab_page.assert_clean()

    calc = Calculator(page, "Requests per day", verdict_fallback="Break-even")
    assert not unlabelled_controls(calc.root), unlabelled_controls(calc.root)
    verdict, figure = calc.verdict_text(), calc.figure_src()
    api, own = dollars(verdict, "API"), dollars(verdict, "Self-hosted")

    chosen = calc.choose_next("API model")
    calc.wait_changed(verdict, figure, f"choosing the API model {chosen!r}")
    verdict, figure = calc.verdict_text(), calc.figure_src()
    assert dollars(verdict, "API") > api, f"{chosen} is dearer than the first API, but the bill did not grow: {verdict}"
    assert dollars(verdict, "Self-hosted") == own, "changing the API must not change the self-hosted bill"
    api = dollars(verdict, "API")

    requests_before = int(calc.slider_readout("Requests per day").inner_text().replace(",", ""))
    requests_after = int(calc.press_slider("Requests per day", "ArrowRight", 5).replace(",", ""))
    assert requests_after > requests_before
    calc.wait_changed(verdict, figure, "moving the requests-per-day slider")
    verdict, figure = calc.verdict_text(), calc.figure_src()
    # The API bill is proportional to traffic (the dollar figures are rounded to whole dollars).
    assert dollars(verdict, "API") == pytest.approx(api * requests_after / requests_before, abs=1)

    chosen = calc.choose_next("Self-hosted setup")
    calc.wait_changed(verdict, figure, f"choosing the self-hosted setup {chosen!r}")
    assert dollars(calc.verdict_text(), "Self-hosted") != own

    calc.check_figure_fits_and_is_opaque()
    calc.screenshot(screenshots / "nb00_cost_break_even.png")
    lab_page.assert_clean()  # operating the calculator raised nothing either


def notebooks_with_figures() -> list[str]:
    found = []
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
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
    for name in notebooks_with_figures():  # the committed figures, as a learner first sees them
        lab_page.open(f"notebooks/{name}")
        images = page.locator(".jp-OutputArea-output img")
        expect(images.first).to_be_visible()
        for i in range(images.count()):
            try:
                assert_figure_readable(images.nth(i), f"{name} figure {i + 1}")
            except AssertionError as exc:
                unreadable.append(str(exc))
    assert not unreadable, "figures unreadable in the dark theme:\n" + "\n".join(unreadable)
