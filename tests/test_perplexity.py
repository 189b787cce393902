"""Perplexity on the course's public-domain text with the real Gemma model."""

import math

import pytest

from course_lib.engine import load_model
from course_lib.perplexity import perplexity, perplexity_text


def test_text_is_a_few_thousand_tokens():
    llm = load_model(n_ctx=64, vocab_only=True)
    n = len(llm.tokenize(perplexity_text().encode(), add_bos=False))
    assert 1500 <= n <= 5000, n


@pytest.mark.slow
def test_perplexity_of_real_model():
    ppl = perplexity(max_tokens=400)
    assert 2 < ppl < 200
    # shuffled words are much harder to predict than the prose itself
    words = perplexity_text().split()[:300]
    shuffled = " ".join(words[i] for i in sorted(range(len(words)), key=lambda i: (i * 7919) % len(words)))
    assert perplexity(text=shuffled, max_tokens=400) > 2 * ppl
    assert not math.isnan(ppl)
