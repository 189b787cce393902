"""llm-course quantize: every type written from scratch loads and generates in llama-cpp-python."""

import subprocess
import sys

import gguf
import numpy as np
import pytest

from course_lib import quant
from course_lib.errors import CourseError
from course_lib.quant import FILE_TYPE, ModelShape, requantize, target_type
from course_lib.runtime import model_path


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    out = {}
    root = tmp_path_factory.mktemp("requant")
    for qtype in quant.QTYPES:
        out[qtype] = (root / f"{qtype}.gguf", requantize(model_path(), root / f"{qtype}.gguf", qtype, progress=False))
    return out


TIED, UNTIED = ModelShape(n_layers=18, has_output=False), ModelShape(n_layers=18, has_output=True)


def test_which_tensors_stay_float():
    assert target_type("blk.0.attn_norm.weight", (640,), "Q4_0", TIED) == "keep"
    assert target_type("blk.0.attn_q_norm.weight", (256,), "Q4_0", TIED) == "keep"
    assert target_type("blk.0.ffn_down.weight", (640, 2048), "Q4_K", TIED) == "Q4_K"
    # rows of 640 are not a whole number of 256-weight super-blocks: llama.cpp falls back
    assert target_type("blk.0.ffn_up.weight", (2048, 640), "Q4_K", TIED) == "Q5_0"
    assert target_type("blk.0.ffn_up.weight", (2048, 640), "Q6_K", TIED) == "Q8_0"
    # a tied embedding is the output matrix: Q6_K, here falling back to Q8_0
    assert target_type("token_embd.weight", (262144, 640), "Q4_0", TIED) == "Q8_0"
    assert target_type("token_embd.weight", (4096, 4096), "Q4_0", TIED) == "Q6_K"
    assert target_type("token_embd.weight", (4096, 4096), "Q4_0", UNTIED) == "Q4_0"


def test_bad_inputs(tmp_path):
    with pytest.raises(CourseError, match="unknown quantization type"):
        requantize(model_path(), tmp_path / "x.gguf", "Q3_X")
    with pytest.raises(CourseError, match="no GGUF file"):
        requantize(tmp_path / "missing.gguf", tmp_path / "x.gguf", "Q4_0")
    with pytest.raises(CourseError, match="no folder"):
        requantize(model_path(), tmp_path / "no-such-folder" / "x.gguf", "Q4_0")


@pytest.mark.slow
def test_every_type_loads_and_generates(outputs):
    from course_lib.runtime import load_model

    src = gguf.GGUFReader(model_path())
    for qtype, (path, plans) in outputs.items():
        reader = gguf.GGUFReader(path)
        assert reader.fields["general.file_type"].contents() == int(gguf.LlamaFileType[FILE_TYPE[qtype]])
        copied = {k for k in src.fields if not k.startswith("GGUF.") and k != "general.file_type"}
        assert copied <= set(reader.fields)
        for key in copied:
            assert reader.fields[key].contents() == src.fields[key].contents(), key
        types = {t.name: t.tensor_type.name for t in reader.tensors}
        assert {types[p.name] for p in plans if p.target_type != "keep"} <= {qtype, "Q8_0", "Q5_0"}
        assert types["blk.0.attn_norm.weight"] == "F32"
        # the bytes in the file are course_lib's quantization of the source weights
        t_src = next(t for t in src.tensors if t.name == "blk.3.ffn_down.weight")
        t_out = next(t for t in reader.tensors if t.name == "blk.3.ffn_down.weight")
        w = gguf.quants.dequantize(t_src.data, t_src.tensor_type)
        assert np.array_equal(np.asarray(t_out.data).reshape(-1), quant.quantize(w, types[t_out.name]).reshape(-1))
        llm = load_model(path, n_ctx=128)
        text = llm("The capital of France is", max_tokens=6, temperature=0)["choices"][0]["text"]
        assert len(llm.tokenize(text.encode(), add_bos=False)) >= 3, (qtype, text)
        del llm


@pytest.mark.slow
def test_cli(outputs, tmp_path):
    out = tmp_path / "cli.gguf"
    result = subprocess.run([sys.executable, "-m", "course_lib.cli", "quantize", str(model_path()), str(out),
                             "--type", "q8_0"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "tensors by type" in result.stdout
    assert out.read_bytes() == outputs["Q8_0"][0].read_bytes()
    bad = subprocess.run([sys.executable, "-m", "course_lib.cli", "quantize", str(tmp_path / "nope.gguf"),
                          str(out), "--type", "Q4_0"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "no GGUF file" in bad.stderr


def test_truncated_or_headless_sources_are_one_line_errors(tmp_path):
    cut = tmp_path / "cut.gguf"
    with open(model_path(), "rb") as f:
        cut.write_bytes(f.read(8_000_000))  # the header and the first tensors only
    earlier = tmp_path / "out.gguf"
    earlier.write_bytes(b"an earlier result")
    with pytest.raises(CourseError, match="is cut short"):
        requantize(cut, earlier, "Q8_0", progress=False)
    assert earlier.read_bytes() == b"an earlier result"  # a failed run destroys nothing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.gguf", "out.gguf"]  # and leaves no half file
    swapped = tmp_path / "big-endian.gguf"
    swapped.write_bytes(b"GGUF" + (3).to_bytes(4, "big") + bytes(16))
    with pytest.raises(CourseError, match="big-endian"):
        requantize(swapped, tmp_path / "out.gguf", "Q8_0", progress=False)
