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
    ],
)
def test_errors_are_one_line_exit_2(capsys, argv, match):
    code, out, err = run(capsys, *argv)
    assert code == 2 and match in err and len(err.strip().splitlines()) == 1
