"""Writing a GGUF file whose metadata is another file's, byte for byte, with a few keys set (`llm-course quantize`).

Derived in notebooks/02_quantization_from_scratch.ipynb ("Rebuilding llama.cpp's
mixes"). A GGUF file is a 24-byte start (magic, version, tensor count, key
count), the metadata key-values, one entry per tensor (name, dimensions,
type, offset), padding to `general.alignment`, then each tensor's bytes,
padded the same way (the GGUF specification, ggml/docs/gguf.md). A
requantized file keeps the source's metadata (for Gemma, a 262,144-token
vocabulary: several megabytes of strings), so the key-value section is copied
as raw bytes, and only the keys that change (general.file_type, what the
quantizer records) are packed anew: decoding and re-encoding every string
would take seconds per file.
"""

from __future__ import annotations

import functools
import struct
from pathlib import Path

from course_lib.errors import CourseError

UINT32, STRING, ARRAY = 4, 8, 9  # GGUF value types
_U64 = struct.Struct("<Q")
_WIDTH = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}  # fixed-size value types


def _scan(data: bytes, at: int, vtype: int) -> int:
    """The offset just past a value of type vtype starting at `at`."""
    if vtype in _WIDTH:
        return at + _WIDTH[vtype]
    if vtype == STRING:
        return at + 8 + int.from_bytes(data[at:at + 8], "little")
    if vtype == ARRAY:
        etype, count = struct.unpack_from("<IQ", data, at)
        at += 12
        if etype in _WIDTH:
            return at + count * _WIDTH[etype]
        if etype == STRING:  # a vocabulary: 262,144 strings for Gemma, walked by their lengths
            length = _U64.unpack_from
            for _ in range(count):
                at += 8 + length(data, at)[0]
            return at
        for _ in range(count):
            at = _scan(data, at, etype)
        return at
    raise CourseError(f"unknown GGUF value type {vtype}")


def metadata_section(path) -> tuple[int, dict[str, bytes]]:
    """(GGUF version, key -> that key-value's raw bytes, in file order) of a little-endian GGUF file."""
    path = Path(path)
    st = path.stat()
    return _metadata_section(str(path.resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _metadata_section(path: str, size: int, mtime_ns: int) -> tuple[int, dict[str, bytes]]:
    # keyed on size and mtime: several files made from one source scan it once
    with open(path, "rb") as f:
        head = f.read(24)
        if len(head) < 24 or head[:4] != b"GGUF":
            raise CourseError(f"{path} is not a GGUF file")
        version, _, n_kv = struct.unpack_from("<IQQ", head, 4)
        size = 1 << 22
        while True:  # the metadata is read in one piece, grown until it is all there
            f.seek(0)
            data = f.read(size)
            try:
                entries, at = {}, 24
                for _ in range(n_kv):
                    key_len = int.from_bytes(data[at:at + 8], "little")
                    key = data[at + 8:at + 8 + key_len].decode("utf-8")
                    vtype = int.from_bytes(data[at + 8 + key_len:at + 12 + key_len], "little")
                    end = _scan(data, at + 12 + key_len, vtype)
                    if end > len(data):
                        raise IndexError
                    entries[key], at = data[at:end], end
                return version, entries
            except (IndexError, struct.error):
                if len(data) < size:
                    raise CourseError(f"{path} ends inside its metadata") from None
                size *= 4


def key_value_u32(key: str, value: int) -> bytes:
    encoded = key.encode("utf-8")
    return struct.pack("<Q", len(encoded)) + encoded + struct.pack("<II", UINT32, value)


def tensor_entry(name: str, gguf_shape, type_id: int, offset: int) -> bytes:
    encoded = name.encode("utf-8")
    return (struct.pack("<Q", len(encoded)) + encoded + struct.pack("<I", len(gguf_shape))
            + struct.pack(f"<{len(gguf_shape)}Q", *gguf_shape) + struct.pack("<IQ", type_id, offset))


def write_gguf(dst, source, set_u32: dict[str, int], tensors, data, alignment: int) -> None:
    """Write dst: source's metadata with the uint32 keys in `set_u32` set (replaced or added), then `tensors`
    ((name, GGUF shape, type id, bytes) each) and their bytes, one array per tensor from the iterable `data`."""
    version, entries = metadata_section(source)
    entries = dict(entries)
    for key, value in set_u32.items():
        entries[key] = key_value_u32(key, value)
    table, offsets, offset = [], [], 0
    for name, shape, type_id, nbytes in tensors:
        table.append(tensor_entry(name, shape, type_id, offset))
        offsets.append(nbytes)
        offset += -(-nbytes // alignment) * alignment
    header = b"".join([b"GGUF", struct.pack("<IQQ", version, len(tensors), len(entries)), *entries.values(), *table])
    with open(dst, "wb") as out:
        out.write(header)
        out.write(bytes(-len(header) % alignment))
        for expected, array in zip(offsets, data):
            if array.nbytes != expected:
                raise CourseError(f"a tensor of {array.nbytes} bytes where its entry says {expected}")
            array.tofile(out)
            out.write(bytes(-expected % alignment))
