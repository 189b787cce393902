"""Closed and open loops, prompt lengths, endpoints, traces and flags, against both real local servers.

llama-cpp-python's server (one request at a time, no usage when streaming: tokens counted by its
tokenizer after each level) and llama.cpp's native server through xllamacpp (continuous batching,
usage in the stream), on the real Gemma model.
"""

import json
import subprocess
import sys

import pytest

from course_lib.bench import WARMUP_PROMPT, ServerTokenizer, bench_sync, read_trace, summaries_from_trace
from course_lib.runtime import LlamaCppPythonServer, NativeLlamaServer

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-m", "course_lib.cli", "bench"]


@pytest.fixture(scope="module", params=["llama-cpp-python", "llama.cpp"])
def server(request, gemma_path):
    if request.param == "llama-cpp-python":
        s = LlamaCppPythonServer(gemma_path, n_ctx=1024)
    else:
        s = NativeLlamaServer(gemma_path, n_ctx=2048, parallel=4)
    with s:
        yield s


def test_a_closed_loop_holds_its_concurrency(server):
    """While requests wait to be sent, every worker has one in flight; the level reports what it held.

    Counting a stream's tokens before sending the next request (the defect of issue 18) left the
    worker idle while its count queued behind the other streams: 2.2 in flight at a level of 4.
    """
    c, n = 4, 8
    summaries, raw = bench_sync(server.base_url, concurrency=[c], requests=n, max_tokens=8, progress=False,
                                keep_results=True)
    summary, results = summaries[0], sorted(raw[c], key=lambda r: r.start_s)
    assert summary.errors == 0 and summary.warnings == []
    assert summary.in_flight_while_sending == pytest.approx(c, rel=0.05)
    assert summary.mean_in_flight <= c + 1e-9
    # Every request after the first c went out the moment an earlier one ended (the old defect: seconds later).
    for r in results[c:]:
        assert min(r.start_s - done.end_s for done in results if done.end_s <= r.start_s) < 0.25
    assert summary.tokens_source == ("tokenize" if isinstance(server, LlamaCppPythonServer) else "usage")


def test_an_open_loop_sends_on_its_arrival_times_and_keeps_its_cap(server):
    summaries, raw = bench_sync(server.base_url, request_rate="8", arrivals="constant", requests=5, max_tokens=4,
                                progress=False, keep_results=True)
    sent = raw[8.0]
    assert summaries[0].mode == "open" and summaries[0].request_rate == 8.0 and summaries[0].errors == 0
    gaps = [b.scheduled_s - a.scheduled_s for a, b in zip(sent, sent[1:])]
    assert gaps == pytest.approx([1 / 8] * 4)
    assert all(-1e-3 <= r.start_s - r.scheduled_s < 0.5 for r in sent)  # on time, late only by the event loop

    capped, raw = bench_sync(server.base_url, request_rate="50", requests=4, max_tokens=4, max_concurrency=1,
                             progress=False, keep_results=True)
    one_by_one = sorted(raw[50.0], key=lambda r: r.start_s)
    assert all(b.start_s >= a.end_s for a, b in zip(one_by_one, one_by_one[1:]))  # the cap held: never two at once
    assert capped[0].mean_in_flight <= 1 + 1e-9 and capped[0].concurrency == 1


def test_prompts_of_a_chosen_length_as_the_server_counts_them(server):
    n = 48
    summaries, raw = bench_sync(server.base_url, concurrency=[2], requests=3, max_tokens=4, input_tokens=n,
                                progress=False, keep_results=True)
    results = raw[2]
    assert summaries[0].errors == 0 and len({r.prompt for r in results}) == 3
    if isinstance(server, NativeLlamaServer):
        assert [r.prompt_tokens for r in results] == [n + 1] * 3  # the server's own usage: our N plus its BOS
    else:
        import asyncio

        import httpx

        async def counts():
            async with httpx.AsyncClient() as client:
                tokenizer = await ServerTokenizer.find(client, server.base_url[:-3], server.model_alias)
                return [await tokenizer.count(r.prompt) for r in results]

        assert asyncio.run(counts()) == [n] * 3


