"""Fixtures for the real-browser tests: one JupyterLab per session, Debian's headless Chromium.

Playwright drives the system browser (`/usr/bin/chromium`, installed by
`tools/ensure_chromium.sh`); it never downloads one. Without the browser (or
without Playwright) every test here is skipped with the reason, except under
`CI=true`, where a missing browser is an error: CI must exercise the widgets.

JupyterLab runs on 127.0.0.1 with a random token, a private settings folder and
a copy of the notebooks (so autosave never touches the committed files), and is
stopped by its pid at the end of the session, also after a failure.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from browser_support import SERVER_LOGS, VIEWPORT, free_port, log_tail, stop_process, wait_http_ok

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# User settings for the session's JupyterLab: no news/update toasts over the widgets, and every
# cell kept in the page (JupyterLab's windowing would drop cells scrolled out of view), and the
# notebook's kernel started without a "Select Kernel" dialog.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "windowingMode": "none",
        "autoStartDefaultKernel": True,
    },
}
THEME_SETTINGS = "@jupyterlab/apputils-extension/themes.jupyterlab-settings"

# The fixture notebooks are opened in the browser, not run by nbval (they have no committed outputs).
collect_ignore_glob = ["fixtures/*"]


def missing_browser_reason() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: run `bash tools/ensure_chromium.sh` as root (Debian's chromium package)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is missing: run `pip install -e '.[test]'`"
    return None


def pytest_collection_modifyitems(config, items):
    reason = missing_browser_reason()
    in_ci = os.environ.get("CI") == "true"
    for item in items:
        if HERE not in Path(str(item.fspath)).parents:
            continue
        item.add_marker(pytest.mark.browser)
        item.add_marker(pytest.mark.slow)
        if reason and not in_ci:  # under CI the `browser` fixture fails loudly instead
            item.add_marker(pytest.mark.skip(reason=f"browser test skipped: {reason}"))


@dataclass
class Lab:
    base_url: str
    token: str
    root: Path
    settings_dir: Path

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}{path}{sep}token={self.token}"

    def api(self, method: str, path: str):
        request = urllib.request.Request(self.url(path), method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        import json

        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        for session in self.api("GET", "/api/sessions"):
            self.api("DELETE", f"/api/sessions/{session['id']}")

    def set_theme(self, theme: str | None) -> None:
        """Set JupyterLab's theme for pages opened from now on (None: the default, light)."""
        path = self.settings_dir / THEME_SETTINGS
        if theme is None:
            path.unlink(missing_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f'{{"theme": "{theme}"}}')


@pytest.fixture(scope="session")
def lab(tmp_path_factory, browser):
    """JupyterLab on 127.0.0.1, token-protected, serving a copy of the notebooks and the test fixtures."""
    import json

    work = tmp_path_factory.mktemp("lab")
    root = work / "root"
    shutil.copytree(ROOT / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copytree(HERE / "fixtures", root / "fixtures")
    settings = work / "settings"
    for name, values in LAB_SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    token, port = secrets.token_hex(16), free_port()
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={work / 'workspaces'}"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI run as root; JupyterLab refuses it otherwise
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(work / "config"), JUPYTER_RUNTIME_DIR=str(work / "runtime"),
               JUPYTER_PLATFORM_DIRS="1")
    # The kernels share the cores with Chromium and this server: llama.cpp's OpenMP threads must sleep, not
    # spin, while they wait (as course_lib.runtime does for its servers), or the notebooks run several times slower.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    log = work / "jupyterlab.log"
    SERVER_LOGS["JupyterLab"] = log
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                cwd=root, start_new_session=True)
    try:
        lab = Lab(f"http://127.0.0.1:{port}", token, root, settings)
        wait_http_ok(lab.url("/lab"), proc, log)
        yield lab
    finally:
        stop_process(proc)
        SERVER_LOGS.pop("JupyterLab", None)


@pytest.fixture(scope="session")
def browser():
    reason = missing_browser_reason()
    if reason:
        pytest.fail(f"CI=true and the browser tests cannot run: {reason}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.browser_call_failed = report.failed
    if report.failed:  # what the servers said is often the only clue to a page that never finished
        for name, path in SERVER_LOGS.items():
            report.sections.append((f"{name} log ({path})", log_tail(path)))


@pytest.fixture()
def page(request, browser, screenshots):
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    context.set_default_timeout(30_000)
    page = context.new_page()
    yield page
    if getattr(request.node, "browser_call_failed", False):  # what the page showed when the test failed
        try:
            page.screenshot(path=str(screenshots / f"FAILED_{request.node.name}.png"), full_page=True)
        except Exception as exc:  # the page may be gone; the test's own error matters more
            print(f"no failure screenshot: {exc}")
    context.close()


@pytest.fixture()
def lab_page(lab, page):
    """A browser tab on the session's JupyterLab; the tab's kernels are shut down afterwards."""
    from lab_helpers import LabPage

    yield LabPage(page, lab)
    lab.set_theme(None)
    lab.shutdown_kernels()


@pytest.fixture(scope="session")
def screenshots():
    """test-artifacts/screenshots/, emptied once per session so it shows this run only."""
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    return SCREENSHOTS
