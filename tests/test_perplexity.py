"""Perplexity on the course's public-domain text with the real Gemma model."""

import math

import numpy as np
import pytest

from course_lib.quant import perplexity, perplexity_text, token_nll
from course_lib.runtime import load_model


def test_token_nll_equals_log_softmax():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=8, size=(37, 1000)).astype(np.float32)
    targets = rng.integers(0, 1000, size=37)
    rows = logits.astype(np.float64)
    log_softmax = rows - rows.max(axis=1, keepdims=True)
    log_softmax -= np.log(np.exp(log_softmax).sum(axis=1, keepdims=True))
    expected = -log_softmax[np.arange(37), targets]
    assert np.allclose(token_nll(logits, targets, rows_per_chunk=5), expected, rtol=1e-12, atol=1e-12)
    # a certain prediction costs nothing; a huge logit elsewhere does not overflow
    sure = np.full((1, 4), -1e4, dtype=np.float32)
    sure[0, 2] = 1e4
    assert token_nll(sure, [2])[0] == 0.0 and math.isclose(token_nll(sure, [0])[0], 2e4)


def test_text_is_a_few_thousand_tokens():
    llm = load_model(n_ctx=64, vocab_only=True)
    n = len(llm.tokenize(perplexity_text().encode(), add_bos=False))
    assert 1500 <= n <= 5000, n


@pytest.mark.slow
def test_perplexity_of_real_model():
    ppl = perplexity(max_tokens=400)
    assert 2 < ppl < 200
    # the same as the log-softmax over whole windows, computed directly from an open model
    llm = load_model(n_ctx=128, n_batch=128, logits_all=True)
    tokens = llm.tokenize(perplexity_text().encode(), add_bos=False)[:100]
    llm.eval([llm.token_bos()] + tokens)
    rows = np.asarray(llm.scores[:len(tokens)], dtype=np.float64)
    logp = rows - rows.max(axis=1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
    expected = math.exp(-logp[np.arange(1, len(tokens)), tokens[1:]].mean())
    assert math.isclose(perplexity(llm=llm, max_tokens=100), expected, rel_tol=1e-9)
    # shuffled words are much harder to predict than the prose itself
    words = perplexity_text().split()[:300]
    shuffled = " ".join(words[i] for i in sorted(range(len(words)), key=lambda i: (i * 7919) % len(words)))
    assert perplexity(text=shuffled, max_tokens=400) > 2 * ppl
    assert not math.isnan(ppl)
