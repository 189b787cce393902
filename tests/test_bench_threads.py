"""OpenMP wait policy: each server gets the policy asked for, the busy load comes and goes, the table folds repeats."""

import os
from pathlib import Path

import psutil
import pytest

from course_lib.bench import CpuLoad, measure_wait_policies, wait_policy_table
from course_lib.bench.threads import start_with_policy
from course_lib.runtime import LlamaCppPythonServer, NativeLlamaServer


def server_environment(server) -> dict[str, str]:
    raw = Path(f"/proc/{server.process.pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


@pytest.mark.slow
@pytest.mark.parametrize("make", [lambda m: LlamaCppPythonServer(m, n_ctx=256),
                                  lambda m: NativeLlamaServer(m, n_ctx=256, parallel=1)], ids=["lcp", "native"])
def test_each_server_starts_under_the_policy_asked_for(gemma_path, make, monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")  # a user's own value must not leak into "unset"
    for policy in ("ACTIVE", None):
        with start_with_policy(make(gemma_path), policy) as server:
            assert server_environment(server).get("OMP_WAIT_POLICY") == policy
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"  # the kernel's own environment is restored


def test_the_busy_load_runs_only_inside_its_block():
    with CpuLoad(2) as load:
        children = [psutil.Process(c.pid) for c in load._children]
        assert len(children) == 2 and all(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)
    assert all(finished(c.pid) for c in children)
    with CpuLoad(0) as none:
        assert none._children == []


def test_the_table_takes_the_median_of_the_repeats():
    rows = [{"policy": p, "load": "quiet", "concurrency": 1, "throughput_tok_s": v}
            for p, v in (("PASSIVE", 10.0), ("PASSIVE", 30.0), ("PASSIVE", 20.0), ("ACTIVE", 5.0))]
    assert wait_policy_table(rows) == {("quiet", 1): {"PASSIVE": 20.0, "ACTIVE": 5.0}}


@pytest.mark.slow
def test_measure_wait_policies_on_the_real_server(gemma_path):
    rows = measure_wait_policies(lambda: LlamaCppPythonServer(gemma_path, n_ctx=256), policies=("PASSIVE", None),
                                 requests=1, max_tokens=4)
    assert [(r["policy"], r["load"]) for r in rows] == [("PASSIVE", "quiet"), ("PASSIVE", "loaded"),
                                                        ("unset", "quiet"), ("unset", "loaded")]
    assert all(r["errors"] == 0 and r["throughput_tok_s"] > 0 and r["tok_s_per_request"] > 0 for r in rows)
    assert all(r["load_average"] >= 0 for r in rows)


def test_the_busy_load_stops_when_its_parent_dies():
    """An interrupted notebook must not leave a core spinning."""
    import subprocess
    import sys
    import time

    spawn = ("import subprocess, sys\nfrom course_lib.bench.threads import _BUSY_LOOP\n"
             "print(subprocess.Popen([sys.executable, '-c', _BUSY_LOOP]).pid, flush=True)\n")
    parent = subprocess.Popen([sys.executable, "-c", spawn], stdout=subprocess.PIPE, text=True)
    orphan = int(parent.stdout.readline())
    parent.wait()
    deadline = time.monotonic() + 30
    while not finished(orphan):
        assert time.monotonic() < deadline, "the busy loop outlived its parent"
        time.sleep(0.1)


def finished(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
