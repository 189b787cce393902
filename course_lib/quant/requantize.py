"""Requantize a GGUF with course_lib's own quantizers (`llm-course quantize`).

Derived in notebooks/02_quantization_from_scratch.ipynb. Every tensor is
dequantized and quantized again tensor by tensor, a slice of rows at a time,
so the 262144 x 640 embedding table never sits in memory as float32. Which
type each tensor gets is llama.cpp's rule (`quant.policy`): 1-D tensors stay
as they are, the output matrix (or a tied token embedding) gets Q6_K unless
the target is Q8_0, and a K-quant falls back to a 32-block type when a row is
not a multiple of 256.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

from course_lib.errors import CourseError
from course_lib.gguf_file import GGUFContents, read_gguf, type_size
from course_lib.quant import formats
from course_lib.quant.policy import FLOAT_TYPES, ModelShape, tensor_type

FILE_TYPE = {"Q8_0": "MOSTLY_Q8_0", "Q4_0": "MOSTLY_Q4_0", "Q4_1": "MOSTLY_Q4_1", "Q5_0": "MOSTLY_Q5_0",
             "Q5_1": "MOSTLY_Q5_1", "Q4_K": "MOSTLY_Q4_K_S", "Q6_K": "MOSTLY_Q6_K"}
ROWS_PER_SLICE = 8192


@dataclass
class TensorPlan:
    name: str
    shape: tuple[int, ...]  # numpy order (rows..., row length)
    source_type: str
    target_type: str  # "keep" leaves the bytes untouched


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


def target_type(name: str, shape: tuple[int, ...], qtype: str, model: ModelShape) -> str:
    """The type tensor `name` (numpy shape: row length last) gets, or "keep" to copy its bytes.

    The choice is llama.cpp's (`quant.policy.tensor_type`); a tensor the rule
    leaves in float, or gives a type the course cannot write, keeps its bytes.
    """
    if len(shape) < 2:
        return "keep"
    chosen = tensor_type(name, tuple(reversed(shape)), qtype, model)
    if chosen in FLOAT_TYPES or chosen not in formats.QTYPES or shape[-1] % formats.block_layout(chosen)[0]:
        return "keep"
    return chosen


def plan(contents: GGUFContents, qtype: str) -> list[TensorPlan]:
    model = model_shape(contents)
    return [TensorPlan(t.name, tuple(reversed(t.shape)), t.type_name,
                       target_type(t.name, tuple(reversed(t.shape)), qtype, model)) for t in contents.tensors]


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


def _requantized(f, offset: int, n_rows: int, p: TensorPlan) -> np.ndarray:
    """The tensor at `offset` in the open source file, requantized to p.target_type, slice by slice."""
    n_src, size_src = type_size(p.source_type)
    row_bytes = p.shape[-1] // n_src * size_src
    n, size = formats.block_layout(p.target_type)
    out = np.empty((n_rows, p.shape[-1] // n * size), dtype=np.uint8)
    for start in range(0, n_rows, ROWS_PER_SLICE):
        count = min(ROWS_PER_SLICE, n_rows - start)
        raw = _read_rows(f, offset + start * row_bytes, count, row_bytes)
        out[start:start + count] = formats.quantize(_dequantize_rows(raw, p.source_type, p.shape[-1]), p.target_type)
    return out


def requantize(src, dst, qtype: str, progress: bool = True) -> list[TensorPlan]:
    """Write dst: src's metadata and tensors, each weight matrix requantized to qtype."""
    qtype = str(qtype).upper()
    if qtype not in formats.QTYPES:
        raise CourseError(f"unknown quantization type {qtype!r}; choose one of {', '.join(formats.QTYPES)}")
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise CourseError(f"no GGUF file at {src}")
    if src.resolve() == dst.resolve():
        raise CourseError("the output file must differ from the input file")
    if not dst.parent.is_dir():
        raise CourseError(f"no folder {dst.parent} to write {dst.name} into")
    contents = read_gguf(src, all_values=True)
    if gguf.Keys.General.ARCHITECTURE not in contents.metadata:
        raise CourseError(f"{src} has no general.architecture in its metadata; llama.cpp could not load it either")
    plans = plan(contents, qtype)
    # Written beside dst and renamed at the end: a failed run leaves no half file and spares an old dst.
    partial = dst.with_name(dst.name + ".partial")
    try:
        _write(contents, plans, partial, qtype, progress)
        partial.replace(dst)
    finally:
        partial.unlink(missing_ok=True)
    return plans


def _write(contents: GGUFContents, plans: list[TensorPlan], dst: Path, qtype: str, progress: bool) -> None:
    writer = gguf.GGUFWriter(dst, contents.metadata[gguf.Keys.General.ARCHITECTURE])
    writer.data_alignment = contents.alignment  # pad tensors as the copied general.alignment says
    for key, value in contents.metadata.items():
        if key == gguf.Keys.General.ARCHITECTURE:
            continue  # the writer adds it first
        vtype, sub_type = contents.metadata_types[key]
        if key == gguf.Keys.General.FILE_TYPE:
            value = int(gguf.LlamaFileType[FILE_TYPE[qtype]])
        writer.add_key_value(key, value, vtype, sub_type=sub_type)
    for t, p in zip(contents.tensors, plans):
        qtype_out = p.source_type if p.target_type == "keep" else p.target_type
        n, size = type_size(qtype_out)
        byte_shape = (*p.shape[:-1], p.shape[-1] // n * size)
        writer.add_tensor_info(t.name, byte_shape, np.dtype(np.uint8), int(np.prod(byte_shape)),
                               gguf.GGMLQuantizationType[qtype_out])
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        items = zip(contents.tensors, plans)
        if progress:
            from tqdm.auto import tqdm
            items = tqdm(list(items), desc=f"requantizing to {qtype}", unit="tensor")
        with open(contents.path, "rb") as f:
            for t, p in items:
                offset = contents.data_offset + t.offset
                if p.target_type == "keep":
                    data = _read_rows(f, offset, 1, t.n_bytes)
                else:
                    data = _requantized(f, offset, t.n_elements // p.shape[-1], p)
                writer.write_tensor_data(data)
    finally:
        writer.close()
