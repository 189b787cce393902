"""`llm-course app`: the calculators as a standalone page, started as a user would and used in Chromium."""

from __future__ import annotations

import http.client
import re
import selectors
import subprocess
import sys
import time
from pathlib import Path

import pytest
from browser_support import SERVER_LOGS, VIEWPORT, stop_process
from calculator_checks import check_cost, check_fit, check_gpu_chooser, check_kv, check_offload, check_quant_explorer
from lab_helpers import Calculator, error_outputs, unlabelled_controls
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from course_lib.widgets.app import CELL_TIMEOUT_S

LLM_COURSE = Path(sys.executable).with_name("llm-course")


@pytest.fixture(scope="module")
def app_url(browser):
    """Start `llm-course app --port 0` and return the URL it prints; stopped by its pid afterwards."""
    proc = subprocess.Popen([str(LLM_COURSE), "app", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        printed, deadline = [], time.monotonic() + 90
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline and not any("http://" in line for line in printed):
                if proc.poll() is not None:
                    printed += proc.stdout.readlines()
                    pytest.fail(f"llm-course app exited with {proc.returncode}: {''.join(printed)}")
                if sel.select(timeout=1):
                    printed.append(proc.stdout.readline())
        found = re.search(r"http://\S+", "".join(printed))
        assert found, f"llm-course app printed no URL within 90 s: {''.join(printed)!r}"
        if log_line := re.search(r"log: (\S+)", proc.stdout.readline()):
            SERVER_LOGS["Voilà"] = Path(log_line.group(1))
        yield found.group(0)
    finally:
        stop_process(proc)
        SERVER_LOGS.pop("Voilà", None)


def test_app_prints_a_loopback_url_with_a_token(app_url):
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\?token=[\w-]{16,}", app_url), app_url
    # Without the token the page is not served: Voilà sends the visitor to its login form.
    host, port = re.match(r"http://([\d.]+):(\d+)/", app_url).groups()
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.request("GET", "/")
    response = connection.getresponse()
    assert response.status == 302 and "/login" in response.getheader("Location", ""), (
        f"without the token the page answered {response.status} {response.getheader('Location')}")
    connection.close()


# (a control only that calculator has, the check, the screenshot's file name)
APP_CALCULATORS = [
    (dict(control_description="Device"), check_fit, "app_will_it_fit.png"),
    (dict(control_description="GPU / device"), check_kv, "app_kv_explorer.png"),
    (dict(control_description="Tensor"), check_quant_explorer, "app_quant_explorer.png"),
    (dict(control_description="Quantization", without="Device", chart="table"), check_gpu_chooser,
     "app_gpu_chooser.png"),
    (dict(control_description="System RAM"), check_offload, "app_cpu_offload.png"),
    (dict(control_description="Requests per day", verdict_fallback="Break-even"), check_cost,
     "app_cost_break_even.png"),
]


@pytest.fixture(scope="module")
def app_page(app_url, browser, screenshots):
    """One visit to the app for all its calculators (each visit runs the notebook in a new kernel)."""
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(app_url, wait_until="commit", timeout=120_000)  # Voilà streams the page while the notebook runs
    # Voilà removes its "Executing N of M" spinner when the last cell has run, or has hit the app's per-cell limit.
    try:
        page.wait_for_function("() => !document.getElementById('loading')", timeout=(CELL_TIMEOUT_S + 90) * 1000)
    except PlaywrightTimeoutError:
        spinner = page.locator("#loading").inner_text(timeout=5_000)
        context.close()
        pytest.fail(f"the app's page never finished loading; it still shows {spinner!r} (Voilà's log is below)")
    yield page
    context.close()


def test_app_page_has_no_code_and_no_errors(app_page, screenshots):
    page = app_page
    assert not error_outputs(page), error_outputs(page)
    for find, _, _ in APP_CALCULATORS:  # the notebook has run: every chart is there or soon drawn
        expect(Calculator(page, **find).figure).to_be_visible(timeout=30_000)
    assert page.locator(".jp-CodeCell .jp-InputArea, .cm-editor").count() == 0, "the app shows code cells"
    text = page.locator("body").inner_text()
    assert "from course_lib" not in text and "_widget(" not in text, "the app shows code"
    assert not unlabelled_controls(page.locator("body")), unlabelled_controls(page.locator("body"))
    page.screenshot(path=str(screenshots / "app_full_page.png"), full_page=True)


@pytest.mark.parametrize("find, check, screenshot", APP_CALCULATORS, ids=[c[1].__name__[6:] for c in APP_CALCULATORS])
def test_app_calculator(app_page, screenshots, find, check, screenshot):
    calc = Calculator(app_page, **find)
    expect(calc.figure).to_be_visible(timeout=30_000)
    check(calc)
    calc.check_figure_fits_and_is_opaque()
    calc.screenshot(screenshots / screenshot)
    assert not error_outputs(app_page), error_outputs(app_page)


def test_app_refuses_a_busy_or_invalid_port():
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([str(LLM_COURSE), "app", "--port", str(port)], capture_output=True, text=True,
                                timeout=60)
    assert result.returncode == 2, result
    assert result.stderr.count("\n") == 1 and f"port {port}" in result.stderr and "in use" in result.stderr, (
        result.stderr
    )
    result = subprocess.run([str(LLM_COURSE), "app", "--port", "70000"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "65535" in result.stderr, result.stderr


def test_a_hanging_cell_ends_in_an_error_not_an_endless_spinner(browser):
    """A page whose cell never returns shows Voilà's timeout error (the app sets a per-cell limit)."""
    from course_lib.widgets.app import CalculatorApp

    fixture = Path(__file__).with_name("fixtures") / "hanging_cell.ipynb"
    with CalculatorApp(port=None, notebook=fixture, cell_timeout=3) as app:
        context = browser.new_context(viewport=VIEWPORT)
        try:
            page = context.new_page()
            page.goto(app.url, wait_until="commit", timeout=60_000)
            expect(page.get_by_text("Cell execution timed out")).to_be_visible(timeout=60_000)
            expect(page.get_by_text("Reload the page to try again")).to_be_visible()
            expect(page.get_by_text("never reached")).to_have_count(0)
        finally:
            context.close()
