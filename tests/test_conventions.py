"""The course's house rules, checked: notebook structure, figure labels, sources quoted
anonymously, the library's shape and the dependency list (DEVELOPERS' guide)."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
TEACHING = sorted((ROOT / "notebooks").glob("*.ipynb"))
ALL_NOTEBOOKS = TEACHING + sorted((ROOT / "solutions").glob("*.ipynb")) + sorted((ROOT / "exercises").glob("*.ipynb"))
PLOT_CALL = re.compile(r"\b(ax\w*|plt)\.(plot|bar|barh|hist|scatter|step|fill_between|imshow|semilogy|loglog)\(")
# Infrastructure, not a topic a notebook derives: the command line and the grader.
INFRASTRUCTURE = ("cli.py", "commands/", "grading/")


def test_there_are_teaching_notebooks():
    assert [p.name[:2] for p in TEACHING] == [f"{i:02d}" for i in range(len(TEACHING))] and len(TEACHING) >= 8


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebook_file_names(path):
    assert re.fullmatch(r"\d\d_[a-z0-9]+(_[a-z0-9]+)*\.ipynb", path.name), f"{path.name}: NN_topic.ipynb, no spaces"


@pytest.mark.parametrize("path", TEACHING, ids=lambda p: p.name)
def test_teaching_notebook_structure(path):
    nb = nbformat.read(path, as_version=4)
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert "objectives" in (markdown[0] + markdown[1]).lower(), f"{path.name} does not open with learning objectives"
    assert "setup_check(" in code[0], f"{path.name}: the first code cell should be the setup check"
    headings = [line.strip() for cell in markdown for line in cell.splitlines() if line.startswith("## ")]
    assert {"## Summary", "## Exercises"} <= set(headings[-3:]), f"{path.name} ends with {headings[-3:]}"


@pytest.mark.parametrize("path", TEACHING, ids=lambda p: p.name)
def test_every_plot_has_a_title_and_axis_labels(path):
    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and PLOT_CALL.search(cell.source):
            missing = [part for part in ("title", "xlabel", "ylabel") if part not in cell.source]
            assert not missing, f"{path.name} cell {index} plots without a {', '.join(missing)}"


def seed_names() -> list[str]:
    seeds = ROOT.parent / "shared" / "seeds"
    return [p.stem for p in seeds.glob("*")] if seeds.is_dir() else []


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_sources_are_quoted_without_file_names(path):
    text = path.read_text(encoding="utf-8")
    # the source articles are files named like 000_15969dc1ade6070d.txt
    assert not re.search(r"\b\d{3}_[0-9a-f]{16}\b", text), f"{path.name} names a source article's file"
    for name in seed_names():
        assert name not in text, f"{path.name} names the source file {name}: say 'a popular guide says'"


def python_files():
    for folder in ("course_lib", "tests", "tools", "benchmarks"):
        yield from (ROOT / folder).rglob("*.py")


def test_no_sys_path_hacks():
    edits = ("sys.path.insert", "sys.path.append")
    offenders = [str(p.relative_to(ROOT)) for p in python_files()
                 if p.name != "test_conventions.py" and any(edit in p.read_text() for edit in edits)]
    offenders += [p.name for p in ALL_NOTEBOOKS if "sys.path" in p.read_text()]
    assert not offenders, f"import course_lib as the installed package, not through sys.path: {offenders}"


def library_modules():
    return sorted(p for p in (ROOT / "course_lib").rglob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("path", library_modules(), ids=lambda p: str(p.relative_to(ROOT / "course_lib")))
def test_library_module_shape(path):
    relative = str(path.relative_to(ROOT / "course_lib"))
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    assert doc, f"{relative} has no module docstring"
    if not relative.startswith(INFRASTRUCTURE):
        assert re.search(r"notebook|`llm-course", doc, re.IGNORECASE), f"{relative}: name the notebook that derives it"
    lines = len(path.read_text().splitlines())
    assert lines <= 420, f"{relative} has {lines} lines: split it by topic"


def test_dependencies_have_lower_bounds_and_a_reason():
    text = (ROOT / "pyproject.toml").read_text()
    project = tomllib.loads(text)["project"]
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    for requirement in requirements:
        assert ">=" in requirement and "==" not in requirement, f"{requirement}: a lower bound, no exact pin"
    # each requirement line sits under a comment (a comment may cover a group of lines)
    block = text.split("dependencies = [", 1)[1].split("]", 1)[0]
    first = next(line.strip() for line in block.splitlines() if line.strip())
    assert first.startswith("#"), "the dependency list should open with a comment saying which notebook needs it"
    for line in block.splitlines():
        if line.strip().startswith("#"):
            assert re.search(r"\d\d|notebook|all|exercises|`llm-course", line), f"comment names no notebook: {line}"


def test_the_code_passes_the_linter():
    """ruff, with the rules configured in pyproject.toml ([tool.ruff]): unused names, import order, style."""
    import shutil
    import subprocess
    import sys

    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    result = subprocess.run([ruff, "check", "--no-cache", "course_lib", "tests", "benchmarks", "tools", "course.py"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-1000:]
