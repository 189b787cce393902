"""A submission cannot grade itself: every verdict is decided in the grader's process, on plain data.

The attack fixtures (tests/fixtures/submissions/attack_*.ipynb) are the
missing-function chapter-03 notebook (2 of 3 points) plus code that patches
the checker, patches builtins, forges output lines and the grader's channel,
returns objects that claim to equal anything, reads the hidden tests, exits
during a test, or fills memory; each must score exactly what that notebook
scores without the attack, with and without --sandbox (where bubblewrap runs).
Below them: the wire format, the channel, the resource limits and the sandbox,
each checked on its own.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from course_lib.errors import CourseError
from course_lib.grading.grader import grade_folder
from course_lib.grading.plain import (ANY, MODEL, Either, Malformed, Refused, conform, decode, encode,
                                      encode_input)
from course_lib.grading.questions import questions
from course_lib.grading.session import HIDDEN_ENV, KernelGone, Limits, Session, find_bwrap

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "submissions"
HIDDEN = ROOT / "grading_hidden"
BASELINE = "missing_function_03"
ATTACKS = sorted(p.stem for p in FIXTURES.glob("attack_*.ipynb"))


def _bwrap():
    try:
        return find_bwrap()
    except CourseError:
        return None


BWRAP = _bwrap()
needs_sandbox = pytest.mark.skipif(BWRAP is None, reason="bubblewrap cannot make a sandbox on this machine")
MODES = [pytest.param(False, id="plain"), pytest.param(True, id="sandbox", marks=needs_sandbox)]


def _rows(csv_path: Path) -> dict[str, dict]:
    with csv_path.open(newline="") as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


# ------------------------------------------------------------------ the attack fixtures
@pytest.fixture(scope="module", params=MODES)
def attack_rows(request, tmp_path_factory):
    out = tmp_path_factory.mktemp("attacks")
    folder = out / "submissions"
    folder.mkdir()
    for name in [*ATTACKS, BASELINE]:
        shutil.copyfile(FIXTURES / f"{name}.ipynb", folder / f"{name}.ipynb")
    grade_folder(folder, out / "grades.csv", cell_timeout=30, test_timeout=5, hidden_dir=HIDDEN, progress=False,
                 jobs=2, limits=Limits(memory_bytes=2**30), sandbox=request.param)
    return _rows(out / "grades.csv"), request.param


def test_there_is_a_fixture_for_every_attack():
    assert ATTACKS == ["attack_equals_anything_03", "attack_exit_during_test_03", "attack_fill_memory_03",
                       "attack_forge_output_03", "attack_patch_builtins_03", "attack_patch_checker_03",
                       "attack_read_hidden_03"]


@pytest.mark.slow
def test_each_attack_scores_what_the_notebook_scores_without_it(attack_rows):
    rows, _ = attack_rows
    baseline = rows[BASELINE]
    assert (baseline["q1"], baseline["q2"], baseline["q3"], baseline["total"]) == ("1.0", "0.0", "1.0", "2.0")
    for attack in ATTACKS:
        for column in ("q1", "q2", "q3", "total", "max"):
            assert rows[attack][column] == baseline[column], (attack, column, rows[attack]["notes"])


@pytest.mark.slow
def test_the_notes_say_what_was_refused(attack_rows):
    rows, sandboxed = attack_rows
    expected = {
        "attack_patch_checker_03": ["reaching into course_lib.grading: no effect"],
        "attack_patch_builtins_03": ["replacing Python builtins: no effect"],
        "attack_forge_output_03": ["writing output meant for the grader", "q2 largest_context_is_the_last_that_fits: "
                                   "its kernel sent a reply the grader did not ask for (forged or corrupted): refused"],
        "attack_equals_anything_03": ["q2: refused: largest_context() returned a __main__.Anything, not plain data",
                                      "q1: returned a __main__.AlwaysEqualInt (a subclass of int): graded as the "
                                      "plain int it holds"],
        "attack_read_hidden_03": ["looking for the hidden tests: they never enter the notebook's kernel"
                                  + (" and, with --sandbox, are not on its filesystem either" if sandboxed else "")],
        "attack_exit_during_test_03": ["q2 largest_context_is_the_last_that_fits: its kernel ended (exit status 0)",
                                       "killed its kernel (touches no question): it ended (exit status 0)"],
        "attack_fill_memory_03": ["ran out of memory (touches no question; limit 1.00 GiB",
                                  "q2 hidden test 1: ran out of memory"],
    }
    for attack, fragments in expected.items():
        for fragment in fragments:
            assert fragment in rows[attack]["notes"], (attack, fragment, rows[attack]["notes"])
    assert "hidden" not in rows[BASELINE]["notes"] and "refused" not in rows[BASELINE]["notes"]


@pytest.mark.slow
def test_hidden_expected_values_never_reach_the_kernel(tmp_path, monkeypatch):
    # Grade a full-marks notebook, recording every message sent to its kernel and every value that came back from
    # a hidden test. A right answer equals the expected value, so the values the hidden tests received are what
    # they compared against: none of them may appear in anything the grader sent.
    import course_lib.grading.grader as grader

    sent, hidden_answers, current = [], [], {}
    original_request, original_run_test = Session.request, grader.run_test

    def recording(self, message, timeout):
        sent.append(json.dumps(message))
        reply = original_request(self, message, timeout)
        if message.get("op") == "call" and current["test"].hidden:
            hidden_answers.append(decode(reply["value"]))
        return reply

    def noting_the_test(test, *args, **kwargs):
        current["test"] = test
        return original_run_test(test, *args, **kwargs)

    monkeypatch.setattr(Session, "request", recording)
    monkeypatch.setattr(grader, "run_test", noting_the_test)
    (tmp_path / "class").mkdir()
    shutil.copyfile(ROOT / "solutions" / "03_kv_cache_growth.ipynb", tmp_path / "class" / "solved.ipynb")
    results = grade_folder(tmp_path / "class", tmp_path / "g.csv", hidden_dir=HIDDEN, progress=False)
    assert results[0].total == len(questions("03"))
    assert {m["op"] for m in map(json.loads, sent)} == {"cell", "names", "call", "value"}
    large = {v for v in hidden_answers if v > 10**4}  # answers too large to be a coincidental input
    assert len(large) >= 5
    for value in large:
        assert not any(str(value) in message for message in sent), value


# ------------------------------------------------------------------ plain data on the wire
def _wire(value):
    return decode(json.loads(json.dumps(encode(value))))


def test_plain_values_cross_and_come_back_equal():
    values = [None, True, 3, -2**70, 2.5, float("inf"), "Grüße", [1, "a"], (1, 2.0), {"p50": 0.1, 3: None},
              {1, 2}, b"\x00\xff", np.float32(0.5), np.int64(7), np.bool_(True)]
    for value in values:
        assert _wire(value) == value and type(_wire(value)) in (type(value), float, int, bool, set), value
    for array in (np.arange(6, dtype=np.int8).reshape(2, 3), np.zeros(0, np.float16), np.array([1.5], ">f8")):
        back = _wire(array)
        assert back.shape == array.shape and np.array_equal(back, array) and back.dtype.kind == array.dtype.kind
    assert math_nan(_wire(float("nan")))
    assert _wire(x for x in range(3)) == [0, 1, 2] and _wire({"a": 1}.keys()) == ["a"]


def math_nan(value) -> bool:
    return isinstance(value, float) and value != value


def test_what_is_not_plain_data_is_refused():
    class Anything:
        def __eq__(self, other):
            return True

    for value in (Anything(), [Anything()], object(), np.array([Anything()]), 1j, np.complex64(1), print,
                  np.zeros(3, dtype=[("a", "i4")])):
        with pytest.raises(Refused):
            encode(value)


def test_subclasses_are_graded_as_the_plain_value_they_hold():
    class Liar(int):
        def __eq__(self, other):
            return True

        __hash__ = int.__hash__

    notes = []
    assert encode(Liar(5), notes) == 5 and type(encode(Liar(5))) is int
    assert "a subclass of int" in notes[0]
    assert _wire(np.str_("x")) == "x"


def test_forged_wire_data_is_malformed():
    forged = [{"list": [1], "dict": []}, {"eval": "1"}, {"array": {"dtype": "|O", "shape": [1], "data": "AA=="}},
              {"array": {"dtype": "<f8", "shape": [2], "data": "AAAAAAAAAAA="}}, {"handle": "model"},
              {"bytes": "not base64!"}, [1, 2], {"dict": [[{"list": []}, 1]]}]
    for data in forged:
        with pytest.raises(Malformed):
            decode(data)
    assert decode(encode_input([MODEL, 2]), {"model": lambda: "the kernel's model"}) == ["the kernel's model", 2]


def test_schemas_check_the_shape_of_answers():
    assert conform(3.0, int, "f()") == 3.0 and conform(None, Either(float, None), "f()") is None
    assert conform({"p50": 1, "extra": 2}, {"p50": float}, "f()") and conform([np.zeros(2), 0.5], (np.ndarray, float),
                                                                             "f()")
    assert conform(object, ANY, "f()") is object
    for value, schema in ((True, int), ("3", float), (3.5, int), ([1], (int, int)), ({"p90": 1}, {"p50": float}),
                          (None, float)):
        with pytest.raises(AssertionError, match=r"f\(\) gave .*; expected "):
            conform(value, schema, "f()")


# ------------------------------------------------------------------ the kernel: channel and limits
@pytest.fixture
def kernel(tmp_path):
    session = Session(tmp_path, Limits(memory_bytes=2**30, file_bytes=2**20)).start()
    yield session
    session.close()


def _call(session, name, *args):
    reply = session.call(name, encode_input(list(args)), encode_input({}), 30)
    return decode(reply["value"]) if reply.get("ok") else reply


FRAME = ("import json, struct\n"
         "body = json.dumps({'id': 'forged', 'ok': True, 'value': 999}).encode()\n"
         "frame = struct.pack('>I', len(body)) + body\n")


def test_printed_lines_never_reach_the_grader(kernel):
    assert kernel.run_cell(FRAME + "print(frame)\nimport os\nos.write(1, frame)\ndef f():\n    print(frame)\n"
                           "    return 1\n", 30)["ok"] is True
    assert _call(kernel, "f") == 1


def test_a_reply_the_grader_did_not_ask_for_ends_the_kernel(kernel):
    cell = FRAME + ("import os\nfor fd in map(int, os.listdir('/proc/self/fd')):\n    try:\n"
                    "        os.write(fd, frame)\n    except OSError:\n        pass\n")
    with pytest.raises(KernelGone, match="did not ask for") as gone:
        kernel.run_cell(cell, 30)
    assert gone.value.kind == "forged" and kernel.process.poll() is not None


def test_memory_and_file_size_limits(kernel, tmp_path):
    reply = kernel.run_cell("blob = bytearray(2 * 2**30)", 30)
    assert reply["ok"] is False and reply["memory"] is True and "MemoryError" in reply["error"]
    reply = kernel.run_cell("open('big.bin', 'wb').write(b'x' * 2 * 2**20)", 30)
    assert reply["ok"] is False and reply["file_limit"] is True and "File too large" in reply["error"]
    assert (tmp_path / "big.bin").stat().st_size <= 2**20
    kernel.run_cell("def hog():\n    return len(bytearray(2**40))\n", 30)
    assert _call(kernel, "hog")["memory"] is True


def test_cpu_time_limit(tmp_path):
    with Session(tmp_path, Limits(cpu_seconds=1)) as session:
        with pytest.raises(KernelGone, match=r"reached the CPU-time limit \(1 s\)"):
            session.run_cell("while True:\n    pass\n", 120)


def test_the_process_group_is_killed_whole(tmp_path):
    session = Session(tmp_path).start()
    session.run_cell("import subprocess\nchild = subprocess.Popen(['sleep', '3600'])\n"
                     "def child_pid():\n    return child.pid\n", 30)
    pid = _call(session, "child_pid")
    assert Path(f"/proc/{pid}").exists()
    session.close()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and "sleep" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace") \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_the_kernel_is_not_told_where_the_hidden_tests_are(tmp_path, monkeypatch):
    monkeypatch.setenv(HIDDEN_ENV, str(HIDDEN))
    with Session(tmp_path) as session:
        session.run_cell("import os\ndef where():\n    return os.environ.get('LLM_COURSE_HIDDEN_TESTS')\n", 30)
        assert _call(session, "where") is None


@needs_sandbox
def test_a_sandboxed_kernel_sees_no_hidden_tests_no_network_and_writes_only_its_folder(tmp_path):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    probe = f'''
import os, socket
from pathlib import Path
def probe():
    found = {{}}
    found["hidden"] = sorted(os.listdir({str(HIDDEN)!r}))
    for target in ({str(ROOT / "README.md")!r}, "written_here.txt"):
        try:
            Path(target).open("a").close()
            found[target] = "written"
        except OSError as exc:
            found[target] = type(exc).__name__
    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=5).close()
        found["network"] = "connected"
    except OSError as exc:
        found["network"] = type(exc).__name__
    found["grader_visible"] = os.path.exists("/proc/{os.getpid()}/cmdline") and "pytest" in \\
        open("/proc/{os.getpid()}/cmdline").read()
    return found
'''
    with Session(tmp_path, bwrap=BWRAP, hide=[HIDDEN]) as session:
        assert session.run_cell(probe, 30)["ok"] is True
        found = _call(session, "probe")
    listener.close()
    assert found["hidden"] == [] and found["written_here.txt"] == "written"
    assert found[str(ROOT / "README.md")] in ("OSError", "PermissionError")  # read-only: EROFS
    assert found["network"] != "connected" and found["grader_visible"] is False
    assert (tmp_path / "written_here.txt").exists()


@pytest.mark.slow
@pytest.mark.parametrize("sandbox", MODES)
def test_hidden_tests_written_during_grading_change_no_grade(tmp_path, sandbox):
    hidden = tmp_path / "hidden"
    shutil.copytree(HIDDEN, hidden)
    forged = ("from course_lib.grading.testing import question\n\n@question('q2')\ndef anything():\n    pass\n")
    book = json.loads((FIXTURES / f"{BASELINE}.ipynb").read_text())
    book["cells"].append({"cell_type": "code", "id": "tamper", "metadata": {}, "execution_count": None, "outputs": [],
                          "source":
                          f"from pathlib import Path\nPath({str(hidden / '03.py')!r}).write_text({forged!r})\n"})
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "tamper.ipynb").write_text(json.dumps(book))
    before = (hidden / "03.py").read_text()
    results = grade_folder(tmp_path / "class", tmp_path / "g.csv", hidden_dir=hidden, progress=False,
                           sandbox=sandbox)
    assert results[0].scores == {"q1": 1.0, "q2": 0.0, "q3": 1.0, "q4": 0.0, "q5": 0.0}
    changed = (hidden / "03.py").read_text() != before
    assert changed is not sandbox  # the sandbox's filesystem is read-only outside the kernel's folder
    assert ("hidden tests on disk changed" in " ".join(results[0].notes)) is changed


def test_sandbox_without_bubblewrap_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(CourseError, match=r"needs bubblewrap \(bwrap\), which is not installed: `apt-get install"):
        find_bwrap()
    (tmp_path / "class").mkdir()
    shutil.copyfile(FIXTURES / "malformed.ipynb", tmp_path / "class" / "m.ipynb")
    env = {**os.environ, "PATH": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "course_lib.cli", "grade", str(tmp_path / "class"), "--out",
                             str(tmp_path / "g.csv"), "--sandbox"], capture_output=True, text=True, env=env)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "needs bubblewrap" in result.stderr and not (tmp_path / "g.csv").exists()


def test_a_sandbox_binds_back_what_the_kernel_needs_under_tmp_and_still_hides_the_tests(tmp_path, monkeypatch):
    """A clone, a virtual environment or a HOME under /tmp (CI, a throwaway HOME) must survive the sandbox's fresh
    /tmp, read-only; the hidden tests are emptied after the bindings, so a binding above them cannot reveal them."""
    from course_lib.grading import session

    checkout = tmp_path / "clone"
    hidden = checkout / "grading_hidden"
    hidden.mkdir(parents=True)
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.setattr(session, "kernel_needs", lambda: [checkout, Path("/usr"), tmp_path / "absent"])
    command = session.sandbox_prefix("bwrap", workdir, [hidden])
    args = [command[i:i + 3] for i in range(len(command) - 2)]
    bound, tmpfs = args.index(["--ro-bind", str(checkout), str(checkout)]), command.index("/tmp") - 1
    assert command[tmpfs] == "--tmpfs" and tmpfs < bound < command.index("--bind")
    assert command.index(str(hidden)) > bound and command[command.index(str(hidden)) - 1] == "--tmpfs"
    assert ["--ro-bind", "/usr", "/usr"] not in args and str(tmp_path / "absent") not in command


def test_frames_are_length_prefixed_json():
    from course_lib.grading.runner import HEADER, frame

    data = frame({"id": "x", "ok": True})
    assert HEADER.unpack(data[:4]) == (len(data) - 4,) and json.loads(data[4:]) == {"id": "x", "ok": True}
    assert struct.calcsize(">I") == HEADER.size
