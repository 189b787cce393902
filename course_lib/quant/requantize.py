"""Requantize a GGUF with course_lib's own quantizers (`llm-course quantize`), and compare two files tensor by tensor.

Derived in notebooks/02_quantization_from_scratch.ipynb. Every weight matrix is
dequantized and quantized again, a slice of rows at a time, so the 262144 x
640 embedding table never sits in memory as float32. The target is a preset
(Q4_K_M, Q3_K_M, ...) or a single type; which type each tensor gets is
llama.cpp's rule (`quant.policy`). As llama.cpp's `llama_model_quantize`
does (src/llama-quant.cpp), 1-D tensors and norms keep their bytes, and so
does a tensor that is already of the type it would get (`reencode=True`
quantizes those again, to see whether the quantizer reproduces them). An
importance matrix (`quant.imatrix`, or llama-imatrix's file) weights each
matrix's scale search, as `llama-quantize --imatrix` does.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

from course_lib.errors import CourseError
from course_lib.gguf_file import GGUFContents, read_gguf, type_size
from course_lib.quant import formats
from course_lib.quant.gguf_write import write_gguf
from course_lib.quant.policy import FLOAT_TYPES, ModelShape, normalize_preset, tensor_type

# What `llm-course quantize --type` accepts, and the general.file_type each writes (llama.cpp's llama_ftype).
FILE_TYPE = {"Q8_0": "MOSTLY_Q8_0", "Q6_K": "MOSTLY_Q6_K", "Q5_K_M": "MOSTLY_Q5_K_M", "Q5_K_S": "MOSTLY_Q5_K_S",
             "Q5_1": "MOSTLY_Q5_1", "Q5_0": "MOSTLY_Q5_0", "Q4_K_M": "MOSTLY_Q4_K_M", "Q4_K_S": "MOSTLY_Q4_K_S",
             "Q4_1": "MOSTLY_Q4_1", "Q4_0": "MOSTLY_Q4_0", "IQ4_NL": "MOSTLY_IQ4_NL", "Q3_K_L": "MOSTLY_Q3_K_L",
             "Q3_K_M": "MOSTLY_Q3_K_M", "Q3_K_S": "MOSTLY_Q3_K_S", "Q2_K": "MOSTLY_Q2_K",
             # a single K type: llama.cpp's output and fallback rules, no mix; filed as the mix's _S variant
             "Q5_K": "MOSTLY_Q5_K_S", "Q4_K": "MOSTLY_Q4_K_S", "Q3_K": "MOSTLY_Q3_K_S"}
TARGETS = tuple(FILE_TYPE)
ROWS_PER_SLICE = 8192


@dataclass
class TensorPlan:
    name: str
    shape: tuple[int, ...]  # numpy order (rows..., row length)
    source_type: str
    target_type: str  # its type in the written file
    requantized: bool  # False: its bytes are copied from the source

    @property
    def action(self) -> str:
        return "requantized" if self.requantized else "copied"


def model_shape(contents: GGUFContents) -> ModelShape:
    """What the per-tensor rule needs, read from a GGUF's metadata."""
    meta = contents.metadata
    arch = meta.get(gguf.Keys.General.ARCHITECTURE, "")
    heads, heads_kv = meta.get(f"{arch}.attention.head_count", 1), meta.get(f"{arch}.attention.head_count_kv", 1)
    heads = max(heads) if isinstance(heads, list) else heads
    heads_kv = max(heads_kv) if isinstance(heads_kv, list) else heads_kv
    names = {t.name for t in contents.tensors}
    return ModelShape(int(meta.get(f"{arch}.block_count", 0)), int(heads) // max(int(heads_kv or 1), 1),
                      int(meta.get(f"{arch}.expert_count", 0) or 0), has_output="output.weight" in names)


def target_type(name: str, shape: tuple[int, ...], qtype: str, model: ModelShape, imatrix: bool = False) -> str:
    """The type tensor `name` (numpy shape: row length last) gets, or "keep" to copy its bytes.

    The choice is llama.cpp's (`quant.policy.tensor_type`); a tensor the rule
    leaves in float, or gives a type the course cannot write, keeps its bytes.
    """
    if len(shape) < 2:
        return "keep"
    chosen = tensor_type(name, tuple(reversed(shape)), qtype, model, imatrix)
    if chosen in FLOAT_TYPES or chosen not in formats.QTYPES or shape[-1] % formats.block_layout(chosen)[0]:
        return "keep"
    return chosen


