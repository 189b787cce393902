"""llm-course quantize: files identical to llama.cpp's own quantizer's, tensor for tensor; they load and generate."""

import subprocess
import sys

import gguf
import numpy as np
import pytest

from course_lib import quant
from course_lib.errors import CourseError
from course_lib.quant import FILE_TYPE, ModelShape, compare_files, plan, requantize, target_type
from course_lib.gguf_file import read_gguf
from course_lib.quant.reference import llama_cpp_quantize
from course_lib.runtime import model_path

# Every K type, the 32-weight fallbacks, and a legacy preset; IQ4_NL is left to the byte tests (it is slow to build).
PRESETS = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_0", "Q3_K_M", "Q2_K")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("requant")
    return {p: (root / f"{p}.gguf", requantize(model_path(), root / f"{p}.gguf", p, progress=False)) for p in PRESETS}


TIED, UNTIED = ModelShape(n_layers=18, has_output=False), ModelShape(n_layers=18, has_output=True)


def test_which_tensors_stay_float():
    assert target_type("blk.0.attn_norm.weight", (640,), "Q4_0", TIED) == "keep"
    assert target_type("blk.0.attn_q_norm.weight", (256,), "Q4_0", TIED) == "keep"
    assert target_type("blk.0.ffn_down.weight", (640, 2048), "Q4_K", TIED) == "Q4_K"
    # rows of 640 are not a whole number of 256-weight super-blocks: llama.cpp falls back
    assert target_type("blk.0.ffn_up.weight", (2048, 640), "Q4_K", TIED) == "Q5_0"
    assert target_type("blk.0.ffn_up.weight", (2048, 640), "Q6_K", TIED) == "Q8_0"
    assert target_type("blk.0.ffn_up.weight", (2048, 640), "Q3_K_M", TIED) == "Q4_0"
    assert target_type("blk.3.ffn_down.weight", (640, 2048), "Q2_K", TIED) == "Q3_K"  # the Q2_K mix bumps it
    # a tied embedding is the output matrix: Q6_K, here falling back to Q8_0
    assert target_type("token_embd.weight", (262144, 640), "Q4_0", TIED) == "Q8_0"
    assert target_type("token_embd.weight", (4096, 4096), "Q4_0", TIED) == "Q6_K"
    assert target_type("token_embd.weight", (4096, 4096), "Q4_0", UNTIED) == "Q4_0"
    # with an importance matrix llama.cpp guards the first eighth of ffn_down at Q4_1
    assert target_type("blk.1.ffn_down.weight", (640, 2048), "Q4_0", TIED, imatrix=True) == "Q4_1"
    assert target_type("blk.1.ffn_down.weight", (640, 2048), "Q4_0", TIED) == "Q4_0"


def test_the_shipped_mix_is_the_rule():
    # the course model is llama.cpp's Q4_K_M: the rule gives every tensor the type the file has, so nothing is redone
    contents = read_gguf(model_path())
    plans = plan(contents, "Q4_K_M")
    assert all(p.target_type == p.source_type and not p.requantized for p in plans)
    again = plan(contents, "Q4_K_M", reencode=True)
    assert sum(p.requantized for p in again) == sum(len(t.shape) > 1 for t in contents.tensors) == 127


def test_bad_inputs(tmp_path):
    with pytest.raises(CourseError, match="unknown quantization type"):
        requantize(model_path(), tmp_path / "x.gguf", "Q3_X")
    with pytest.raises(CourseError, match="unknown quantization type"):
        requantize(model_path(), tmp_path / "x.gguf", "F16")
    with pytest.raises(CourseError, match="no GGUF file"):
        requantize(tmp_path / "missing.gguf", tmp_path / "x.gguf", "Q4_0")
    with pytest.raises(CourseError, match="no folder"):
        requantize(model_path(), tmp_path / "no-such-folder" / "x.gguf", "Q4_0")
    with pytest.raises(CourseError, match="whose rows hold 640"):
        requantize(model_path(), tmp_path / "x.gguf", "Q4_0", imatrix={"blk.0.attn_q.weight": np.ones(10)})
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS)
def test_files_equal_llama_cpps_own_quantizer(outputs, tmp_path, preset):
    reference = tmp_path / "llama.gguf"
    llama_cpp_quantize(model_path(), reference, preset)
    rows = compare_files(reference, outputs[preset][0])
    assert all(r.same_type and r.same_bytes for r in rows), [r for r in rows if not r.same_bytes][:3]


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["Q3_K_M", "Q2_K", "Q4_0"])
def test_files_with_an_importance_matrix_equal_llama_cpps(tmp_path, preset):
    weights = quant.collect_imatrix(n_ctx=128, max_chunks=1).weights()
    ours, reference = tmp_path / "ours.gguf", tmp_path / "llama.gguf"
    requantize(model_path(), ours, preset, progress=False, imatrix=weights)
    llama_cpp_quantize(model_path(), reference, preset, imatrix=weights)
    rows = compare_files(reference, ours)
    assert all(r.same_type and r.same_bytes for r in rows), [r for r in rows if not r.same_bytes][:3]
    plain = tmp_path / "plain.gguf"
    requantize(model_path(), plain, preset, progress=False)
    assert not all(r.same_bytes for r in compare_files(plain, ours))  # the matrix changed something


