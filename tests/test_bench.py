"""The benchmark harness against llama-cpp-python's real server (the real Gemma model)."""

import subprocess
import sys

import pytest

from course_lib.bench import PROMPTS, bench_sync, parse_concurrency, resolve_model
from course_lib.errors import CourseError
from course_lib.runtime import LlamaCppPythonServer, free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(gemma_path):
    with LlamaCppPythonServer(gemma_path, n_ctx=512) as s:
        yield s


def test_parse_concurrency():
    assert parse_concurrency("1,2, 4,8") == [1, 2, 4, 8]
    for bad in ("", "0,2", "a,b", "-1"):
        with pytest.raises(CourseError):
            parse_concurrency(bad)


def test_model_defaults_to_the_servers_first_model(server):
    assert resolve_model(server.base_url) == server.model_alias
    assert resolve_model(server.base_url, "other") == "other"


def test_dead_endpoint_is_a_course_error():
    with pytest.raises(CourseError, match="no OpenAI-compatible server"):
        bench_sync(f"http://127.0.0.1:{free_port()}/v1", progress=False)


def test_streamed_token_counts_match_the_servers_usage(server):
    """llama-cpp-python streams no usage: the harness counts with the server's tokenizer instead.

    Check that method against non-streamed twins, whose usage is the server's own count.
    """
    import asyncio

    import httpx
    from openai import OpenAI

    from course_lib.bench import ServerTokenizer

    summaries, raw = bench_sync(server.base_url, concurrency=[1, 2], requests=2, max_tokens=12, warmup=0,
                                progress=False, keep_results=True)
    assert [s.errors for s in summaries] == [0, 0]
    assert all(s.tokens_source == "tokenize" for s in summaries)
    assert all(r.output_tokens == 12 for r in raw[1] if r.finish_reason == "length")
    assert summaries[1].output_tokens == sum(r.output_tokens for r in raw[2])

    async def count(texts):
        async with httpx.AsyncClient() as c:
            tokenizer = await ServerTokenizer.find(c, server.base_url[:-3], server.model_alias)
            return tokenizer.bos, [await tokenizer.count(t) for t in texts]

    client = OpenAI(base_url=server.base_url, api_key="none")
    twins = [client.completions.create(model=server.model_alias, prompt=p, max_tokens=n, temperature=0.0, seed=7)
             for p, n in zip(PROMPTS, (3, 9, 17, 40))]
    bos, counted = asyncio.run(count([t.choices[0].text for t in twins]))
    assert len(bos) == 1  # Gemma's tokenizer adds one BOS, which the harness leaves out
    assert counted == [t.usage.completion_tokens for t in twins]


def test_interrupted_streams_are_counted_as_failures(gemma_path):
    """The default llama-cpp-python behaviour cuts a running stream when another request arrives."""
    with LlamaCppPythonServer(gemma_path, n_ctx=512, interrupt_requests=True) as s:
        summaries, raw = bench_sync(s.base_url, concurrency=[2], requests=4, max_tokens=24, warmup=0,
                                    progress=False, keep_results=True)
    level = summaries[0]
    assert level.errors >= 1 and level.error_kinds.get("truncated", 0) >= 1
    assert all(r.finish_reason not in ("stop", "length") or (r.output_tokens or 0) < 24 for r in raw[2] if not r.ok)
    assert level.output_tokens == sum(r.output_tokens for r in raw[2] if r.ok)


def test_cli_dead_port_is_one_line():
    """The JSON of a live run is checked against both servers in test_bench_loops.py."""
    cli = [sys.executable, "-m", "course_lib.cli", "bench"]
    dead = subprocess.run(cli + ["--base-url", f"http://127.0.0.1:{free_port()}/v1"], capture_output=True, text=True,
                          timeout=60)
    assert dead.returncode == 2
    assert dead.stderr.count("\n") == 1 and "no OpenAI-compatible server" in dead.stderr


def test_bench_sync_works_inside_a_running_event_loop():
    """A notebook kernel (or Playwright's sync API) already runs a loop in this thread."""
    import asyncio

    from course_lib.bench import bench_sync
    from course_lib.errors import CourseError
    from course_lib.runtime import free_port

    async def inside_a_loop():
        with pytest.raises(CourseError, match="no OpenAI-compatible server"):
            bench_sync(f"http://127.0.0.1:{free_port()}/v1", concurrency=[1], requests=1, max_tokens=2, progress=False)

    asyncio.run(inside_a_loop())
