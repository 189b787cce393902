"""The course's calculators as a standalone web page: `llm-course app`.

Many people only want the calculators (Will it fit?, the KV-cache explorer, which
GPU, CPU offload, the cost break-even, the quantization explorer), not the
notebooks around them. The quantization explorer is the one that reads a model
file; it comes last, so that the page's other calculators work without one.
`course_lib/data/calculators.ipynb` displays the same widget functions the
notebooks use, and Voilà serves it as a page with the code cells stripped: live
widgets, a kernel per visitor, no code to read or edit. Browser-tested in
tests/browser/test_browser_app.py.

The server binds to 127.0.0.1 only and asks for a random token, which is part
of the URL it prints.
"""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

from course_lib.errors import CourseError
from course_lib.runtime.server import LOCALHOST, ManagedServer, port_in_use, run_in_foreground

DEFAULT_PORT = 8866  # Voilà's own default
CELL_TIMEOUT_S = 120


def calculators_notebook() -> Path:
    """The app's notebook, shipped inside the package (so an installed `llm-course` finds it)."""
    path = Path(str(resources.files("course_lib") / "data" / "calculators.ipynb"))
    if not path.is_file():
        raise CourseError(f"the calculators notebook is missing from the installed course: {path}")
    return path


def _require_voila() -> None:
    try:
        import voila  # noqa: F401
    except ImportError:
        raise CourseError("Voilà is not installed: run `pip install voila` (or `python3 course.py lab`, "
                          "which installs it)") from None


class CalculatorApp(ManagedServer):
    """Voilà serving the calculators notebook on 127.0.0.1 in a child process we own."""

    engine = "calculators app (Voilà)"

    def __init__(self, port: int | None = DEFAULT_PORT, token: str | None = None, notebook: Path | None = None,
                 startup_timeout: float = 60.0, cell_timeout: int = CELL_TIMEOUT_S):
        super().__init__(port=port, host=LOCALHOST, startup_timeout=startup_timeout)
        self.cell_timeout = int(cell_timeout)
        self.notebook = Path(notebook) if notebook else calculators_notebook()
        self.token = secrets.token_urlsafe(16) if token is None else token

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "voila", str(self.notebook), "--no-browser", f"--port={self.port}",
               f"--Voila.ip={self.host}", "--theme=light",
               "--VoilaConfiguration.strip_sources=True",
               # Every cell takes seconds; one that hangs shows an error instead of an endless spinner.
               f"--VoilaExecutor.timeout={self.cell_timeout}",
               "--VoilaExecutor.cell_timeout_instruction=Reload the page to try again; "
               "the terminal running `llm-course app` shows where Voilà's log is."]
        if self.token:
            cmd.append(f"--Voila.token={self.token}")
        return cmd

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def url(self) -> str:
        """What to open in a browser (with the token when there is one)."""
        return self.base_url + (f"?token={self.token}" if self.token else "")

    def start(self) -> "CalculatorApp":
        _require_voila()
        return super().start()

    def wait_ready(self, timeout: float) -> None:
        # Ready when the port accepts connections: a GET of the page would start a kernel and run the notebook.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CourseError(f"the {self.engine} exited with code {self.process.returncode} before answering: "
                                  f"{self.last_log_line()}")
            if port_in_use(self.port, self.host):
                return
            time.sleep(0.25)
        raise CourseError(f"the {self.engine} did not listen on {self.base_url} within {timeout:.0f} s "
                          f"(log: {self.log_path})")

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # SIGINT would make the Jupyter server ask for confirmation
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        super().stop(timeout)  # kills what is left, closes the log


def serve(port: int = DEFAULT_PORT, token: str | None = None) -> int:
    """Run the app until Ctrl-C; print its URL once it listens. Returns an exit code."""
    return run_in_foreground(
        CalculatorApp(port=port, token=token),
        lambda app: (
            f"the course calculators are at {app.url} (on this machine only); Ctrl-C to stop\n"
            f"Voilà's log: {app.log_path}"
        ),
    )
