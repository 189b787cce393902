"""Starting, probing and stopping OpenAI-compatible servers on this machine.

Derived in notebook 05 (serving) and used by notebook 06 (benchmarking).

The server runs in a child process bound to 127.0.0.1. It is stopped by
`stop()`, by leaving a `with` block, when the Python process exits, and, on
Linux, by the kernel itself if our process dies without cleaning up
(PR_SET_PDEATHSIG), so a failed notebook cell never leaves an orphan holding
a port and 300 MB of RAM.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
import weakref
from dataclasses import dataclass
from pathlib import Path

from course_lib.errors import CourseError
from course_lib.runtime.engine import chat_format_for
from course_lib.runtime.machine import usable_cores
from course_lib.runtime.models import model_path

LOCALHOST = "127.0.0.1"

def free_port(host: str = LOCALHOST) -> int:
    """A TCP port nobody is listening on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_in_use(port: int, host: str = LOCALHOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def check_port(port: int) -> int:
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise CourseError(f"port must be a whole number from 1 to 65535, got {port!r}")
    return port


@dataclass
class EndpointStatus:
    """What we learned from one OpenAI-compatible base URL."""

    name: str
    base_url: str
    reachable: bool
    models: list[str]
    detail: str

    def __str__(self) -> str:
        if self.reachable:
            return f"{self.name:<24} {self.base_url:<28} up: {', '.join(self.models) or '(no models listed)'}"
        return f"{self.name:<24} {self.base_url:<28} not reachable ({self.detail})"


def check_base_url(base_url: str) -> str:
    """`base_url` if it is an http(s) URL with a host, else a one-line CourseError showing the shape wanted."""
    parts = urllib.parse.urlsplit(str(base_url))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CourseError(f"not a server address: {base_url!r}; give one like http://127.0.0.1:8080/v1")
    return str(base_url)


def probe_endpoint(base_url: str, name: str = "", timeout: float = 2.0, api_key: str | None = None) -> EndpointStatus:
    """GET {base_url}/models and report what answered; never raises for a dead endpoint (only for a bad URL)."""
    url = check_base_url(base_url).rstrip("/") + "/models"
    request = urllib.request.Request(url)
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.loads(response.read().decode() or "{}")
    except urllib.error.HTTPError as exc:
        return EndpointStatus(name or base_url, base_url, False, [], f"HTTP {exc.code} from {url}")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return EndpointStatus(name or base_url, base_url, False, [], f"{reason}")
    except ValueError:
        return EndpointStatus(name or base_url, base_url, False, [], f"{url} did not answer with JSON")
    models = [m.get("id", "?") for m in body.get("data", []) if isinstance(m, dict)]
    return EndpointStatus(name or base_url, base_url, True, models, "ok")


def require_endpoint(base_url: str, timeout: float = 3.0, api_key: str | None = None) -> EndpointStatus:
    """Like `probe_endpoint`, but a dead endpoint is a one-line CourseError."""
    status = probe_endpoint(base_url, timeout=timeout, api_key=api_key)
    if not status.reachable:
        raise CourseError(f"no OpenAI-compatible server at {base_url}: {status.detail}")
    return status


def _die_with_parent() -> None:
    """Run in the child before exec: ask Linux to SIGTERM it when its parent dies."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # 1 == PR_SET_PDEATHSIG
    except OSError:
        pass


_running: "weakref.WeakSet[ManagedServer]" = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for server in list(_running):
        server.stop()


class ManagedServer:
    """A server process we own: start it, wait until it answers, always stop it.

    Subclasses say which command to run (`command()`); the lifecycle is shared.
    """

    engine = "server"
    api_key: str | None = None

    def __init__(self, port: int | None = None, host: str = LOCALHOST, startup_timeout: float = 120.0):
        self.host = host
        self.port = check_port(port) if port is not None else None
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None
        self.log_path: Path | None = None
        self._log_file = None
        self._keep_log = False

    def command(self) -> list[str]:
        raise NotImplementedError

    # How the server's OpenMP threads wait between operations: "PASSIVE", "ACTIVE", or None for the
    # OpenMP runtime's own default. Notebook 06 measures each, quiet and loaded (course_lib.bench.threads).
    omp_wait_policy: str | None = "PASSIVE"

    def child_env(self) -> dict[str, str]:
        """The server's environment: ours, with `omp_wait_policy` unless the user set OMP_WAIT_POLICY."""
        env = dict(os.environ)
        if self.omp_wait_policy is not None:
            env.setdefault("OMP_WAIT_POLICY", self.omp_wait_policy)
        return env

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> "ManagedServer":
        if self.process is not None and self.process.poll() is None:
            return self
        if self.port is None:
            self.port = free_port(self.host)
        elif port_in_use(self.port, self.host):
            raise CourseError(
                f"port {self.port} on {self.host} is already in use: "
                "stop what is listening there or choose another port"
            )
        # The engine's name without spaces or brackets, so the path printed to the user can be pasted into a shell.
        ascii_name = unicodedata.normalize("NFKD", self.engine).encode("ascii", "ignore").decode()
        slug = re.sub(r"[^A-Za-z0-9.]+", "-", ascii_name).strip("-").lower()
        handle, name = tempfile.mkstemp(prefix=f"llm-course-{slug}-", suffix=".log")
        self.log_path = Path(name)
        self._log_file = open(handle, "wb")
        self.process = subprocess.Popen(
            self.command(),
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.child_env(),
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        _running.add(self)
        try:
            self.wait_ready(self.startup_timeout)
        except BaseException:
            self._keep_log = True  # the error message points at the log
            self.stop()
            raise
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CourseError(
                    f"the {self.engine} exited with code {self.process.returncode} before answering: "
                    f"{self.last_log_line()}"
                )
            if probe_endpoint(self.base_url, timeout=1.0, api_key=self.api_key).reachable:
                return
            time.sleep(0.25)
        raise CourseError(
            f"the {self.engine} did not answer on {self.base_url} within {timeout:.0f} s (log: {self.log_path})"
        )

    def last_log_line(self) -> str:
        try:
            lines = [line for line in self.log_path.read_text(errors="replace").splitlines() if line.strip()]
        except (OSError, AttributeError):
            return "no log"
        return lines[-1][:300] if lines else "empty log"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace") if self.log_path else ""
        except FileNotFoundError:  # removed by a clean stop()
            return ""

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        # A server that died by itself keeps its log: it is the only record of why.
        if self.process is not None and self.process.poll() is not None:
            self._keep_log = True
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # uvicorn's clean shutdown
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
            if not self._keep_log and self.log_path is not None:
                # A server that ran and stopped leaves nothing behind in the temp folder.
                self.log_path.unlink(missing_ok=True)
        _running.discard(self)

    def __enter__(self) -> "ManagedServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<{type(self).__name__} {self.base_url} {state}>"


def run_in_foreground(server: ManagedServer, banner) -> int:
    """Start `server`, print `banner(server)` once it answers, and keep it up until Ctrl-C or SIGTERM.

    The `llm-course serve` and `llm-course app` commands. Returns the exit code: 0 when stopped
    by the user, 1 when the server died on its own (its last log line goes to stderr).
    """
    def interrupt(*_):  # `kill` or a closing terminal: shut down as Ctrl-C does
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        with server:
            print(banner(server), flush=True)
            try:
                while server.running:
                    time.sleep(0.5)
            except KeyboardInterrupt:
                print("stopping", flush=True)
                return 0
        print(f"the {server.engine} exited: {server.last_log_line()}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)


class LlamaCppPythonServer(ManagedServer):
    """llama-cpp-python's own OpenAI-compatible server (`python -m llama_cpp.server`).

    It serves one request at a time. By default a new request *interrupts* the
    one being streamed; we turn that off (`interrupt_requests=False`) so that
    concurrent clients queue instead of getting truncated answers. Notebook 06
    shows what happens with the default.
    """

    engine = "llama-cpp-python server"

    def __init__(self, model: str | Path | None = None, port: int | None = None, *, n_ctx: int = 2048,
                 n_threads: int | None = None, chat_format: str | None = None, model_alias: str | None = None,
                 api_key: str | None = None, interrupt_requests: bool = False, host: str = LOCALHOST,
                 startup_timeout: float = 120.0, extra_args: list[str] | None = None):
        super().__init__(port=port, host=host, startup_timeout=startup_timeout)
        self.model = model_path(model)
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.chat_format = chat_format or chat_format_for(self.model)
        self.model_alias = model_alias or self.model.stem
        self.api_key = api_key
        self.interrupt_requests = interrupt_requests
        self.extra_args = list(extra_args or [])

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model), "--host", self.host,
               "--port", str(self.port), "--n_ctx", str(self.n_ctx), "--model_alias", self.model_alias,
               "--interrupt_requests", str(self.interrupt_requests),
               "--n_threads", str(self.n_threads or usable_cores())]
        if self.chat_format:
            cmd += ["--chat_format", self.chat_format]
        if self.api_key:
            cmd += ["--api_key", self.api_key]
        return cmd + self.extra_args
