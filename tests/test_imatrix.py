"""The importance matrix, measured on the real model through llama.cpp's evaluation callback."""

import numpy as np
import pytest

from course_lib import quant
from course_lib.errors import CourseError
from course_lib.gguf_file import tensor_values
from course_lib.quant import Imatrix, collect_imatrix, load_imatrix
from course_lib.runtime import model_path


@pytest.fixture(scope="module")
def imatrix():
    return collect_imatrix(n_ctx=128, max_chunks=2)


def test_every_weight_matrix_of_every_layer_is_measured(imatrix):
    kinds = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")
    assert set(imatrix.sums) == {f"blk.{i}.{k}.weight" for i in range(18) for k in kinds}
    widths = {"attn_output": 1024, "ffn_down": 2048}
    for name, sums in imatrix.sums.items():
        assert sums.shape == (widths.get(name.split(".")[2], 640),) and sums.dtype == np.float32
        assert imatrix.counts[name] == 2 * 128  # every token of both chunks
        assert np.isfinite(sums).all() and (sums >= 0).all() and sums.max() > 0
    assert imatrix.chunks == 2 and imatrix.chunk_size == 128


def test_matrices_that_read_the_same_input_see_the_same_activations(imatrix):
    # q, k and v read the same normalized input, and so do gate and up: the callback saw the real graph
    for i in (0, 9, 17):
        assert np.array_equal(imatrix.sums[f"blk.{i}.attn_q.weight"], imatrix.sums[f"blk.{i}.attn_v.weight"])
        assert np.array_equal(imatrix.sums[f"blk.{i}.ffn_gate.weight"], imatrix.sums[f"blk.{i}.ffn_up.weight"])
        assert not np.array_equal(imatrix.sums[f"blk.{i}.attn_q.weight"], imatrix.sums[f"blk.{i}.ffn_up.weight"])


def test_a_few_columns_matter_much_more(imatrix):
    w = imatrix.weights()["blk.0.attn_q.weight"]
    assert w.max() > 20 * np.median(w)  # the heavy tail an importance-weighted search exploits


def test_it_lowers_the_error_where_activations_are_large(imatrix):
    weights = imatrix.weights()
    name = "blk.5.ffn_down.weight"
    w = tensor_values(model_path(), name)
    importance = weights[name]
    for qtype in ("Q2_K", "Q3_K"):
        plain = quant.dequantize(quant.quantize(w, qtype), qtype, w.shape)
        weighted = quant.dequantize(quant.quantize(w, qtype, importance), qtype, w.shape)
        assert (((weighted - w) ** 2) @ importance).sum() < (((plain - w) ** 2) @ importance).sum(), qtype


def test_save_and_load_in_llama_imatrix_format(imatrix, tmp_path):
    path = imatrix.save(tmp_path / "m.imatrix.gguf")
    back = load_imatrix(path)
    assert back.chunks == 2 and back.chunk_size == 128 and back.datasets == imatrix.datasets
    assert back.counts == imatrix.counts
    assert all(np.array_equal(back.sums[k], imatrix.sums[k]) for k in imatrix.sums)
    w = back.weights()["blk.0.attn_q.weight"]
    assert np.array_equal(w, imatrix.sums["blk.0.attn_q.weight"] / np.float32(256))


def test_an_empty_entry_weighs_one():
    m = Imatrix({"blk.0.attn_q.weight": np.zeros(4, np.float32)}, {"blk.0.attn_q.weight": 0})
    assert np.array_equal(m.weights()["blk.0.attn_q.weight"], np.ones(4, np.float32))


def test_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(CourseError, match="no importance matrix file"):
        load_imatrix(tmp_path / "missing.gguf")
    with pytest.raises(CourseError, match="not an importance matrix"):
        load_imatrix(model_path())
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf at all")
    with pytest.raises(CourseError, match="not a GGUF importance matrix"):
        load_imatrix(junk)
    with pytest.raises(CourseError, match="a chunk needs 128"):
        collect_imatrix(text="Too short.", n_ctx=128)
