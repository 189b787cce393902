"""Where each chapter's questions and tests live, and how they are loaded.

Visible tests ship with the package (`course_lib/grading/visible/NN.py`) so
`check("q3")` works in any learner's install. Hidden tests live at the
repository root in `grading_hidden/NN.py`: never in `exercises/`, never in the
installed package; an instructor points `llm-course grade --hidden DIR` at them.
Tests are only ever loaded in the grader's own process (or, visible ones, in
the learner's notebook for `check()`), never in a submission's kernel.

A visible file declares `QUESTIONS = {"q1": "function_name", ...}` (a question
may name several: a prediction, a measurement and an interpretation),
`RETURNS = {"function_name": schema, ...}`, the plain shape each answer comes
back in (course_lib/grading/plain.py), and `VALUES`, the names answered with a
value rather than a function.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import os
import types
from dataclasses import dataclass
from pathlib import Path

from course_lib.errors import CourseError
from course_lib.grading.plain import ANY

CHAPTERS = {
    "01": "01_memory_math",
    "02": "02_quantization_from_scratch",
    "03": "03_kv_cache_growth",
    "04": "04_running_llama_cpp_python",
    "05": "05_openai_compatible_serving",
    "06": "06_benchmarking_and_concurrency",
    "07": "07_choosing_your_setup",
}
VISIBLE_DIR = Path(__file__).resolve().parent / "visible"
# The repository checkout the package was installed from (editable install); absent in a wheel.
REPO_HIDDEN_DIR = Path(__file__).resolve().parents[2] / "grading_hidden"


@dataclass(frozen=True)
class Test:
    question: str
    name: str
    func: object
    hidden: bool

    @property
    def needs(self) -> list[str]:
        """The learner's functions this test calls (its parameter names)."""
        return list(inspect.signature(self.func).parameters)


def chapter_id(chapter: str) -> str:
    """'1', '01', '01_memory_math' or 'memory_math' -> '01'."""
    text = str(chapter).strip()
    for cid, name in CHAPTERS.items():
        if text in (cid, cid.lstrip("0"), name, name[3:]) or text.startswith(cid + "_"):
            return cid
    raise CourseError(f"unknown chapter {chapter!r}; choose one of {', '.join(CHAPTERS.values())}")


def default_hidden_dir() -> Path | None:
    env = os.environ.get("LLM_COURSE_HIDDEN_TESTS")
    if env:
        return Path(env)
    return REPO_HIDDEN_DIR if REPO_HIDDEN_DIR.is_dir() else None


def _load_file(path: Path, module_name: str, source: str | None = None):
    """A tests module, from its file, or from `source` (the hidden tests as read before grading began)."""
    if source is None:
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    module = types.ModuleType(module_name)
    module.__file__ = str(path)
    exec(compile(source, str(path), "exec"), module.__dict__)
    return module


def _tests_of(module, hidden: bool) -> list[Test]:
    found = [(name, obj) for name, obj in vars(module).items() if callable(obj) and hasattr(obj, "question")]
    # Source order, so output lines come in the order the tests were written.
    found.sort(key=lambda item: item[1].__code__.co_firstlineno)
    return [Test(obj.question, name, obj, hidden) for name, obj in found]


@functools.lru_cache(maxsize=None)
def _visible(cid: str):
    return _load_file(VISIBLE_DIR / f"{cid}.py", f"course_lib.grading.visible.ch{cid}")


def visible(chapter: str):
    """A chapter's visible tests module: hidden tests reuse its reference helpers rather than repeat them."""
    return _visible(chapter_id(chapter))


def questions(chapter: str) -> dict[str, tuple[str, ...]]:
    """{"q1": ("function_name",), ...} for a chapter: the names each question's answer defines."""
    declared = _visible(chapter_id(chapter)).QUESTIONS
    return {qid: (names,) if isinstance(names, str) else tuple(names) for qid, names in declared.items()}


def values(chapter: str) -> frozenset[str]:
    """Names a chapter's answers give as values (`speed_reading = "b"`), not functions: `VALUES` in its visible file."""
    return frozenset(getattr(_visible(chapter_id(chapter)), "VALUES", ()))


def schemas(chapter: str) -> dict:
    """{name: schema} of the answers a chapter's questions return (plain.ANY where none is declared)."""
    declared = getattr(_visible(chapter_id(chapter)), "RETURNS", {})
    return {name: declared.get(name, ANY) for names in questions(chapter).values() for name in names}


def read_hidden(hidden_dir: str | os.PathLike) -> dict[str, str]:
    """{chapter: source} of every hidden tests file, read once: grading uses this copy, whatever happens on disk."""
    folder = Path(hidden_dir)
    return {cid: (folder / f"{cid}.py").read_text(encoding="utf-8") for cid in CHAPTERS
            if (folder / f"{cid}.py").is_file()}


def load_tests(chapter: str, hidden_dir: str | os.PathLike | None = None, include_hidden: bool = False,
               hidden_sources: dict[str, str] | None = None) -> list[Test]:
    """Visible tests of a chapter, plus its hidden ones when asked (CourseError if they cannot be found)."""
    cid = chapter_id(chapter)
    tests = _tests_of(_visible(cid), hidden=False)
    if include_hidden:
        folder = Path(hidden_dir) if hidden_dir else default_hidden_dir()
        source = (hidden_sources or {}).get(cid)
        if source is None and (folder is None or not (folder / f"{cid}.py").is_file()):
            raise CourseError(f"no hidden tests for chapter {cid}: expected {folder or 'grading_hidden'}/{cid}.py "
                              "(pass --hidden DIR)")
        tests += _tests_of(_load_file((folder or Path("grading_hidden")) / f"{cid}.py", f"grading_hidden_ch{cid}",
                                      source), hidden=True)
    names = questions(cid)
    for test in tests:
        if test.question not in names:
            raise CourseError(f"tests for chapter {cid} name an unknown question: {test.question}")
        if not set(test.needs) <= set(names[test.question]):
            raise CourseError(f"test {test.name} of chapter {cid} takes {', '.join(test.needs)}; question "
                              f"{test.question} answers {', '.join(names[test.question])}")
    return tests
