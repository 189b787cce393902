"""The `llm-course` command: discovered subcommands, one-line errors, exit code 2."""

import os
import subprocess
import sys

import pytest

from course_lib.cli import main


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "course_lib.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_help_lists_the_foundation_commands():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("model", "serve"):
        assert command in result.stdout


def test_model_prints_the_path_of_the_model_in_use(gemma_path):
    result = run_cli("model", env={"LLM_COURSE_MODEL": ""})
    assert result.returncode == 0
    assert result.stdout.strip() == str(gemma_path)


def test_model_honours_the_environment_variable(gemma_path, tmp_path):
    copy = tmp_path / "copy.gguf"
    copy.symlink_to(gemma_path)
    result = run_cli("model", env={"LLM_COURSE_MODEL": str(copy)})
    assert result.stdout.strip() == str(copy.resolve())


def test_missing_model_is_one_line_and_exit_2(tmp_path):
    result = run_cli("model", "--model", str(tmp_path / "missing.gguf"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "model file not found" in lines[0] and "Traceback" not in result.stderr


def test_unknown_command_is_exit_2():
    result = run_cli("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["serve", "--n-ctx", "-5"], "--n-ctx must be greater than zero"),
    (["serve", "--port", "70000"], "port must be a whole number from 1 to 65535"),
])
def test_serve_rejects_bad_numbers(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
