"""What is inside a GGUF file: every tensor's type, shape and exact size.

Derived in notebook 01 (memory math). A GGUF file is a header (metadata
key/values, then one entry per tensor: name, shape, type, offset) followed by
the tensor data, each tensor aligned to `general.alignment` bytes. A tensor's
size follows from its type's block layout (`gguf.GGML_QUANT_SIZES`: values per
block, bytes per block). The header is walked directly: `gguf.GGUFReader`
builds numpy views of every vocabulary string and takes seconds for a
262k-token vocabulary.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from course_lib.errors import CourseError


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # GGUF order: shape[0] is the row length (input dimension)
    type_name: str
    n_elements: int
    n_bytes: int
    offset: int  # from the start of the data section

    @property
    def bits_per_weight(self) -> float:
        return 8 * self.n_bytes / self.n_elements


@dataclass(frozen=True)
class GGUFContents:
    path: str
    file_bytes: int
    data_offset: int  # header (metadata + tensor table) size, including alignment padding
    alignment: int
    tensors: list[TensorInfo]
    metadata: dict
    # key -> (GGUFValueType, element type of an array or None); filled by read_gguf(all_values=True)
    metadata_types: dict = field(default_factory=dict, repr=False)

    @property
    def n_params(self) -> int:
        return sum(t.n_elements for t in self.tensors)

    @property
    def tensor_bytes(self) -> int:
        return sum(t.n_bytes for t in self.tensors)

    @property
    def bits_per_weight(self) -> float:
        """Average bits per parameter over all tensors (what a preset's name does not tell you)."""
        return 8 * self.tensor_bytes / self.n_params

    def by_type(self) -> dict[str, dict]:
        """Parameters, bytes and tensor count per tensor type, largest first."""
        out: dict[str, dict] = defaultdict(lambda: {"tensors": 0, "params": 0, "bytes": 0})
        for t in self.tensors:
            row = out[t.type_name]
            row["tensors"] += 1
            row["params"] += t.n_elements
            row["bytes"] += t.n_bytes
        return dict(sorted(out.items(), key=lambda kv: -kv[1]["bytes"]))

    def by_role(self) -> dict[str, dict]:
        """Bytes per tensor role (`blk.N.` stripped), e.g. attn_v.weight, with the types used."""
        out: dict[str, dict] = {}
        for t in self.tensors:
            role = t.name.split(".", 2)[2] if t.name.startswith("blk.") else t.name
            row = out.setdefault(role, {"tensors": 0, "params": 0, "bytes": 0, "types": set()})
            row["tensors"] += 1
            row["params"] += t.n_elements
            row["bytes"] += t.n_bytes
            row["types"].add(t.type_name)
        return dict(sorted(out.items(), key=lambda kv: -kv[1]["bytes"]))


def type_size(type_name: str) -> tuple[int, int]:
    """(values per block, bytes per block) of a ggml type, from the gguf package."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    try:
        return GGML_QUANT_SIZES[GGMLQuantizationType[type_name.upper()]]
    except KeyError:
        raise CourseError(f"unknown tensor type {type_name!r}") from None


def ggml_type_id(type_name: str) -> int:
    """The id llama.cpp's C API takes for a ggml type (e.g. `type_k` / `type_v` of a KV cache)."""
    from gguf import GGMLQuantizationType

    try:
        return int(GGMLQuantizationType[type_name.upper()])
    except KeyError:
        raise CourseError(f"unknown tensor type {type_name!r}") from None


def tensor_bytes(type_name: str, n_elements: int) -> int:
    block, nbytes = type_size(type_name)
    return -(-int(n_elements) // block) * nbytes


# Arrays of numbers up to this length are kept as lists (per-layer settings); longer ones (a
# vocabulary's scores) are replaced by their length unless the caller asks for every value.
SHORT_ARRAY = 4096


def read_gguf(path, *, all_values: bool = False) -> GGUFContents:
    """The metadata and tensor table of a GGUF file (no tensor data is read).

    By default long arrays (the vocabulary, its scores and merges) are skipped
    and stand in the metadata as their length; `all_values=True` keeps every
    value and records each key's value type in `metadata_types`, which is what
    copying the metadata into a new file needs (`course_lib.quant.requantize`).
    """
    import numpy as np
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType
    from gguf import GGUFValueType as T

    path = Path(path).expanduser()
    if not path.is_file():
        raise CourseError(f"GGUF file not found: {path}")
    scalar = {T.UINT8: "<B", T.INT8: "<b", T.UINT16: "<H", T.INT16: "<h", T.UINT32: "<I", T.INT32: "<i",
              T.FLOAT32: "<f", T.BOOL: "<?", T.UINT64: "<Q", T.INT64: "<q", T.FLOAT64: "<d"}
    types: dict[str, tuple] = {}
    try:
        with open(path, "rb") as f:
            def read(fmt):
                size = struct.calcsize(fmt)
                data = f.read(size)
                if len(data) != size:
                    raise ValueError("file ends inside the GGUF header")
                return struct.unpack(fmt, data)[0]

            def read_str():
                size = read("<Q")
                data = f.read(size)
                if len(data) != size:
                    raise ValueError("file ends inside the GGUF header")
                return data.decode("utf-8")

            def read_array():
                etype, count = T(read("<I")), read("<Q")
                keep = all_values or count <= SHORT_ARRAY
                if etype in scalar:
                    width = struct.calcsize(scalar[etype])
                    if not keep:
                        f.seek(count * width, 1)
                        return etype, count
                    data = f.read(count * width)
                    if len(data) != count * width:
                        raise ValueError("file ends inside the GGUF header")
                    return etype, np.frombuffer(data, dtype=np.dtype(scalar[etype])).tolist()
                values = [read_value(etype)[1] for _ in range(count)]
                return etype, values if keep else count

            def read_value(vtype):
                vtype = T(vtype)
                if vtype == T.STRING:
                    return None, read_str()
                if vtype == T.ARRAY:
                    return read_array()
                return None, read(scalar[vtype])

            if f.read(4) != b"GGUF":
                raise ValueError("no GGUF magic number")
            version = read("<I")
            if version > 0xFFFF:  # a small number read the wrong way round
                raise ValueError("it is big-endian; the course reads little-endian GGUF files only")
            n_tensors, n_kv = read("<Q"), read("<Q")
            metadata = {}
            for _ in range(n_kv):
                key = read_str()
                vtype = T(read("<I"))
                sub_type, metadata[key] = read_value(vtype)
                types[key] = (vtype, sub_type)
            raw = []
            for _ in range(n_tensors):
                name = read_str()
                dims = tuple(read("<Q") for _ in range(read("<I")))
                raw.append((name, dims, read("<I"), read("<Q")))
            header_end = f.tell()
    except (ValueError, OSError, UnicodeDecodeError, struct.error) as exc:
        raise CourseError(f"{path} is not a readable GGUF file: {exc}") from None
    alignment = int(metadata.get("general.alignment", 32))
    data_offset = -(-header_end // alignment) * alignment
    tensors = []
    for name, dims, type_id, offset in raw:
        try:
            qtype = GGMLQuantizationType(type_id)
        except ValueError:
            raise CourseError(f"{path}: tensor {name!r} has tensor type id {type_id}, "
                              "unknown to this gguf package") from None
        block, nbytes = GGML_QUANT_SIZES[qtype]
        n = 1
        for d in dims:
            n *= d
        tensors.append(TensorInfo(name, dims, qtype.name, n, n // block * nbytes, offset))
    size = path.stat().st_size
    data_end = data_offset + max((t.offset + t.n_bytes for t in tensors), default=0)
    if size < data_end:
        raise CourseError(f"{path} is cut short: its tensors need {data_end:,} bytes, the file has {size:,} "
                          "(an interrupted download or copy?)")
    return GGUFContents(str(path), size, data_offset, alignment, tensors, metadata,
                        types if all_values else {})


def tensor_bytes_view(contents: GGUFContents, tensor: TensorInfo):
    """A read-only memory map of one tensor's bytes: pages are read from disk as they are used."""
    import numpy as np

    return np.memmap(contents.path, dtype=np.uint8, mode="r", offset=contents.data_offset + tensor.offset,
                     shape=(tensor.n_bytes,))


def tensor_values(path, name: str):
    """One tensor of a GGUF file as float32, rows first (numpy order: shape reversed from GGUF's).

    Used in notebook 02 to quantize real weights. Only that tensor's bytes
    are read (memory-mapped), then decoded with the `gguf` package.
    """
    import numpy as np
    from gguf import GGMLQuantizationType, quants

    contents = read_gguf(path)
    found = [t for t in contents.tensors if t.name == name]
    if not found:
        close = [t.name for t in contents.tensors if name.split(".")[-2:] == t.name.split(".")[-2:]][:3]
        raise CourseError(
            f"no tensor named {name!r} in {contents.path}" + (f"; did you mean {', '.join(close)}?" if close else "")
        )
    tensor = found[0]
    values = quants.dequantize(np.array(tensor_bytes_view(contents, tensor)), GGMLQuantizationType[tensor.type_name])
    return np.asarray(values, dtype=np.float32).reshape(tensor.shape[::-1])