def plan(contents: GGUFContents, qtype: str, imatrix: bool = False, reencode: bool = False) -> list[TensorPlan]:
    model = model_shape(contents)
    plans = []
    for t in contents.tensors:
        shape = tuple(reversed(t.shape))
        chosen = target_type(t.name, shape, qtype, model, imatrix)
        copy = chosen == "keep" or (chosen == t.type_name and not reencode)
        plans.append(TensorPlan(t.name, shape, t.type_name, t.type_name if copy else chosen, not copy))
    return plans


def _dequantize_rows(raw: np.ndarray, source: str, row_len: int) -> np.ndarray:
    if source in formats.QTYPES:
        return formats.dequantize(raw, source, (raw.shape[0], row_len))
    return gguf.quants.dequantize(raw, gguf.GGMLQuantizationType[source]).reshape(raw.shape[0], row_len)


def _read_rows(f, offset: int, n_rows: int, row_bytes: int) -> np.ndarray:
    # Plain reads rather than a memory map: mapped pages would stay resident until the map closes.
    f.seek(offset)
    data = np.fromfile(f, dtype=np.uint8, count=n_rows * row_bytes)
    if data.size != n_rows * row_bytes:
        raise CourseError(f"{f.name} ends inside its tensor data (truncated download?)")
    return data.reshape(n_rows, row_bytes)


