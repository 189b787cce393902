"""Loading and timing the real model."""

import numpy as np
import pytest

from course_lib.errors import CourseError
from course_lib.runtime import load_model, measure_speed, next_token_logits


@pytest.fixture(scope="module")
def llm():
    model = load_model(n_ctx=512)
    yield model
    del model


def test_default_model_gets_the_gemma_chat_format(llm):
    assert llm.chat_format == "gemma"
    assert "tokenizer.chat_template" not in llm.metadata


def test_greedy_generation_is_repeatable_from_a_clean_cache(llm):
    def run():
        llm.reset()
        return llm("The capital of France is", max_tokens=8, temperature=0)["choices"][0]["text"]

    first = run()
    assert first and first == run()


def test_next_token_logits_rank_paris_highly(llm):
    logits = next_token_logits(llm, "The capital of France is")
    assert logits.shape == (llm.n_vocab(),) and np.isfinite(logits).all()
    top = [llm.detokenize([int(t)]).decode() for t in np.argsort(logits)[::-1][:5]]
    assert " Paris" in top


def test_measure_speed_counts_what_it_was_asked(llm):
    result = measure_speed(llm, prompt_tokens=32, generated_tokens=8)
    assert (result.prompt_tokens, result.generated_tokens) == (32, 8)
    assert result.prompt_seconds > 0 and result.generation_seconds > 0


@pytest.mark.parametrize("kwargs, message", [
    ({"prompt_tokens": 0}, "prompt_tokens must be greater than zero"),
    ({"prompt_tokens": 500, "generated_tokens": 100}, "exceed n_ctx"),
])
def test_measure_speed_rejects_bad_sizes(llm, kwargs, message):
    with pytest.raises(CourseError, match=message):
        measure_speed(llm, **kwargs)


def test_load_model_rejects_a_negative_context():
    with pytest.raises(CourseError, match="n_ctx must be greater than zero"):
        load_model(n_ctx=-1)


def test_unloadable_gguf_is_a_one_line_error(tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(CourseError, match="llama.cpp could not load"):
        load_model(broken)
