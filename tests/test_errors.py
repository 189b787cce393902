"""One error policy: a user's mistake is a CourseError (a ValueError), one line, exit code 2 from every command."""

import pytest

from course_lib.cli import main
from course_lib.errors import EXIT_BAD_INPUT, CourseError


def test_a_course_error_is_a_value_error_on_one_line():
    error = CourseError("first line\n   second line")
    assert isinstance(error, ValueError) and str(error) == "first line second line"


@pytest.mark.parametrize("args", [
    ["fit", "no-such-model"], ["fit", "llama-3.1-8b", "--ctx", "0"], ["kv", "llama-3.1-8b", "--ctx", "-1"],
    ["quantize", "/no/such.gguf", "/tmp/out.gguf", "--type", "Q8_0"], ["bench", "--base-url", "notaurl"],
    ["serve", "--port", "0"], ["grade", "/no/such/folder", "--out", "grades.csv"], ["fit", "--no-such-flag"],
    ["model", "--model", "/no/such.gguf"],
    ["app", "--port", "99999"], ["fit", "llama-3.1-8b", "--kv-type", "q9_9"],
])
def test_every_command_answers_bad_input_with_one_line_and_exit_2(args, capsys):
    try:
        code = main(args)
    except SystemExit as exit:  # argparse's own errors leave this way, with the same code
        code = exit.code
    assert code == EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
