"""Code in a submission that reaches for the grader, named in the CSV's notes (`llm-course grade`).

None of it can change a verdict (they are decided in the grader's process, on
plain data, session.py); these notes only tell the instructor what a
notebook tried, read from its source without running it.
"""

from __future__ import annotations

import re

_ATTEMPTS = [
    (re.compile(r"course_lib\.grading\.|import\s+course_lib\.grading\b"),
     "reaching into course_lib.grading: no effect, grading does not run in the notebook's kernel"),
    (re.compile(r"\bbuiltins\s*\.\s*\w+\s*=(?!=)|__builtins__\s*(\[[^\]]*\]|\.\s*\w+)\s*=(?!=)"
                r"|setattr\(\s*(builtins|__builtins__)"),
     "replacing Python builtins: no effect, answers are compared in the grader's process"),
    (re.compile(r"grading_hidden|LLM_COURSE_HIDDEN_TESTS|hidden_dir|default_hidden_dir|REPO_HIDDEN_DIR"),
     "looking for the hidden tests: they never enter the notebook's kernel{hidden}"),
    (re.compile(r"def\s+__(eq|ne|lt|le|gt|ge|float|int|bool|index)__\s*\("),
     "defining comparison or conversion methods: no effect, only plain values leave the kernel"),
    (re.compile(r"\bos\s*\.\s*(_exit|kill|killpg)\s*\(|\bsys\s*\.\s*exit\s*\("),
     "ending or signalling processes: a kernel that ends costs only the cell or test it was in"),
    (re.compile(r"\bos\s*\.\s*(write|fdopen)\s*\(\s*\d|/proc/self/fd|sys\.__stdout__|@@LLM_COURSE"),
     "writing output meant for the grader (raw streams, marker lines): no effect, the grader reads no output of "
     "the notebook, only replies on its own channel"),
]


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def grader_attempts(code_cells: list, sandboxed: bool) -> list[str]:
    """One note per kind of attempt, naming the code cells (1-based) it appears in."""
    hidden = (" and, with --sandbox, are not on its filesystem either" if sandboxed
              else "; without --sandbox a notebook can read any file you can, so grade untrusted work with --sandbox")
    notes = []
    for pattern, what in _ATTEMPTS:
        cells = [str(i + 1) for i, cell in enumerate(code_cells) if pattern.search(_source(cell))]
        if cells:
            notes.append(f"code cell{'s' if len(cells) > 1 else ''} {', '.join(cells)}: {what.format(hidden=hidden)}")
    return notes
