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


@pytest.fixture(scope="module")
def truncated_models(gemma_path, tmp_path_factory):
    folder = tmp_path_factory.mktemp("broken")
    data = gemma_path.read_bytes()
    inside_header, inside_tensors = folder / "cut-in-header.gguf", folder / "cut-in-tensors.gguf"
    inside_header.write_bytes(data[:1_000_000])
    inside_tensors.write_bytes(data[:200_000_000])
    return {"header": inside_header, "tensors": inside_tensors}


@pytest.mark.parametrize("where, message", [("header", "ends inside the GGUF header"), ("tensors", "is cut short")])
def test_a_truncated_model_is_named_not_printed(truncated_models, where, message):
    result = run_cli("model", env={"LLM_COURSE_MODEL": str(truncated_models[where])})
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and str(truncated_models[where]) in lines[0]


@pytest.mark.parametrize("args, message", [
    (["bench", "--base-url", "notaurl"], "not a server address: 'notaurl'"),
    (["bench", "--base-url", "ftp://127.0.0.1/v1"], "not a server address"),
    (["fit", "llama-3.1-8b", "--quant", "Q3_BOGUS"], "unknown quantization type 'Q3_BOGUS'"),
])
def test_bad_input_found_by_new_users(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_fit_on_a_file_with_a_quant_is_a_what_if(gemma_path, capsys):
    import json

    assert main(["fit", str(gemma_path), "--quant", "Q3_BOGUS"]) == 2
    capsys.readouterr()
    assert main(["fit", str(gemma_path), "--json"]) == 0
    own = json.loads(capsys.readouterr().out)
    assert main(["fit", str(gemma_path), "--quant", "Q8_0", "--json"]) == 0
    what_if = json.loads(capsys.readouterr().out)
    assert own["quant"] == "file" and what_if["quant"] == "Q8_0"
    assert what_if["weights_bytes"] > own["weights_bytes"]  # 8.5 bits per weight against the file's Q4_K_M mix
    assert main(["fit", str(gemma_path), "--quant", "Q8_0"]) == 0
    assert "a what-if" in capsys.readouterr().out
