"""One submission's kernel seen from the grader: started with limits (in a sandbox on request), asked over
pipes, killed whole.

The kernel is `course_lib.grading.runner` in a process of its own: its own
session and process group (the grader kills the group, so what the learner's
code started dies with it), a memory limit (address space), a CPU-time limit
and a file-size limit it sets on itself before any learner code runs, stdin
and stdout/stderr on /dev/null, and two pipes the grader opened as its only
channel. Every reply must answer the request it was sent for (a random id),
within its time, in the wire format; anything else ends the kernel.

`--sandbox` wraps it in bubblewrap: a read-only view of the filesystem
except its own working folder and a private /tmp, the hidden tests' folder
replaced by an empty one, no network but its own loopback, its own process
ids (it cannot see or signal the grader), and it dies with the grader.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from course_lib.errors import CourseError
from course_lib.grading.runner import HEADER, MAX_FRAME, frame

STARTUP_TIMEOUT_S = 120.0
GRACE_S = 10.0          # beyond a call's own limit, for the kernel's alarm to fire and its answer to arrive
SANDBOX_TMP_BYTES = 256 * 2**20
HIDDEN_ENV = "LLM_COURSE_HIDDEN_TESTS"


@dataclass(frozen=True)
class Limits:
    """What one submission's kernel may use (each process it starts gets the same limits)."""

    memory_bytes: int = 4 * 2**30   # address space: the model (mmapped) and llama.cpp's buffers fit in well under 2 GiB
    cpu_seconds: int = 300          # CPU time of the whole run: cells, tests, and anything left spinning
    file_bytes: int = 2**30         # the largest file it may write

    def to_json(self) -> str:
        return json.dumps({"memory_bytes": self.memory_bytes, "cpu_seconds": self.cpu_seconds,
                           "file_bytes": self.file_bytes})


class KernelGone(Exception):
    """The kernel ended, ran out of time, or answered something it was not asked: it has been killed.

    `kind` is "timeout", "crash" or "forged"; the message says what happened, in a line.
    """

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def find_bwrap() -> str:
    """bubblewrap's path, checked by running it once; a one-line CourseError when it is missing or cannot run."""
    found = shutil.which("bwrap")
    if found is None:
        raise CourseError("--sandbox needs bubblewrap (bwrap), which is not installed: `apt-get install bubblewrap` "
                          "(Debian/Ubuntu) or `dnf install bubblewrap`, or grade without --sandbox")
    trial = subprocess.run([found, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "--", "true"],
                           capture_output=True, text=True, timeout=30)
    if trial.returncode != 0:
        reason = (trial.stderr.strip().splitlines() or [f"exit status {trial.returncode}"])[-1]
        raise CourseError(f"--sandbox: bubblewrap cannot make a sandbox on this machine ({reason}); "
                          "unprivileged user namespaces may be disabled")
    return found


def kernel_needs() -> list[Path]:
    """What a kernel reads to run at all: the Python environment, the course's code and the model cache."""
    import course_lib
    from course_lib.runtime.models import cache_dir

    return [Path(sys.prefix), Path(sys.base_prefix), Path(course_lib.__file__).resolve().parents[1], cache_dir()]


def sandbox_prefix(bwrap: str, workdir: Path, hide: list[Path]) -> list[str]:
    """The bubblewrap command line that runs a kernel in `workdir` with `hide` made empty."""
    command = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
               "--size", str(SANDBOX_TMP_BYTES), "--tmpfs", "/tmp"]
    # A fresh /tmp would hide a checkout, a virtual environment or a HOME that lives under /tmp (a CI clone, a
    # throwaway HOME): bind those back read-only. The hidden tests are emptied after, so a binding cannot reveal them.
    for path in kernel_needs():
        if path.is_relative_to("/tmp") and path.exists():
            command += ["--ro-bind", str(path), str(path)]
    command += ["--bind", str(workdir), str(workdir)]
    for path in hide:
        if path.is_dir():
            command += ["--tmpfs", str(path)]
        elif path.exists():
            command += ["--ro-bind", "/dev/null", str(path)]
    return command + ["--unshare-all", "--die-with-parent", "--chdir", str(workdir), "--"]


def kernel_env(workdir: Path) -> dict[str, str]:
    """The kernel's environment: ours, without the hidden tests' location, its scratch files in its own folder."""
    from course_lib.runtime.models import CACHE_ENV, cache_dir

    env = {key: value for key, value in os.environ.items() if key != HIDDEN_ENV}
    scratch = workdir / ".kernel"
    for name in ("tmp", "ipython", "matplotlib"):
        (scratch / name).mkdir(parents=True, exist_ok=True)
    env.update({CACHE_ENV: str(cache_dir()), "TMPDIR": str(scratch / "tmp"), "IPYTHONDIR": str(scratch / "ipython"),
                "MPLCONFIGDIR": str(scratch / "matplotlib"), "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1"})
    return env


