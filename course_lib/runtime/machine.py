"""What this machine has: CPU, RAM, GPU, memory bandwidth, engines listening.

Derived in notebook 00 (setup check) and notebook 04 (tokens/s vs bandwidth).
Nothing here needs a GPU: where one is absent we say so and move on.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import time
from dataclasses import dataclass, field

import numpy as np

from course_lib.errors import CourseError

@dataclass
class GPUInfo:
    name: str
    memory_bytes: int


@dataclass
class MachineInfo:
    python: str
    system: str
    machine: str
    logical_cores: int
    usable_cores: int
    ram_bytes: int
    ram_available_bytes: int
    gpus: list[GPUInfo] = field(default_factory=list)

    @property
    def has_gpu(self) -> bool:
        return bool(self.gpus)


def usable_cores() -> int:
    """Cores this process may run on (a container's limit, not the host's core count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def detect_gpus() -> list[GPUInfo]:
    """NVIDIA GPUs via nvidia-smi; an empty list when there is none (or no driver)."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in out.strip().splitlines():
        name, mib = (part.strip() for part in line.rsplit(",", 1))
        gpus.append(GPUInfo(name=name, memory_bytes=int(float(mib)) * 2**20))
    return gpus


def machine_info() -> MachineInfo:
    import psutil

    vm = psutil.virtual_memory()
    return MachineInfo(
        python=platform.python_version(),
        system=f"{platform.system()} {platform.release()}",
        machine=platform.machine(),
        logical_cores=os.cpu_count() or 1,
        usable_cores=usable_cores(),
        ram_bytes=vm.total,
        ram_available_bytes=vm.available,
        gpus=detect_gpus(),
    )


def measure_memory_bandwidth(size_bytes: int = 512 * 2**20, repeats: int = 5, threads: int | None = None) -> float:
    """Best-of-N read bandwidth in bytes/s: summing a buffer much larger than the caches.

    Decoding one token reads every weight once, so this number (not FLOPs)
    bounds a CPU's generation speed. One core cannot saturate the memory bus,
    and llama.cpp reads with every core, so we read with one thread per usable
    core (numpy releases the GIL inside a reduction) and keep the best run.
    """
    if size_bytes < 16 * 2**20:
        raise CourseError("size_bytes must be at least 16 MiB to get past the CPU caches")
    from concurrent.futures import ThreadPoolExecutor

    threads = threads or usable_cores()
    buffer = np.ones(size_bytes // 8, dtype=np.uint64)
    parts = np.array_split(buffer, threads)
    best = float("inf")
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(repeats):
            start = time.perf_counter()
            list(pool.map(np.bitwise_or.reduce, parts))
            best = min(best, time.perf_counter() - start)
    return buffer.nbytes / best
