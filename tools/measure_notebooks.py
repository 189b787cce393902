"""Execute notebooks one by one and report wall time and the kernel's peak memory.

    .venv/bin/python tools/measure_notebooks.py notebooks/*.ipynb solutions/*.ipynb

The budget (Binder: 2 cores, 2 GB) is about 90 s and 1.5 GB per notebook. Peak
memory is the largest resident set of the kernel process plus its children
(the notebook 05/06 servers), sampled every 50 ms. Notebooks are executed on
a copy: nothing is written back.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient

BUDGET_SECONDS = 90
BUDGET_BYTES = 1.5 * 2**30


def tree_rss(pid: int) -> int:
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def measure(path: Path, timeout: int = 600, per_cell: bool = False) -> tuple[float, int, str]:
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
                peak[0] = max(peak[0], tree_rss(pid))
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
    args = parser.parse_args()
    print(f"{'notebook':<50} {'seconds':>8} {'peak MiB':>9}  status")
    over = 0
    for path in args.notebooks:
        seconds, peak, status = measure(path, per_cell=args.per_cell)
        flag = "" if seconds <= BUDGET_SECONDS and peak <= BUDGET_BYTES else "  OVER BUDGET"
        over += bool(flag)
        print(f"{str(path):<50} {seconds:8.1f} {peak / 2**20:9.0f}  {status}{flag}", flush=True)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
