"""Batch grading: each submission's code in its own kernel, every verdict in the grader's process.

Used by `llm-course grade`. A submission is read once (bytes), never written;
it runs from a copy in a temporary folder, which is also its kernel's working
directory. The kernel (session.py) runs the notebook's cells, then is only
asked to call the learner's functions on each test's inputs and hand back
plain data; the tests, their expected values and the verdicts live here.
A cell that loops past the per-cell limit, kills its kernel or runs it out of
memory is skipped and the notebook replayed without it in a fresh kernel, so it
costs only the questions whose functions it was meant to define; a test that
ends its kernel costs that test, and the rest run in a fresh one. A malformed
file, an unknown chapter or a missing function is a reason in the CSV, never a
crash. The hidden tests are read once, before any submission runs.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from course_lib.errors import CourseError
from course_lib.grading.attempts import grader_attempts
from course_lib.grading.checker import TestResult, run_test
from course_lib.grading.questions import CHAPTERS, REPO_HIDDEN_DIR, load_tests, questions, read_hidden, schemas, values
from course_lib.grading.report import SubmissionResult, feedback_file_name, feedback_text, write_csv
from course_lib.grading.session import HIDDEN_ENV, KernelGone, Limits, Session, find_bwrap
from course_lib.units import format_bytes

__all__ = ["GradeOptions", "SubmissionResult", "chapter_of", "feedback_file_name", "feedback_text", "find_submissions",
           "grade_folder", "grade_submission", "write_csv"]

_DEF = re.compile(r"^\s*def\s+(\w+)\s*\(", re.MULTILINE)
_ASSIGN = re.compile(r"^(\w+)\s*(?::[^=\n]*)?=(?!=)", re.MULTILINE)
# Cells that only give the learner feedback or print the machine: not needed to grade, so not run.
_FEEDBACK_ONLY = re.compile(
    r"^\s*(#.*\n\s*)*((from course_lib\S* import \w+\s*\n\s*)?(setup_check\(\);?|check\([^()]*\);?)\s*)+$"
)


@dataclass
class GradeOptions:
    cell_timeout: float = 60
    test_timeout: float = 60
    limits: Limits = field(default_factory=Limits)
    bwrap: str | None = None                        # bubblewrap's path: run each kernel in a sandbox
    hidden_dir: Path | None = None
    hidden_sources: dict | None = None              # {chapter: source} read before grading began

    def hide(self) -> list[Path]:
        """What a sandboxed kernel must not see: every place the hidden tests may be."""
        places = [self.hidden_dir, REPO_HIDDEN_DIR, os.environ.get(HIDDEN_ENV)]
        return sorted({Path(p).resolve() for p in places if p})


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def chapter_of(book, path: Path) -> str | None:
    """The chapter a submission answers: notebook metadata, else its functions, else its file name."""
    meta = book.get("metadata", {}).get("llm_course", {})
    if isinstance(meta, dict) and str(meta.get("chapter", "")) in CHAPTERS:
        return str(meta["chapter"])
    defined = set()
    for cell in book.get("cells", []):
        if cell.get("cell_type") == "code":
            defined.update(_DEF.findall(_source(cell)))
    best, best_hits = None, 0
    for cid in CHAPTERS:
        hits = len(defined & {name for names in questions(cid).values() for name in names})
        if hits > best_hits:
            best, best_hits = cid, hits
    if best:
        return best
    match = re.match(r"(\d\d)_", path.name)
    return match.group(1) if match and match.group(1) in CHAPTERS else None


def _cell_questions(cell, names: dict[str, tuple]) -> set[str]:
    """Questions a cell answers: its tags / nbgrader grade_id, and the question names it defines."""
    meta = cell.get("metadata", {})
    found = {t for t in meta.get("tags", []) if t in names}
    grade_id = meta.get("nbgrader", {}).get("grade_id")
    if grade_id in names:
        found.add(grade_id)
    defined = set(_DEF.findall(_source(cell))) | set(_ASSIGN.findall(_source(cell)))
    found.update(q for q, answers in names.items() if defined & set(answers))
    return found


def _test_label(tests, index: int) -> str:
    test = tests[index]
    if not test.hidden:
        return f"{test.question} {test.name}"
    number = sum(1 for t in tests[:index + 1] if t.hidden and t.question == test.question)
    return f"{test.question} hidden test {number}"


class _Restart(Exception):
    """The kernel's state can no longer be trusted (it ran out of memory): replay in a fresh one."""


