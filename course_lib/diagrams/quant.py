"""A Q4_K super-block's bytes, drawn from a real block of the model file (notebook 02).

Q4_K stores 256 weights in 144 bytes: an fp16 scale `d` and an fp16 `dmin`,
then eight 6-bit sub-block scales and eight 6-bit minimums packed into 12
bytes, then the 256 4-bit codes two to a byte. A weight is
d * scale_j * code - dmin * min_j for its sub-block j of 32 weights. The
top row draws the 144 bytes to scale, coloured by field; the middle row
shows which of the 16 six-bit values owns each bit of the 12 scale bytes
(found by packing one bit at a time with the course's own packer); the
bottom row plots the 256 weights the block decodes to, sub-block by sub-block.
"""

from __future__ import annotations

import numpy as np

from course_lib.quant.formats import block_layout
from course_lib.quant.kquants import dequantize_q4_k, pack_scale_min_k4, unpack_scale_min_k4

SUB_BLOCKS, SUB_SIZE, SCALE_BITS, CODE_BITS, FP16_BYTES = 8, 32, 6, 4, 2


def q4_k_fields() -> list[tuple[str, int]]:
    """(field, bytes) of a Q4_K block, in order, from its structure; they add up to ggml's block size."""
    fields = [("d (fp16)", FP16_BYTES), ("dmin (fp16)", FP16_BYTES),
              ("8 scales + 8 mins, 6 bits each", 2 * SUB_BLOCKS * SCALE_BITS // 8),
              ("256 codes, 4 bits each", SUB_BLOCKS * SUB_SIZE * CODE_BITS // 8)]
    assert sum(size for _, size in fields) == block_layout("Q4_K")[1]
    return fields


def scale_bit_owners() -> np.ndarray:
    """(12, 8): for each bit of the 12 scale bytes, which value owns it (0-7 scales, 8-15 mins)."""
    owners = np.full((12, 8), -1)
    for value in range(2 * SUB_BLOCKS):
        for bit in range(SCALE_BITS):
            ls, lm = np.zeros((1, SUB_BLOCKS), np.uint8), np.zeros((1, SUB_BLOCKS), np.uint8)
            (ls if value < SUB_BLOCKS else lm)[0, value % SUB_BLOCKS] = 1 << bit
            packed = np.unpackbits(pack_scale_min_k4(ls, lm)[0], bitorder="little").reshape(12, 8)
            owners[packed == 1] = value
    return owners


def q4_k_superblock(block: np.ndarray, title: str = "a Q4_K super-block"):
    """The bytes of one Q4_K block (144 uint8) and what they decode to."""
    import matplotlib.pyplot as plt

    block = np.asarray(block, dtype=np.uint8).reshape(1, -1)
    fields = q4_k_fields()
    fig = plt.figure(figsize=(10, 6.8), facecolor="white", layout="constrained")
    strip, bits, values = fig.subplots(3, 1, height_ratios=[0.7, 1.3, 1.6])
    start = 0
    colors = ["#c44e52", "#dd8452", "#8172b3", "#55a868"]
    d, dmin = block[0, 0:2].view(np.float16)[0], block[0, 2:4].view(np.float16)[0]
    notes = [f"{float(d):.3g}", f"{float(dmin):.3g}", "", ""]
    for i, ((name, size), color, note) in enumerate(zip(fields, colors, notes)):
        strip.barh([0], [size], left=start, color=color, edgecolor="white")
        label = f"{name}, {size} B" + (f" = {note}" if note else "")
        if size > 20:
            strip.text(start + size / 2, 0, label, ha="center", va="center", fontsize=7, color="white")
        else:  # too narrow to write in: labelled beside the bar, to the right
            y = 0.28 - 0.28 * i
            strip.annotate(label, (start + size / 2, y), xytext=(24, y), fontsize=7, va="center", color="white",
                           arrowprops={"arrowstyle": "-", "lw": 0.6, "color": "white"})
        start += size
    strip.set_xlim(0, start)
    strip.set_yticks([])
    strip.set_xlabel("byte offset in the block (B)")
    strip.set_title(f"{title}: {start} bytes for {SUB_BLOCKS * SUB_SIZE} weights = "
                    f"{8 * start / (SUB_BLOCKS * SUB_SIZE)} bits per weight")

    owners = scale_bit_owners()
    bits.imshow(np.where(owners < SUB_BLOCKS, owners, owners - SUB_BLOCKS).T, cmap="tab10", aspect="auto",
                vmin=0, vmax=9)
    sc, mn = unpack_scale_min_k4(block[:, 4:16])
    for byte in range(12):
        for bit in range(8):
            v = owners[byte, bit]
            bits.text(byte, bit, ("s" if v < SUB_BLOCKS else "m") + str(v % SUB_BLOCKS), ha="center", va="center",
                      fontsize=6, fontweight="bold" if v >= SUB_BLOCKS else "normal")
    bits.set_xticks(range(12), [f"{4 + i}" for i in range(12)])
    bits.set_yticks(range(8))
    bits.set_xlabel("byte offset of the 12 scale bytes (B)")
    bits.set_ylabel("bit (0 = lowest)")
    bits.set_title("which 6-bit value owns each bit: s0-s7 scales, m0-m7 mins (this block: scales "
                   + ", ".join(map(str, sc[0])) + "; mins " + ", ".join(map(str, mn[0])) + ")", fontsize=8)

    w = dequantize_q4_k(block)[0]
    for j in range(SUB_BLOCKS):
        idx = np.arange(j * SUB_SIZE, (j + 1) * SUB_SIZE)
        values.plot(idx, w[idx], ".", color=f"C{j % 10}", markersize=3)
        values.axvspan(idx[0] - 0.5, idx[-1] + 0.5, color=f"C{j % 10}", alpha=0.08)
        values.text(idx.mean(), w.max(), f"{sc[0, j]}·d, {mn[0, j]}·dmin", ha="center", va="bottom", fontsize=6)
    values.set_xlabel("weight index in the super-block")
    values.set_ylabel("decoded weight (dimensionless)")
    values.set_title("the 256 weights it decodes to: d·scale·code − dmin·min per sub-block of 32", fontsize=9)
    return fig
