"""Grading: check() in a learner's kernel, and `llm-course grade` on real submissions in real kernels.

Solutions must score full marks, untouched exercises zero, and the fixture
submissions (wrong, crashing, looping, missing a function, malformed, renamed
with extra cells) exactly what they deserve, without any submission changing.
The fixtures that attack the grader are graded in tests/test_grading_integrity.py.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from course_lib.errors import CourseError
from course_lib.grading import check
from course_lib.grading.checker import run_tests
from course_lib.grading.grader import feedback_text, grade_folder
from course_lib.grading.questions import CHAPTERS, chapter_id, load_tests, questions, schemas
from course_lib.grading.session import Limits

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "submissions"
HIDDEN = ROOT / "grading_hidden"


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.ipynb"))}


def _rows(csv_path: Path) -> dict[str, dict]:
    with csv_path.open(newline="") as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


# ------------------------------------------------------------------ check() in the learner's kernel
def _define(source: str) -> dict:
    namespace: dict = {}
    exec(source, namespace)
    return namespace


def test_check_prints_one_line_per_test_for_each_verdict(capsys):
    namespace = _define("def tpot_s(e2e_s, ttft_s, output_tokens):\n    return (e2e_s - ttft_s) / output_tokens\n"
                        "def percentiles(values):\n    return {'p50': 0, 'p90': 0, 'p99': 0}\n"
                        "def throughput_tok_s(requests):\n    raise ZeroDivisionError('boom')\n")
    namespace["check"] = check
    exec('check("q3", chapter="06")\ncheck("q1", chapter="06")\ncheck("q2", chapter="06")', namespace)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("q3 time_per_output_token: fail - 101 tokens in 2.5 s, first at 0.5 s: expected 0.02, got")
    assert out[1] == "q3: 0/1 visible tests pass"
    assert out[2] == "q1 percentiles_match_numpy: fail - p50: expected " + out[2].split("expected ")[1]
    assert out[4] == "q2 throughput_over_the_wall_time: error - ZeroDivisionError: boom"
    assert "Traceback" not in "\n".join(out)


def test_check_finds_the_chapter_from_the_functions_and_reports_missing(capsys):
    namespace = _define("def pick_engine(concurrent_users, nvidia_gpu):\n"
                        "    return 'vllm' if nvidia_gpu and concurrent_users >= 8 else "
                        "('ollama' if concurrent_users <= 1 else 'llama-server')\n")
    namespace["check"] = check
    exec('check("q3")', namespace)  # no start(): chapter 07 is the one whose q3 is pick_engine
    assert capsys.readouterr().out.splitlines() == [
        "q3 engine_for_each_scenario: pass",
        "q3: 1/1 visible tests pass - well done",
    ]
    exec('check("q1", chapter="07")', namespace)
    assert "missing - function self_hosted_usd_per_month() is not defined" in capsys.readouterr().out
    exec('check("q9", chapter="07")', namespace)
    assert capsys.readouterr().out.startswith("check: chapter 07 has no question 'q9'")


def test_a_runaway_function_times_out():
    namespace = _define("def tpot_s(e2e_s, ttft_s, output_tokens):\n    while True:\n        pass\n")
    start = time.perf_counter()
    results = run_tests("06", namespace, question_ids={"q3"}, timeout=0.5)
    assert [r.verdict for r in results] == ["timeout"]
    assert time.perf_counter() - start < 30  # it came back at all (not a timing assertion on speed)


def test_tests_of_every_chapter_load_and_cover_every_question():
    from course_lib.grading.plain import ANY

    for cid in CHAPTERS:
        tests = load_tests(cid, HIDDEN, include_hidden=True)
        assert {t.question for t in tests if not t.hidden} == set(questions(cid)), cid
        assert 3 <= len(questions(cid)) <= 7
        for qid, names in questions(cid).items():
            needed = {name for t in tests if t.question == qid and not t.hidden for name in t.needs}
            assert needed == set(names), f"{cid} {qid}: every name the question asks for has a visible test"
        assert ANY not in schemas(cid).values(), f"{cid}: every answer declares the plain shape it comes back in"
    with pytest.raises(CourseError, match="takes kv_bytes_per_token; question q2 answers largest_context"):
        load_tests("03", include_hidden=True, hidden_sources={"03": (
            "from course_lib.grading.testing import question\n\n@question('q2')\n"
            "def mixed_up(kv_bytes_per_token):\n    pass\n")})


def test_chapter_names_and_errors():
    assert chapter_id("1") == chapter_id("01_memory_math") == chapter_id("memory_math") == "01"
    with pytest.raises(CourseError, match="unknown chapter"):
        chapter_id("99")
    with pytest.raises(CourseError, match="no hidden tests"):
        load_tests("01", ROOT / "nowhere", include_hidden=True)


# ------------------------------------------------------------------ batch grading in real kernels
@pytest.fixture(scope="module")
def fixture_grades(tmp_path_factory):
    out = tmp_path_factory.mktemp("grades")
    before = _digests(FIXTURES)
    honest = out / "submissions"
    honest.mkdir()
    for path in FIXTURES.glob("*.ipynb"):
        if not path.name.startswith("attack_"):
            shutil.copyfile(path, honest / path.name)
    results = grade_folder(honest, out / "grades.csv", out / "feedback", cell_timeout=10, test_timeout=3,
                           hidden_dir=HIDDEN, progress=False, limits=Limits(memory_bytes=2**30))
    assert _digests(honest) == {k: v for k, v in before.items() if not k.startswith("attack_")}, \
        "the grader modified a submission"
    return results, _rows(out / "grades.csv"), out


@pytest.mark.slow
def test_fixture_submissions_score_what_they_should(fixture_grades):
    _, rows, _ = fixture_grades
    expected = {
        # llama_params forgets the final norm: only the tied-embeddings hidden test passes;
        # fits_in_memory has no headroom
        "wrong_01": {"01_q1": "0.333", "01_q2": "1.0", "01_q3": "1.0", "01_q4": "0.0", "total": "2.333"},
        "crashing_06": {"06_q1": "1.0", "06_q2": "0.0", "06_q3": "1.0", "total": "2.0"},
        "looping_07": {"07_q1": "0.0", "07_q2": "1.0", "07_q3": "0.0", "total": "1.0"},
        "missing_function_03": {"03_q1": "1.0", "03_q2": "0.0", "03_q3": "1.0", "total": "2.0"},
        "my homework (final) v2": {"02_q1": "1.0", "02_q2": "1.0", "02_q3": "1.0", "02_q4": "1.0", "total": "4.0"},
        "malformed": {"total": "0", "chapter": ""},
    }
    assert set(rows) == set(expected)
    for student, values in expected.items():
        for column, value in values.items():
            assert rows[student][column] == value, (student, column, rows[student])


@pytest.mark.slow
def test_every_failure_is_recorded_with_a_reason(fixture_grades):
    results, rows, out = fixture_grades
    assert "killed its kernel (touches q2): it ended (exit status 1)" in rows["crashing_06"]["notes"]
    assert "ran past 10 s (touches q1)" in rows["looping_07"]["notes"]
    assert "largest_context() missing (no cell answers it)" in rows["missing_function_03"]["notes"]
    assert "self_hosted_usd_per_month() missing (code cell 3 was skipped)" in rows["looping_07"]["notes"]
    assert rows["malformed"]["notes"].startswith("malformed notebook")
    looping = next(r for r in results if r.student == "looping_07")
    assert {t["verdict"] for t in looping.tests if t["question"] == "q3"} == {"timeout"}
    feedback = (out / "feedback" / "looping_07.txt").read_text()
    assert "engine_for_each_scenario: timeout" in feedback
    assert "boundaries_of_the_rules" not in feedback, "hidden tests' names stay hidden in feedback"
    assert feedback == feedback_text(looping)


@pytest.mark.slow
def test_solutions_score_full_marks_and_exercises_zero(tmp_path):
    submissions = tmp_path / "class"
    for folder in ("solutions", "exercises"):
        shutil.copytree(ROOT / folder, submissions / folder)
    before = _digests(submissions)
    results = grade_folder(submissions, tmp_path / "grades.csv", cell_timeout=120, hidden_dir=HIDDEN, progress=False)
    details = {r.student: [t for t in r.tests if t["verdict"] != "pass"] for r in results}
    assert _digests(submissions) == before
    rows = _rows(tmp_path / "grades.csv")
    for cid, name in CHAPTERS.items():
        solved, untouched = rows[f"solutions/{name}"], rows[f"exercises/{name}"]
        for qid in questions(cid):
            assert solved[f"{cid}_{qid}"] == "1.0", (name, qid, solved["notes"], details[f"solutions/{name}"])
            assert untouched[f"{cid}_{qid}"] == "0.0", (name, qid)
        assert float(solved["total"]) == float(solved["max"]) == len(questions(cid))
        assert untouched["total"] == "0.0"


@pytest.mark.slow
def test_time_to_grade_a_class_of_30(tmp_path, capsys):
    # Reported, not asserted: the time depends on the machine. One and two submissions at a time, side by side.
    submissions = tmp_path / "class"
    submissions.mkdir()
    for i in range(30):
        shutil.copyfile(ROOT / "solutions" / "03_kv_cache_growth.ipynb", submissions / f"student_{i:02d}.ipynb")
    seconds = {}
    for jobs in (1, 2):
        start = time.perf_counter()
        results = grade_folder(
            submissions, tmp_path / f"grades_{jobs}.csv", hidden_dir=HIDDEN, progress=False, jobs=jobs
        )
        seconds[jobs] = time.perf_counter() - start
        assert [r.total for r in results] == [float(len(questions("03")))] * 30
    assert (tmp_path / "grades_1.csv").read_text() == (tmp_path / "grades_2.csv").read_text()
    with capsys.disabled():
        print(f"\n[grading] 30 copies of solutions/03_kv_cache_growth.ipynb: {seconds[1]:.1f} s one at a time "
              f"({seconds[1] / 30:.2f} s each), {seconds[2]:.1f} s with --jobs 2 (x{seconds[1] / seconds[2]:.2f})")


def test_grade_command_errors_are_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "course_lib.cli", "grade", str(tmp_path / "absent"), "--out",
                             str(tmp_path / "g.csv")], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"llm-course grade: error: submissions folder not found: {tmp_path / 'absent'}"
    ]
    (tmp_path / "empty").mkdir()
    for flag in ("--timeout", "--memory-limit-gb", "--cpu-limit", "--file-limit-mb"):
        result = subprocess.run([sys.executable, "-m", "course_lib.cli", "grade", str(tmp_path / "empty"), "--out",
                                 str(tmp_path / "g.csv"), flag, "0"], capture_output=True, text=True)
        assert result.returncode == 2 and f"{flag} must be greater than zero" in result.stderr, result.stderr


def test_grade_help_states_the_limits_and_the_sandbox():
    result = subprocess.run([sys.executable, "-m", "course_lib.cli", "grade", "--help"], capture_output=True,
                            text=True)
    text = " ".join(result.stdout.split())
    limits = Limits()
    assert f"(default {limits.memory_bytes / 2**30:g};" in text and f"(default {limits.cpu_seconds})" in text
    assert f"(default {limits.file_bytes / 2**20:g})" in text and "--sandbox" in text and "bubblewrap" in text
