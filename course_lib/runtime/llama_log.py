"""Reading what llama.cpp says about its own memory while it loads.

Derived in notebooks 01 (buffers) and 03 (KV cache). llama.cpp reports each
buffer and cache it creates through its log callback ("llama_kv_cache: size =
3.00 MiB (1024 cells, 3 layers, 1/1 seqs), K (f16): ...", "CPU compute buffer
size = 513.25 MiB"); for Gemma 3 there are two caches, the non-SWA one and the
sliding-window one. `capture_llama_log` installs a ctypes log callback for
the length of a block and puts llama-cpp-python's own back afterwards; the
parsers turn the lines into numbers. The estimators in `course_lib.sizing` are
checked against these numbers, never against themselves.
"""

from __future__ import annotations

import contextlib
import ctypes
import re
from dataclasses import dataclass, field

from course_lib.errors import CourseError
from course_lib.units import MIB

_SIZE_LINE = re.compile(
    r"llama_kv_cache: size =\s*([\d.]+) MiB \(\s*(\d+) cells,\s*(\d+) layers,\s*(\d+)/(\d+) seqs\), "
    r"K \((\w+)\):\s*([\d.]+) MiB, V \((\w+)\):\s*([\d.]+) MiB")
_ISWA_LINE = re.compile(r"creating\s+(non-SWA|SWA) KV cache")


@dataclass(frozen=True)
class EngineCache:
    """One cache as llama.cpp printed it. Sizes are MiB rounded to 2 decimals by llama.cpp."""
    kind: str  # "full" (a plain or non-SWA cache) or "swa"
    cells: int  # per stream: each sequence has its own stream unless the cache is unified
    layers: int
    n_streams: int
    size_mib: float
    k_type: str
    k_mib: float
    v_type: str
    v_mib: float

    @property
    def size_bytes(self) -> int:
        return round(self.size_mib * MIB)

    @property
    def total_cells(self) -> int:
        return self.cells * self.n_streams


@dataclass
class EngineKV:
    """What one llama.cpp context allocated for its KV cache."""
    n_ctx_requested: int
    n_ctx: int  # what the context reports after llama.cpp's padding
    flash_attn: bool
    swa_full: bool | None  # None when the model has no sliding-window layers
    caches: list[EngineCache]
    log: str = field(repr=False, default="")

    @property
    def total_mib(self) -> float:
        return sum(c.size_mib for c in self.caches)

    @property
    def total_bytes(self) -> int:
        return round(self.total_mib * MIB)

    def cache(self, kind: str) -> EngineCache:
        for c in self.caches:
            if c.kind == kind:
                return c
        raise CourseError(f"the engine created no {kind!r} KV cache (it created {[c.kind for c in self.caches]})")


def parse_kv_log(text: str) -> list[EngineCache]:
    """The KV caches a llama.cpp load log reports, in order."""
    caches, kind = [], "full"
    for line in text.splitlines():
        m = _ISWA_LINE.search(line)
        if m:
            kind = "swa" if m.group(1) == "SWA" else "full"
            continue
        m = _SIZE_LINE.search(line)
        if m:
            size, cells, layers, _, n_seq, kt, kmib, vt, vmib = m.groups()
            caches.append(EngineCache(kind, int(cells), int(layers), int(n_seq), float(size),
                                      kt, float(kmib), vt, float(vmib)))
            kind = "full"
    return caches


@contextlib.contextmanager
def capture_llama_log():
    """Collect everything llama.cpp logs inside the block into the yielded list of strings."""
    import llama_cpp
    from llama_cpp import _logger

    chunks: list[str] = []

    @llama_cpp.llama_log_callback
    def _collect(level, text, user_data):
        chunks.append(text.decode("utf-8", errors="replace"))

    llama_cpp.llama_log_set(_collect, ctypes.c_void_p(0))
    try:
        yield chunks
    finally:
        # llama-cpp-python's own callback goes back, so later loads log (or stay quiet) as usual.
        llama_cpp.llama_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))


_CONTEXT_LINE = re.compile(r"llama_context:\s+(\w+)\s+=\s+(\S+)\s*$")


def context_settings(log: str) -> dict[str, str]:
    """The settings a llama.cpp context printed when it was created ("llama_context: n_ctx = 4096", ...).

    `flash_attn` says what it resolved to ("enabled"/"disabled") when it was
    "auto": the context logs "Flash Attention was auto, set to enabled" (or, in
    newer builds, "Flash Attention enabled") once it has checked the backend.
    llama-server's `--fit` creates trial contexts first; the last one printed is
    the context it kept.
    """
    settings = {}
    for line in log.splitlines():
        m = _CONTEXT_LINE.search(line)
        if m:
            settings[m.group(1)] = m.group(2)
    if settings.get("flash_attn") == "auto":
        resolved = re.findall(r"Flash Attention (?:was auto, set to )?(enabled|disabled)", log)
        if resolved:
            settings["flash_attn"] = resolved[-1]
    return settings


def engine_buffers(log: str) -> dict[str, int]:
    """Buffer sizes llama.cpp logs while loading (bytes, summed per kind: model, KV, output, compute).

    The log prints MiB with two decimals, so each figure is within 0.005 MiB.
    """
    out = {"model": 0, "kv": 0, "output": 0, "compute": 0, "repack": 0}
    pattern = re.compile(r"(\S+)\s+(model|KV|output|compute) buffer size =\s+([\d.]+) MiB")
    for backend, kind, mib in pattern.findall(log):
        # With mmap, CPUs with wide SIMD get a second, re-laid-out copy of some quantized tensors
        # (CPU_REPACK); which types depends on the CPU, so it is reported apart from the weights.
        key = "repack" if backend.endswith("REPACK") else kind.lower()
        out[key] += int(round(float(mib) * MIB))
    return out
