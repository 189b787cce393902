"""The quantization explorer on the real model."""

import gguf
import numpy as np
import pytest

from course_lib.gguf_file import read_gguf, tensor_values
from course_lib.quant import error_stats, teaching_bits_per_weight
from course_lib.runtime import model_path
from course_lib.widgets import explorer_widget
from course_lib.widgets.quant import explorer_tensor_names


def test_tensor_values_equal_the_gguf_package():
    reader = gguf.GGUFReader(model_path())
    t = next(t for t in reader.tensors if t.name == "blk.0.ffn_down.weight")
    expected = gguf.quants.dequantize(t.data, t.tensor_type)
    assert np.array_equal(tensor_values(model_path(), "blk.0.ffn_down.weight"), expected)


def test_error_stats_order_on_real_weights():
    contents = read_gguf(model_path())
    w = tensor_values(model_path(), "blk.0.ffn_down.weight")[:64]
    stats = {f: error_stats(w, f) for f in ("Q8_0", "Q6_K", "Q4_0", "absmax_int8_tensor", "nf4")}
    snr = {f: s["snr_db"] for f, s in stats.items()}
    assert snr["Q8_0"] > snr["Q4_0"]
    # this tensor is stored as Q6_K in the source file: Q6_K reproduces it almost exactly,
    # better than the finer Q8_0 grid, which does not line up with the Q6_K values
    assert next(t for t in contents.tensors if t.name == "blk.0.ffn_down.weight").type_name == "Q6_K"
    assert snr["Q6_K"] > snr["Q8_0"]
    assert snr["Q8_0"] > snr["absmax_int8_tensor"]
    assert stats["Q4_0"]["bits_per_weight"] == 4.5 and stats["nf4"]["bits_per_weight"] == 5.0  # fp32 absmax per 32
    assert error_stats(w, "nf4", 64)["bits_per_weight"] == 4.5  # bitsandbytes' block of 64
    assert stats["absmax_int8_tensor"]["bits_per_weight"] == 8 + 32 / w.size
    names = explorer_tensor_names(contents)
    assert "token_embd.weight" not in names and "blk.17.ffn_down.weight" in names and len(names) == 18 * 7


def test_teaching_bits_per_weight():
    assert teaching_bits_per_weight("absmax_int8_block", 32) == 9.0
    assert teaching_bits_per_weight("zeropoint_int8_block", 64) == 9.0
    assert teaching_bits_per_weight("absmax_int8_channel", row_length=640) == 8.05
    assert teaching_bits_per_weight("nf4", 64) == 4.5
    with pytest.raises(ValueError, match="cannot size"):
        teaching_bits_per_weight("absmax_int8_channel")  # per-channel needs the row length
    with pytest.raises(ValueError, match="cannot size"):
        teaching_bits_per_weight("int3_magic", 32)


def test_widget_without_a_model_says_so(tmp_path):
    box = explorer_widget(tmp_path / "missing.gguf")
    assert "needs a GGUF model" in box.value and "missing.gguf" in box.value


@pytest.mark.slow
def test_widget_follows_its_controls():
    box = explorer_widget()
    tensor, fmt, block, verdict = box.children[:4]
    assert "llm-course-verdict" in verdict._dom_classes
    assert block.disabled  # Q4_0 has its own 32-weight block
    before = verdict.value
    fmt.value = "Q8_0"
    assert verdict.value != before and "Q8_0" in verdict.value and "8.5 bits per weight" in verdict.value
    fmt.value = "absmax_int8_block"
    assert not block.disabled and "9 bits per weight" in verdict.value
    snr_32 = float(verdict.value.split("SNR ")[1].split(" dB")[0])
    block.value = 256  # a coarser block: fewer scale bits, more error
    assert "8.12 bits per weight" in verdict.value
    assert float(verdict.value.split("SNR ")[1].split(" dB")[0]) < snr_32
    tensor.value = "blk.5.attn_q.weight"
    assert "blk.5.attn_q.weight" in verdict.value and "stored as" in verdict.value
    fmt.value = "Q2_K"  # rows of 640 do not divide into 256-weight super-blocks
    assert "do not divide" in verdict.value and "as Q4_0 instead" in verdict.value
    tensor.value = "blk.5.ffn_down.weight"  # rows of 2048 do
    assert "Q2_K" in verdict.value and "2.62 bits per weight" in verdict.value
