"""llama.cpp's native server (xllamacpp) from course_lib: lifecycle, parallel slots, its own timings."""

import json
import subprocess
import sys

import pytest

from course_lib.bench import bench_sync, cross_check
from course_lib.errors import CourseError
from course_lib.runtime import NativeLlamaServer, probe_endpoint

pytestmark = pytest.mark.slow


def test_context_too_small_for_the_slots_is_refused(gemma_path):
    with pytest.raises(CourseError, match="per request"):
        NativeLlamaServer(gemma_path, n_ctx=128, parallel=4)
    with pytest.raises(CourseError):
        NativeLlamaServer(gemma_path, parallel=0)


def test_serves_in_parallel_reports_usage_and_agrees_with_its_own_timings(gemma_path):
    server = NativeLlamaServer(gemma_path, n_ctx=1024, parallel=2)
    assert server.n_ctx_per_slot == 512
    with server:
        status = probe_endpoint(server.base_url)
        assert status.reachable and status.models == [server.model_alias]
        summaries, raw = bench_sync(server.base_url, concurrency=[1, 2], requests=2, max_tokens=10, warmup=1,
                                    progress=False, keep_results=True)
        assert "n_slots = 2" in server.log_text()
        cli = subprocess.run([sys.executable, "-m", "course_lib.cli", "bench", "--base-url", server.base_url,
                              "--concurrency", "2", "--requests", "2", "--max-tokens", "4", "--json"],
                             capture_output=True, text=True, timeout=300)
    assert not server.running  # leaving the block stopped the child process
    assert cli.returncode == 0, cli.stderr
    record = json.loads(cli.stdout)[0]
    assert (record["concurrency"], record["errors"], record["output_tokens"]) == (2, 0, 8)
    assert record["tokens_source"] == "usage"
    assert [s.errors for s in summaries] == [0, 0]
    assert all(s.tokens_source == "usage" for s in summaries)
    rows = cross_check(raw[1] + raw[2])
    assert len(rows) == 4
    for row in rows:
        assert row["server_predicted_n"] == row["output_tokens"]
        # The client's decode window contains the server's; HTTP adds little on top.
        assert row["client_decode_ms"] >= 0.5 * row["server_predicted_ms"]
        assert row["client_decode_ms"] <= 1.5 * row["server_predicted_ms"] + 200
