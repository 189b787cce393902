"""`check("q3")`: run one question's visible tests in the learner's own kernel.

Each test prints one line: pass; fail with expected vs got; error with the
exception's one-line message; missing function; or timeout. Never a traceback.
The same runner, with the hidden tests added, is what the batch grader calls
inside each submission's kernel.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from dataclasses import asdict, dataclass

from course_lib.errors import CourseError
from course_lib.grading.questions import CHAPTERS, chapter_id, load_tests, questions
from course_lib.grading.testing import Mismatch

DEFAULT_TEST_TIMEOUT_S = 60.0
_current = {"chapter": None}


@dataclass
class TestResult:
    question: str
    test: str
    hidden: bool
    verdict: str  # "pass", "fail", "error", "missing", "timeout"
    message: str = ""

    def line(self) -> str:
        label = f"{self.question} {'hidden test' if self.hidden else self.test}"
        return f"{label}: {self.verdict}" + (f" - {self.message}" if self.message else "")


class _TestTimeout(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float):
    # SIGALRM interrupts a runaway learner function between bytecodes; only the main thread
    # can receive it, which is where a Jupyter kernel runs cells.
    if not seconds or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def on_alarm(signum, frame):
        raise _TestTimeout()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def run_test(test, namespace: dict, timeout: float = DEFAULT_TEST_TIMEOUT_S) -> TestResult:
    missing = [name for name in test.needs if not callable(namespace.get(name))]
    if missing:
        return TestResult(test.question, test.name, test.hidden, "missing",
                          f"function {missing[0]}() is not defined: run the cell that defines it")
    args = [namespace[name] for name in test.needs]
    try:
        with _time_limit(timeout):
            test.func(*args)
    except _TestTimeout:
        return TestResult(test.question, test.name, test.hidden, "timeout", f"no answer within {timeout:g} s")
    except Mismatch as exc:
        return TestResult(test.question, test.name, test.hidden, "fail", " ".join(str(exc).split()))
    except AssertionError as exc:
        return TestResult(
            test.question, test.name, test.hidden, "fail", " ".join(str(exc).split()) or "assertion failed"
        )
    except BaseException as exc:  # noqa: BLE001 - a learner's bug (even SystemExit) is a verdict, not a crash
        if isinstance(exc, KeyboardInterrupt):
            raise
        return TestResult(test.question, test.name, test.hidden, "error", _one_line(exc))
    return TestResult(test.question, test.name, test.hidden, "pass")


def run_tests(chapter: str, namespace: dict, question_ids=None, include_hidden: bool = False, hidden_dir=None,
              timeout: float = DEFAULT_TEST_TIMEOUT_S) -> list[TestResult]:
    tests = load_tests(chapter, hidden_dir=hidden_dir, include_hidden=include_hidden)
    if question_ids is not None:
        tests = [t for t in tests if t.question in question_ids]
    return [run_test(t, namespace, timeout) for t in tests]


def grade_namespace(
    chapter: str, namespace: dict, hidden_dir=None, timeout: float = DEFAULT_TEST_TIMEOUT_S
) -> list[dict]:
    """Every visible and hidden test of a chapter, as plain dicts (what the grader reads back)."""
    return [
        asdict(r) for r in run_tests(chapter, namespace, include_hidden=True, hidden_dir=hidden_dir, timeout=timeout)
    ]


def start(chapter: str) -> None:
    """Name the chapter this notebook's `check()` calls refer to (an exercise's first cell does it)."""
    _current["chapter"] = chapter_id(chapter)


def _guess_chapter(qid: str, namespace: dict) -> str:
    # No start() call: the chapter whose question `qid` asks for a function this namespace defines.
    for cid in CHAPTERS:
        if namespace.get(questions(cid).get(qid, "")) is not None:
            return cid
    raise CourseError(f"check({qid!r}): run the notebook's first cell (it calls start(...)) or pass chapter=")


def check(qid: str, chapter: str | None = None, timeout: float = DEFAULT_TEST_TIMEOUT_S) -> None:
    """Run question `qid`'s visible tests on the functions defined in the calling notebook; one line per test."""
    namespace = sys._getframe(1).f_globals
    try:
        cid = chapter_id(chapter) if chapter else _current["chapter"] or _guess_chapter(qid, namespace)
        known = questions(cid)
        if qid not in known:
            raise CourseError(f"chapter {cid} has no question {qid!r}; its questions are {', '.join(known)}")
        results = run_tests(cid, namespace, question_ids={qid}, timeout=timeout)
    except CourseError as exc:  # a one-line answer in the notebook, not a traceback
        print(f"check: {exc}")
        return
    for result in results:
        print(result.line())
    passed = sum(r.verdict == "pass" for r in results)
    print(f"{qid}: {passed}/{len(results)} visible tests pass" + (" - well done" if passed == len(results) else ""))
