"""What grading hands back: one CSV row per submission, one feedback file per student (`llm-course grade`)."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from course_lib.grading.questions import CHAPTERS, questions


@dataclass
class SubmissionResult:
    student: str
    file: str
    chapter: str | None
    scores: dict = field(default_factory=dict)      # question -> points earned (0..1)
    tests: list = field(default_factory=list)       # one dict per test (see checker.TestResult)
    notes: list = field(default_factory=list)       # reasons: malformed, crash, timeout, missing, refused ...

    @property
    def total(self) -> float:
        return round(sum(self.scores.values()), 3)


def write_csv(results: list[SubmissionResult], out: Path) -> None:
    chapters = sorted({r.chapter for r in results if r.chapter})
    single = len(chapters) <= 1
    columns = []
    for cid in chapters:
        columns += [(cid, q) for q in questions(cid)]
    header = ["student", "file", "chapter"] + [q if single else f"{cid}_{q}" for cid, q in columns]
    header += ["total", "max", "notes"]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for r in results:
            row = [r.student, r.file, r.chapter or ""]
            row += [r.scores.get(q, 0.0) if r.chapter == cid else "" for cid, q in columns]
            row += [r.total, len(questions(r.chapter)) if r.chapter else 0, " | ".join(r.notes)]
            writer.writerow(row)


def feedback_file_name(student: str) -> str:
    """The feedback file of a student (their submission's path without .ipynb): one flat folder for the class."""
    return student.replace("/", "__") + ".txt"


def feedback_text(r: SubmissionResult) -> str:
    lines = [f"Feedback for {r.student} ({Path(r.file).name})"]
    if r.chapter:
        lines.append(f"Chapter {CHAPTERS[r.chapter]}: {r.total:g} / {len(questions(r.chapter))} points")
    lines += [f"Note: {note}" for note in r.notes]
    for qid, score in r.scores.items():
        lines.append(f"\n{qid} ({', '.join(questions(r.chapter)[qid])}): {score:g} point(s)")
        hidden_number = 0
        for t in (t for t in r.tests if t["question"] == qid):
            if t["hidden"]:
                hidden_number += 1
                # Hidden tests' names and expected values stay hidden; only the verdict is shown.
                lines.append(f"  hidden test {hidden_number}: {t['verdict']}")
            else:
                lines.append(f"  {t['test']}: {t['verdict']}" + (f" - {t['message']}" if t["message"] else ""))
    return "\n".join(lines) + "\n"
