"""Exercises, instant feedback and batch grading for the course's notebooks.

Learners call `check("q3")` in an exercise notebook; instructors run
`llm-course grade SUBMISSIONS_DIR --out grades.csv`; `llm-course exercises`
regenerates `exercises/` from `solutions/`. See the README's "For instructors".
"""

from course_lib.grading.checker import check, start

__all__ = ["check", "start"]
