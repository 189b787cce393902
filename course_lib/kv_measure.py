"""What llama.cpp really allocates for the KV cache, read from the engine itself.

Derived in notebook 03 (KV-cache growth). llama.cpp reports each cache it
creates through its log callback ("llama_kv_cache: size = 3.00 MiB (1024
cells, 3 layers, 1/1 seqs), K (f16): ..."); for Gemma 3 there are two caches,
the non-SWA one and the sliding-window one. This module installs its own
ctypes log callback while a context is created, parses those lines, and puts
llama-cpp-python's own callback back afterwards. The estimator in `kv.py` is
checked against these numbers, never against itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
from dataclasses import dataclass, field

from course_lib.errors import CourseError, require_positive
from course_lib.kv import cache_type

MIB = 2**20
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


def load_with_kv_report(path=None, *, n_ctx: int = 1024, type_k: str = "f16", type_v: str | None = None,
                        swa_full: bool | None = None, flash_attn: bool | None = None, n_ubatch: int = 512,
                        **kwargs):
    """Load the model and return `(llm, EngineKV)`: the live model and what its KV cache took.

    A quantized V cache needs flash attention in llama.cpp; `flash_attn=None`
    turns it on exactly when V is quantized, `flash_attn=False` with a quantized
    V raises the engine's refusal as a CourseError.
    """
    from course_lib.engine import load_model

    require_positive("n_ctx", n_ctx)
    tk, tv = cache_type(type_k), cache_type(type_v if type_v is not None else type_k)
    v_quantized = tv.block_size > 1
    if flash_attn is None:
        flash_attn = v_quantized
    if v_quantized and not flash_attn:
        raise CourseError(f"llama.cpp can only quantize the V cache ({tv.name}) with flash attention; "
                          "pass flash_attn=True")
    extra = dict(kwargs)
    if swa_full is not None:
        extra["swa_full"] = swa_full
    with capture_llama_log() as chunks:
        llm = load_model(path, n_ctx=n_ctx, n_batch=max(n_ubatch, 512), n_ubatch=n_ubatch, type_k=tk.ggml_type,
                         type_v=tv.ggml_type, flash_attn=flash_attn, **extra)
    log = "".join(chunks)
    caches = parse_kv_log(log)
    if not caches:
        raise CourseError("llama.cpp printed no KV cache size while loading; this llama.cpp version "
                          "logs differently than the course expects")
    if any(c.kind == "swa" for c in caches):
        swa = "using full-size SWA cache" in log
    else:
        swa = None
    return llm, EngineKV(n_ctx, llm.n_ctx(), bool(flash_attn), swa, caches, log)


def measure_context_kv(path=None, *, n_ctx: int, n_seq: int = 1, kv_unified: bool = False, type_k: str = "f16",
                       type_v: str | None = None, swa_full: bool | None = None, n_ubatch: int = 512) -> EngineKV:
    """The KV allocation of a llama.cpp context serving `n_seq` sequences in parallel.

    llama-cpp-python's `Llama` always asks for one sequence, so this goes
    through the low-level API (`llama_init_from_model` with `n_seq_max`). Here
    `n_ctx` is the *total* llama.cpp shares among the sequences, as with
    llama-server's `-c` and `-np`.
    """
    import llama_cpp

    from course_lib.models import model_path

    require_positive("n_ctx", n_ctx)
    require_positive("n_seq", n_seq)
    tk, tv = cache_type(type_k), cache_type(type_v if type_v is not None else type_k)
    file = str(model_path(path))
    with capture_llama_log() as chunks:
        model = llama_cpp.llama_model_load_from_file(file.encode(), llama_cpp.llama_model_default_params())
        if not model:
            raise CourseError(f"llama.cpp could not load {file}")
        try:
            params = llama_cpp.llama_context_default_params()
            params.n_ctx, params.n_seq_max, params.kv_unified = int(n_ctx), int(n_seq), bool(kv_unified)
            params.n_batch = params.n_ubatch = int(n_ubatch)
            params.type_k, params.type_v = tk.ggml_type, tv.ggml_type
            if tv.block_size > 1:
                params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED
            if swa_full is not None:
                params.swa_full = bool(swa_full)
            ctx = llama_cpp.llama_init_from_model(model, params)
            if not ctx:
                raise CourseError(f"llama.cpp could not create a context with n_ctx={n_ctx}, n_seq={n_seq}")
            got_ctx = llama_cpp.llama_n_ctx(ctx)
            llama_cpp.llama_free(ctx)
        finally:
            llama_cpp.llama_model_free(model)
    log = "".join(chunks)
    caches = parse_kv_log(log)
    swa = ("using full-size SWA cache" in log) if any(c.kind == "swa" for c in caches) else None
    return EngineKV(n_ctx, got_ctx, tv.block_size > 1, swa, caches, log)


def measure_kv_allocation(path=None, **kwargs) -> EngineKV:
    """Load, read the KV allocation from llama.cpp's report, free the model."""
    llm, report = load_with_kv_report(path, **kwargs)
    llm.close()
    del llm
    return report


def rss_bytes() -> int:
    """Resident memory of this process right now (psutil: works on Linux, macOS and Windows)."""
    import psutil

    return psutil.Process(os.getpid()).memory_info().rss


def fill_and_watch(llm, n_tokens: int, step: int = 128, progress: bool = True) -> list[tuple[int, int]]:
    """Evaluate `n_tokens` tokens in chunks of `step`; return (tokens in cache, process RSS) after each.

    llama.cpp allocates (and zeroes) the whole cache when the context is
    created, so the resident memory should stay flat while the cache fills.
    """
    require_positive("n_tokens", n_tokens)
    require_positive("step", step)
    if n_tokens > llm.n_ctx():
        raise CourseError(f"n_tokens ({n_tokens}) exceeds the context ({llm.n_ctx()})")
    from tqdm.auto import tqdm

    text = b"The quick brown fox jumps over the lazy dog. "
    tokens = llm.tokenize(text, add_bos=True)
    filler = llm.tokenize(text, add_bos=False)
    while len(tokens) < n_tokens:
        tokens += filler
    tokens = tokens[:n_tokens]
    llm.reset()
    points = [(0, rss_bytes())]
    for start in tqdm(range(0, n_tokens, step), desc="filling the KV cache", disable=not progress):
        llm.eval(tokens[start:start + step])
        points.append((llm.n_tokens, rss_bytes()))
    return points


_CHILD = """
import json, sys
import llama_cpp  # the library's own memory is not part of the model's
from course_lib.kv_measure import load_with_kv_report, rss_bytes
kw = json.loads(sys.argv[1])
before = rss_bytes()
llm, report = load_with_kv_report(**kw)
after = rss_bytes()
print(json.dumps({"rss_before": before, "rss_after": after, "n_ctx": report.n_ctx,
                  "kv_mib": report.total_mib}))
"""


def load_memory_in_fresh_process(path=None, *, n_ctx: int, type_k: str = "f16", type_v: str | None = None,
                                 swa_full: bool | None = None) -> dict:
    """Resident memory a model load adds, measured in a fresh Python process.

    A fresh process keeps freed memory from an earlier load (which the
    allocator may hold on to) out of the figure. Returns the RSS before and
    after the load, the padded n_ctx and the KV MiB llama.cpp reported.
    """
    import json
    import subprocess
    import sys

    from course_lib.models import model_path

    kw = {"path": str(model_path(path)), "n_ctx": int(n_ctx), "type_k": type_k, "type_v": type_v, "swa_full": swa_full}
    proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(kw)], capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise CourseError(f"measuring a load with n_ctx={n_ctx} failed: {last}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
