"""`check("q3")` in a learner's notebook, and the test runner the batch grader shares with it.

A test runs where its verdict is decided: in the learner's own notebook for
`check()` (feedback, not a grade), in the grader's process for a grade (the
submission's code runs in another process, session.py). Either way the test
sees the learner's answers only through `Answer` stand-ins, which call the
learner's function with the test's inputs and hand back plain data checked
against the question's schema (plain.py): the same values in both places.

Each test gives one line: pass; fail with expected vs got; error with the
exception's one-line message (or why an answer was refused); missing
function; or timeout. Never a traceback.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field

from course_lib.errors import CourseError
from course_lib.grading.plain import Malformed, conform, decode, encode_input
from course_lib.grading.questions import CHAPTERS, chapter_id, load_tests, questions, schemas, values
from course_lib.grading.runner import CallTimeout, answer, handles, one_line, time_limit
from course_lib.grading.session import KernelGone

DEFAULT_TEST_TIMEOUT_S = 60.0
_current = {"chapter": None}


@dataclass
class TestResult:
    question: str
    test: str
    hidden: bool
    verdict: str  # "pass", "fail", "error", "missing", "timeout", "crash"
    message: str = ""
    notes: list = field(default_factory=list)  # for the instructor: what was refused or converted in the answer

    def line(self) -> str:
        label = f"{self.question} {'hidden test' if self.hidden else self.test}"
        return f"{label}: {self.verdict}" + (f" - {self.message}" if self.message else "")


class LearnerError(Exception):
    """The learner's function raised: the test's verdict is "error" with this one-line message."""


class LearnerTimeout(Exception):
    """The learner's function ran past its time (its kernel stopped it and lives on)."""


class Refusal(Exception):
    """The learner's answer is not plain data (or not the wire format): refused, verdict "error"."""


class LocalKernel:
    """The learner's own namespace in this process (`check()`), asked exactly as a grader asks a kernel."""

    tainted = False

    def __init__(self, namespace: dict):
        self.namespace = namespace

    def _ask(self, request: dict) -> dict:
        # Through JSON and back, as the grader's replies travel: what check() accepts, the grader accepts.
        return json.loads(json.dumps(answer(request, self.namespace, handles())))

    def kinds(self, names: list[str]) -> dict:
        return self._ask({"op": "names", "names": list(names)})["kinds"]

    def call(self, name: str, args, kwargs, timeout: float) -> dict:
        return self._ask({"op": "call", "name": name, "args": args, "kwargs": kwargs})

    def value(self, name: str, timeout: float) -> dict:
        return self._ask({"op": "value", "name": name})


class Answer:
    """A learner's function (call it) or value (`.value()`) as a test sees it: plain data in, plain data out."""

    def __init__(self, name: str, kernel, schema, timeout: float, notes: list[str]):
        self.name, self.kernel, self.schema, self.timeout, self.notes = name, kernel, schema, timeout, notes

    def __call__(self, *args, **kwargs):
        reply = self.kernel.call(self.name, encode_input(list(args)), encode_input(kwargs), self.timeout)
        return self._accept(reply, f"{self.name}()")

    def value(self):
        return self._accept(self.kernel.value(self.name, self.timeout), self.name)

    def _accept(self, reply: dict, what: str):
        if reply.get("ok") is True:
            self.notes.extend(str(note)[:200] for note in reply.get("notes", [])[:3] if isinstance(note, str))
            try:
                value = decode(reply.get("value"))
            except (Malformed, RecursionError) as exc:
                raise Refusal(f"{what} came back in no plain form ({exc})") from None
            return conform(value, self.schema, what)
        if "timeout" in reply:
            raise LearnerTimeout(f"no answer within {self.timeout:g} s")
        if "refused" in reply:
            raise Refusal(f"{what} {reply['refused']}"[:300])
        if reply.get("memory"):
            self.kernel.tainted = True  # what the learner's code holds now is unknown: the grader starts afresh
        raise LearnerError(str(reply.get("error", "no answer"))[:300])


def _verdict(test, verdict: str, message: str = "", notes=()) -> TestResult:
    unique = list(dict.fromkeys(notes))
    return TestResult(test.question, test.name, test.hidden, verdict, " ".join(message.split()), unique)


def run_test(test, kernel, answer_schemas: dict, timeout: float = DEFAULT_TEST_TIMEOUT_S,
             value_names=frozenset()) -> TestResult:
    """One test's verdict. The learner's answers live in `kernel` (a LocalKernel, or a grader's Session);
    a Session that ends during the test raises session.KernelGone for the grader to handle."""
    kinds = kernel.kinds(test.needs)
    for name in test.needs:
        if kinds.get(name) == "unanswered":
            return _verdict(test, "missing", f"{name} is still `...`: write your answer")
        if kinds.get(name) not in ("function", "value"):
            what = name if name in value_names else f"function {name}()"
            return _verdict(test, "missing", f"{what} is not defined: run the cell that defines it")
    notes: list[str] = []
    answers = [Answer(name, kernel, answer_schemas[name], timeout, notes) for name in test.needs]
    local = isinstance(kernel, LocalKernel)
    try:
        # In the learner's notebook the whole test runs under one alarm; a grader's kernel times each call itself.
        with time_limit(timeout if local else None):
            test.func(*answers)
    except (CallTimeout, LearnerTimeout):
        return _verdict(test, "timeout", f"no answer within {timeout:g} s", notes)
    except Refusal as exc:
        return _verdict(test, "error", f"refused: {exc}", [*notes, f"refused: {exc}"])
    except LearnerError as exc:
        return _verdict(test, "error", str(exc), notes)
    except AssertionError as exc:
        return _verdict(test, "fail", str(exc) or "assertion failed", notes)
    except KernelGone:
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. the learner's value broke the test's arithmetic: a verdict
        return _verdict(test, "error", one_line(exc), notes)
    return _verdict(test, "pass", "", notes)


def run_tests(chapter: str, namespace: dict, question_ids=None, include_hidden: bool = False, hidden_dir=None,
              timeout: float = DEFAULT_TEST_TIMEOUT_S) -> list[TestResult]:
    """A chapter's tests on the functions of a namespace in this process (what `check()` runs)."""
    tests = load_tests(chapter, hidden_dir=hidden_dir, include_hidden=include_hidden)
    if question_ids is not None:
        tests = [t for t in tests if t.question in question_ids]
    kernel, answer_schemas = LocalKernel(namespace), schemas(chapter)
    return [run_test(t, kernel, answer_schemas, timeout, values(chapter)) for t in tests]


def start(chapter: str) -> None:
    """Name the chapter this notebook's `check()` calls refer to (an exercise's first cell does it)."""
    _current["chapter"] = chapter_id(chapter)


def _guess_chapter(qid: str, namespace: dict) -> str:
    # No start() call: the chapter whose question `qid` asks for a function this namespace defines.
    for cid in CHAPTERS:
        if any(namespace.get(name) is not None for name in questions(cid).get(qid, ())):
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