@pytest.mark.slow
def test_every_file_loads_and_generates(outputs):
    from course_lib.runtime import load_model

    src = gguf.GGUFReader(model_path())
    for preset, (path, plans) in outputs.items():
        reader = gguf.GGUFReader(path)
        assert reader.fields["general.file_type"].contents() == int(gguf.LlamaFileType[FILE_TYPE[preset]])
        copied = {k for k in src.fields if not k.startswith("GGUF.") and k != "general.file_type"}
        assert copied <= set(reader.fields)
        for key in copied:
            assert reader.fields[key].contents() == src.fields[key].contents(), key
        types = {t.name: t.tensor_type.name for t in reader.tensors}
        assert types["blk.0.attn_norm.weight"] == "F32" and types["token_embd.weight"] == "Q8_0"
        # the bytes in the file are course_lib's quantization of the source weights
        p = next(p for p in plans if p.requantized)
        t_src = next(t for t in src.tensors if t.name == p.name)
        t_out = next(t for t in reader.tensors if t.name == p.name)
        w = gguf.quants.dequantize(t_src.data, t_src.tensor_type)
        assert np.array_equal(np.asarray(t_out.data).reshape(-1), quant.quantize(w, p.target_type).reshape(-1))
        llm = load_model(path, n_ctx=128)
        text = llm("The capital of France is", max_tokens=6, temperature=0)["choices"][0]["text"]
        assert len(llm.tokenize(text.encode(), add_bos=False)) >= 3, (preset, text)
        del llm


@pytest.mark.slow
def test_cli(outputs, tmp_path):
    out = tmp_path / "cli.gguf"
    result = subprocess.run([sys.executable, "-m", "course_lib.cli", "quantize", str(model_path()), str(out),
                             "--type", "q3_k_m", "--compare"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Q3_K: " not in result.stdout  # none of this model's Q3_K_M tensors ends up as Q3_K (see the notebook)
    plans = outputs["Q3_K_M"][1]
    q4k = [p for p in plans if p.target_type == "Q4_K"]
    assert (f"Q4_K: {sum(p.requantized for p in q4k)} requantized, {sum(not p.requantized for p in q4k)} copied"
            in result.stdout), result.stdout
    assert "F32: 109 copied" in result.stdout
    assert "of the same type" in result.stdout and "byte for byte identical" in result.stdout
    assert out.read_bytes() == outputs["Q3_K_M"][0].read_bytes()
    bad = subprocess.run([sys.executable, "-m", "course_lib.cli", "quantize", str(tmp_path / "nope.gguf"),
                          str(out), "--type", "Q4_0"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "no GGUF file" in bad.stderr and "Traceback" not in bad.stderr
    bad = subprocess.run([sys.executable, "-m", "course_lib.cli", "quantize", str(model_path()), str(out),
                          "--type", "Q4_0", "--imatrix", str(model_path())], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "not an importance matrix" in bad.stderr


@pytest.mark.slow
def test_compare_files_sees_other_types(outputs, tmp_path):
    rows = compare_files(model_path(), outputs["Q8_0"][0])
    assert len(rows) == 236
    assert {r.type_b for r in rows if not r.same_type} == {"Q8_0"}
    assert all(r.same_bytes for r in rows if r.type_a == "F32" or r.name == "token_embd.weight")


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


def test_written_metadata_is_the_sources_byte_for_byte(tmp_path):
    from course_lib.quant.gguf_write import metadata_section, write_gguf

    version, entries = metadata_section(model_path())
    source = read_gguf(model_path())
    assert version == 3 and list(entries) == list(source.metadata)
    out = tmp_path / "tiny.gguf"
    values = np.arange(64, dtype=np.float32)
    write_gguf(out, model_path(), {"general.file_type": 7, "course.extra": 5}, [("t", (64,), 0, values.nbytes)],
               [values], source.alignment)
    _, written = metadata_section(out)
    assert [k for k in written if written[k] != entries.get(k)] == ["general.file_type", "course.extra"]
    back = read_gguf(out)
    assert back.metadata["general.file_type"] == 7 and back.metadata["course.extra"] == 5
    with open(out, "rb") as f:
        f.seek(back.data_offset + back.tensors[0].offset)
        assert np.array_equal(np.frombuffer(f.read(values.nbytes), dtype=np.float32), values)
