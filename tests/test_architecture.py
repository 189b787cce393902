"""ModelArch loaders: Hugging Face config.json fixtures and the real Gemma GGUF's metadata."""

from pathlib import Path

import pytest

from course_lib.errors import CourseError
from course_lib.sizing import ModelArch, arch_from_gguf, arch_from_hf_config

DATA = Path(__file__).parent / "data"


def test_gguf_metadata_of_the_real_model(gemma_path):
    arch = arch_from_gguf(gemma_path)
    assert (arch.n_layers, arch.hidden_size, arch.n_heads, arch.n_kv_heads) == (18, 640, 4, 1)
    assert (arch.head_dim, arch.v_head_dim, arch.intermediate_size, arch.vocab_size) == (256, 256, 2048, 262144)
    assert arch.sliding_window == 512 and arch.max_context == 32768
    # llama.cpp's gemma3 pattern: every 6th layer (5, 11, 17) is global, the rest are local.
    assert set(range(18)) - set(arch.swa_layers) == {5, 11, 17}
    assert arch.tied_embeddings and not arch.uses_mla and not arch.is_moe


def test_llama_configs():
    l2 = arch_from_hf_config(DATA / "llama-2-7b_config.json")
    assert (l2.n_layers, l2.n_heads, l2.n_kv_heads, l2.head_dim) == (32, 32, 32, 128)
    l3 = arch_from_hf_config(DATA / "llama-3.1-8b_config.json", name="Llama 3.1 8B")
    assert l3.name == "Llama 3.1 8B" and l3.n_kv_heads == 8 and l3.max_context == 131072
    assert not l3.swa_layers and l3.sliding_window is None


def test_qwen_sliding_window_off_in_released_config():
    q = arch_from_hf_config(DATA / "qwen2.5-7b_config.json")
    assert (q.n_layers, q.n_heads, q.n_kv_heads, q.head_dim) == (28, 28, 4, 128)
    assert q.sliding_window is None and q.swa_layers == ()


def test_gemma3_configs_follow_the_five_local_one_global_pattern():
    g1 = arch_from_hf_config(DATA / "gemma-3-1b_config.json")
    assert [i for i in range(26) if i not in g1.swa_layers] == [5, 11, 17, 23]
    assert g1.head_dim == 256 and g1.sliding_window == 512
    g27 = arch_from_hf_config(DATA / "gemma-3-27b_config.json")  # multimodal wrapper: text_config nested
    assert (g27.n_layers, g27.n_kv_heads, g27.head_dim, g27.sliding_window) == (62, 16, 128, 1024)
    assert len(g27.swa_layers) == 62 - 10 and g27.tied_embeddings


def test_deepseek_mla_and_moe():
    d = arch_from_hf_config(DATA / "deepseek-v3_config.json")
    assert d.uses_mla and d.kv_lora_rank == 512 and d.qk_rope_head_dim == 64
    assert d.head_dim == 192 and d.v_head_dim == 128
    assert d.is_moe and (d.n_experts, d.n_experts_active, d.n_dense_layers) == (256, 8, 3)


def test_hybrid_layer_types_mark_layers_without_kv():
    h = arch_from_hf_config(DATA / "hybrid-layer-types_config.json")
    assert h.no_kv_layers == (0, 1, 2, 4, 5, 6)


def test_dict_config_and_new_fields_have_defaults():
    arch = arch_from_hf_config({"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4})
    assert arch.n_kv_heads == 4 and arch.head_dim == 16
    assert ModelArch("x", 1, 8, 1, 1, 8, 16, 10).no_kv_layers == ()


def test_bad_inputs_raise_one_line_course_errors(tmp_path):
    with pytest.raises(CourseError, match="not found"):
        arch_from_hf_config(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CourseError, match="not valid JSON"):
        arch_from_hf_config(bad)
    with pytest.raises(CourseError, match="num_hidden_layers"):
        arch_from_hf_config({"hidden_size": 64})
    notgguf = tmp_path / "x.gguf"
    notgguf.write_bytes(b"NOPE" + bytes(64))
    with pytest.raises(CourseError, match="not a readable GGUF"):
        arch_from_gguf(notgguf)
    with pytest.raises(CourseError, match="not found"):
        arch_from_gguf(tmp_path / "missing.gguf")


def _write_gguf(path, arch, fields, tensors):
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(str(path), arch)
    for key, value in fields.items():
        if isinstance(value, list):
            writer.add_array(f"{arch}.{key}", value)
        else:
            writer.add_uint32(f"{arch}.{key}", value)
    writer.add_token_list([f"t{i}".encode() for i in range(100)])
    for name in tensors:
        writer.add_tensor(name, np.zeros((4, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_gguf_written_by_the_gguf_package_per_layer_heads_and_untied_output(tmp_path):
    from course_lib.sizing import kv_bytes_per_token

    path = tmp_path / "hybrid.gguf"
    _write_gguf(path, "llama", {"block_count": 4, "embedding_length": 256, "attention.head_count": 8,
                                "attention.head_count_kv": [2, 0, 2, 0], "feed_forward_length": 512,
                                "context_length": 2048},
                ["token_embd.weight", "output.weight"])
    arch = arch_from_gguf(path)
    assert (arch.n_layers, arch.n_heads, arch.n_kv_heads, arch.head_dim) == (4, 8, 2, 32)
    assert arch.no_kv_layers == (1, 3) and arch.vocab_size == 100 and not arch.tied_embeddings
    assert kv_bytes_per_token(arch) == 2 * 2 * 2 * 32 * 2  # two attention layers


def test_deepseek_style_gguf_with_mla_lengths(tmp_path):
    from course_lib.sizing import kv_bytes_per_token

    path = tmp_path / "mla.gguf"
    _write_gguf(path, "deepseek2", {"block_count": 2, "embedding_length": 512, "attention.head_count": 16,
                                    "attention.head_count_kv": 1, "attention.key_length": 576,
                                    "attention.value_length": 512, "attention.key_length_mla": 192,
                                    "attention.value_length_mla": 128, "attention.kv_lora_rank": 512,
                                    "rope.dimension_count": 64, "expert_count": 8, "expert_used_count": 2},
                ["token_embd.weight"])
    arch = arch_from_gguf(path)
    assert arch.uses_mla and (arch.head_dim, arch.v_head_dim, arch.qk_nope_head_dim) == (192, 128, 128)
    assert kv_bytes_per_token(arch) == 2 * (512 + 64) * 2 and arch.tied_embeddings
