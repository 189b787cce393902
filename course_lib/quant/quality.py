"""What quantization costs: error on the weights, and perplexity of the whole model (notebook 02).

`error_stats` compares a tensor with its quantized round trip (RMSE, SNR, max
error). `perplexity` runs a GGUF on a fixed public-domain text. The text
(course_lib/data/perplexity_text.txt) is written out from three
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

from course_lib.quant import formats
from course_lib.quant.teaching import roundtrip, teaching_bits_per_weight


def perplexity_text() -> str:
    return resources.files("course_lib").joinpath("data/perplexity_text.txt").read_text(encoding="utf-8")


def token_nll(logits, targets, rows_per_chunk: int = 16) -> np.ndarray:
    """-log p(target) for each row of logits: logsumexp(row) - row[target].

    A few rows at a time in float64: a whole window of 262,144-way float64
    rows and its softmax temporaries would take a gigabyte.
    """
    targets = np.asarray(targets)
    out = np.empty(len(targets))
    for start in range(0, len(targets), rows_per_chunk):
        rows = np.asarray(logits[start:start + rows_per_chunk], dtype=np.float64)
        top = rows.max(axis=1)
        logsumexp = top + np.log(np.exp(rows - top[:, None]).sum(axis=1))
        out[start:start + len(rows)] = logsumexp - rows[np.arange(len(rows)), targets[start:start + len(rows)]]
    return out


def perplexity(model=None, text: str | None = None, n_ctx: int = 128, max_tokens: int | None = None,
               llm=None) -> float:
    """Perplexity of `model` (a GGUF path, default: the course model) or of an open `llm`
    (created with logits_all=True) on `text` (default: the course's text)."""
    from course_lib.runtime.engine import load_model

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
            # the first text token is predicted from BOS alone, with no context: left out
            nll += float(token_nll(llm.scores[1:len(window) - 1], window[2:]).sum())
            count += len(window) - 2
        return math.exp(nll / count)
    finally:
        if own:
            del llm


def format_bits_per_weight(fmt: str, w: np.ndarray, block: int = 32) -> float:
    if fmt in formats.QTYPES:
        return formats.bits_per_weight(fmt)
    return teaching_bits_per_weight(fmt, block, row_length=w.shape[-1], n_weights=w.size)


def error_stats(w: np.ndarray, fmt: str, block: int = 32) -> dict:
    """Bits per weight, RMSE, SNR (dB) and max error of a format (GGUF type or teaching format) on w."""
    if fmt in formats.QTYPES:
        back = formats.dequantize(formats.quantize(w, fmt), fmt, w.shape)
    else:
        back = roundtrip(w, fmt, block)
    err = back - w
    rmse = float(np.sqrt(np.mean(err ** 2)))
    signal = float(np.sqrt(np.mean(w ** 2)))
    snr = 20 * np.log10(signal / rmse) if rmse > 0 else float("inf")
    return {"bits_per_weight": format_bits_per_weight(fmt, w, block), "rmse": rmse, "snr_db": float(snr),
            "max_error": float(np.abs(err).max()), "error": err}
