"""How a GGUF file is laid out, drawn from a real file's own header (notebook 01).

A GGUF file is a fixed 24-byte start (magic "GGUF", version, tensor and
key counts), the metadata key-values (architecture numbers, the tokenizer's
vocabulary), a table with one entry per tensor (name, shape, type, offset),
padding to the alignment, then the tensor data. The top bar draws the whole
file to scale, the data coloured by tensor type; the bottom bar zooms into the
header, which is too thin to see at that scale.
"""

from __future__ import annotations

from course_lib.diagrams.figure import shown

from course_lib.gguf_file import GGUFContents
from course_lib.units import MIB

FIXED_START = 24  # magic (4) + version (4) + tensor count (8) + key-value count (8)


def tensor_table_bytes(contents: GGUFContents) -> int:
    """Bytes of the tensor-info table: name (length + text), dimensions, type and offset per tensor."""
    return sum(8 + len(t.name.encode()) + 4 + 8 * len(t.shape) + 4 + 8 for t in contents.tensors)


def gguf_layout(contents: GGUFContents):
    """Two rows for `contents` (`gguf_file.read_gguf`): the file to scale, tensors in file order coloured by
    type; and the four parts of the file as boxes (not to scale) with their sizes."""
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(8, 3.8), facecolor="white", layout="constrained")
    whole, parts = fig.subplots(2, 1, height_ratios=[1, 1.1])
    kinds = sorted(contents.by_type(), key=lambda k: -contents.by_type()[k]["bytes"])
    colors = {kind: f"C{i}" for i, kind in enumerate(kinds)}
    whole.barh([0], [contents.data_offset / MIB], color="#444444", label="header")
    for t in sorted(contents.tensors, key=lambda t: t.offset):
        whole.barh([0], [t.n_bytes / MIB], left=(contents.data_offset + t.offset) / MIB, color=colors[t.type_name])
    for kind in kinds:
        whole.barh([0], [0], color=colors[kind], label=f"{kind} ({contents.by_type()[kind]['tensors']} tensors)")
    whole.set_xlim(0, contents.file_bytes / MIB)
    whole.set_yticks([])
    whole.set_xlabel("offset in the file (MiB); tensors in file order, coloured by type")
    whole.set_title(f"GGUF file layout: {contents.file_bytes / MIB:,.1f} MiB, {len(contents.tensors)} tensors")
    whole.legend(loc="upper center", bbox_to_anchor=(0.5, -0.55), ncol=6, fontsize=7, frameon=False)

    table = tensor_table_bytes(contents)
    tokens = contents.metadata.get("tokenizer.ggml.tokens", 0)
    vocab = len(tokens) if isinstance(tokens, list) else int(tokens)
    boxes = [("magic 'GGUF', version,\ntensor and key counts", FIXED_START),
             (f"metadata: {len(contents.metadata)} key-values\n(architecture numbers,\n{vocab:,}-token vocabulary)",
              contents.data_offset - FIXED_START - table),
             (f"tensor table: {len(contents.tensors)} entries\n(name, shape, type, offset)", table),
             (f"tensor data, aligned\nto {contents.alignment} bytes", contents.tensor_bytes)]
    for i, (label, size) in enumerate(boxes):
        parts.barh([0], [0.96], left=i, color=["#999999", "#4c72b0", "#dd8452", "#55a868"][i])
        size_text = f"{size:,} B" if size < 1 << 20 else f"{size / MIB:,.2f} MiB"
        parts.text(i + 0.48, 0, f"{label}\n{size_text}", ha="center", va="center", fontsize=7, color="white")
    parts.set_xlim(0, len(boxes))
    parts.set_xticks([])
    parts.set_yticks([])
    parts.set_title("the four parts, in file order (boxes not to scale)", fontsize=9)
    return shown(fig)
