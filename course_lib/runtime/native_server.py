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

The settings that decide memory (flash attention, the sliding-window cache,
a unified KV cache, batch sizes, cache types) can be passed too; left unset,
each keeps llama-server's own default. Notebooks 01 and 03 load the model this
way to check the course's memory estimate against llama.cpp's server
(`measure.measure_server_memory`).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from course_lib.errors import CourseError, require_positive
from course_lib.gguf_file import ggml_type_id
from course_lib.runtime.machine import usable_cores
from course_lib.runtime.models import model_path
from course_lib.runtime.server import LOCALHOST, ManagedServer


class NativeLlamaServer(ManagedServer):
    """llama.cpp's native server (`llama-server`) from the `xllamacpp` wheel, in a child process."""

    engine = "llama.cpp native server"

    def __init__(self, model: str | Path | None = None, port: int | None = None, *, n_ctx: int = 2048,
                 parallel: int | None = 4, n_threads: int | None = None, cont_batching: bool = True,
                 model_alias: str | None = None, api_key: str | None = None, host: str = LOCALHOST,
                 startup_timeout: float = 120.0, flash_attn: str | None = None, swa_full: bool | None = None,
                 kv_unified: bool | None = None, n_batch: int | None = None, n_ubatch: int | None = None,
                 type_k: str | None = None, type_v: str | None = None, log_verbosity: int | None = None):
        """`n_ctx=0` is llama-server's default (the model's trained context, shrunk to fit free memory);
        `parallel=None` its automatic slots (4, sharing one unified KV cache). Every other memory setting
        left at None keeps llama-server's own default."""
        super().__init__(port=port, host=host, startup_timeout=startup_timeout)
        self.model = model_path(model)
        self.n_ctx = int(require_positive("n_ctx", n_ctx, allow_zero=True))
        self.parallel = None if parallel is None else int(require_positive("parallel", parallel))
        if flash_attn not in (None, "on", "off", "auto"):
            raise CourseError(f"flash_attn must be 'on', 'off' or 'auto', got {flash_attn!r}")
        for name, value in (("n_batch", n_batch), ("n_ubatch", n_ubatch)):
            if value is not None:
                require_positive(name, value)
        self.n_threads = n_threads
        self.cont_batching = cont_batching
        self.model_alias = model_alias or self.model.stem
        self.api_key = api_key
        self.memory_settings = {"flash_attn": flash_attn, "swa_full": swa_full, "kv_unified": kv_unified,
                                "n_batch": n_batch, "n_ubatch": n_ubatch, "type_k": type_k, "type_v": type_v}
        if self.n_ctx and self.n_ctx_per_slot < 64:
            raise CourseError(f"n_ctx={n_ctx} split over {parallel} slots leaves {self.n_ctx_per_slot} tokens "
                              "per request: raise n_ctx or lower parallel")
        for kind in (type_k, type_v):
            if kind is not None:
                ggml_type_id(kind)  # an unknown cache type is a one-line error here, not a dead child process
        self.log_verbosity = log_verbosity

    @property
    def n_ctx_per_slot(self) -> int:
        """Tokens one request may hold: its share of n_ctx, or all of it when the slots share a unified cache."""
        if self.parallel is None or self.memory_settings["kv_unified"]:
            return self.n_ctx
        return self.n_ctx // self.parallel

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "course_lib.runtime.native_server", "--model", str(self.model),
               "--host", self.host, "--port", str(self.port), "--n-ctx", str(self.n_ctx), "--parallel",
               str(-1 if self.parallel is None else self.parallel), "--threads", str(self.n_threads or usable_cores()),
               "--alias", self.model_alias]
        if not self.cont_batching:
            cmd.append("--no-cont-batching")
        if self.api_key:
            cmd += ["--api-key", self.api_key]
        for name, value in self.memory_settings.items():
            if value is not None:
                cmd += [f"--{name.replace('_', '-')}", str(value).lower() if isinstance(value, bool) else str(value)]
        if self.log_verbosity is not None:
            cmd += ["--log-verbosity", str(self.log_verbosity)]
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
    parser.add_argument("--flash-attn", choices=["on", "off", "auto"])
    parser.add_argument("--swa-full", choices=["true", "false"])
    parser.add_argument("--kv-unified", choices=["true", "false"])
    parser.add_argument("--n-batch", type=int)
    parser.add_argument("--n-ubatch", type=int)
    parser.add_argument("--type-k")
    parser.add_argument("--type-v")
    parser.add_argument("--log-verbosity", type=int)
    args = parser.parse_args(argv)

    # The wheel's ggml runs on OpenMP threads, which read OMP_WAIT_POLICY when the library loads:
    # the parent's ManagedServer.child_env decides it (notebook 06 measures the choices).
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    if hasattr(params, "hostnames"):
        params.hostnames = [args.host]
    else:  # wheels before llama.cpp ~b9500 take a single host name
        params.hostname = args.host
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
    # llama.cpp's enum llama_flash_attn_type: -1 auto, 0 disabled, 1 enabled.
    if args.flash_attn:
        params.flash_attn_type = {"auto": -1, "off": 0, "on": 1}[args.flash_attn]
    if args.swa_full:
        params.swa_full = args.swa_full == "true"
    if args.kv_unified:
        params.kv_unified = args.kv_unified == "true"
    if args.n_batch:
        params.n_batch = args.n_batch
    if args.n_ubatch:
        params.n_ubatch = args.n_ubatch
    if args.type_k:
        params.cache_type_k = ggml_type_id(args.type_k)
    if args.type_v:
        params.cache_type_v = ggml_type_id(args.type_v)
    if args.log_verbosity is not None:
        params.verbosity = args.log_verbosity  # 4 also logs llama.cpp's buffer and KV-cache sizes

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
