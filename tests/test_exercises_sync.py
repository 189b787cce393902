"""exercises/ is generated from solutions/: in sync, deterministic, and free of solutions and hidden tests."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_lib.grading.generate import BEGIN, END, drift, generate, solution_regions, stub_source
from course_lib.grading.questions import CHAPTERS, questions

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"


def test_every_chapter_has_a_solution_and_an_exercise():
    for name in CHAPTERS.values():
        assert (SOLUTIONS / f"{name}.ipynb").is_file(), name
        assert (EXERCISES / f"{name}.ipynb").is_file(), name


def test_exercises_are_in_sync_with_solutions():
    assert drift(SOLUTIONS, EXERCISES) == [], "run `llm-course exercises` and commit exercises/"


def test_generation_is_deterministic(tmp_path):
    generate(SOLUTIONS, tmp_path / "a")
    generate(SOLUTIONS, tmp_path / "b")
    for first in sorted((tmp_path / "a").iterdir()):
        assert first.read_bytes() == (tmp_path / "b" / first.name).read_bytes(), first.name
        assert first.read_bytes() == (EXERCISES / first.name).read_bytes(), first.name


def test_check_command_reports_drift(tmp_path):
    generate(SOLUTIONS, tmp_path)
    target = tmp_path / "03_kv_cache_growth.ipynb"
    target.write_text(target.read_text().replace("raise NotImplementedError", "return 0  #"))
    result = subprocess.run(
        [sys.executable, "-m", "course_lib.cli", "exercises", "--check", "--exercises", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "03_kv_cache_growth.ipynb" in result.stderr and "01_memory_math" not in result.stderr


@pytest.mark.parametrize("name", list(CHAPTERS.values()))
def test_exercise_has_no_solution_text_no_outputs_and_keeps_markdown(name):
    solution = nbformat.read(SOLUTIONS / f"{name}.ipynb", 4)
    exercise = nbformat.read(EXERCISES / f"{name}.ipynb", 4)
    text = (EXERCISES / f"{name}.ipynb").read_text()
    assert BEGIN not in text and END not in text and "NBVAL" not in text
    regions = [r for c in solution.cells if c.cell_type == "code" for r in solution_regions(c.source)]
    assert len(regions) >= 3, "every chapter has at least 3 graded questions"
    for region in regions:
        for line in region.splitlines():
            if len(line.strip()) > 12:  # distinctive lines only ("return x" may also appear in a stub)
                assert line.strip() not in text, f"solution line leaked into the exercise: {line.strip()!r}"
    assert [c.source for c in solution.cells if c.cell_type == "markdown"] == \
           [c.source for c in exercise.cells if c.cell_type == "markdown"]
    for cell in exercise.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    tags = {t for c in exercise.cells for t in c.metadata.get("tags", [])}
    assert tags == set(questions(name[:2])), "every answer cell keeps its question tag"


def test_no_hidden_test_reaches_exercises_or_the_package():
    hidden = ROOT / "grading_hidden"
    everything = "".join(p.read_text() for p in EXERCISES.glob("*.ipynb"))
    package = "".join(p.read_text() for p in (ROOT / "course_lib" / "grading").rglob("*.py"))
    for file in hidden.glob("[0-9][0-9].py"):
        for name in re.findall(r"^def (\w+)\(", file.read_text(), re.MULTILINE):
            assert name not in everything, f"hidden test {file.name}:{name} appears in exercises/"
            assert name not in package, f"hidden test {file.name}:{name} appears in course_lib/grading/"


def test_stub_keeps_signature_and_indentation():
    source = f'import numpy as np\n\n\ndef f(x):\n    """Doc."""\n    {BEGIN}\n    return x + 1\n    {END}\n\nprint(1)'
    stub = stub_source(source)
    assert stub == ("import numpy as np\n\n\ndef f(x):\n    \"\"\"Doc.\"\"\"\n"
                    "    raise NotImplementedError(\"write f()\")\n\nprint(1)")
    compile(stub, "stub", "exec")


def test_unbalanced_markers_are_one_line_errors():
    from course_lib.errors import CourseError

    with pytest.raises(CourseError, match="without"):
        stub_source(f"def f():\n    {BEGIN}\n    return 1\n")
