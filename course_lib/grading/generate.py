"""Exercise notebooks generated from solution notebooks: one source, no drift.

Each answer cell of `solutions/NN_*.ipynb` marks its solution with nbgrader's
`### BEGIN SOLUTION` / `### END SOLUTION`; the exercise keeps the cell (and
its tags, so the grader can find it) with that region replaced by a stub that
raises NotImplementedError, or, for an answer given as a value at the top of a
cell (`speed_reading = "b"`), by the same names set to `...` (the grader counts
`...` as not answered yet). Markdown is kept; outputs, execution counts and
nbval markers are dropped. The same input always gives byte-identical output.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

from course_lib.errors import CourseError

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
_NBVAL_LINE = re.compile(r"^\s*# NBVAL_[A-Z_]+\s*\n?", re.MULTILINE)
_DEF = re.compile(r"^\s*def\s+(\w+)\s*\(", re.MULTILINE)
_VALUE = re.compile(r"^(\w+)\s*=(?!=)")


def stub_source(source: str) -> str:
    """The cell's source with every solution region replaced by `raise NotImplementedError(...)`."""
    lines = source.split("\n")
    out, inside, defined, region = [], False, None, []
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise CourseError(f"nested {BEGIN} at line {number}")
            inside, region = True, []
            names = _DEF.findall("\n".join(lines[:number]))
            indent = line[: len(line) - len(line.lstrip())]
            defined = names[-1] if names and indent else None
        elif stripped == END:
            if not inside:
                raise CourseError(f"{END} without {BEGIN} at line {number}")
            inside = False
            out += _stub(region, indent, defined)
        elif inside:
            region.append(line)
        else:
            out.append(line)
    if inside:
        raise CourseError(f"{BEGIN} without {END}")
    return "\n".join(out)


def _stub(region: list[str], indent: str, defined: str | None) -> list[str]:
    lines = [line for line in region if line.strip() and not line.lstrip().startswith("#")]
    values = [m.group(1) for m in map(_VALUE.match, lines) if m]
    if not indent and values and len(values) == len(lines):
        return [f"{name} = ...  # your answer" for name in dict.fromkeys(values)]
    what = f"write {defined}()" if defined else "your code here"
    return [f'{indent}raise NotImplementedError("{what}")']


def solution_regions(source: str) -> list[str]:
    """The text between each BEGIN/END SOLUTION pair (what must never reach an exercise)."""
    return re.findall(re.escape(BEGIN) + r"\n(.*?)\n\s*" + re.escape(END), source, re.DOTALL)


def exercise_from_solution(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    book = copy.deepcopy(solution)
    for cell in book.cells:
        if cell.cell_type == "code":
            cell.source = _NBVAL_LINE.sub("", stub_source(cell.source))
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
        else:
            cell.pop("outputs", None)
    book.metadata = {key: book.metadata[key] for key in ("kernelspec", "language_info", "llm_course")
                     if key in book.metadata}
    if "language_info" in book.metadata:
        book.metadata["language_info"] = {"name": book.metadata["language_info"].get("name", "python")}
    return book


def render(book: nbformat.NotebookNode) -> str:
    """The exact text written for a notebook: nbformat's own layout (as JupyterLab saves it), final newline."""
    text = nbformat.writes(book)
    return text if text.endswith("\n") else text + "\n"


def read_notebook(path: Path) -> nbformat.NotebookNode:
    try:
        return nbformat.read(path, as_version=4)
    except Exception as exc:  # noqa: BLE001 - nbformat raises JSON, validation and IO errors of many kinds
        raise CourseError(f"{path} is not a readable notebook: {type(exc).__name__}") from None


def expected_exercises(solutions_dir: Path) -> dict[str, str]:
    """{file name: text} of every exercise notebook the solutions produce."""
    files = sorted(Path(solutions_dir).glob("[0-9][0-9]_*.ipynb"))
    if not files:
        raise CourseError(f"no solution notebooks (NN_*.ipynb) in {solutions_dir}")
    return {f.name: render(exercise_from_solution(read_notebook(f))) for f in files}


def generate(solutions_dir: Path, exercises_dir: Path) -> list[str]:
    """Write exercises/ from solutions/; return the names written or changed."""
    exercises_dir = Path(exercises_dir)
    exercises_dir.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, text in expected_exercises(solutions_dir).items():
        target = exercises_dir / name
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
            changed.append(name)
    return changed


def drift(solutions_dir: Path, exercises_dir: Path) -> list[str]:
    """Exercise files that differ from what the solutions produce (missing, stale, or not from any solution)."""
    expected = expected_exercises(solutions_dir)
    problems = []
    for name, text in expected.items():
        target = Path(exercises_dir) / name
        if not target.exists():
            problems.append(f"{name}: missing")
        elif target.read_text(encoding="utf-8") != text:
            problems.append(f"{name}: differs from what solutions/{name} generates")
    for extra in sorted(Path(exercises_dir).glob("*.ipynb")):
        if extra.name not in expected:
            problems.append(f"{extra.name}: has no solution notebook")
    return problems
