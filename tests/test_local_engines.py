"""Finding Ollama, llama-server, vLLM and LM Studio on a learner's machine, with the course's own servers
standing in on the engines' ports (a real llama.cpp server answers: detection never asks which program it is)."""

from __future__ import annotations

import platform

import pytest

from course_lib.cli import main
from course_lib.errors import CourseError
from course_lib.runtime import (LOCAL_ENGINES, LlamaCppPythonServer, Modelfile, ask, find_engine, install_steps,
                                instruct_model_path, model_path, parse_modelfile, port_in_use, serve_command)


def stand_in(key: str, model=None) -> LlamaCppPythonServer:
    port = LOCAL_ENGINES[key].port
    if port_in_use(port):
        pytest.skip(f"port {port} is taken on this machine, so nothing of the course's can stand in for {key}")
    return LlamaCppPythonServer(model, port=port, n_ctx=512)


def test_nothing_answers_where_no_engine_runs():
    for key, engine in LOCAL_ENGINES.items():
        if port_in_use(engine.port):
            continue
        found = find_engine(key)
        assert not found.serving and found.models == [] and "nothing answers" in str(found)


@pytest.mark.slow
def test_an_instruction_tuned_model_on_ollamas_port_is_found_and_chats():
    with stand_in("ollama", instruct_model_path()) as server:
        found = find_engine("ollama")
        assert found.serving and found.models == [server.model_alias]
        reply = ask(found.engine.base_url, found.models[0], "What is the boiling point of water at sea level?")
        assert reply.method == "chat template" and reply.completion_tokens > 0 and "100" in reply.text


@pytest.mark.slow
def test_a_base_model_on_llama_servers_port_answers_through_a_scaffold_and_benches(capsys):
    with stand_in("llama-server") as server:
        found = find_engine("llama-server")
        assert found.serving and found.models == [server.model_alias]
        reply = ask(found.engine.base_url, found.models[0], "What is the capital of Japan?", chat=False)
        assert reply.method == "few-shot scaffold" and reply.finish_reason == "stop" and "Tokyo" in reply.text
        assert main(["bench", "--base-url", found.engine.base_url, "--concurrency", "1", "--requests", "2",
                     "--max-tokens", "8", "--json"]) == 0
        assert '"concurrency": 1' in capsys.readouterr().out


@pytest.mark.parametrize("system", ["Linux", "Darwin", "Windows"])
@pytest.mark.parametrize("key", list(LOCAL_ENGINES))
def test_every_engine_has_steps_for_every_system(key, system):
    steps = install_steps(key, system)
    assert steps and all(isinstance(s, str) and s.strip() for s in steps)


def test_serve_commands_use_the_flags_the_chapter_explains():
    gguf = model_path()
    command = serve_command("llama-server", gguf, n_ctx=4096, parallel=4, gpu_layers=99, api_key="k")
    assert f"-m {gguf}" in command and "-c 16384 -np 4" in command and "-ngl 99" in command
    assert "--host 127.0.0.1" in command and "--api-key k" in command and "-fa auto" in command
    assert "--max-model-len 8192" in serve_command("vllm", "Qwen/Qwen2.5-0.5B-Instruct", n_ctx=8192)
    assert serve_command("ollama", "x", parallel=2).startswith("OLLAMA_NUM_PARALLEL=2 ")


def test_bad_names_are_one_line_errors():
    with pytest.raises(CourseError, match="unknown engine 'tgi'"):
        find_engine("tgi")
    with pytest.raises(CourseError, match="no install steps for 'Plan9'"):
        install_steps("ollama", "Plan9")
    assert install_steps("ollama") == install_steps("ollama", platform.system())


def test_a_modelfile_for_the_course_model_round_trips():
    written = Modelfile(str(model_path()), system=None, request={"temperature": 0}, engine={"n_ctx": 8192}).text()
    assert written.startswith(f"FROM {model_path()}\n") and "PARAMETER num_ctx 8192" in written
    assert parse_modelfile(written).engine == {"n_ctx": 8192}
    with pytest.raises(CourseError, match="line break"):
        Modelfile("x", request={"stop": ["\n"]}).text()