def _grade_in_kernels(book, workdir: Path, chapter: str, options: GradeOptions, result: SubmissionResult):
    """Run the cells, then every test, replaying in fresh kernels past what broke one. Returns (verdicts, skipped,
    cell errors)."""
    tests = load_tests(chapter, options.hidden_dir, include_hidden=True, hidden_sources=options.hidden_sources)
    answer_schemas, names = schemas(chapter), questions(chapter)
    cells = [c for c in book.cells if c.get("cell_type") == "code"]
    runnable = [i for i, c in enumerate(cells) if not _FEEDBACK_ONLY.match(_source(c) + "\n")]
    skipped: set[int] = set()
    verdicts: dict[int, TestResult] = {}
    errors: dict[int, str] = {}
    for _attempt in range(len(cells) + len(tests) + 2):
        errors.clear()
        where = None
        try:
            session = Session(workdir, options.limits, options.bwrap, options.hide()).start()
        except KernelGone as exc:
            raise CourseError(f"could not start a kernel to grade {result.file} in: {exc}") from None
        try:
            for index in (i for i in runnable if i not in skipped):
                where = ("cell", index)
                reply = session.run_cell(_source(cells[index]), options.cell_timeout)
                if reply.get("ok") is not True:
                    errors[index] = str(reply.get("error", "failed"))[:160]
                    if reply.get("file_limit"):
                        result.notes.append(f"code cell {index + 1} reached the file-size limit "
                                            f"({format_bytes(options.limits.file_bytes)})")
                    if reply.get("memory"):
                        raise _Restart()
            for index, test in enumerate(tests):
                if index not in verdicts:
                    where = ("test", index)
                    verdicts[index] = run_test(test, session, answer_schemas, options.test_timeout, values(chapter))
                    for note in verdicts[index].notes:
                        if f"{test.question}: {note}" not in result.notes:
                            result.notes.append(f"{test.question}: {note}")
                    if session.tainted:
                        raise _Restart()
            session.close()
            return tests, verdicts, skipped, errors
        except _Restart:
            session.close(grace=0)
            if where[0] == "cell":
                skipped.add(where[1])
                touched = ", ".join(sorted(_cell_questions(cells[where[1]], names))) or "no question"
                result.notes.append(f"code cell {where[1] + 1} ran out of memory (touches {touched}; limit "
                                    f"{format_bytes(options.limits.memory_bytes)}); skipped it and ran the rest again")
            else:
                result.notes.append(f"{_test_label(tests, where[1])}: ran out of memory (limit "
                                    f"{format_bytes(options.limits.memory_bytes)}); graded the rest in a fresh kernel")
        except KernelGone as gone:
            if where[0] == "cell":
                skipped.add(where[1])
                touched = ", ".join(sorted(_cell_questions(cells[where[1]], names))) or "no question"
                what = {"timeout": f"ran past {options.cell_timeout:g} s", "crash": "killed its kernel",
                        "forged": "broke the grader's channel"}[gone.kind]
                why = "" if gone.kind == "timeout" else f": it {gone}"
                result.notes.append(f"code cell {where[1] + 1} {what} (touches {touched}){why}; skipped it and "
                                    "ran the rest again")
            else:
                test = tests[where[1]]
                verdict = "timeout" if gone.kind == "timeout" else "crash"
                message = f"no answer within {options.test_timeout:g} s" if verdict == "timeout" else str(gone)
                verdicts[where[1]] = TestResult(test.question, test.name, test.hidden, verdict, message)
                result.notes.append(f"{_test_label(tests, where[1])}: its kernel {gone}; graded the rest in a "
                                    "fresh kernel")
    raise CourseError(f"grading {result.file} did not settle after replaying it {len(cells) + len(tests) + 2} times")


