"""llama.cpp's own server (continuous batching, parallel slots), started from Python.

Derived in notebook 06 (benchmarking and concurrency), next to llama-cpp-python's
server from `course_lib.runtime.server`.

The PyPI wheel `xllamacpp` exposes llama.cpp's C++ server as `xllamacpp.Server`,
which runs *inside* the Python process that creates it. A notebook kernel must
stay responsive and must never be left holding a server after a failed cell, so
we run it in a child process (`python -m course_lib.runtime.native_server ...`) and let
`ManagedServer` do the lifecycle: free port, wait until `/v1/models` answers,
SIGINT on stop, atexit and PR_SET_PDEATHSIG cleanup.

Two settings matter for the course:

* `parallel` (llama-server's `--parallel`): how many sequences (slots) decode
  together in one batch. The context `n_ctx` is split between them, so each slot
  gets `n_ctx // parallel` tokens.
* continuous batching (on by default): a new request joins the running batch at
  the next step instead of waiting for the batch to drain.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from course_lib.errors import CourseError, require_positive
from course_lib.runtime.machine import usable_cores
from course_lib.runtime.models import model_path
from course_lib.runtime.server import LOCALHOST, ManagedServer


class NativeLlamaServer(ManagedServer):
    """llama.cpp's native server (`llama-server`) from the `xllamacpp` wheel, in a child process."""

    engine = "llama.cpp native server"

    def __init__(self, model: str | Path | None = None, port: int | None = None, *, n_ctx: int = 2048,
                 parallel: int = 4, n_threads: int | None = None, cont_batching: bool = True,
                 model_alias: str | None = None, api_key: str | None = None, host: str = LOCALHOST,
                 startup_timeout: float = 120.0):
        super().__init__(port=port, host=host, startup_timeout=startup_timeout)
        self.model = model_path(model)
        self.n_ctx = int(require_positive("n_ctx", n_ctx))
        self.parallel = int(require_positive("parallel", parallel))
        if self.n_ctx // self.parallel < 64:
            raise CourseError(f"n_ctx={n_ctx} split over {parallel} slots leaves {self.n_ctx // self.parallel} tokens "
                              "per request: raise n_ctx or lower parallel")
        self.n_threads = n_threads
        self.cont_batching = cont_batching
        self.model_alias = model_alias or self.model.stem
        self.api_key = api_key

    @property
    def n_ctx_per_slot(self) -> int:
        return self.n_ctx // self.parallel

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "course_lib.runtime.native_server", "--model", str(self.model),
               "--host", self.host, "--port", str(self.port), "--n-ctx", str(self.n_ctx), "--parallel",
               str(self.parallel), "--threads", str(self.n_threads or usable_cores()), "--alias", self.model_alias]
        if not self.cont_batching:
            cmd.append("--no-cont-batching")
        if self.api_key:
            cmd += ["--api-key", self.api_key]
        return cmd


def _serve(argv: list[str] | None = None) -> int:
    """Child-process entry point: build llama.cpp's server and block until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m course_lib.runtime.native_server")
    parser.add_argument("--model", required=True)
    parser.add_argument("--host", default=LOCALHOST)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--threads", type=int, default=usable_cores())
    parser.add_argument("--alias", default=None)
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--no-cont-batching", action="store_true")
    args = parser.parse_args(argv)

    # The wheel's ggml uses OpenMP, whose worker threads spin while waiting for work. On a
    # small shared CPU (a 2-core laptop or Binder, with the notebook kernel and the client on
    # the same cores) spinning threads starve each other and decode slows down several-fold; passive
    # waiting costs nothing measurable when the cores are free. Set before the library loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.hostnames = [args.host]
    params.port = args.port
    params.n_ctx = args.n_ctx
    params.n_parallel = args.parallel
    params.cont_batching = not args.no_cont_batching
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.endpoint_metrics = True
    params.endpoint_slots = True
    if args.alias:
        params.model_alias = {args.alias}
    if args.api_key:
        params.api_keys = [args.api_key]

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server = xllamacpp.Server(params)  # blocks until the model is loaded and the port listens
    print(f"course_lib.runtime.native_server: listening on {server.listening_address}", flush=True)
    while not stop.wait(0.5):
        pass
    del server  # the destructor stops llama.cpp's loop and frees the model
    return 0


if __name__ == "__main__":
    sys.exit(_serve())
