"""The harvested ground-truth table (course_lib/data/engine_ground_truth.json) is well formed and checkable.

Every row is a GPU setup someone ran and logged in public: engine and version,
model, quantization, GPU, every setting, and the numbers the engine printed,
with the source link and the printed lines themselves. These tests check the
table as data (schema, catalogue names, units, sources) and that each printed
figure really is in the quoted log, so a typing slip in a byte count fails
here. How close the course's estimates come to these figures is
tests/test_engine_ground_truth.py's business.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from course_lib.sizing import list_models
from course_lib.units import GIB, MIB

SHIPPED = Path(__file__).resolve().parents[1] / "course_lib" / "data" / "engine_ground_truth.json"
# A table being harvested can be checked before it ships (as in tests/test_engine_ground_truth.py).
TABLE = Path(os.environ.get("LLM_COURSE_GROUND_TRUTH") or SHIPPED)
GPU_ENGINES = ("llama-server", "ollama", "vllm")
ENGINES = (*GPU_ENGINES, "llama-cpp-python")
MIN_ROWS, MIN_PER_GPU_ENGINE = 30, 8
REQUIRED = {"id", "source", "engine", "engine_version", "model", "quant", "gpu", "settings", "printed", "log"}
OPTIONAL = {"settings_sources", "notes", "scope"}
# What an engine prints in binary units; vLLM's V0 worker labels GiB "GB" (model_runner.py divides by 2**30).
UNIT = {"B": 1, "KiB": 1024, "MiB": MIB, "GiB": GIB, "GB": GIB}
BYTE_KEYS = {
    "kv_bytes", "kv_k_bytes", "kv_v_bytes", "kv_non_swa_bytes", "kv_swa_bytes",
    "compute_buffer_bytes", "host_compute_buffer_bytes", "model_buffer_bytes", "host_model_buffer_bytes",
    "output_buffer_bytes",
    "vllm_model_bytes", "vllm_available_kv_bytes", "vllm_total_gpu_bytes", "vllm_activation_peak_bytes",
    "vllm_non_torch_bytes", "vllm_cuda_graph_bytes", "vllm_free_gpu_bytes",
    "ollama_memory_required_full_bytes", "ollama_memory_required_partial_bytes", "ollama_kv_bytes",
    "ollama_graph_full_bytes", "ollama_graph_partial_bytes", "ollama_weights_total_bytes",
    "ollama_memory_available_bytes", "ollama_gpu_total_bytes",
}
COUNT_KEYS = {"kv_cells", "kv_swa_cells", "vllm_kv_tokens", "vllm_gpu_blocks", "vllm_max_concurrency_for_tokens",
              "vllm_max_model_len_fit"}
RATIO_KEYS = {"vllm_max_concurrency_x"}
# kv_bytes may be the sum of a sliding-window model's two printed caches (llama.cpp prints each on its own line).
SUMS = {"kv_bytes": ("kv_non_swa_bytes", "kv_swa_bytes")}


@pytest.fixture(scope="module")
def table():
    if not TABLE.is_file():
        pytest.skip(f"the harvested ground-truth table has not landed yet ({TABLE.name})")
    return json.loads(TABLE.read_text())


@pytest.fixture(scope="module")
def rows(table):
    return table["setups"]


def printed_byte_values(log: str) -> set[int]:
    """Every size the log prints (number and binary unit), in bytes as the table stores them."""
    found = set()
    for number, unit in re.findall(r"(\d[\d,]*(?:\.\d+)?)\s*(KiB|MiB|GiB|GB|B)\b", log):
        found.add(round(float(number.replace(",", "")) * UNIT[unit]))
    return found


def printed_counts(log: str) -> set[int]:
    return {int(n.replace(",", "")) for n in re.findall(r"(?<![\d.])(\d{1,3}(?:,\d{3})+|\d+)(?![\d.])", log)}


def test_log_parsing_reads_sizes_and_counts_as_the_table_stores_them():
    log = ("llama_kv_cache: size = 1024.00 MiB (  8192 cells,  32 layers,  1/1 seqs)\n"
           "Loading model weights took 14.9888 GB\nGPU KV cache size: 93,872 tokens\n"
           'memory.required.kv="896.0 MiB" memory.graph.full="1.1 GiB"')
    sizes = printed_byte_values(log)
    assert {1024 * MIB, round(14.9888 * GIB), 896 * MIB, round(1.1 * GIB)} <= sizes
    assert round(14.9888 * 10**9) not in sizes  # vLLM's "GB" is GiB
    assert {8192, 32, 93872} <= printed_counts(log)
    assert 872 not in printed_counts(log) and 93 not in printed_counts(log)


def test_the_table_has_a_schema_notes_and_enough_rows(table, rows):
    assert table["schema"] == 1
    assert len(table["notes"]) > 200, "the notes say how rows were collected, the units, and what 'printed' means"
    assert len(rows) >= MIN_ROWS
    per_engine = {e: sum(r["engine"] == e for r in rows) for e in GPU_ENGINES}
    assert all(n >= MIN_PER_GPU_ENGINE for n in per_engine.values()), per_engine


def test_every_row_has_the_required_keys_and_nothing_unknown(rows):
    for row in rows:
        assert REQUIRED <= set(row), (row.get("id"), REQUIRED - set(row))
        assert set(row) <= REQUIRED | OPTIONAL, (row["id"], set(row) - REQUIRED - OPTIONAL)
        assert row["engine"] in ENGINES, row["id"]
        assert str(row["engine_version"]).strip() and row["quant"].strip(), row["id"]
        assert row["log"].strip() and row["printed"] and row["settings"], row["id"]


def test_ids_are_unique_slugs(rows):
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9.-]*", i) for i in ids), ids


def test_sources_are_https_links(rows):
    for row in rows:
        assert re.fullmatch(r"https://\S+", row["source"]), row["id"]


def test_every_model_is_in_the_catalogue(rows):
    names = set(list_models())
    for row in rows:
        assert row["model"] in names, (row["id"], row["model"])


def test_gpu_names_a_device_count_and_a_positive_memory(rows):
    for row in rows:
        gpu = row["gpu"]
        assert gpu["name"] and int(gpu["count"]) >= 1, row["id"]
        assert isinstance(gpu["memory_bytes"], int) and gpu["memory_bytes"] > 2 * GIB, row["id"]


def test_printed_keys_are_known_and_positive(rows):
    for row in rows:
        for key, value in row["printed"].items():
            assert key in BYTE_KEYS | COUNT_KEYS | RATIO_KEYS, (row["id"], key)
            if key in RATIO_KEYS:
                assert isinstance(value, float) and value > 0, (row["id"], key)
            else:
                assert isinstance(value, int) and value > 0, (row["id"], key)


def test_each_printed_figure_is_in_the_quoted_log(rows):
    for row in rows:
        sizes, counts, log = printed_byte_values(row["log"]), printed_counts(row["log"]), row["log"]
        for key, value in row["printed"].items():
            if key in SUMS and all(part in row["printed"] for part in SUMS[key]):
                assert value == sum(row["printed"][p] for p in SUMS[key]), (row["id"], key)
            elif key in BYTE_KEYS:
                assert value in sizes, f"{row['id']}: {key}={value} is not a size the log prints"
            elif key in COUNT_KEYS:
                assert value in counts, f"{row['id']}: {key}={value} is not a number the log prints"
            else:
                assert f"{value:.2f}x" in log, f"{row['id']}: {key}={value} is not in the log"


def test_settings_name_the_memory_deciding_choices(rows):
    """A row is fully specified: the context, the slots and the cache type are stated or taken from a default."""
    for row in rows:
        s = row["settings"]
        if row["engine"] == "vllm":
            assert s.get("max_model_len") and s.get("gpu_memory_utilization"), row["id"]
            assert s.get("max_num_seqs") and s.get("kv_cache_dtype") and s.get("block_size"), row["id"]
        else:
            assert s.get("n_ctx") or s.get("num_ctx"), row["id"]
            assert s.get("n_parallel") or s.get("ollama_num_parallel"), row["id"]
            assert s.get("type_k") and s.get("type_v") and s.get("flash_attn") is not None, row["id"]
