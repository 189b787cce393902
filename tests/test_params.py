"""Parameter counts from the architecture against the published counts."""

import pytest

from course_lib.sizing import count_params, get_model, gguf_tensors, list_models


@pytest.mark.parametrize("name", list_models())
def test_count_within_one_percent_of_published(name):
    arch = get_model(name)
    total = count_params(arch).total
    assert abs(total / arch.published_params - 1) < 0.01, (name, total, arch.published_params)


@pytest.mark.parametrize("name", ["llama-3.2-1b", "llama-3.1-8b", "llama-3.1-70b", "gemma-2-2b", "gemma-3-270m",
                                  "gemma-3-1b", "phi-3-mini", "mixtral-8x7b"])
def test_exact_where_the_published_count_is_exact(name):
    arch = get_model(name)
    assert count_params(arch).total == arch.published_params


def test_tied_embeddings_counted_once():
    c = count_params(get_model("llama-3.2-1b"))
    assert c.output == 0 and c.embedding == 128256 * 2048
    assert count_params(get_model("llama-3.1-8b")).output == 128256 * 4096


def test_moe_total_vs_active():
    mixtral = count_params(get_model("mixtral-8x7b"))
    assert abs(mixtral.active / 12.9e9 - 1) < 0.01  # "12.9B active" (model card)
    ds = count_params(get_model("deepseek-v3"))
    assert abs(ds.total / 671e9 - 1) < 0.001 and abs(ds.active / 37e9 - 1) < 0.02


def test_tensor_layout_holds_every_parameter():
    for name in list_models():
        arch = get_model(name)
        assert sum(t.n_elements for t in gguf_tensors(arch)) == count_params(arch).text_total, name
