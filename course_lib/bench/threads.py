"""OpenMP's wait policy, measured: how the server's threads wait between bursts of work, quiet and loaded.

Derived in notebook 06 (benchmarking and concurrency); `benchmarks/engines.py --wait-policies`
runs the full measurement on both local servers.

llama.cpp's CPU backend (in llama-cpp-python's wheel and in xllamacpp's) runs each step's
matrix work on OpenMP threads, which meet at a barrier after every operation: dozens of
times per token. `OMP_WAIT_POLICY` says what a thread does while it waits there:

* ACTIVE: spin, never sleep. The fastest hand-over when every thread has a core of its own;
  a disaster when they do not, because a spinning thread burns the core that the thread it
  waits for needs.
* PASSIVE: go to sleep at once. Costs a wake-up (a futex call) at every barrier, but gives
  the core away.
* unset (None here): the OpenMP runtime's default. GNU libgomp, which both wheels link,
  spins 300,000 times and then sleeps, a compromise (libgomp manual, GOMP_SPINCOUNT:
  https://gcc.gnu.org/onlinedocs/libgomp/GOMP_005fSPINCOUNT.html). It counts the cores it
  may run on, not how busy they are: other processes on them do not shorten its spin.

The policy is read once, when the OpenMP runtime loads, so each policy needs a server
process of its own. "Loaded" runs the same requests while `CpuLoad` keeps another process
busy, as a notebook kernel computing beside its server would.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from contextlib import contextmanager

from course_lib.bench.harness import bench_sync

WAIT_POLICIES = ("PASSIVE", "ACTIVE", None)  # None: leave OMP_WAIT_POLICY unset (the runtime's default)
LOADS = ("quiet", "loaded")


def policy_name(policy: str | None) -> str:
    return policy or "unset"


# Spins until stopped, or until its parent is gone (an interrupted notebook leaves no core burning).
_BUSY_LOOP = "import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n    for _ in range(100_000): pass\n"


class CpuLoad:
    """`processes` busy loops in child processes while the block runs (0: none): other work on the machine."""

    def __init__(self, processes: int = 1):
        self.processes = processes
        self._children: list[subprocess.Popen] = []

    def __enter__(self) -> "CpuLoad":
        for _ in range(self.processes):
            self._children.append(subprocess.Popen([sys.executable, "-c", _BUSY_LOOP], stdin=subprocess.DEVNULL))
        return self

    def __exit__(self, *exc) -> None:
        for child in self._children:
            child.kill()
            child.wait()
        self._children.clear()


@contextmanager
def _policy_environment(policy: str | None):
    """OMP_WAIT_POLICY in this process's environment (which a server inherits at start), restored after."""
    saved = os.environ.get("OMP_WAIT_POLICY")
    if policy is None:
        os.environ.pop("OMP_WAIT_POLICY", None)
    else:
        os.environ["OMP_WAIT_POLICY"] = policy
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("OMP_WAIT_POLICY", None)
        else:
            os.environ["OMP_WAIT_POLICY"] = saved


def start_with_policy(server, policy: str | None):
    """Start `server` (a ManagedServer) with its OpenMP threads under `policy`; returns it, running."""
    server.omp_wait_policy = policy
    with _policy_environment(policy):
        server.start()
    return server


def measure_wait_policies(make_server, policies=WAIT_POLICIES, loads=LOADS, concurrency=(1,), requests: int = 2,
                          max_tokens: int = 32, repeats: int = 1, load_processes: int = 1) -> list[dict]:
    """Decode speed under each wait policy, on a quiet machine and beside `load_processes` busy processes.

    `make_server()` returns a new, stopped server. Each repeat goes through the policies in turn, each in
    a server of its own, started, warmed up, measured at every load and concurrency (`requests` requests
    per worker) and stopped: taking the policies in turn, rather than one after the other, spreads a
    change in what else the machine runs over all of them. One row per measurement: policy, load,
    concurrency, repeat, tokens/s per request, aggregate tokens/s, TTFT, and the machine's load average.
    """
    rows = []
    for repeat in range(repeats):
        for policy in policies:
            with start_with_policy(make_server(), policy) as server:
                bench_sync(server.base_url, concurrency=[1], requests=1, max_tokens=4, progress=False)
                for load in loads:
                    with CpuLoad(load_processes if load == "loaded" else 0):
                        for c in concurrency:
                            s = bench_sync(server.base_url, concurrency=[c], requests=requests * c,
                                           max_tokens=max_tokens, warmup=0, progress=False)[0]
                            rows.append({"policy": policy_name(policy), "load": load, "concurrency": c,
                                         "repeat": repeat, "tok_s_per_request": s.per_request_tok_s_p50,
                                         "throughput_tok_s": s.throughput_tok_s, "ttft_p50_s": s.ttft_p50_s,
                                         "errors": s.errors, "load_average": os.getloadavg()[0]})
    return rows


def wait_policy_table(rows: list[dict], figure: str = "throughput_tok_s") -> dict[tuple[str, int], dict[str, float]]:
    """{(load, concurrency): {policy: median of `figure` over the repeats}}."""
    table: dict[tuple[str, int], dict[str, list[float]]] = {}
    for row in rows:
        table.setdefault((row["load"], row["concurrency"]), {}).setdefault(row["policy"], []).append(row[figure])
    return {key: {policy: statistics.median(values) for policy, values in cell.items()}
            for key, cell in table.items()}
