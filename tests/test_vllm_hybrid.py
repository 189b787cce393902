"""vLLM's hybrid KV-cache manager: sliding-window layers hold only their window's blocks.

The rules are read from vLLM's own source for each profiled version (0.10.1.1 and
0.21.0: vllm/v1/core/kv_cache_utils.py and vllm/v1/kv_cache_interface.py); the
first test replays the case vLLM's own test suite checks
(tests/v1/core/test_kv_cache_utils.py test_get_max_concurrency_for_kv_cache_config).
"""

from __future__ import annotations

import pytest

from course_lib.errors import CourseError
from course_lib.sizing import CARD_24GB, estimate, get_device
from course_lib.sizing.architecture import ModelArch
from course_lib.sizing.catalogue import get_model as get_arch
from course_lib.sizing import kv_layout
from course_lib.sizing.vllm import GROUP_SIZE_RULES

F16 = 2


def hybrid_arch(n_full: int, n_sliding: int, kv_heads: int = 32, head_dim: int = 128, window: int = 1024) -> ModelArch:
    n = n_full + n_sliding
    return ModelArch("hybrid-test", n, kv_heads * head_dim, kv_heads, kv_heads, head_dim, 4 * kv_heads * head_dim,
                     32000, sliding_window=window, swa_layers=tuple(range(n_full, n)))


def test_vllm_own_case_three_requests_of_16k():
    # vLLM's test: 32 full + 32 sliding layers (32 KV heads of 128, F16, window 1024), max_model_len 16,384,
    # max_num_batched_tokens 1,024: a request holds 1,024 full blocks + 129 window blocks, so (1024 + 129) * 3
    # blocks serve exactly 3 requests.
    layout = kv_layout(hybrid_arch(32, 32), F16, 16, 16384, 1024)
    assert layout.groups == ("full", "sliding") and layout.layers_per_group == 32 and layout.padding_layers == 0
    assert layout.blocks_per_request == 1024 + 129
    assert (1024 + 129) * 3 / layout.blocks_per_request == 3
    assert layout.page_bytes == 2 * 16 * 32 * 128 * F16  # K and V, 16 tokens, 32 heads of 128


def test_gemma3_27b_groups_of_ten_with_eight_padding_layers():
    layout = kv_layout(get_arch("gemma-3-27b"), F16, 16, 8192, 2048)
    # 10 global and 52 local layers: groups of 10, one full and six sliding; vLLM warns
    # "Add 8 padding layers, may waste at most 15.38% KV cache memory".
    assert layout.groups == ("full",) + ("sliding",) * 6 and layout.layers_per_group == 10
    sliding = len(get_arch("gemma-3-27b").swa_layers)
    assert layout.padding_layers == 8 and round(layout.padding_layers / sliding * 100, 2) == 15.38
    window_blocks = -(-(1024 - 1 + 2048) // 16) + 1
    assert layout.blocks_per_request == 8192 // 16 + 6 * window_blocks
    whole = kv_layout(get_arch("gemma-3-27b"), F16, 16, 8192, 2048, hybrid=False)
    assert whole.groups == ("full",) and whole.blocks_per_request == 8192 // 16
    # Per request the hybrid layout holds far less than every layer at full length.
    assert layout.blocks_per_request * layout.block_bytes < 0.6 * whole.blocks_per_request * whole.block_bytes


def test_group_size_rule_changed_between_versions():
    arch = hybrid_arch(13, 12)  # gpt-oss-20b with an EAGLE drafter, the example in vLLM 0.21.0's source
    newer = kv_layout(arch, F16, 16, 8192, 2048, group_size_rule=GROUP_SIZE_RULES[1])
    older = kv_layout(arch, F16, 16, 8192, 2048, group_size_rule="min")
    assert (newer.layers_per_group, newer.groups, newer.padding_layers) == (13, ("full", "sliding"), 1)
    assert (older.layers_per_group, older.groups, older.padding_layers) == (12, ("full", "full", "sliding"), 11)
    with pytest.raises(CourseError, match="group sizes"):
        kv_layout(arch, F16, 16, 8192, 2048, group_size_rule="max")


def test_window_larger_than_the_request_still_takes_one_block_more():
    # Gemma 2's window is 4,096: for 4,096-token requests a window group needs cdiv(4096, 16) + 1 blocks.
    layout = kv_layout(get_arch("gemma-2-9b"), F16, 16, 4096, 2048)
    assert layout.blocks_per_request == 256 * layout.groups.count("full") + 257 * layout.groups.count("sliding")


@pytest.mark.parametrize("version", ["0.21.0", "0.10.1.1"])
def test_reported_tokens_and_concurrency_follow_each_version(version):
    card = get_device(CARD_24GB)
    est = estimate("gemma-3-27b", "AWQ", 8192, engine="vllm", engine_version=version, device=card)
    s = est.engine_settings
    assert s["hybrid_kv_cache_manager"] is True and "6 sliding-window groups of 10 layers" in s["kv_cache_groups"]
    assert s["kv_blocks"] == est.kv_pool_bytes // (s["kv_bytes_per_request"] // s["kv_blocks_per_request"])
    assert est.max_concurrency_x == s["kv_blocks"] / s["kv_blocks_per_request"]
    if version == "0.21.0":  # "GPU KV cache size" = max concurrency x max_model_len
        assert est.kv_pool_tokens == int(est.max_concurrency_x * 8192)
    else:  # the blocks one of the 7 groups could use
        assert est.kv_pool_tokens == s["kv_blocks"] // 7 * 16
        assert est.kv_pool_tokens < est.max_concurrency_x * 8192  # why 0.21.0 changed what it prints


def test_hybrid_manager_holds_more_gemma3_conversations_than_full_length_layers():
    card = get_device(CARD_24GB)
    hybrid = estimate("gemma-3-27b", "AWQ", 8192, engine="vllm", device=card)
    whole = estimate("gemma-3-27b", "AWQ", 8192, engine="vllm", device=card, hybrid_kv_cache_manager=False)
    assert hybrid.kv_pool_bytes == whole.kv_pool_bytes  # the same pool, laid out differently
    assert hybrid.max_concurrency_x > 1.5 * whole.max_concurrency_x  # 2.54x against 1.33x at 8K
    assert "--disable-hybrid-kv-cache-manager" in whole.engine_settings["flags"]
    assert "--disable-hybrid-kv-cache-manager" not in hybrid.engine_settings["flags"]
    with pytest.raises(CourseError, match="reports its pool"):
        estimate("gemma-3-27b", "AWQ", 8192, engine="vllm", device=card, kv_tokens_report="bytes")


def test_fit_command_shows_the_groups_and_what_one_request_holds(capsys):
    from course_lib.cli import main

    argv = ["fit", "gemma-3-27b", "--quant", "AWQ", "--engine", "vllm", "--ctx", "8192", "--gpu", CARD_24GB]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "KV cache groups: hybrid: 1 full-attention + 6 sliding-window groups of 10 layers (8 padding)" in text
    assert "one request of 8,192 tokens holds 1,670 blocks" in text  # 512 + 6 x 193
    assert main(argv + ["--json"]) == 0
    import json

    data = json.loads(capsys.readouterr().out)
    assert data["engine_settings"]["kv_blocks_per_request"] == 1670
    assert data["kv_pool_tokens"] == int(data["max_concurrency_x"] * 8192)
