"""Execute notebooks one by one and report wall time and the kernel's peak memory.

    .venv/bin/python tools/measure_notebooks.py notebooks/*.ipynb solutions/*.ipynb

The budget (Binder: 2 cores, 2 GB) is about 90 s and 1.5 GB per notebook. Peak
memory is the largest resident set of the kernel process plus its children
(the notebook 05/06 servers), sampled every 50 ms; CPU time is theirs too. Notebooks
are executed on a copy: nothing is written back.

`--json FILE` also writes the figures as data: `course_lib/data/notebook_peaks.json`,
which sizes a class's JupyterHub (`llm-course class plan`, `llm-course class deploy`), is
written this way.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient

BUDGET_SECONDS = 90
BUDGET_BYTES = 1.5 * 2**30


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def tree_rss(pid: int, cpu_seconds: dict[int, float] | None = None) -> int:
    """Resident bytes of a process and its children; `cpu_seconds` gets each one's CPU time so far."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
            if cpu_seconds is not None:
                times = proc.cpu_times()  # its own time only: children's are counted as processes of their own
                cpu_seconds[proc.pid] = max(cpu_seconds.get(proc.pid, 0.0), times.user + times.system)
        except psutil.NoSuchProcess:
            pass
    return total


def measure(path: Path, timeout: int = 600, per_cell: bool = False,
            cpu_seconds: dict[int, float] | None = None) -> tuple[float, int, str]:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    peak, overall, stop = [0], [0], threading.Event()

    def sample():
        while not stop.is_set():
            km = client.km
            pid = getattr(getattr(km, "provisioner", None), "pid", None) if km else None
            if pid:
                peak[0] = max(peak[0], tree_rss(pid, cpu_seconds))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    status = "ok"
    try:
        if per_cell:
            with client.setup_kernel():
                for index, cell in enumerate(nb.cells):
                    if cell.cell_type != "code":
                        continue
                    peak[0], cell_start = 0, time.perf_counter()
                    client.execute_cell(cell, index)
                    last_line = (
                        cell.source.strip().splitlines()[-1][:60] if cell.source.strip() else ""
                    )  # names the cell by what it ends with
                    print(
                        f"  cell {index:3d} {time.perf_counter() - cell_start:6.1f} s "
                        f"{peak[0] / 2**20:7.0f} MiB  {last_line}",
                        flush=True,
                    )
                    overall[0] = max(overall[0], peak[0])
        else:
            client.execute()
    except Exception as exc:  # report and go on to the next notebook
        status = f"error: {type(exc).__name__}"
    seconds = time.perf_counter() - start
    stop.set()
    sampler.join()
    return seconds, max(peak[0], overall[0]), status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--per-cell", action="store_true", help="also print each code cell's time and peak memory")
    parser.add_argument("--json", type=Path, help="also write the figures to this file (see the docstring)")
    args = parser.parse_args()
    print(f"{'notebook':<50} {'seconds':>8} {'peak MiB':>9} {'CPU s':>7}  status")
    over, rows = 0, []
    load_before = os.getloadavg()[0]
    for path in args.notebooks:
        cpu: dict[int, float] = {}
        seconds, peak, status = measure(path, per_cell=args.per_cell, cpu_seconds=cpu)
        flag = "" if seconds <= BUDGET_SECONDS and peak <= BUDGET_BYTES else "  OVER BUDGET"
        over += bool(flag)
        print(f"{str(path):<50} {seconds:8.1f} {peak / 2**20:9.0f} {sum(cpu.values()):7.1f}  {status}{flag}",
              flush=True)
        rows.append({"notebook": path.as_posix(), "seconds": round(seconds, 1), "peak_bytes": peak,
                     "cpu_seconds": round(sum(cpu.values()), 1), "status": status})
    if args.json:
        args.json.write_text(json.dumps({
            "_about": "Written by tools/measure_notebooks.py --json: wall seconds, peak resident bytes and CPU "
                      "seconds of each notebook's kernel and the processes it starts.",
            "measured": {"date": datetime.date.today().isoformat(), "usable_cores": usable_cores(),
                         "machine": platform.machine(), "python": platform.python_version(),
                         "load_average_before": round(load_before, 2),
                         "load_average_after": round(os.getloadavg()[0], 2)},
            "notebooks": rows}, indent=1) + "\n")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
