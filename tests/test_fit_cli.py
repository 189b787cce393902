"""`llm-course fit`: the JSON contract, the table, one-line errors with exit code 2."""

import json

import pytest

from course_lib.cli import main
from course_lib.sizing import estimate


def run(capsys, *argv):
    code = main(["fit", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_for_a_catalogue_model_and_device(capsys):
    code, out, _ = run(capsys, "llama-3.1-8b", "--ctx", "8192", "--gpu", "RTX 4090", "--json")
    data = json.loads(out)
    assert code == 0
    for key in ("params", "weights_bytes", "kv_bytes_per_token", "kv_cache_bytes", "overhead_bytes", "total_bytes",
                "fits", "max_context", "max_concurrency", "decode_tok_s_bound"):
        assert key in data
    est = estimate("llama-3.1-8b", n_ctx=8192)
    assert data["total_bytes"] == est.total_bytes and data["kv_bytes_per_token"] == 131072 and data["fits"] is True


def test_gguf_path_and_config_json(capsys, gemma_path, tmp_path):
    code, out, _ = run(capsys, str(gemma_path), "--json", "--vram-gb", "1")
    assert code == 0 and json.loads(out)["weights_bytes"] == 246_587_904
    from course_lib.sizing import model_row

    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(model_row("qwen2.5-7b")["config"]))
    code, out, _ = run(capsys, str(cfg), "--json")
    assert code == 0 and json.loads(out)["params"] == estimate("qwen2.5-7b").params


def test_table_labels_gb_and_gib(capsys):
    code, out, _ = run(capsys, "gemma-3-1b", "--gpu", "Apple M1 8GB")
    assert code == 0 and "GiB" in out and "GB" in out and "verdict: FITS" in out and "tokens/s" in out


@pytest.mark.parametrize("engine", ["llama-cpp-python", "llama-server", "ollama", "vllm"])
def test_json_names_the_engine_and_every_setting(capsys, engine):
    quant = "AWQ" if engine == "vllm" else "Q4_K_M"
    code, out, _ = run(capsys, "llama-3.1-8b", "--quant", quant, "--engine", engine, "--ctx", "8192", "--gpu",
                       "RTX 4090", "--json")
    data = json.loads(out)
    assert code == 0 and data["engine"] == engine and data["engine_version"]
    assert data["compute_buffer_bytes"] > 0 and "flags" in data["engine_settings"]
    vllm_keys = {"kv_pool_bytes", "kv_pool_tokens", "max_concurrency_x"}
    if engine == "vllm":
        assert vllm_keys <= set(data) and data["engine_settings"]["gpu_memory_utilization"] == 0.92
        assert data["max_concurrency_x"] == pytest.approx(data["kv_pool_tokens"] / 8192)
    else:
        assert not vllm_keys & set(data)
        assert {"flash_attn", "swa_full", "n_parallel", "kv_unified", "n_ubatch"} <= set(data["engine_settings"])


def test_the_text_names_the_engine_and_its_settings_on_one_line(capsys):
    code, out, _ = run(capsys, "gemma-3-27b", "--engine", "llama-server", "--gpu", "RTX 4090")
    line = next(x for x in out.splitlines() if "engine:" in x)
    assert code == 0 and "llama-server b11549" in line and "-fa auto" in line and "-np 4" in line
    # llama-server's own default context: the trained one, shrunk by --fit to leave 1 GiB free
    assert "4 slots sharing" in out and "verdict: FITS" in out


def test_engine_defaults_and_overrides(capsys):
    _, out, _ = run(capsys, "llama-3.1-8b", "--engine", "vllm", "--gpu", "H100 80GB", "--quant", "FP8",
                    "--gpu-memory-utilization", "0.5", "--json")
    half = json.loads(out)
    _, out, _ = run(capsys, "llama-3.1-8b", "--engine", "vllm", "--gpu", "H100 80GB", "--quant", "FP8", "--json")
    default = json.loads(out)
    assert half["kv_pool_bytes"] < default["kv_pool_bytes"] and half["n_ctx"] == default["n_ctx"] == 131072
    _, out, _ = run(capsys, "llama-3.1-8b", "--engine", "ollama", "--gpu", "RTX 4090", "--json")
    assert json.loads(out)["n_ctx"] == 32768  # Ollama's default context on a 24 GiB card


@pytest.mark.parametrize(
    "argv,match",
    [
        (["no-such-model"], "unknown model"),
        (["llama-3.1-8b", "--quant", "Q7"], "quantization"),
        (["llama-3.1-8b", "--ctx", "-5"], "--ctx"),
        (["llama-3.1-8b", "--concurrency", "0"], "--concurrency"),
        (["llama-3.1-8b", "--vram-gb", "0"], "--vram-gb"),
        (["llama-3.1-8b", "--gpu", "Voodoo"], "unknown device"),
        (["llama-3.1-8b", "--kv-type", "q9"], "KV cache type"),
        (["llama-3.1-8b", "--engine", "sglang"], "invalid choice"),
        (["llama-3.1-8b", "--engine", "ollama", "--engine-version", "9.9"], "no profile of ollama 9.9"),
        (["llama-3.1-8b", "--engine", "ollama", "--gpu-memory-utilization", "0.5"], "no --gpu-memory-utilization"),
        (["llama-3.1-8b", "--engine", "llama-server", "--kv-type", "q8_0", "--flash-attn", "off"],
         "only with flash attention on"),
        (["llama-3.1-8b", "--engine", "vllm", "--gpu", "T4", "--gpu-memory-utilization", "1.5"], r"in \(0, 1\]"),
        (["llama-3.1-8b", "--engine", "vllm", "--gpu", "T4", "--gpu-memory-utilization", "0"], r"in \(0, 1\]"),
        (["llama-3.1-8b", "--engine", "vllm"], "name a device"),
        (["llama-3.1-8b", "--engine", "vllm", "--gpu", "T4", "--flash-attn", "on"], "no --flash-attn"),
        (["llama-3.1-8b", "--engine", "vllm", "--gpu", "T4", "--quant", "Q4_K_M"], "checkpoints"),
    ],
)
def test_errors_are_one_line_exit_2(capsys, argv, match):
    import re

    if "invalid choice" in match:  # argparse's own error exits through SystemExit(2)
        with pytest.raises(SystemExit) as exit_:
            run(capsys, *argv)
        code, err = exit_.value.code, capsys.readouterr().err
    else:
        code, _, err = run(capsys, *argv)
    assert code == 2 and re.search(match, err) and len(err.strip().splitlines()) == 1
