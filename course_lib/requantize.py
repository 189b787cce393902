"""Requantize a GGUF with course_lib's own quantizers (`llm-course quantize`).

Derived in notebooks/02_quantization_from_scratch.ipynb. Every tensor is
dequantized and quantized again tensor by tensor, a slice of rows at a time,
so the 262144 x 640 embedding table never sits in memory as float32. Which
tensors stay float follows llama.cpp's quantizer (llama_tensor_get_type):
1-D tensors (norms, biases) stay as they are; the output matrix, or the token
embedding when the output is tied to it, gets Q6_K unless the target is Q8_0;
and a K-quant falls back to a 32-block type when a row is not a multiple of 256.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

from course_lib import quant
from course_lib.errors import CourseError

# llama.cpp's fallback when a row length is not a multiple of the K-quant super-block.
K_FALLBACK = {"Q4_K": "Q5_0", "Q6_K": "Q8_0"}
FILE_TYPE = {"Q8_0": "MOSTLY_Q8_0", "Q4_0": "MOSTLY_Q4_0", "Q4_1": "MOSTLY_Q4_1", "Q5_0": "MOSTLY_Q5_0",
             "Q5_1": "MOSTLY_Q5_1", "Q4_K": "MOSTLY_Q4_K_S", "Q6_K": "MOSTLY_Q6_K"}
ROWS_PER_SLICE = 8192


@dataclass
class TensorPlan:
    name: str
    shape: tuple[int, ...]  # numpy order (rows..., row length)
    source_type: str
    target_type: str  # "keep" leaves the bytes untouched


def target_type(name: str, shape: tuple[int, ...], qtype: str, has_output: bool) -> str:
    if len(shape) < 2 or not name.endswith(".weight") or "norm" in name:
        return "keep"
    chosen = qtype
    if name == "output.weight" or (name == "token_embd.weight" and not has_output):
        chosen = "Q8_0" if qtype == "Q8_0" else "Q6_K"
    if shape[-1] % quant.block_layout(chosen)[0]:
        chosen = K_FALLBACK.get(chosen, chosen)
    if shape[-1] % quant.block_layout(chosen)[0]:
        return "keep"
    return chosen


def plan(reader: gguf.GGUFReader, qtype: str) -> list[TensorPlan]:
    names = {t.name for t in reader.tensors}
    out = []
    for t in reader.tensors:
        shape = tuple(int(n) for n in reversed(t.shape.tolist()))
        out.append(TensorPlan(t.name, shape, t.tensor_type.name,
                              target_type(t.name, shape, qtype, "output.weight" in names)))
    return out


def _dequantize_rows(raw: np.ndarray, source: str, row_len: int) -> np.ndarray:
    if source in quant.QTYPES:
        return quant.dequantize(raw, source, (raw.shape[0], row_len))
    return gguf.quants.dequantize(raw, gguf.GGMLQuantizationType[source]).reshape(raw.shape[0], row_len)


def _requantized(tensor, p: TensorPlan) -> np.ndarray:
    raw = np.asarray(tensor.data)
    raw = raw.reshape(-1, raw.shape[-1]) if raw.ndim > 1 else raw.reshape(1, -1)
    n, size = quant.block_layout(p.target_type)
    out = np.empty((raw.shape[0], p.shape[-1] // n * size), dtype=np.uint8)
    for start in range(0, raw.shape[0], ROWS_PER_SLICE):
        rows = _dequantize_rows(raw[start:start + ROWS_PER_SLICE], p.source_type, p.shape[-1])
        out[start:start + ROWS_PER_SLICE] = quant.quantize(rows, p.target_type)
    return out.reshape(*p.shape[:-1], out.shape[-1])


def requantize(src, dst, qtype: str, progress: bool = True) -> list[TensorPlan]:
    """Write dst: src's metadata and tensors, each weight matrix requantized to qtype."""
    qtype = str(qtype).upper()
    if qtype not in quant.QTYPES:
        raise CourseError(f"unknown quantization type {qtype!r}; choose one of {', '.join(quant.QTYPES)}")
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise CourseError(f"no GGUF file at {src}")
    if src.resolve() == dst.resolve():
        raise CourseError("the output file must differ from the input file")
    reader = gguf.GGUFReader(src)
    arch = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
    writer = gguf.GGUFWriter(dst, arch)
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        value = field.contents()
        if field.name == gguf.Keys.General.FILE_TYPE:
            value = int(gguf.LlamaFileType[FILE_TYPE[qtype]])
        writer.add_key_value(field.name, value, vtype, sub_type=sub)
    plans = plan(reader, qtype)
    for t, p in zip(reader.tensors, plans):
        if p.target_type == "keep":
            writer.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.data.nbytes, t.tensor_type)
        else:
            n, size = quant.block_layout(p.target_type)
            byte_shape = (*p.shape[:-1], p.shape[-1] // n * size)
            writer.add_tensor_info(t.name, byte_shape, np.dtype(np.uint8), int(np.prod(byte_shape)),
                                   gguf.GGMLQuantizationType[p.target_type])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    items = zip(reader.tensors, plans)
    if progress:
        from tqdm.auto import tqdm
        items = tqdm(list(items), desc=f"requantizing to {qtype}", unit="tensor")
    for t, p in items:
        data = t.data if p.target_type == "keep" else _requantized(t, p)
        writer.write_tensor_data(data, tensor_endianess=reader.endianess)
    writer.close()
    return plans
