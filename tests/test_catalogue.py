"""The model and hardware catalogues: complete rows, sources, lookups, one-line errors."""

import pytest

from course_lib.errors import CourseError
from course_lib.sizing import Device, get_device, get_model, list_devices, list_models, model_row


def test_at_least_twenty_models_each_with_a_source():
    names = list_models()
    assert len(names) >= 20
    for name in names:
        row = model_row(name)
        assert row["config_source"] and row["published_params_source"], name
        arch = get_model(name)
        assert arch.n_layers > 0 and arch.hidden_size > 0 and arch.vocab_size > 0
        assert arch.n_heads % arch.n_kv_heads == 0, name


def test_required_families_present():
    names = set(list_models())
    for required in ("llama-3.2-1b", "llama-3.1-8b", "llama-3.1-70b", "llama-2-7b", "mistral-7b-v0.3", "mixtral-8x7b",
                     "qwen2.5-0.5b", "qwen2.5-72b", "qwen3-8b", "gemma-2-9b", "gemma-3-270m", "gemma-3-27b",
                     "phi-3-mini", "deepseek-v3"):
        assert required in names


def test_lookup_is_case_insensitive_and_unknown_names_suggest():
    assert get_model("LLAMA-3.1-8B").name == "llama-3.1-8b"
    with pytest.raises(CourseError, match="did you mean.*llama-3.1-8b"):
        get_model("llama-3.1-8")
    with pytest.raises(CourseError, match="unknown device"):
        get_device("GTX 9999 Ultra")


def test_architecture_details_from_config():
    g = get_model("gemma-3-270m")
    assert (g.n_layers, g.n_kv_heads, g.head_dim, g.sliding_window) == (18, 1, 256, 512)
    assert len(g.swa_layers) == 15  # every 6th layer is global
    m = get_model("mixtral-8x7b")
    assert (m.n_experts, m.n_experts_active) == (8, 2)
    d = get_model("deepseek-v3")
    assert d.uses_mla and d.kv_lora_rank == 512 and d.n_dense_layers == 3


def test_devices_have_memory_bandwidth_and_source():
    devices = list_devices()
    assert {d.kind for d in devices} == {"gpu", "apple", "cpu"}
    for d in devices:
        assert isinstance(d, Device) and d.memory_bytes > 0 and d.bandwidth_bytes_per_s > 0 and d.source
    assert get_device("rtx 4090").memory_bytes == 24 * 2**30
    m = get_device("Apple M4 Max 128GB")
    assert m.usable_bytes < m.memory_bytes  # macOS keeps part of unified memory from the GPU
