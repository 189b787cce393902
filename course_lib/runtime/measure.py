"""What a model load really costs, measured in the engine itself.

Derived in notebooks 01 (memory math) and 03 (KV-cache growth). Loads go
through llama-cpp-python with llama.cpp's log captured (`llama_log`), so the
KV cache and buffer sizes are llama.cpp's own figures. Resident memory is
measured in a fresh Python process (`in_fresh_process`): freed memory from an
earlier load, which the allocator may keep, stays out of the figure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from course_lib.errors import CourseError, require_positive
from course_lib.gguf_file import ggml_type_id, type_size
from course_lib.runtime.engine import N_BATCH, N_UBATCH
from course_lib.runtime.llama_log import EngineKV, capture_llama_log, context_settings, engine_buffers, parse_kv_log
from course_lib.runtime.models import model_path


def rss_bytes() -> int:
    """Resident memory of this process right now (psutil: works on Linux, macOS and Windows)."""
    import psutil

    return psutil.Process(os.getpid()).memory_info().rss


def in_fresh_process(function: str, **kwargs) -> dict:
    """Call `course_lib.runtime.measure.<function>(**kwargs)` in a new Python process; return its dict.

    The one way the course measures memory without the notebook's own history
    in the figure. Arguments and the result travel as JSON.
    """
    child = ("import json, sys\n"
             "import llama_cpp  # the library's own memory is not the model's\n"
             "from course_lib.runtime import measure\n"
             f"print(json.dumps(measure.{function}(**json.loads(sys.argv[1]))))\n")
    proc = subprocess.run([sys.executable, "-c", child, json.dumps(kwargs)], capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise CourseError(f"measuring {function} with {kwargs} failed: {last}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _is_quantized(type_name: str) -> bool:
    return type_size(type_name)[0] > 1


def load_with_kv_report(path=None, *, n_ctx: int = 1024, type_k: str = "f16", type_v: str | None = None,
                        swa_full: bool | None = None, flash_attn: bool | None = None, n_ubatch: int = N_UBATCH,
                        **kwargs):
    """Load the model and return `(llm, EngineKV)`: the live model and what its KV cache took.

    A quantized V cache needs flash attention in llama.cpp; `flash_attn=None`
    turns it on exactly when V is quantized, `flash_attn=False` with a quantized
    V raises the engine's refusal as a CourseError.
    """
    from course_lib.runtime.engine import load_model

    require_positive("n_ctx", n_ctx)
    type_v = type_v if type_v is not None else type_k
    v_quantized = _is_quantized(type_v)
    if flash_attn is None:
        flash_attn = v_quantized
    if v_quantized and not flash_attn:
        raise CourseError(f"llama.cpp can only quantize the V cache ({type_v}) with flash attention; "
                          "pass flash_attn=True")
    extra = dict(kwargs)
    if swa_full is not None:
        extra["swa_full"] = swa_full
    with capture_llama_log() as chunks:
        llm = load_model(path, n_ctx=n_ctx, n_batch=max(n_ubatch, N_BATCH), n_ubatch=n_ubatch,
                         type_k=ggml_type_id(type_k), type_v=ggml_type_id(type_v), flash_attn=flash_attn, **extra)
    log = "".join(chunks)
    caches = parse_kv_log(log)
    if not caches:
        raise CourseError("llama.cpp printed no KV cache size while loading; this llama.cpp version "
                          "logs differently than the course expects")
    swa = ("using full-size SWA cache" in log) if any(c.kind == "swa" for c in caches) else None
    return llm, EngineKV(n_ctx, llm.n_ctx(), bool(flash_attn), swa, caches, log)


def measure_context_kv(path=None, *, n_ctx: int, n_seq: int = 1, kv_unified: bool = False, type_k: str = "f16",
                       type_v: str | None = None, swa_full: bool | None = None, n_ubatch: int = N_UBATCH) -> EngineKV:
    """The KV allocation of a llama.cpp context serving `n_seq` sequences in parallel.

    llama-cpp-python's `Llama` always asks for one sequence, so this goes
    through the low-level API (`llama_init_from_model` with `n_seq_max`). Here
    `n_ctx` is the *total* llama.cpp shares among the sequences, as with
    llama-server's `-c` and `-np`.
    """
    type_v = type_v if type_v is not None else type_k
    # Flash attention only where the cache type needs it: the cache is the same either way.
    return measure_context_memory(path, n_ctx=n_ctx, n_seq=n_seq, kv_unified=kv_unified,
                                  flash_attn=_is_quantized(type_v), swa_full=swa_full, n_ubatch=n_ubatch,
                                  type_k=type_k, type_v=type_v)["kv"]


def measure_context_memory(path=None, *, n_ctx: int, n_seq: int = 1, kv_unified: bool = False,
                           flash_attn: bool = False, swa_full: bool | None = None, n_ubatch: int = N_UBATCH,
                           n_batch: int | None = None, n_outputs_max: int | None = None, type_k: str = "f16",
                           type_v: str | None = None) -> dict:
    """What one llama.cpp context reserves, read from its log: KV caches, compute and output buffers.

    The low-level API, so every memory-deciding setting can be set: llama-cpp-python's
    `Llama` leaves `n_outputs_max` at 0 (llama.cpp then reserves logits for a whole
    batch), llama-server sets it to its number of slots. `n_ctx` is the total the
    sequences share, as with llama-server's `-c`. Returns the context's own settings
    line by line (`context`), the caches (`kv`, an EngineKV) and the buffers (bytes).
    """
    import llama_cpp

    require_positive("n_ctx", n_ctx)
    require_positive("n_seq", n_seq)
    type_v = type_v if type_v is not None else type_k
    file = str(model_path(path))
    with capture_llama_log() as chunks:
        model = llama_cpp.llama_model_load_from_file(file.encode(), llama_cpp.llama_model_default_params())
        if not model:
            raise CourseError(f"llama.cpp could not load {file}")
        try:
            params = llama_cpp.llama_context_default_params()
            params.n_ctx, params.n_seq_max, params.kv_unified = int(n_ctx), int(n_seq), bool(kv_unified)
            params.n_ubatch, params.n_batch = int(n_ubatch), int(n_batch or n_ubatch)
            if n_outputs_max is not None:
                params.n_outputs_max = int(n_outputs_max)
            params.type_k, params.type_v = ggml_type_id(type_k), ggml_type_id(type_v)
            params.flash_attn_type = (llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attn
                                      else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED)
            if swa_full is not None:
                params.swa_full = bool(swa_full)
            ctx = llama_cpp.llama_init_from_model(model, params)
            if not ctx:
                raise CourseError(f"llama.cpp could not create a context with {n_ctx=}, {n_seq=}, {flash_attn=}")
            llama_cpp.llama_free(ctx)
        finally:
            llama_cpp.llama_model_free(model)
    return _memory_report("".join(chunks), n_ctx)


def _memory_report(log: str, n_ctx_requested: int) -> dict:
    """KV caches, buffers and settings of the last context a llama.cpp log created."""
    settings = context_settings(log)
    # llama-server's --fit creates trial contexts before the real one; the real one is the last.
    start = log.rfind("llama_context: n_seq_max")
    last = log[start:] if start >= 0 else log
    caches = parse_kv_log(last)
    if not caches:
        raise CourseError("llama.cpp printed no KV cache size; this llama.cpp version logs differently than the "
                          "course expects")
    swa = ("using full-size SWA cache" in log) if any(c.kind == "swa" for c in caches) else None
    fa = settings.get("flash_attn") == "enabled"
    buffers = engine_buffers(last)
    everything = engine_buffers(log)  # trial contexts print their weights as 0.00 MiB: the sum is the real load
    buffers["model"], buffers["repack"] = everything["model"], everything["repack"]
    return {"context": settings, "kv": EngineKV(n_ctx_requested, int(settings.get("n_ctx", 0)), fa, swa, caches, log),
            "buffers": buffers}


def measure_server_memory(path=None, *, n_ctx: int = 0, parallel: int | None = None, **settings) -> dict:
    """What llama.cpp's own server (`llama-server`, from the xllamacpp wheel) reserves, read from its log.

    Unset settings keep llama-server's defaults: `n_ctx=0` is the model's
    trained context fitted to free memory, `parallel=None` its automatic 4
    slots sharing a unified cache, flash attention `auto`, a reduced
    sliding-window cache, n_batch 2048 and n_ubatch 512. The server is started,
    its log read once the model is loaded, and stopped. Same report as
    `measure_context_memory`.
    """
    import time

    from course_lib.runtime.native_server import NativeLlamaServer

    server = NativeLlamaServer(path, n_ctx=n_ctx, parallel=parallel, n_threads=1, log_verbosity=4, **settings)
    with server:
        deadline = time.monotonic() + 30
        while "compute buffer size" not in server.log_text() and time.monotonic() < deadline:
            time.sleep(0.1)  # llama.cpp logs from its own thread
        log = server.log_text()
    return _memory_report(log, n_ctx)


def measure_kv_allocation(path=None, **kwargs) -> EngineKV:
    """Load, read the KV allocation from llama.cpp's report, free the model."""
    llm, report = load_with_kv_report(path, **kwargs)
    llm.close()
    del llm
    return report


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


