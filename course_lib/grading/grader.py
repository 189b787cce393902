"""Batch grading: every submission in its own kernel, visible and hidden tests per question.

Used by `llm-course grade`. A submission is read once (bytes), never written;
it runs from a copy in a temporary folder, which is also the kernel's working
directory. A cell that loops past the per-cell limit or kills its kernel is
skipped and the notebook is replayed without it in a fresh kernel, so it costs
only the questions whose functions it was meant to define. A malformed file, an
unknown chapter or a missing function is a reason in the CSV, never a crash.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from course_lib.errors import CourseError
from course_lib.grading.questions import CHAPTERS, load_tests, questions

MARKER = "@@LLM_COURSE_GRADES@@"
_DEF = re.compile(r"^\s*def\s+(\w+)\s*\(", re.MULTILINE)
# Cells that only give the learner feedback or print the machine: not needed to grade, so not run.
_FEEDBACK_ONLY = re.compile(
    r"^\s*(#.*\n\s*)*((from course_lib\S* import \w+\s*\n\s*)?(setup_check\(\);?|check\([^()]*\);?)\s*)+$"
)


@dataclass
class SubmissionResult:
    student: str
    file: str
    chapter: str | None
    scores: dict = field(default_factory=dict)      # question -> points earned (0..1)
    tests: list = field(default_factory=list)       # one dict per test (see checker.TestResult)
    notes: list = field(default_factory=list)       # reasons: malformed, crash, timeout, missing function ...

    @property
    def total(self) -> float:
        return round(sum(self.scores.values()), 3)


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
        hits = len(defined & set(questions(cid).values()))
        if hits > best_hits:
            best, best_hits = cid, hits
    if best:
        return best
    match = re.match(r"(\d\d)_", path.name)
    return match.group(1) if match and match.group(1) in CHAPTERS else None


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _cell_questions(cell, functions: dict[str, str]) -> set[str]:
    """Questions a cell answers: its tags / nbgrader grade_id, and the question functions it defines."""
    meta = cell.get("metadata", {})
    found = {t for t in meta.get("tags", []) if t in functions}
    grade_id = meta.get("nbgrader", {}).get("grade_id")
    if grade_id in functions:
        found.add(grade_id)
    names = set(_DEF.findall(_source(cell)))
    found.update(q for q, name in functions.items() if name in names)
    return found


def _run_in_kernel(book, workdir: Path, chapter: str, cell_timeout: float, test_timeout: float, hidden_dir,
                   skip: set[int], crashed_questions: dict[str, str]):
    """One pass: run the kept cells, then grade question by question. Returns (status, index, cell errors, results)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    cells = [c for c in book.cells if c.get("cell_type") == "code"]
    run_book = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                 "language": "python"}})
    client = NotebookClient(run_book, timeout=cell_timeout, kernel_name="python3", allow_errors=True,
                            interrupt_on_timeout=False, resources={"metadata": {"path": str(workdir)}},
                            record_timing=False)
    errors: dict[int, str] = {}
    results: dict[str, list] = {}
    hidden = f"{str(hidden_dir)!r}" if hidden_dir else "None"
    # The kernel's own stdout/stderr (ZMQ warnings, llama.cpp's C-level logs) would interleave with the
    # grader's report; what the learner's code prints still comes back through the kernel's messages.
    with client.setup_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
        for index, cell in enumerate(cells):
            if index in skip or _FEEDBACK_ONLY.match(_source(cell) + "\n"):
                continue
            runnable = nbformat.v4.new_code_cell(_source(cell))
            run_book.cells.append(runnable)
            try:
                client.execute_cell(runnable, len(run_book.cells) - 1)
            except CellTimeoutError:
                return "timeout", index, errors, results
            except DeadKernelError:
                return "crash", index, errors, results
            for output in runnable.outputs:
                if output.get("output_type") == "error":
                    errors[index] = f"{output.get('ename')}: {' '.join(str(output.get('evalue', '')).split())[:120]}"
        for qid in questions(chapter):
            if qid in crashed_questions:
                continue
            code = ("import json as _llm_json\nfrom course_lib.grading.checker import run_tests as _llm_run\n"
                    f"print({MARKER!r} + _llm_json.dumps([r.__dict__ for r in _llm_run({chapter!r}, globals(), "
                    f"question_ids={{{qid!r}}}, include_hidden=True, hidden_dir={hidden}, timeout={test_timeout!r})]))")
            grading = nbformat.v4.new_code_cell(code)
            run_book.cells.append(grading)
            n_tests = sum(1 for t in load_tests(chapter, hidden_dir, include_hidden=True) if t.question == qid)
            client.timeout = int(test_timeout * n_tests + 60)
            try:
                client.execute_cell(grading, len(run_book.cells) - 1)
            except (CellTimeoutError, DeadKernelError) as exc:
                return (
                    ("question-timeout" if isinstance(exc, CellTimeoutError) else "question-crash"),
                    qid,
                    errors,
                    results,
                )
            text = "".join(o.get("text", "") for o in grading.outputs if o.get("output_type") == "stream")
            for line in text.splitlines():
                if line.startswith(MARKER):
                    results[qid] = json.loads(line[len(MARKER):])
            if qid not in results:
                failure = next((o for o in grading.outputs if o.get("output_type") == "error"), {})
                results[qid] = [{"question": qid, "test": "grading", "hidden": False, "verdict": "error",
                                 "message": f"the tests could not run: {failure.get('ename', 'no output')}"}]
    return "done", None, errors, results


