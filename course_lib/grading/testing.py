"""The small vocabulary the chapter tests are written in.

A tests file (`course_lib/grading/visible/NN.py`, `grading_hidden/NN.py`)
declares `QUESTIONS` and `RETURNS` (visible files only, see questions.py) and
test functions decorated with `@question("q1")`. A test's parameters name the
learner's answers it needs; the grader hands it stand-ins (checker.Answer):
calling one runs the learner's function in the submission's kernel on the
inputs given and returns what it returned, as plain data. The test itself,
its expected values and its verdict stay in the grader's process. Inputs the
kernel supplies itself are MODEL (the course's model, loaded there), TOKENIZER
(its vocabulary alone, a few tens of MB) and SERVER_URL (the address of the
course's server, started there); a test's expected values come from
`shared_model()`, `shared_tokenizer()` and `shared_server()`, the grader's own.
"""

from __future__ import annotations

import math

import numpy as np

from course_lib.grading.plain import MODEL, SERVER_URL, TOKENIZER, Either

__all__ = ["MODEL", "TOKENIZER", "SERVER_URL", "CHOICES", "Either", "Mismatch", "question", "expect_equal",
           "expect_close", "expect_true", "expect_choice", "expect_one_of", "expect_within_factor", "shared_model",
           "shared_tokenizer", "shared_server"]

class Mismatch(AssertionError):
    """A test's verdict "fail": the learner's answer is not the expected one."""


def question(qid: str):
    def mark(func):
        func.question = qid
        return func
    return mark


def _short(value, limit: int = 80) -> str:
    if isinstance(value, np.ndarray):
        text = f"array(shape={value.shape}, dtype={value.dtype})"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def expect_equal(got, expected, what: str = ""):
    if isinstance(expected, np.ndarray) or isinstance(got, np.ndarray):
        got_a, exp_a = np.asarray(got), np.asarray(expected)
        if got_a.shape != exp_a.shape:
            raise Mismatch(f"{what + ': ' if what else ''}expected shape {exp_a.shape}, got {got_a.shape}")
        if not np.array_equal(got_a, exp_a):
            bad = int(np.sum(got_a != exp_a))
            raise Mismatch(f"{what + ': ' if what else ''}{bad} of {exp_a.size} values differ from the expected ones")
        return
    if got != expected:
        raise Mismatch(f"{what + ': ' if what else ''}expected {_short(expected)}, got {_short(got)}")


def expect_close(got, expected, rel: float = 1e-6, abs_: float = 0.0, what: str = ""):
    if isinstance(expected, np.ndarray) or isinstance(got, np.ndarray):
        got_a, exp_a = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
        if got_a.shape != exp_a.shape:
            raise Mismatch(f"{what + ': ' if what else ''}expected shape {exp_a.shape}, got {got_a.shape}")
        if not np.allclose(got_a, exp_a, rtol=rel, atol=abs_):
            worst = float(np.max(np.abs(got_a - exp_a)))
            raise Mismatch(f"{what + ': ' if what else ''}values differ from the expected ones by up to {worst:.3g}")
        return
    try:
        ok = math.isclose(float(got), float(expected), rel_tol=rel, abs_tol=abs_)
    except (TypeError, ValueError):
        raise Mismatch(
            f"{what + ': ' if what else ''}expected a number close to {_short(expected)}, got {_short(got)}"
        ) from None
    if not ok:
        raise Mismatch(f"{what + ': ' if what else ''}expected {_short(expected)}, got {_short(got)}")


def expect_true(condition, message: str):
    if not condition:
        raise Mismatch(message)


# The choices every interpretation question offers: a visible test checks the answer is one of them, a hidden test
# checks it is the one the measurement supports (so the answer is not in the course's installed files).
CHOICES = ("a", "b", "c", "d")


def _letter(got):
    return got.strip().lower().rstrip(")") if isinstance(got, str) else got


def expect_choice(got, what: str = ""):
    """An interpretation answer, checked for form only: one of the letters offered."""
    if _letter(got) not in CHOICES:
        raise Mismatch(f"{what + ': ' if what else ''}answer with one letter ({', '.join(CHOICES)}), got {_short(got)}")


def expect_one_of(got, accepted, what: str = ""):
    """An interpretation answer: one of a few accepted ones (letters compare case-blind, "b)" reads as "b")."""
    if _letter(got) not in {_letter(a) for a in accepted}:
        raise Mismatch(f"{what + ': ' if what else ''}{_short(got)} is not the reading the measurement supports")


def expect_within_factor(got, reference: float, factor: float, what: str = ""):
    """A measurement: a positive number within `factor` of the grader's own run (timings on a shared CPU vary)."""
    ok = isinstance(got, (int, float)) and math.isfinite(got) and got > 0
    if not ok or not reference / factor <= got <= reference * factor:
        raise Mismatch(f"{what + ': ' if what else ''}expected about {reference:.3g} (within {factor:g}x, the "
                       f"grader's own run), got {_short(got)}")


_shared: dict = {}
# The grader's model and the kernel's are two processes with different histories of requests: llama-cpp-python
# reuses the longest cached prefix of a prompt, so a prompt is evaluated in batches that depend on what came before,
# and a greedy continuation can change with the batching. One token per batch makes every token's numbers the same
# whatever came before, so the same prompt gives the same text on both sides.
ONE_TOKEN_AT_A_TIME = {"n_batch": 1, "n_ubatch": 1}


def shared_model():
    """The real model, loaded once per kernel for the tests that need it (small context)."""
    if "llm" not in _shared:
        from course_lib.runtime import load_model

        # One thread: llama.cpp's worker threads spin while waiting, so on a loaded machine (a grader running
        # beside other jobs) two threads can be many times slower than one.
        _shared["llm"] = load_model(n_ctx=512, n_threads=1, n_threads_batch=1, seed=0, **ONE_TOKEN_AT_A_TIME)
    return _shared["llm"]


def shared_tokenizer():
    """The real model's vocabulary alone (no weights), for tests that only tokenize."""
    if "tokenizer" not in _shared:
        from course_lib.runtime import load_model

        _shared["tokenizer"] = load_model(vocab_only=True)
    return _shared["tokenizer"]


def shared_server():
    """The real model behind the course's OpenAI-compatible server, started once per kernel, stopped at exit."""
    if "server" not in _shared:
        from course_lib.runtime import LlamaCppPythonServer

        # One thread, as shared_model(): timings compared across two processes vary less when neither spins.
        _shared["server"] = LlamaCppPythonServer(
            n_ctx=1024, n_threads=1, extra_args=[f"--{k}={v}" for k, v in ONE_TOKEN_AT_A_TIME.items()]).start()
    return _shared["server"]
