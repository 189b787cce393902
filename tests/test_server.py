"""The embedded OpenAI-compatible server: real model, real HTTP, clean shutdown."""

import socket
import subprocess
import sys
import textwrap

import psutil
import pytest
from openai import OpenAI

from course_lib.errors import CourseError
from course_lib.runtime import LlamaCppPythonServer, free_port, port_in_use, probe_endpoint, require_endpoint

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server():
    with LlamaCppPythonServer(n_ctx=512) as running:
        yield running


def test_serves_chat_and_completions_with_usage(server):
    client = OpenAI(base_url=server.base_url, api_key="x")
    assert [m.id for m in client.models.list().data] == [server.model_alias]
    completion = client.completions.create(model=server.model_alias, prompt="The capital of France is",
                                           max_tokens=5, temperature=0)
    assert completion.usage.completion_tokens == 5 or completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens == 6  # BOS + 5 tokens
    chat = client.chat.completions.create(model=server.model_alias, max_tokens=8, temperature=0,
                                          messages=[{"role": "user", "content": "hello"}])
    assert 0 < chat.usage.completion_tokens <= 8


def test_streaming_yields_the_same_text_as_one_shot(server):
    client = OpenAI(base_url=server.base_url, api_key="x")
    kwargs = dict(model=server.model_alias, prompt="Once upon a time", max_tokens=12, temperature=0)
    # The server reuses the cached prompt prefix of the previous request, which changes the
    # arithmetic (one token evaluated instead of a batch) and can flip a near-tie even when
    # greedy. A first request puts the cache in the state both compared requests will see.
    client.completions.create(**kwargs)
    whole = client.completions.create(**kwargs).choices[0].text
    streamed = "".join(c.choices[0].text for c in client.completions.create(stream=True, **kwargs))
    assert streamed == whole


def test_binds_loopback_only(server):
    listening = [
        c.laddr for c in psutil.Process(server.process.pid).net_connections() if c.status == psutil.CONN_LISTEN
    ]
    assert listening and all(a.ip == "127.0.0.1" for a in listening)


def test_port_already_taken_is_a_clear_error():
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(CourseError, match=f"port {port} on 127.0.0.1 is already in use"):
            LlamaCppPythonServer(port=port).start()


def test_a_server_that_cannot_start_reports_why(tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)  # right magic, nonsense inside
    with pytest.raises(CourseError, match="exited with code"):
        LlamaCppPythonServer(broken, startup_timeout=60).start()


def test_unreachable_endpoint():
    dead = f"http://127.0.0.1:{free_port()}/v1"
    status = probe_endpoint(dead)
    assert not status.reachable and "refused" in status.detail.lower()
    with pytest.raises(CourseError, match="no OpenAI-compatible server at"):
        require_endpoint(dead)


def test_api_key_is_enforced():
    with LlamaCppPythonServer(n_ctx=256, api_key="k") as guarded:
        assert not probe_endpoint(guarded.base_url).reachable
        assert probe_endpoint(guarded.base_url, api_key="k").reachable


def test_stop_frees_the_port_and_process():
    server = LlamaCppPythonServer(n_ctx=256).start()
    pid, port = server.process.pid, server.port
    server.stop()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not port_in_use(port)
    assert not server.log_path.exists()  # a clean stop leaves no log behind


def test_no_orphan_when_the_owner_is_killed(tmp_path):
    """A kernel that dies (SIGKILL, no atexit) must not leave its server running."""
    script = textwrap.dedent("""
        import os, sys
        from course_lib.runtime import LlamaCppPythonServer
        s = LlamaCppPythonServer(n_ctx=256).start()
        print(s.process.pid, s.port, flush=True)
        os.kill(os.getpid(), 9)
    """)
    owner = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    pid, port = map(int, owner.stdout.split())
    try:
        psutil.Process(pid).wait(timeout=15)
    except psutil.NoSuchProcess:
        pass
    assert not psutil.pid_exists(pid)
    assert not port_in_use(port)


@pytest.mark.parametrize("stop_signal", ["SIGINT", "SIGTERM"])  # Ctrl-C, or `kill` / a closing terminal
def test_cli_serve_runs_until_interrupted(stop_signal):
    import signal
    import time

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "course_lib.cli", "serve", "--port", str(port), "--n-ctx", "256"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert f"127.0.0.1:{port}/v1" in line
        assert probe_endpoint(f"http://127.0.0.1:{port}/v1").reachable
    finally:
        proc.send_signal(getattr(signal, stop_signal))
        assert proc.wait(timeout=30) == 0
        assert "stopping" in proc.stdout.read()
    time.sleep(0.5)
    assert not port_in_use(port)


def test_children_sleep_when_idle_unless_told_otherwise(monkeypatch):
    server = LlamaCppPythonServer(n_ctx=256)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert server.child_env()["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert server.child_env()["OMP_WAIT_POLICY"] == "ACTIVE"