def test_the_chat_endpoint_streams_and_counts(server):
    summaries, raw = bench_sync(server.base_url, concurrency=[1], requests=2, max_tokens=6, endpoint="chat",
                                progress=False, keep_results=True)
    assert summaries[0].errors == 0, [r.detail for r in raw[1]]
    for r in raw[1]:
        assert r.text and r.ttft_s > 0 and r.finish_reason in ("stop", "length")
        assert 0 < r.output_tokens <= 6
    assert summaries[0].tokens_source == ("usage" if isinstance(server, NativeLlamaServer) else "tokenize")


def test_cli_saves_a_trace_that_recomputes_every_figure(server, tmp_path):
    trace = tmp_path / "run.jsonl"
    live = subprocess.run(CLI + ["--base-url", server.base_url, "--concurrency", "1,2", "--requests", "2",
                                 "--max-tokens", "4", "--slo", "ttft=5,tpot=1", "--save-trace", str(trace), "--json"],
                          capture_output=True, text=True, timeout=300)
    assert live.returncode == 0, live.stderr
    records = json.loads(live.stdout)
    assert [r["concurrency"] for r in records] == [1, 2]
    for r in records:
        assert r["requests"] == 2 and r["errors"] == 0 and r["output_tokens"] > 0
        assert r["throughput_tok_s"] == pytest.approx(r["output_tokens"] / r["wall_s"])
        assert r["ttft_p50_s"] > 0 and r["e2e_p99_s"] >= r["e2e_p50_s"] >= r["ttft_p50_s"]
        assert 0 < r["mean_in_flight"] <= r["concurrency"] + 1e-9
        assert r["client_cpu_s"] > 0 and r["goodput_req_s"] is not None
    saved = read_trace(trace)
    assert [w.prompt for w in saved["warmup"]] == [WARMUP_PROMPT]
    assert [len(results) for _, results, _ in saved["levels"]] == [2, 2]
    again = subprocess.run(CLI + ["--from-trace", str(trace), "--json"], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == records
    assert [s.as_dict() for s in summaries_from_trace(trace)] == [
        {k: v for k, v in r.items() if k not in ("base_url", "model", "max_tokens")} for r in records]


@pytest.mark.parametrize("flags", [
    ["--request-rate", "0"], ["--request-rate", "fast"], ["--concurrency", "2", "--request-rate", "1"],
    ["--max-concurrency", "2"], ["--request-rate", "1", "--max-concurrency", "0"], ["--slo", "ttft=soon"],
    ["--slo", "latency=1"], ["--input-tokens", "0"], ["--endpoint", "embeddings"], ["--arrivals", "bursty"],
    ["--concurrency", "0"],
], ids=lambda flags: " ".join(flags))
def test_bad_flags_are_one_line_errors(server, flags):
    done = subprocess.run(CLI + ["--base-url", server.base_url, *flags], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout
    assert done.stderr.count("\n") == 1 and "error" in done.stderr and not done.stdout


def test_trace_and_url_flags_are_one_line_errors(tmp_path):
    for flags in ([], ["--from-trace", str(tmp_path / "none.jsonl")],
                  ["--from-trace", str(tmp_path / "x.jsonl"), "--base-url", "http://127.0.0.1:9/v1"]):
        done = subprocess.run(CLI + flags, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, (flags, done.stderr)


def test_prompts_cut_by_the_course_models_own_tokenizer(gemma_path):
    """The fallback for servers without a tokenize endpoint (Ollama, hosted APIs): the course model's vocabulary."""
    import asyncio

    from course_lib.bench import LocalTokenizer, course_text, prompts_of_length

    tokenizer = LocalTokenizer(gemma_path)
    prompts = asyncio.run(prompts_of_length(tokenizer, 5, 33))
    assert len(set(prompts)) == 5 and prompts[0].startswith(course_text().split()[0])
    assert [asyncio.run(tokenizer.count(p)) for p in prompts] == [33] * 5
    long = asyncio.run(prompts_of_length(tokenizer, 2, 3000))   # longer than the text: it wraps round
    assert [asyncio.run(tokenizer.count(p)) for p in long] == [3000, 3000]
