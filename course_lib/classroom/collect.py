"""Exercises in, feedback out, without nbgrader's shared exchange folder.

Used by `llm-course class collect`, `class grade` and `class return`. nbgrader's
exchange is one folder every learner's server mounts; Kubernetes hubs give each
learner a volume of their own, so there is nothing to share. Instead the
instructor's side reads each learner's home through their own Jupyter server
(`hub.HubClient`):

* collect: every learner's exercise notebooks (`FOLDER/NN_*.ipynb`, as pulled
  by the class link) are copied byte for byte into `SUBMISSIONS/LEARNER/`,
  the layout `llm-course grade` reads (one student per notebook, named
  `LEARNER/NN_topic`);
* grade: the class folder is checked first (a learner folder without a
  notebook, a file that is not a notebook: one-line errors, before minutes of
  grading), then graded by `course_lib.grading`;
* return: each feedback file goes back into the learner's home, next to the
  course (`local-llm-course/feedback/NN_topic.txt`).
"""

from __future__ import annotations

import fnmatch
import json
import posixpath
from dataclasses import dataclass, field
from pathlib import Path

from course_lib.classroom.hub import HubClient
from course_lib.classroom.links import COURSE_FOLDER, check_relative_path
from course_lib.errors import CourseError

EXERCISES = f"{COURSE_FOLDER}/exercises"
FEEDBACK = f"{COURSE_FOLDER}/feedback"
EXERCISE_NOTEBOOKS = "[0-9][0-9]_*.ipynb"


@dataclass
class Collected:
    learners: dict[str, list[str]] = field(default_factory=dict)  # learner -> notebooks copied
    no_notebook: list[str] = field(default_factory=list)  # learners whose folder held no exercise notebook
    not_running: list[str] = field(default_factory=list)  # learners whose server was stopped (not started)


def _learner_names(client: HubClient, only: list[str] | None) -> list[dict]:
    users = {u["name"]: u for u in client.users()}
    if only:
        unknown = [name for name in only if name not in users]
        if unknown:
            raise CourseError(f"the hub has no user {', '.join(map(repr, unknown))}")
        return [users[name] for name in only]
    return [u for u in users.values() if not u.get("admin")]


def _servers(client: HubClient, users: list[dict], start_stopped: bool, not_running: list[str]):
    """Yield the name of each learner whose server answers: a stopped one is started (and stopped after) if asked."""
    for user in users:
        name = user["name"]
        if client.server_ready(user):
            yield name
            continue
        if not start_stopped:
            not_running.append(name)
            continue
        client.start_server(name)
        try:
            yield name
        finally:
            client.stop_server(name)


def collect_submissions(client: HubClient, into: Path, learners: list[str] | None = None,
                        folder: str = EXERCISES, pattern: str = EXERCISE_NOTEBOOKS,
                        start_stopped: bool = False) -> Collected:
    """Copy each learner's exercise notebooks into `into/LEARNER/`; a stopped server is started only if asked."""
    folder = check_relative_path(folder, "the exercises folder")
    into = Path(into)
    into.mkdir(parents=True, exist_ok=True)
    result = Collected()
    for name in _servers(client, _learner_names(client, learners), start_stopped, result.not_running):
        entries = client.list_folder(name, folder) or []
        notebooks = sorted(e["name"] for e in entries if e.get("type") in ("notebook", "file")
                           and fnmatch.fnmatch(e["name"], pattern))
        if not notebooks:
            result.no_notebook.append(name)
            continue
        (into / name).mkdir(parents=True, exist_ok=True)
        for notebook in notebooks:
            text = client.read_text(name, posixpath.join(folder, notebook))
            (into / name / notebook).write_text(text, encoding="utf-8")
        result.learners[name] = notebooks
    return result


def check_class_folder(folder: Path) -> dict[str, list[Path]]:
    """learner -> their notebooks, after checking that each learner folder holds notebooks and each one parses."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CourseError(f"submissions folder not found: {folder}")
    found: dict[str, list[Path]] = {}
    for learner in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        notebooks = sorted(p for p in learner.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        if not notebooks:
            raise CourseError(f"learner folder {learner} has no notebook: collect again, or remove the folder")
        for path in notebooks:
            _check_notebook(path, learner.name)
        found[learner.name] = notebooks
    if not found:
        raise CourseError(f"no learner folders under {folder}: `llm-course class collect` writes one per learner")
    return found


def _check_notebook(path: Path, learner: str) -> None:
    try:
        book = json.loads(path.read_bytes().decode("utf-8"))
        if not isinstance(book, dict) or not isinstance(book.get("cells"), list):
            raise ValueError("no list of cells")
    except (ValueError, UnicodeDecodeError) as exc:
        raise CourseError(f"{path} is not a notebook ({type(exc).__name__}: {exc}): ask {learner} to save it "
                          "again, or delete it and grade the others") from None


def grade_class(folder: Path, out: Path, feedback: Path | None = None, hidden=None, jobs: int = 1,
                cell_timeout: float = 60, test_timeout: float = 60, progress: bool = True):
    """Check the class folder, then grade every notebook in it (`course_lib.grading`): one CSV row each."""
    from course_lib.grading.grader import grade_folder

    check_class_folder(folder)
    return grade_folder(Path(folder), Path(out), feedback, cell_timeout, test_timeout, hidden, progress=progress,
                        jobs=jobs)


def return_feedback(client: HubClient, submissions: Path, feedback: Path, into: str = FEEDBACK,
                    start_stopped: bool = False) -> tuple[dict[str, list], list[str]]:
    """Upload each learner's feedback to `into/NN_topic.txt` in their home: (learner -> files, learners not running)."""
    from course_lib.grading.grader import feedback_file_name

    into = check_relative_path(into, "the feedback folder")
    feedback, submissions = Path(feedback), Path(submissions)
    if not feedback.is_dir():
        raise CourseError(f"feedback folder not found: {feedback} (grade with --feedback first)")
    files = {}
    for learner, notebooks in check_class_folder(submissions).items():
        for path in notebooks:
            text_file = feedback / feedback_file_name(str(path.relative_to(submissions).with_suffix("")))
            if text_file.is_file():
                files.setdefault(learner, []).append((posixpath.join(into, path.with_suffix(".txt").name), text_file))
    if not files:
        raise CourseError(f"no feedback in {feedback} matches a notebook in {submissions}: grade them with "
                          f"--feedback {feedback} first")
    returned, not_running = {}, []
    for name in _servers(client, _learner_names(client, sorted(files)), start_stopped, not_running):
        for target, text_file in files[name]:
            client.write_text(name, target, text_file.read_text(encoding="utf-8"))
            returned.setdefault(name, []).append(target)
    return returned, not_running
