"""Where each chapter's questions and tests live, and how they are loaded.

Visible tests ship with the package (`course_lib/grading/visible/NN.py`) so
`check("q3")` works in any learner's install. Hidden tests live at the
repository root in `grading_hidden/NN.py`: never in `exercises/`, never in the
installed package; an instructor points `llm-course grade --hidden DIR` at them.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
from dataclasses import dataclass
from pathlib import Path

from course_lib.errors import CourseError

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


def _load_file(path: Path, module_name: str):
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tests_of(module, hidden: bool) -> list[Test]:
    found = [(name, obj) for name, obj in vars(module).items() if callable(obj) and hasattr(obj, "question")]
    # Source order, so output lines come in the order the tests were written.
    found.sort(key=lambda item: inspect.getsourcelines(item[1])[1])
    return [Test(obj.question, name, obj, hidden) for name, obj in found]


def questions(chapter: str) -> dict[str, str]:
    """{"q1": "function_name", ...} for a chapter, from its visible tests file."""
    cid = chapter_id(chapter)
    return dict(_load_file(VISIBLE_DIR / f"{cid}.py", f"course_lib.grading.visible.ch{cid}").QUESTIONS)


def load_tests(chapter: str, hidden_dir: str | os.PathLike | None = None, include_hidden: bool = False) -> list[Test]:
    """Visible tests of a chapter, plus its hidden ones when asked (CourseError if they cannot be found)."""
    cid = chapter_id(chapter)
    visible = _load_file(VISIBLE_DIR / f"{cid}.py", f"course_lib.grading.visible.ch{cid}")
    tests = _tests_of(visible, hidden=False)
    if include_hidden:
        folder = Path(hidden_dir) if hidden_dir else default_hidden_dir()
        if folder is None or not (folder / f"{cid}.py").is_file():
            raise CourseError(f"no hidden tests for chapter {cid}: expected {folder or 'grading_hidden'}/{cid}.py "
                              "(pass --hidden DIR)")
        tests += _tests_of(_load_file(folder / f"{cid}.py", f"grading_hidden_ch{cid}"), hidden=True)
    unknown = {t.question for t in tests} - set(visible.QUESTIONS)
    if unknown:
        raise CourseError(f"tests for chapter {cid} name unknown questions: {', '.join(sorted(unknown))}")
    return tests
