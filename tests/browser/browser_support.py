"""Processes and constants the browser tests share.

No Playwright import here: the suite must skip cleanly without it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

# A laptop's screen: the calculators and their figures must fit it.
VIEWPORT = {"width": 1366, "height": 768}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http_ok(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{proc.args[2]} exited with {proc.returncode} before answering; log tail:\n{tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"no answer from {url.split('?')[0]} within {timeout:.0f} s; log tail:\n{tail(log)}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_process(proc: subprocess.Popen) -> None:
    """Stop a server we started, by its pid (a Jupyter server shuts its kernels down on SIGTERM)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of the process group we created
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait(timeout=10)


# Logs of servers the tests started; a failed browser test shows their tails (see conftest.py).
SERVER_LOGS: dict[str, Path] = {}


def log_tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no log: {exc})"
