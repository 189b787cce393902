"""Perplexity of a GGUF model on a fixed public-domain text (notebook 02).

The text (course_lib/data/perplexity_text.txt) is written out from three
public-domain works: the first chapter of Jane Austen's "Pride and Prejudice"
(1813), the opening of Herman Melville's "Moby-Dick" (1851) and the first
sentence of Charles Dickens's "A Tale of Two Cities" (1859). Perplexity is
exp(mean negative log-likelihood of each token given the ones before it), in
independent windows of n_ctx tokens, from llama-cpp-python's logits. Windows
keep the logits buffer small: n_ctx x 262144 float32 for Gemma's vocabulary.
"""

from __future__ import annotations

import math
from importlib import resources

import numpy as np


def perplexity_text() -> str:
    return resources.files("course_lib").joinpath("data/perplexity_text.txt").read_text(encoding="utf-8")


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def perplexity(model=None, text: str | None = None, n_ctx: int = 128, max_tokens: int | None = None,
               llm=None) -> float:
    """Perplexity of `model` (a GGUF path, default: the course model) or of an open `llm`
    (created with logits_all=True) on `text` (default: the course's text)."""
    from course_lib.engine import load_model

    own = llm is None
    if own:
        llm = load_model(model, n_ctx=n_ctx, n_batch=n_ctx, logits_all=True)
    try:
        tokens = llm.tokenize((text or perplexity_text()).encode("utf-8"), add_bos=False)
        if max_tokens:
            tokens = tokens[:max_tokens]
        bos = llm.token_bos()
        nll, count = 0.0, 0
        step = n_ctx - 1  # each window starts with BOS
        for start in range(0, len(tokens) - 1, step):
            window = [bos] + tokens[start:start + step]
            if len(window) < 3:
                break
            llm.reset()
            llm.eval(window)
            logp = _log_softmax(np.asarray(llm.scores[:len(window) - 1], dtype=np.float64))
            targets = np.asarray(window[1:])
            # the first text token is predicted from BOS alone, with no context: left out
            nll -= float(logp[np.arange(len(targets)), targets][1:].sum())
            count += len(targets) - 1
        return math.exp(nll / count)
    finally:
        if own:
            del llm
