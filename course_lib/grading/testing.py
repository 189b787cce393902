"""The small vocabulary the chapter tests are written in.

A tests file (`course_lib/grading/visible/NN.py`, `grading_hidden/NN.py`)
declares `QUESTIONS = {"q1": "function_name", ...}` (visible files only) and
test functions decorated with `@question("q1")`. A test's parameters name the
learner's functions it needs; the runner looks them up in the learner's
namespace, so cells may move or be renamed freely.
"""

from __future__ import annotations

import math

import numpy as np


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


_shared: dict = {}


def shared_model():
    """The real model, loaded once per kernel for the tests that need it (small context)."""
    if "llm" not in _shared:
        from course_lib.runtime import load_model

        # One thread: llama.cpp's worker threads spin while waiting, so on a loaded machine (a grader running
        # beside other jobs) two threads can be many times slower than one.
        _shared["llm"] = load_model(n_ctx=512, n_threads=1, n_threads_batch=1, seed=0)
    return _shared["llm"]


def shared_server():
    """The real model behind the course's OpenAI-compatible server, started once per kernel, stopped at exit."""
    if "server" not in _shared:
        from course_lib.runtime import LlamaCppPythonServer

        _shared["server"] = LlamaCppPythonServer(n_ctx=1024).start()
    return _shared["server"]
