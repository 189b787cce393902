"""Reading the real GGUF's tensor table; predicted weights equal the file's, tensor by tensor."""

import pytest

from course_lib.errors import CourseError
from course_lib.gguf_file import read_gguf
from course_lib.sizing import bits_per_weight, get_model, gguf_tensors, preset_tensor_type, weights_bytes


@pytest.fixture(scope="module")
def contents(gemma_path):
    return read_gguf(gemma_path)


def test_tensor_table_accounts_for_every_byte(contents):
    last = max(contents.tensors, key=lambda t: t.offset)
    assert contents.data_offset + last.offset + last.n_bytes == contents.file_bytes
    assert contents.n_params == get_model("gemma-3-270m").published_params == 268_098_176


def test_q4_k_m_averages_over_seven_bits(contents):
    assert 7.3 < contents.bits_per_weight < 7.4
    types = contents.by_type()
    assert next(iter(types)) == "Q8_0"  # the tied 262k x 640 embedding, the largest tensor
    assert contents.by_role()["token_embd.weight"]["types"] == {"Q8_0"}


def test_predicted_types_equal_the_file_tensor_by_tensor(contents, gemma_path):
    arch = get_model("gemma-3-270m")
    predicted = {t.name: preset_tensor_type(t, "Q4_K_M", arch) for t in gguf_tensors(arch)}
    assert predicted == {t.name: t.type_name for t in contents.tensors}
    assert weights_bytes(arch, "Q4_K_M").bytes == contents.tensor_bytes


def test_bits_per_weight_from_block_layout():
    assert bits_per_weight("Q8_0") == 8.5 and bits_per_weight("Q4_K") == 4.5 and bits_per_weight("Q6_K") == 6.5625
    assert bits_per_weight("Q4_0") == 4.5 and bits_per_weight("F16") == 16 and bits_per_weight("Q2_K") == 2.625
    assert 4.1 < bits_per_weight("AWQ") < 4.2 and bits_per_weight("FP8") == 8


def test_not_a_gguf(tmp_path):
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"nope")
    with pytest.raises(CourseError, match="not a readable GGUF"):
        read_gguf(bad)
    with pytest.raises(CourseError, match="not found"):
        read_gguf(tmp_path / "missing.gguf")


def test_truncated_header(tmp_path, gemma_path):
    cut = tmp_path / "cut.gguf"
    with open(gemma_path, "rb") as f:
        cut.write_bytes(f.read(100_000))  # ends inside the vocabulary
    with pytest.raises(CourseError, match="ends inside the GGUF header"):
        read_gguf(cut)


def test_long_arrays_stand_as_their_length_unless_asked(contents, gemma_path):
    assert contents.metadata["tokenizer.ggml.tokens"] == 262_144 and contents.metadata_types == {}
    full = read_gguf(gemma_path, all_values=True)
    tokens = full.metadata["tokenizer.ggml.tokens"]
    assert len(tokens) == 262_144 and tokens[2] == "<bos>"


@pytest.mark.slow  # gguf.GGUFReader itself takes seconds on a 262k-token vocabulary
def test_header_walk_agrees_with_the_gguf_package(gemma_path):
    import gguf

    full = read_gguf(gemma_path, all_values=True)
    reader = gguf.GGUFReader(str(gemma_path), "r")
    assert full.data_offset == reader.data_offset
    fields = {k: v for k, v in reader.fields.items() if not k.startswith("GGUF.")}
    assert list(full.metadata) == list(fields)
    for key, field in fields.items():
        expected = field.contents()
        assert (
            full.metadata[key] == pytest.approx(expected)
            if isinstance(expected, float)
            else full.metadata[key] == expected
        ), key
        vtype, sub = full.metadata_types[key]
        assert vtype == field.types[0] and sub == (field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None), key
    assert [(t.name, t.shape, t.type_name, t.offset) for t in full.tensors] == [
        (t.name, tuple(int(d) for d in t.shape), t.tensor_type.name, int(t.data_offset) - reader.data_offset)
        for t in reader.tensors]