def grade_submission(path: Path, root: Path | None = None, cell_timeout: float = 60, test_timeout: float = 60,
                     hidden_dir=None, options: GradeOptions | None = None) -> SubmissionResult:
    import nbformat

    path = Path(path)
    options = options or GradeOptions(cell_timeout, test_timeout, hidden_dir=Path(hidden_dir) if hidden_dir else None)
    student = str(path.relative_to(root).with_suffix("")) if root else path.stem
    raw = path.read_bytes()  # the only access to the submission file: it is never opened for writing
    try:
        book = nbformat.reads(raw.decode("utf-8"), as_version=4)
        if not isinstance(book.get("cells"), list):
            raise ValueError("no cells")
    except Exception as exc:  # noqa: BLE001 - garbage JSON, wrong encoding, not a notebook at all
        result = SubmissionResult(student, str(path), None)
        result.notes.append(f"malformed notebook ({type(exc).__name__}): scored 0")
        return result
    chapter = chapter_of(book, path)
    result = SubmissionResult(student, str(path), chapter)
    if chapter is None:
        result.notes.append("could not tell which chapter this notebook answers: scored 0")
        return result
    names = questions(chapter)
    code_cells = [c for c in book.cells if c.get("cell_type") == "code"]
    result.notes += grader_attempts(code_cells, sandboxed=options.bwrap is not None)
    with tempfile.TemporaryDirectory(prefix="llm-course-grade-") as tmp:
        shutil.copyfile(path, Path(tmp) / path.name)  # the learner's relative paths work; the original is untouched
        tests, verdicts, skipped, errors = _grade_in_kernels(book, Path(tmp), chapter, options, result)
    if options.hidden_sources is not None and options.hidden_dir is not None \
            and read_hidden(options.hidden_dir) != options.hidden_sources:
        result.notes.append("the hidden tests on disk changed while this notebook ran (its code may have written "
                            "them): it was graded with the copy read before grading began; grade with --sandbox")
    for qid, answers in names.items():
        mine = [verdicts[i].__dict__ for i, t in enumerate(tests) if t.question == qid]
        result.tests.extend(mine)
        passed = sum(t["verdict"] == "pass" for t in mine)
        result.scores[qid] = round(passed / len(mine), 3) if mine else 0.0
        if mine and all(t["verdict"] == "missing" for t in mine):
            tagged = [i for i, c in enumerate(code_cells) if qid in _cell_questions(c, names)]
            why = "no cell answers it" if not tagged else "; ".join(
                f"code cell {i + 1} was skipped" if i in skipped else f"code cell {i + 1}: {errors[i]}"
                for i in tagged if i in skipped or i in errors) or "its cell did not define it"
            missing = dict.fromkeys(re.split(r" is (?:not defined|still)", t["message"])[0] for t in mine)
            result.notes.append(f"{qid}: {' and '.join(missing)} missing ({why})")
    return result


def find_submissions(folder: Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise CourseError(f"submissions folder not found: {folder}")
    files = sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if not files:
        raise CourseError(f"no .ipynb files under {folder}")
    return files


def grade_folder(
    folder: Path,
    out: Path,
    feedback_dir: Path | None = None,
    cell_timeout: float = 60,
    test_timeout: float = 60,
    hidden_dir=None,
    progress: bool = True,
    jobs: int = 1,
    limits: Limits | None = None,
    sandbox: bool = False,
) -> list[SubmissionResult]:
    from course_lib.grading.questions import default_hidden_dir

    hidden_dir = Path(hidden_dir).resolve() if hidden_dir else default_hidden_dir()
    if hidden_dir is None or not hidden_dir.is_dir():
        raise CourseError("hidden tests folder not found: pass --hidden DIR (the repository's grading_hidden/)")
    files = find_submissions(folder)
    options = GradeOptions(cell_timeout, test_timeout, limits or Limits(), find_bwrap() if sandbox else None,
                           hidden_dir, read_hidden(hidden_dir))
    for cid in CHAPTERS:
        if cid in options.hidden_sources:
            # Every test module is loaded (and what it imports) before any submission runs; with --jobs the workers
            # inherit them.
            load_tests(cid, hidden_dir, include_hidden=True, hidden_sources=options.hidden_sources)
    if sandbox:
        _provision_model()
    from tqdm.auto import tqdm

    bar = tqdm(total=len(files), desc="grading", unit="notebook", disable=not progress)
    if jobs > 1:
        # Separate grader processes, each driving its own kernels: a kernel mostly waits, so two per core pay off.
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(grade_submission, path, Path(folder), options=options) for path in files]
            results = []
            for future in futures:
                results.append(future.result())
                bar.update()
    else:
        results = []
        for path in files:
            results.append(grade_submission(path, Path(folder), options=options))
            bar.update()
    bar.close()
    write_csv(results, out)
    if feedback_dir:
        feedback_dir = Path(feedback_dir)
        feedback_dir.mkdir(parents=True, exist_ok=True)
        for r in results:
            (feedback_dir / feedback_file_name(r.student)).write_text(feedback_text(r), encoding="utf-8")
    return results


def _provision_model() -> None:
    # A sandboxed kernel sees the model cache read-only: assemble the default model first if it is not there yet.
    from course_lib.runtime.models import model_path

    try:
        model_path()
    except CourseError:
        pass  # the chapters that need it will say so in their verdicts
