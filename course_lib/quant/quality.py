"""What quantization costs: error on the weights, and the whole model's quality as llama.cpp measures it.

Derived in notebooks/02_quantization_from_scratch.ipynb. `error_stats`
compares a tensor with its quantized round trip (RMSE, SNR, max error).
`perplexity` and `compare_models` follow llama.cpp's perplexity tool
(tools/perplexity/perplexity.cpp, `perplexity` and `kl_divergence`): the text
is cut into chunks of n_ctx tokens whose first token is replaced by BOS, and
only the second half of each chunk is scored, so every scored token has at
least n_ctx/2 tokens of context. Per scored token: the negative
log-likelihood (perplexity = exp of its mean, with the standard error
propagated as the tool does), and against a base model the KL divergence of
the two next-token distributions (the base's log-probabilities stored as the
tool stores them, 16 bits each over the top 16 nats, terms below e^-16
dropped), and whether both models rank the same token first. The text
(course_lib/data/perplexity_text.txt) is written out from three public-domain
works: the first chapter of Jane Austen's "Pride and Prejudice" (1813), the
opening of Herman Melville's "Moby-Dick" (1851) and the first sentence of
Charles Dickens's "A Tale of Two Cities" (1859). Logits are processed a few
rows at a time: one row is 262,144 floats (1 MB) for Gemma's vocabulary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources

import numpy as np

from course_lib.quant import formats
from course_lib.quant.search import nearest_int
from course_lib.quant.teaching import roundtrip, teaching_bits_per_weight

F = np.float32
ROWS = 16  # logits rows processed at once: 16 MB per float32 temporary
LOG_PROB_FLOOR = 16  # nats: llama.cpp keeps the base's log-probabilities within 16 of the top one


def perplexity_text() -> str:
    return resources.files("course_lib").joinpath("data/perplexity_text.txt").read_text(encoding="utf-8")


def token_nll(logits, targets, rows_per_chunk: int = ROWS) -> np.ndarray:
    """-log p(target) for each row of logits: logsumexp(row) - row[target], in float64."""
    targets = np.asarray(targets)
    out = np.empty(len(targets))
    for start in range(0, len(targets), rows_per_chunk):
        rows = np.asarray(logits[start:start + rows_per_chunk], dtype=np.float64)
        top = rows.max(axis=1)
        logsumexp = top + np.log(np.exp(rows - top[:, None]).sum(axis=1))
        out[start:start + len(rows)] = logsumexp - rows[np.arange(len(rows)), targets[start:start + len(rows)]]
    return out


@dataclass(frozen=True)
class Estimate:
    """A mean over scored tokens with its standard error (llama.cpp's `mean_and_uncertainty`)."""
    value: float
    error: float

    def __str__(self) -> str:
        return f"{self.value:.4g} ± {self.error:.2g}"


def mean_and_error(values) -> Estimate:
    v = np.asarray(values, dtype=np.float64)
    mean = float(v.mean())
    var = float((v * v).mean()) - mean * mean
    return Estimate(mean, math.sqrt(var / (len(v) - 1)) if var > 0 and len(v) > 10 else 0.0)


def perplexity_of(nll) -> Estimate:
    """exp(mean NLL), the error propagated: d exp(x) = exp(x) dx."""
    log_ppl = mean_and_error(nll)
    value = math.exp(log_ppl.value)
    return Estimate(value, value * log_ppl.error)


def chunks(runner, text: str | None, n_ctx: int, first_chunk: int = 0, n_chunks: int | None = None):
    """The text's chunks as llama.cpp's perplexity tool cuts them: n_ctx tokens, the first replaced by BOS."""
    from course_lib.errors import CourseError

    tokens = runner.tokenize(text if text is not None else perplexity_text())
    available = len(tokens) // n_ctx - first_chunk
    count = available if n_chunks is None else min(n_chunks, available)
    if count < 1:
        raise CourseError(f"the text has {len(tokens)} tokens: no chunk of {n_ctx} from chunk {first_chunk} on")
    for c in range(first_chunk, first_chunk + count):
        chunk = list(tokens[c * n_ctx:(c + 1) * n_ctx])
        if runner.add_bos:
            chunk[0] = runner.bos
        yield chunk


def _scored_logits(runner, chunk):
    """(logits of the second half, the tokens they predict): positions n_ctx/2 .. n_ctx-2 predict the next token."""
    n = len(chunk)
    first = n // 2
    logits = runner.decode(chunk, [first <= i < n - 1 for i in range(n)], copy=False)  # used before the next decode
    return logits, np.asarray(chunk[first + 1:])


def perplexity(model=None, text: str | None = None, n_ctx: int = 256, first_chunk: int = 0,
               n_chunks: int | None = None) -> Estimate:
    """Perplexity of a GGUF (default: the course model) on `text` (default: the course's), ± its standard error."""
    from course_lib.quant.forward import Runner

    nll = []
    with Runner(model, n_ctx=n_ctx) as runner:
        for chunk in chunks(runner, text, n_ctx, first_chunk, n_chunks):
            logits, targets = _scored_logits(runner, chunk)
            nll.extend(token_nll(logits, targets))
    return perplexity_of(nll)


@dataclass
class BaseScores:
    """The base model's next-token log-probabilities, stored as llama.cpp stores them (uint16 over the top 16 nats)."""
    codes: np.ndarray  # (tokens, vocab) uint16
    scale: np.ndarray  # per token
    min_log_prob: np.ndarray  # per token
    targets: np.ndarray
    chunks: list


def _compress(logits: np.ndarray):
    """llama.cpp's `log_softmax(..., uint16_t * log_prob, ...)`: each row's log-probabilities in 16 bits."""
    top, low = logits.max(axis=1), logits.min(axis=1)
    low = np.maximum(low, top - F(LOG_PROB_FLOOR))
    log_sum_exp = np.log(np.exp(logits - top[:, None]).sum(axis=1, dtype=np.float64)).astype(F)
    scale = ((top - low) / F(65535)).astype(F)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        inv = np.where(scale != 0, F(1) / scale, F(0)).astype(F)
        codes = np.where(logits > low[:, None], nearest_int(inv[:, None] * (logits - low[:, None])), 0)
    return codes.astype(np.uint16), scale, (low - top - log_sum_exp).astype(F)


def score_base(model=None, text: str | None = None, n_ctx: int = 256, first_chunk: int = 0,
               n_chunks: int | None = None) -> BaseScores:
    """Run the base model (default: the course model, or an F16 GGUF when you have one) and keep what KLD needs."""
    from course_lib.quant.forward import Runner

    parts, targets, kept = [], [], []
    with Runner(model, n_ctx=n_ctx) as runner:
        for chunk in chunks(runner, text, n_ctx, first_chunk, n_chunks):
            logits, predicted = _scored_logits(runner, chunk)
            parts += [_compress(logits[i:i + ROWS]) for i in range(0, len(logits), ROWS)]
            targets.append(predicted)
            kept.append(chunk)
    return BaseScores(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                      np.concatenate([p[2] for p in parts]), np.concatenate(targets), kept)


@dataclass
class Quality:
    """One model against the base, as llama.cpp's `--kl-divergence` reports it."""
    perplexity: Estimate
    base_perplexity: Estimate
    ln_ppl_ratio: Estimate  # mean ln(PPL(Q)/PPL(base)), its error from the paired per-token values
    kld: Estimate
    kld_p99: float
    same_top: Estimate  # fraction of tokens where both models rank the same token first
    n_tokens: int


def _compare_rows(logits: np.ndarray, base: BaseScores, rows: slice):
    """Per token: NLL, the base's NLL, KL(base || model) and whether both rank the same token first.

    Only the base's top 16 nats enter the KL sum (llama.cpp drops the rest): a
    few thousand of the 262,144 entries, picked from the stored 16-bit codes.
    """
    n = len(logits)
    top = logits.max(axis=1)
    log_sum_exp = np.log(np.exp(logits - top[:, None]).sum(axis=1, dtype=np.float64)).astype(F)
    targets = base.targets[rows]
    picked = logits[np.arange(n), targets]
    nll = (top + log_sum_exp - picked).astype(np.float64)
    codes = base.codes[rows]
    scale, min_lp = base.scale[rows], base.min_log_prob[rows]
    nll_base = -(scale * codes[np.arange(n), targets].astype(F) + min_lp).astype(np.float64)
    row, col = np.nonzero(codes)  # a zero code is below the window: log p <= -16
    lp = scale[row] * codes[row, col].astype(F) + min_lp[row]
    keep = lp > -F(LOG_PROB_FLOOR)
    row, col, lp = row[keep], col[keep], lp[keep]
    terms = np.exp(lp) * (lp - logits[row, col] + (top + log_sum_exp)[row])
    kld = np.bincount(row, weights=terms.astype(np.float64), minlength=n)
    # the base's first top token: its largest code (ties: the lowest index, as llama.cpp's scan finds it)
    same = logits.argmax(axis=1) == codes.argmax(axis=1)
    return nll, nll_base, kld, same


def compare_to_base(model, base: BaseScores, n_ctx: int = 256) -> Quality:
    """KL divergence, same-top-token rate and perplexity of `model` (a GGUF path) against `base`."""
    from course_lib.quant.forward import Runner

    nll, nll_base, kld, same = [], [], [], []
    done = 0
    with Runner(model, n_ctx=n_ctx) as runner:
        for chunk in base.chunks:
            logits, _ = _scored_logits(runner, chunk)
            for i in range(0, len(logits), ROWS):
                rows = slice(done + i, done + min(i + ROWS, len(logits)))
                for acc, values in zip((nll, nll_base, kld, same), _compare_rows(logits[i:i + ROWS], base, rows)):
                    acc.extend(values)
            done += len(logits)
    nll, nll_base = np.asarray(nll), np.asarray(nll_base)
    same_rate = float(np.mean(same))
    return Quality(perplexity_of(nll), perplexity_of(nll_base), mean_and_error(nll - nll_base), mean_and_error(kld),
                   float(np.percentile(kld, 99)),
                   Estimate(same_rate, math.sqrt(same_rate * (1 - same_rate) / (len(same) - 1))), len(same))


def compare_models(variants: dict, base=None, text: str | None = None, n_ctx: int = 256, first_chunk: int = 0,
                   n_chunks: int | None = None) -> dict:
    """Quality of each GGUF in `variants` (name -> path) against `base` (default: the course model).

    The course's base is itself Q4_K_M, so these say how far each file is from
    that one; pass an F16 GGUF as `base` to measure against the unquantized model.
    """
    scores = score_base(base, text, n_ctx, first_chunk, n_chunks)
    return {name: compare_to_base(path, scores, n_ctx) for name, path in variants.items()}


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