def _requantized(f, offset: int, n_rows: int, p: TensorPlan, weights) -> np.ndarray:
    """The tensor at `offset` in the open source file, requantized to p.target_type, slice by slice."""
    n_src, size_src = type_size(p.source_type)
    row_bytes = p.shape[-1] // n_src * size_src
    n, size = formats.block_layout(p.target_type)
    out = np.empty((n_rows, p.shape[-1] // n * size), dtype=np.uint8)
    for start in range(0, n_rows, ROWS_PER_SLICE):
        count = min(ROWS_PER_SLICE, n_rows - start)
        raw = _read_rows(f, offset + start * row_bytes, count, row_bytes)
        out[start:start + count] = formats.quantize(_dequantize_rows(raw, p.source_type, p.shape[-1]),
                                                    p.target_type, weights)
    return out


def importance_weights(imatrix) -> dict[str, np.ndarray]:
    """name -> per-column weights from an `Imatrix`, a path to llama-imatrix's GGUF, or such a dict already."""
    from course_lib.quant.imatrix import Imatrix, load_imatrix

    if isinstance(imatrix, (str, Path)):
        imatrix = load_imatrix(imatrix)
    if isinstance(imatrix, Imatrix):
        return imatrix.weights()
    return {name: np.asarray(w, dtype=np.float32) for name, w in imatrix.items()}


def _contents(path: Path) -> GGUFContents:
    st = path.stat()
    return _read_cached(str(path.resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _read_cached(path: str, size: int, mtime_ns: int) -> GGUFContents:
    # keyed on size and mtime: the notebook builds several files from one source, whose header it reads once
    return read_gguf(path)


def requantize(src, dst, qtype: str, progress: bool = True, imatrix=None, reencode: bool = False) -> list[TensorPlan]:
    """Write dst: src's metadata and tensors, each weight matrix requantized to the preset or type `qtype`."""
    if str(qtype).strip().upper() not in FILE_TYPE:
        raise CourseError(f"unknown quantization type {qtype!r}; choose one of {', '.join(TARGETS)}")
    qtype = normalize_preset(qtype)
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise CourseError(f"no GGUF file at {src}")
    if src.resolve() == dst.resolve():
        raise CourseError("the output file must differ from the input file")
    if not dst.parent.is_dir():
        raise CourseError(f"no folder {dst.parent} to write {dst.name} into")
    contents = _contents(src)
    if gguf.Keys.General.ARCHITECTURE not in contents.metadata:
        raise CourseError(f"{src} has no general.architecture in its metadata; llama.cpp could not load it either")
    weights = None if imatrix is None else importance_weights(imatrix)
    plans = plan(contents, qtype, imatrix=weights is not None, reencode=reencode)
    for p in plans:
        w = (weights or {}).get(p.name)
        if p.requantized and w is not None and w.shape != (p.shape[-1],) and p.name != "token_embd.weight":
            raise CourseError(f"the importance matrix has {w.size} weights for {p.name}, whose rows hold {p.shape[-1]}")
    # Written beside dst and renamed at the end: a failed run leaves no half file and spares an old dst.
    partial = dst.with_name(dst.name + ".partial")
    try:
        _write(contents, plans, partial, qtype, progress, weights)
        partial.replace(dst)
    finally:
        partial.unlink(missing_ok=True)
    return plans


def _write(contents: GGUFContents, plans: list[TensorPlan], dst: Path, qtype: str, progress: bool, weights) -> None:
    keys = {gguf.Keys.General.FILE_TYPE: int(gguf.LlamaFileType[FILE_TYPE[qtype]])}
    if weights is not None:  # as llama-quantize records it
        keys["quantize.imatrix.entries_count"] = len(weights)
    entries = []
    for t, p in zip(contents.tensors, plans):
        n, size = type_size(p.target_type)
        entries.append((t.name, t.shape, int(gguf.GGMLQuantizationType[p.target_type]),
                        t.n_elements // n * size))
    data = _tensor_bytes(contents, plans, weights)
    if progress:
        from tqdm.auto import tqdm
        data = tqdm(data, total=len(plans), desc=f"requantizing to {qtype}", unit="tensor")
    write_gguf(dst, contents.path, keys, entries, data, contents.alignment)


def _one_tensor(path, offset: int, t, p: TensorPlan, weights) -> np.ndarray:
    with open(path, "rb") as f:
        if not p.requantized:
            return _read_rows(f, offset, 1, t.n_bytes)
        w = (weights or {}).get(p.name)
        if w is not None and w.shape != (p.shape[-1],):
            w = None  # llama.cpp too quantizes a token embedding without a mismatched entry
        return _requantized(f, offset, t.n_elements // p.shape[-1], p, w)


def _tensor_bytes(contents: GGUFContents, plans: list[TensorPlan], weights):
    """Each tensor's new bytes, in file order, computed on every core: numpy's loops release the GIL, so
    threads quantize tensors side by side. A few tensors ahead at most, to bound memory."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    from course_lib.runtime.machine import usable_cores

    workers = max(1, usable_cores())
    jobs = iter(zip(contents.tensors, plans))
    with ThreadPoolExecutor(workers) as pool:
        pending = deque()
        for t, p in jobs:
            pending.append(pool.submit(_one_tensor, contents.path, contents.data_offset + t.offset, t, p, weights))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


@dataclass(frozen=True)
class TensorMatch:
    name: str
    type_a: str
    type_b: str
    n_bytes: int
    same_bytes: bool

    @property
    def same_type(self) -> bool:
        return self.type_a == self.type_b


def compare_files(a, b) -> list[TensorMatch]:
    """Tensor by tensor: does file b hold each of file a's tensors with the same type, and the same bytes?"""
    ca, cb = read_gguf(a), read_gguf(b)
    by_name = {t.name: t for t in cb.tensors}
    missing = [t.name for t in ca.tensors if t.name not in by_name]
    if missing:
        raise CourseError(f"{b} lacks {len(missing)} of {a}'s tensors, e.g. {missing[0]}")
    out = []
    with open(ca.path, "rb") as fa, open(cb.path, "rb") as fb:
        for ta in ca.tensors:
            tb = by_name[ta.name]
            same = ta.type_name == tb.type_name and ta.n_bytes == tb.n_bytes
            step = 1 << 24
            for start in range(0, ta.n_bytes if same else 0, step):
                count = min(step, ta.n_bytes - start)
                if not np.array_equal(_read_rows(fa, ca.data_offset + ta.offset + start, 1, count),
                                      _read_rows(fb, cb.data_offset + tb.offset + start, 1, count)):
                    same = False
                    break
            out.append(TensorMatch(ta.name, ta.type_name, tb.type_name, ta.n_bytes, same))
    return out