# ---------------------------------------------------------------- run in a fresh process

def kv_load_memory(path: str, n_ctx: int, type_k: str = "f16", type_v: str | None = None,
                   swa_full: bool | None = None) -> dict:
    """(In the child) RSS before and after a load, the padded n_ctx and the KV MiB llama.cpp reported."""
    before = rss_bytes()
    llm, report = load_with_kv_report(path, n_ctx=n_ctx, type_k=type_k, type_v=type_v, swa_full=swa_full)
    return {"rss_before": before, "rss_after": rss_bytes(), "n_ctx": report.n_ctx, "kv_mib": report.total_mib}


def load_and_eval_memory(path: str, n_ctx: int, n_batch: int, n_eval: int) -> dict:
    """(In the child) RSS after loading without mmap and after evaluating `n_eval` tokens, with the load log."""
    from course_lib.runtime.engine import load_model

    before = rss_bytes()
    with capture_llama_log() as chunks:
        llm = load_model(path, n_ctx=n_ctx, n_batch=n_batch, n_ubatch=n_batch, use_mmap=False)
    loaded = rss_bytes()
    tokens = llm.tokenize(b"The quick brown fox jumps over the lazy dog. " * 60)[:n_eval]
    llm.eval(tokens)  # touch the compute buffer and the cache
    return {"rss_before": before, "rss_loaded": loaded, "rss_after_eval": rss_bytes(), "log": "".join(chunks)}


def load_memory_in_fresh_process(path=None, *, n_ctx: int, type_k: str = "f16", type_v: str | None = None,
                                 swa_full: bool | None = None) -> dict:
    """Resident memory a model load adds, measured in a fresh Python process.

    Returns the RSS before and after the load, the padded n_ctx and the KV MiB llama.cpp reported.
    """
    return in_fresh_process("kv_load_memory", path=str(model_path(path)), n_ctx=int(n_ctx), type_k=type_k,
                            type_v=type_v, swa_full=swa_full)


def measure_load(path=None, n_ctx: int = 1024, n_batch: int = N_BATCH, n_eval: int = 256) -> dict:
    """Load a GGUF in a fresh process (no mmap, so weights are resident) and evaluate `n_eval` tokens.

    Returns the process's resident-memory growth (psutil) after loading and
    after the evaluation, and llama.cpp's own buffer sizes from its log.
    """
    data = in_fresh_process("load_and_eval_memory", path=str(model_path(path)), n_ctx=int(n_ctx),
                            n_batch=int(n_batch), n_eval=int(n_eval))
    data["buffers"] = engine_buffers(data.pop("log"))
    data["rss_growth"] = data["rss_after_eval"] - data["rss_before"]
    return data
