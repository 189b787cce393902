"""Quality as llama.cpp's perplexity tool measures it: perplexity with its error, KL divergence, same top token."""

import math

import numpy as np
import pytest

from course_lib.quant import compare_models, perplexity, perplexity_text, requantize, token_nll
from course_lib.quant.quality import BaseScores, _compare_rows, _compress, mean_and_error, perplexity_of
from course_lib.runtime import load_model, model_path


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


def test_errors_are_llama_cpps():
    # mean_and_uncertainty: sqrt((<x^2> - <x>^2) / (n - 1)), and 0 for ten values or fewer
    values = np.arange(20.0)
    est = mean_and_error(values)
    assert est.value == 9.5 and math.isclose(est.error, math.sqrt(values.var() / 19))
    assert mean_and_error(np.arange(10.0)).error == 0
    ppl = perplexity_of(values / 10)
    assert math.isclose(ppl.value, math.exp(0.95)) and math.isclose(ppl.error, ppl.value * est.error / 10)


def test_kl_divergence_from_16_bit_log_probabilities():
    # the base's log-probabilities kept in 16 bits over the top 16 nats, as llama.cpp stores them
    rng = np.random.default_rng(1)
    base = rng.normal(scale=3, size=(8, 5000)).astype(np.float32)
    other = (base + rng.normal(scale=0.3, size=base.shape)).astype(np.float32)
    codes, scale, min_lp = _compress(base)
    targets = rng.integers(0, 5000, size=8)
    scores = BaseScores(codes, scale, min_lp, targets, [])
    nll, nll_base, kld, same = _compare_rows(other, scores, slice(0, 8))
    p = np.exp(base.astype(np.float64) - np.logaddexp.reduce(base.astype(np.float64), axis=1, keepdims=True))
    q_log = other.astype(np.float64) - np.logaddexp.reduce(other.astype(np.float64), axis=1, keepdims=True)
    exact = (p * (np.log(p) - q_log)).sum(axis=1)
    assert np.allclose(kld, exact, rtol=2e-3, atol=1e-5)
    assert np.allclose(nll_base, token_nll(base, targets), atol=1e-3)
    assert np.allclose(nll, token_nll(other, targets), atol=1e-4)
    assert same.tolist() == (base.argmax(1) == other.argmax(1)).tolist()
    _, _, itself, same = _compare_rows(base, scores, slice(0, 8))
    assert np.abs(itself).max() < 1e-4 and same.all()


def test_text_is_a_few_thousand_tokens():
    llm = load_model(n_ctx=64, vocab_only=True)
    n = len(llm.tokenize(perplexity_text().encode(), add_bos=False))
    assert 1500 <= n <= 5000, n


@pytest.mark.slow
def test_perplexity_of_real_model():
    ppl = perplexity(n_ctx=128, n_chunks=4)
    assert 2 < ppl.value < 200 and 0 < ppl.error < ppl.value / 5
    # shuffled words are much harder to predict than the prose itself
    words = perplexity_text().split()
    shuffled = " ".join(words[i] for i in sorted(range(len(words)), key=lambda i: (i * 7919) % len(words)))
    assert perplexity(text=shuffled, n_ctx=128, n_chunks=4).value > 2 * ppl.value
    with pytest.raises(ValueError, match="no chunk of 128"):
        perplexity(text="Too short.", n_ctx=128)


@pytest.mark.slow
def test_kl_divergence_of_real_files(tmp_path):
    q4_0 = tmp_path / "q4_0.gguf"
    requantize(model_path(), q4_0, "Q4_0", progress=False)
    report = compare_models({"itself": model_path(), "Q4_0": q4_0}, n_ctx=128, n_chunks=3)
    itself, q4 = report["itself"], report["Q4_0"]
    assert itself.n_tokens == q4.n_tokens == 3 * 63
    assert itself.kld.value < 1e-4 and itself.same_top.value == 1.0 and abs(itself.ln_ppl_ratio.value) < 1e-3
    assert math.isclose(itself.perplexity.value, itself.base_perplexity.value, rel_tol=1e-3)
    assert q4.kld.value > 100 * itself.kld.value and q4.kld_p99 > q4.kld.value and q4.same_top.value < 1
    assert q4.base_perplexity == itself.base_perplexity  # one base, scored once
