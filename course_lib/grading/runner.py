"""The submission's side of grading: run its cells, call its functions on test inputs, answer in plain data.

`llm-course grade` starts one of these per submission (see session.py):
`python -m course_lib.grading.runner REQUEST_FD REPLY_FD LIMITS_JSON`. It
lowers its own resource limits before any learner code runs, runs cells in an
IPython shell (as a notebook kernel would: magics, display), and answers the
grader's requests over two pipes the grader opened, never over stdout (which
the grader does not read). It knows no test, no expected value and no verdict:
it only runs what it is asked and hands back what the learner's code returned,
as plain data (plain.py). `check()` in a learner's notebook answers through
`answer()` too, so feedback and grades see the same values.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import struct
import sys
import threading

from course_lib.grading.plain import Malformed, Refused, decode, encode

HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 2**20
# Bound before any learner code runs: a cell that patches json or os later does not change how replies travel.
_dumps, _loads, _read, _write = json.dumps, json.loads, os.read, os.write


class CallTimeout(BaseException):
    """A learner's function ran past its time: raised inside it by an alarm (a BaseException, so a bare
    `except Exception` in the learner's code does not swallow it)."""


@contextlib.contextmanager
def time_limit(seconds: float | None):
    # SIGALRM interrupts a runaway learner function between bytecodes; only the main thread
    # can receive it, which is where a notebook's cells (and the grader's runner) run.
    if not seconds or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def on_alarm(signum, frame):
        raise CallTimeout()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def one_line(exc: BaseException) -> str:
    try:
        text = " ".join(str(exc).split())
    except Exception:  # noqa: BLE001 - a learner's exception whose __str__ itself fails
        text = ""
    name = type(exc).__name__
    return (f"{name}: {text}" if text else name)[:300]


def kind_of(namespace: dict, name: str) -> str:
    """How a name stands in the learner's namespace: function, value, unanswered (`...`) or missing."""
    if name not in namespace:
        return "missing"
    value = namespace[name]
    if value is Ellipsis:
        return "unanswered"
    return "function" if callable(value) else "value"


def answer(request: dict, namespace: dict, inputs: dict, timeout: float | None = None) -> dict:
    """The reply to one request about the learner's names ("names", "call" or "value"): plain data only."""
    op = request.get("op")
    if op == "names":
        return {"ok": True, "kinds": {name: kind_of(namespace, name) for name in request["names"]}}
    name = request["name"]
    if kind_of(namespace, name) in ("missing", "unanswered"):
        return {"ok": False, "error": f"{name} is not defined"}
    target = namespace[name]
    notes: list[str] = []
    try:
        with time_limit(timeout):
            if op == "call":
                args = decode(request["args"], inputs)
                kwargs = decode(request["kwargs"], inputs)
                value = target(*args, **kwargs)
            else:
                value = target
            encoded = encode(value, notes)
    except CallTimeout:
        if timeout:
            return {"ok": False, "timeout": timeout}
        raise
    except KeyboardInterrupt:
        raise
    except Refused as exc:
        return {"ok": False, "refused": str(exc)[:300]}
    except RecursionError:
        return {"ok": False, "refused": "nested too deeply to be plain data"}
    except BaseException as exc:  # noqa: BLE001 - a learner's bug (even SystemExit) is a verdict, not a crash
        return {"ok": False, "error": one_line(exc), "memory": isinstance(exc, MemoryError)}
    return {"ok": True, "value": encoded, "notes": notes}


def apply_limits(limits: dict) -> None:
    """Lower this process's own limits (inherited by anything it starts); it can never raise them again."""
    import resource

    if limits.get("memory_bytes"):
        resource.setrlimit(resource.RLIMIT_AS, (limits["memory_bytes"],) * 2)
    if limits.get("cpu_seconds"):
        # At the soft limit the kernel sends SIGXCPU (which ends the process); a learner who ignores it gets
        # SIGKILL a few seconds later at the hard limit.
        cpu = int(limits["cpu_seconds"])
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    if limits.get("file_bytes"):
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def read_frame(fd: int):
    header = _read_exactly(fd, HEADER.size)
    if header is None:
        return None
    (size,) = HEADER.unpack(header)
    if size > MAX_FRAME:
        raise Malformed(f"a frame of {size} bytes")
    body = _read_exactly(fd, size)
    if body is None:
        raise Malformed("the channel closed inside a frame")
    return _loads(body.decode("utf-8"))


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks, got = [], 0
    while got < size:
        chunk = _read(fd, size - got)
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def frame(message: dict) -> bytes:
    body = _dumps(message, allow_nan=True).encode("utf-8")
    return HEADER.pack(len(body)) + body


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[_write(fd, view):]


def _make_shell():
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    class KernelShell(InteractiveShell):
        def enable_gui(self, gui=None):
            pass  # `%matplotlib inline` and friends: there is no screen here, and figures go nowhere

    config = Config()
    config.HistoryManager.enabled = False
    return KernelShell.instance(config=config)


def _run_cell(shell, source: str) -> dict:
    result = shell.run_cell(source, store_history=False)
    error = result.error_before_exec or result.error_in_exec
    if error is None:
        return {"ok": True}
    reply = {"ok": False, "error": one_line(error), "memory": isinstance(error, MemoryError)}
    if isinstance(error, OSError) and error.errno == errno.EFBIG:
        reply["file_limit"] = True
    return reply


def handles() -> dict:
    """What stands in for each input handle in this process: its own model, tokenizer and server's address."""
    from course_lib.grading.testing import shared_model, shared_server, shared_tokenizer

    return {"model": shared_model, "tokenizer": shared_tokenizer, "server_url": lambda: shared_server().base_url}


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    request_fd, reply_fd = int(args[0]), int(args[1])
    apply_limits(json.loads(args[2]))
    for fd in (request_fd, reply_fd):
        os.set_inheritable(fd, False)  # processes the learner starts do not get the grader's channel
    shell = _make_shell()
    inputs = handles()
    write_all(reply_fd, frame({"id": "ready", "ok": True}))
    while True:
        request = read_frame(request_fd)
        if request is None:
            return 0
        if request.get("op") == "cell":
            reply = _run_cell(shell, request["source"])
        else:
            reply = answer(request, shell.user_ns, inputs, request.get("timeout"))
        reply["id"] = request["id"]
        try:
            data = frame(reply)
        except (TypeError, ValueError):
            data = frame({"id": request["id"], "ok": False, "refused": "the answer could not be written as JSON"})
        write_all(reply_fd, data)


if __name__ == "__main__":
    sys.exit(main())