class Session:
    """A running kernel for one submission. Use as a context manager; every request may raise KernelGone."""

    def __init__(self, workdir: Path, limits: Limits = Limits(), bwrap: str | None = None, hide=()):
        self.workdir, self.limits, self.bwrap, self.hide = Path(workdir), limits, bwrap, [Path(p) for p in hide]
        self.process: subprocess.Popen | None = None
        self._requests = self._replies = None
        self.tainted = False  # set when the learner's code ran out of memory: the grader starts a fresh kernel

    def __enter__(self) -> "Session":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> "Session":
        request_read, self._requests = os.pipe()
        self._replies, reply_write = os.pipe()
        command = [sys.executable, "-m", "course_lib.grading.runner", str(request_read), str(reply_write),
                   self.limits.to_json()]
        if self.bwrap:
            command = sandbox_prefix(self.bwrap, self.workdir, self.hide) + command
        try:
            self.process = subprocess.Popen(command, cwd=self.workdir, env=kernel_env(self.workdir),
                                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL, pass_fds=(request_read, reply_write),
                                            start_new_session=True)
        finally:
            os.close(request_read)
            os.close(reply_write)
        ready = self._read_reply(time.monotonic() + STARTUP_TIMEOUT_S, "start")
        if ready.get("id") != "ready":
            self._gone("forged", "did not start as the grader's runner")
        return self

    # ---------------------------------------------------------------- requests
    def request(self, message: dict, timeout: float) -> dict:
        nonce = secrets.token_hex(8)
        deadline = time.monotonic() + timeout
        self._write(frame({**message, "id": nonce}), deadline)
        reply = self._read_reply(deadline, message.get("op", "?"))
        if reply.get("id") != nonce:
            self._gone("forged", "sent a reply the grader did not ask for (forged or corrupted): refused")
        return reply

    def run_cell(self, source: str, timeout: float) -> dict:
        return self.request({"op": "cell", "source": source}, timeout)

    def kinds(self, names: list[str]) -> dict:
        return self.request({"op": "names", "names": list(names)}, 60)["kinds"]

    def call(self, name: str, args, kwargs, timeout: float) -> dict:
        return self.request({"op": "call", "name": name, "args": args, "kwargs": kwargs, "timeout": timeout},
                            timeout + GRACE_S)

    def value(self, name: str, timeout: float) -> dict:
        return self.request({"op": "value", "name": name, "timeout": timeout}, timeout + GRACE_S)

    def _write(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [self._requests], [], left)[1]:
                self._gone("timeout", "stopped reading the grader's requests")
            try:
                view = view[os.write(self._requests, view):]
            except BrokenPipeError:
                self._gone("crash", self._exit_reason())

    def _read_exactly(self, size: int, deadline: float, what: str) -> bytes:
        data = bytearray()
        while len(data) < size:
            left = deadline - time.monotonic()
            if left <= 0:
                self._gone("timeout", f"did not answer the grader's {what} request in time")
            if not select.select([self._replies], [], [], left)[0]:
                continue
            chunk = os.read(self._replies, size - len(data))
            if not chunk:
                self._gone("crash", self._exit_reason())
            data += chunk
        return bytes(data)

    def _read_reply(self, deadline: float, what: str) -> dict:
        (size,) = HEADER.unpack(self._read_exactly(HEADER.size, deadline, what))
        if size > MAX_FRAME:
            self._gone("forged", f"sent a reply of {size:,} bytes (at most {MAX_FRAME:,}): refused")
        try:
            reply = json.loads(self._read_exactly(size, deadline, what).decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            reply = None
        if not isinstance(reply, dict):
            self._gone("forged", "sent something that is not a reply (forged or corrupted): refused")
        return reply

    # ---------------------------------------------------------------- endings
    def _exit_reason(self) -> str:
        try:
            code = self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            return "closed the grader's channel"
        signum = -code if code < 0 else (code - 128 if self.bwrap and code > 128 else None)
        if signum == signal.SIGXCPU:
            return f"reached the CPU-time limit ({self.limits.cpu_seconds} s)"
        if signum == signal.SIGKILL:
            return "was killed (SIGKILL: out of memory, or the CPU-time limit's hard stop)"
        if signum:
            return f"died of {signal.Signals(signum).name}"
        return f"ended (exit status {code})"

    def _gone(self, kind: str, message: str):
        self.close(grace=0)
        raise KernelGone(kind, message)

    def close(self, grace: float = 2.0) -> None:
        """End the kernel: its channel closes (an idle one exits, stopping what it started), then after `grace`
        seconds its whole process group is killed."""
        for fd in (self._requests, self._replies):
            if fd is not None:
                os.close(fd)
        self._requests = self._replies = None
        if self.process is None:
            return
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
