"""The Q4_K super-block diagram: drawn from a real block, its layout derived from the course's own packer."""

import numpy as np

from course_lib.diagrams import q4_k_superblock
from course_lib.diagrams.quant import q4_k_fields, scale_bit_owners
from course_lib.gguf_file import read_gguf
from course_lib.runtime import model_path


def test_fields_add_up_to_ggml_block():
    assert [size for _, size in q4_k_fields()] == [2, 2, 12, 128]


def test_every_scale_bit_has_one_owner():
    owners = scale_bit_owners()
    assert owners.shape == (12, 8) and (owners >= 0).all()
    assert sorted(np.bincount(owners.ravel()).tolist()) == [6] * 16  # sixteen 6-bit values fill 96 bits
    assert (owners[:4, :6] == np.arange(4)[:, None]).all()  # scales 0-3 sit in the low bits of bytes 0-3


def test_the_figure_is_drawn_from_a_real_block():
    import matplotlib

    matplotlib.use("Agg")
    contents = read_gguf(model_path())
    t = next(t for t in contents.tensors if t.name == "blk.0.attn_output.weight")
    with open(model_path(), "rb") as f:
        f.seek(contents.data_offset + t.offset)
        block = np.frombuffer(f.read(144), dtype=np.uint8)
    fig = q4_k_superblock(block)
    strip, bits, values = fig.axes[:3]
    assert "144 bytes for 256 weights = 4.5 bits per weight" in strip.get_title()
    assert values.get_xlabel() and values.get_ylabel() and bits.get_ylabel()
    assert len(values.lines) == 8  # one series per sub-block of 32
