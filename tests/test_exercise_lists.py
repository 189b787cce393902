"""Each chapter's `## Exercises` list names every question of its exercise notebook, by title.

An exercise notebook titles each question `## Question N: title` (a trailing
"*(beyond the chapter)*" is a marker, not part of the title). The teaching
notebook of the same chapter ends with an `## Exercises` section that must
name every one of those titles, so what a chapter promises is what its
exercise notebook asks (issue 15).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from course_lib.grading.questions import CHAPTERS, questions

ROOT = Path(__file__).resolve().parents[1]
QUESTION = re.compile(r"^## Question (\d+): (.+)$", re.MULTILINE)
MARKER = re.compile(r"\s*\*\(beyond the chapter\)\*\s*$")

# Chapters whose teaching notebook does not list the new questions yet (the lead pastes each list, written with the
# exercises, into its notebook and removes the chapter here). This set only shrinks, and must end empty.
PENDING: set[str] = set()


def normal(text: str) -> str:
    """Lower case, markdown emphasis and code marks dropped, spaces collapsed: titles compare as read."""
    return " ".join(re.sub(r"[*_`]", "", text).lower().split())


def question_titles(exercise: Path) -> dict[int, str]:
    book = nbformat.read(exercise, as_version=4)
    titles = {}
    for cell in book.cells:
        if cell.cell_type == "markdown":
            for number, title in QUESTION.findall(cell.source):
                titles[int(number)] = MARKER.sub("", title).strip()
    return titles


def exercises_section(teaching: Path) -> str:
    """The text of the notebook's `## Exercises` section, up to the next `## ` heading."""
    book = nbformat.read(teaching, as_version=4)
    for cell in book.cells:
        if cell.cell_type == "markdown" and re.search(r"^## Exercises\s*$", cell.source, re.MULTILINE):
            section = cell.source[re.search(r"^## Exercises\s*$", cell.source, re.MULTILINE).end():]
            return re.split(r"^## ", section, maxsplit=1, flags=re.MULTILINE)[0]
    return ""


def unlisted(exercise: Path, teaching: Path) -> list[str]:
    """Titles of the exercise notebook's questions that the teaching notebook's Exercises section does not name."""
    listed = normal(exercises_section(teaching))
    return [f"question {n}: {title}" for n, title in sorted(question_titles(exercise).items())
            if normal(title) not in listed]


def pair(cid: str) -> tuple[Path, Path]:
    name = CHAPTERS[cid]
    return ROOT / "exercises" / f"{name}.ipynb", ROOT / "notebooks" / f"{name}.ipynb"


@pytest.mark.parametrize("cid", sorted(CHAPTERS))
def test_every_question_is_titled_once_in_order(cid):
    exercise, _ = pair(cid)
    titles = question_titles(exercise)
    assert sorted(titles) == list(range(1, len(questions(cid)) + 1)), f"{exercise.name}: questions {sorted(titles)}"
    assert len({normal(t) for t in titles.values()}) == len(titles), f"{exercise.name}: two questions share a title"


@pytest.mark.parametrize("cid", sorted(CHAPTERS))
def test_the_chapter_lists_every_question_of_its_exercise_notebook(cid):
    exercise, teaching = pair(cid)
    missing = unlisted(exercise, teaching)
    if cid in PENDING:
        assert missing, f"chapter {cid} lists every question now: remove it from PENDING"
        pytest.skip(f"chapter {cid}'s Exercises list is not pasted yet")
    assert exercises_section(teaching).strip(), f"{teaching.name} has no '## Exercises' section"
    assert not missing, f"{teaching.name}'s Exercises section does not name: " + "; ".join(missing)


def test_the_check_can_fail(tmp_path):
    exercise, teaching = tmp_path / "ex.ipynb", tmp_path / "nb.ipynb"
    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_markdown_cell("## Question 1: the `KV` cache *(beyond the chapter)*\n\nWrite it."),
                  nbformat.v4.new_markdown_cell("## Question 2: goodput")]
    nbformat.write(book, exercise)
    chapter = nbformat.v4.new_notebook()
    chapter.cells = [nbformat.v4.new_markdown_cell("## Summary\n\nGoodput.\n\n## Exercises\n\n1. The KV cache\n\n"
                                                   "## Further reading\n\n- goodput")]
    nbformat.write(chapter, teaching)
    assert unlisted(exercise, teaching) == ["question 2: goodput"]
    chapter.cells[0].source = chapter.cells[0].source.replace("1. The KV cache", "1. The KV cache\n2. **Goodput**")
    nbformat.write(chapter, teaching)
    assert unlisted(exercise, teaching) == []