def grade_submission(path: Path, root: Path | None = None, cell_timeout: float = 60, test_timeout: float = 60,
                     hidden_dir=None) -> SubmissionResult:
    import nbformat

    path = Path(path)
    hidden_dir = Path(hidden_dir).resolve() if hidden_dir else None  # the kernel runs in another folder
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
    functions = questions(chapter)
    code_cells = [c for c in book.cells if c.get("cell_type") == "code"]
    skip: set[int] = set()
    crashed: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="llm-course-grade-") as tmp:
        shutil.copyfile(path, Path(tmp) / path.name)  # the learner's relative paths work; the original is untouched
        for _attempt in range(len(code_cells) + len(functions) + 1):
            status, where, errors, results = _run_in_kernel(book, Path(tmp), chapter, cell_timeout, test_timeout,
                                                            hidden_dir, skip, crashed)
            if status == "done":
                break
            if status in ("timeout", "crash"):
                skip.add(where)
                touched = ", ".join(sorted(_cell_questions(code_cells[where], functions))) or "no question"
                what = f"ran past {cell_timeout:g} s" if status == "timeout" else "killed its kernel"
                result.notes.append(
                    f"code cell {where + 1} {what} (touches {touched}); skipped it and ran the rest again"
                )
            else:
                crashed[where] = "timed out" if status == "question-timeout" else "killed the kernel"
                result.notes.append(f"{where}: testing it {crashed[where]}")
    for qid in functions:
        tests = results.get(qid, [])
        if qid in crashed:
            tests = [{"question": qid, "test": "all", "hidden": False, "verdict": "crash" if "kernel" in crashed[qid]
                      else "timeout", "message": f"testing {functions[qid]}() {crashed[qid]}"}]
        result.tests.extend(tests)
        passed = sum(t["verdict"] == "pass" for t in tests)
        result.scores[qid] = round(passed / len(tests), 3) if tests else 0.0
        if tests and all(t["verdict"] == "missing" for t in tests):
            tagged = [i for i, c in enumerate(code_cells) if qid in _cell_questions(c, functions)]
            why = "no cell answers it" if not tagged else "; ".join(
                f"code cell {i + 1} was skipped" if i in skip else f"code cell {i + 1}: {errors[i]}"
                for i in tagged if i in skip or i in errors) or "its cell did not define it"
            result.notes.append(f"{qid}: function {functions[qid]}() missing ({why})")
    return result


def find_submissions(folder: Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise CourseError(f"submissions folder not found: {folder}")
    files = sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if not files:
        raise CourseError(f"no .ipynb files under {folder}")
    return files


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
        lines.append(f"\n{qid} ({questions(r.chapter)[qid]}): {score:g} point(s)")
        hidden_number = 0
        for t in (t for t in r.tests if t["question"] == qid):
            if t["hidden"]:
                hidden_number += 1
                # Hidden tests' names and expected values stay hidden; only the verdict is shown.
                lines.append(f"  hidden test {hidden_number}: {t['verdict']}")
            else:
                lines.append(f"  {t['test']}: {t['verdict']}" + (f" - {t['message']}" if t["message"] else ""))
    return "\n".join(lines) + "\n"


def grade_folder(
    folder: Path,
    out: Path,
    feedback_dir: Path | None = None,
    cell_timeout: float = 60,
    test_timeout: float = 60,
    hidden_dir=None,
    progress: bool = True,
    jobs: int = 1,
) -> list[SubmissionResult]:
    from course_lib.grading.questions import default_hidden_dir

    hidden_dir = Path(hidden_dir) if hidden_dir else default_hidden_dir()
    if hidden_dir is None or not hidden_dir.is_dir():
        raise CourseError("hidden tests folder not found: pass --hidden DIR (the repository's grading_hidden/)")
    files = find_submissions(folder)
    from tqdm.auto import tqdm

    bar = tqdm(total=len(files), desc="grading", unit="notebook", disable=not progress)
    if jobs > 1:
        # Separate grader processes, each driving its own kernels: a kernel mostly waits, so two per core pay off.
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(grade_submission, path, Path(folder), cell_timeout, test_timeout, hidden_dir)
                       for path in files]
            results = []
            for future in futures:
                results.append(future.result())
                bar.update()
    else:
        results = []
        for path in files:
            results.append(grade_submission(path, Path(folder), cell_timeout, test_timeout, hidden_dir))
            bar.update()
    bar.close()
    write_csv(results, out)
    if feedback_dir:
        feedback_dir = Path(feedback_dir)
        feedback_dir.mkdir(parents=True, exist_ok=True)
        for r in results:
            (feedback_dir / feedback_file_name(r.student)).write_text(feedback_text(r), encoding="utf-8")
    return results
