"""The engine profiles against llama.cpp itself, on this machine: KV cache exact, compute buffer within 1%.

Both of the course's models (Gemma 3 270M, a Gemma-family model with sliding
windows; SmolLM2 135M, a Llama-family model) are loaded through
llama-cpp-python (the low-level API, so slots and unified caches can be set)
and through llama.cpp's own server (the xllamacpp wheel), with flash attention
on and off, the sliding-window cache full and reduced, several contexts and
slot counts. What llama.cpp prints is the truth; the estimate must match it.
"""

from __future__ import annotations

import pytest

from course_lib.runtime import instruct_model_path, load_with_kv_report, measure_context_memory, measure_server_memory
from course_lib.runtime.llama_log import engine_buffers
from course_lib.sizing import estimate
from course_lib.units import MIB

PRINTED = 0.005 * MIB + 1  # llama.cpp prints MiB with two decimals (and the parser rounds to a byte)
# The compute buffer is the graph allocator's peak. For the course's model it is within 1% of the
# estimate in every setting. For SmolLM2 with several sequences in llama-cpp-python's settings the
# allocator sometimes keeps the attention mask and a hidden state alive into the logits stage
# (fragmentation): up to +4.3% measured. The second model checks the formula's form, at 5%.
COMPUTE_TOLERANCE = {"gemma": 0.01, "smollm2": 0.05}


@pytest.fixture(scope="module", params=["gemma", "smollm2"])
def model(request, gemma_path):
    return gemma_path if request.param == "gemma" else instruct_model_path()


def check(est, logged: dict, caches, label: str) -> None:
    """KV cache by cache (cells, layers, bytes to the printed MiB); compute within 1% (the course's model);
    output buffer to the printed MiB."""
    from course_lib.sizing import kv_caches

    s = est.engine_settings
    per_seq = s["cells_per_stream"] * s["streams"] // s["n_parallel"]
    predicted = kv_caches(est.arch, per_seq, s["n_parallel"], s["type_k"], s["type_v"], s["swa_full"],
                          est.n_ubatch, s["kv_unified"])
    assert [(c.kind, c.total_cells, c.layers) for c in caches] == [(c.kind, c.cells, c.layers) for c in predicted]
    for got, want in zip(caches, predicted):
        assert abs(want.total_bytes - got.size_bytes) <= PRINTED, label
    assert abs(est.kv_cache_bytes - logged["kv"]) <= PRINTED * len(caches), label
    error = est.compute_buffer_bytes / logged["compute"] - 1
    print(f"{label:<58} KV {logged['kv'] / MIB:8.2f} MiB  compute {logged['compute'] / MIB:8.2f} MiB logged, "
          f"{est.compute_buffer_bytes / MIB:8.2f} predicted ({error:+.2%})")
    tolerance = COMPUTE_TOLERANCE["smollm2" if "SmolLM2" in label else "gemma"]
    assert abs(error) < tolerance, f"{label}: compute buffer {error:+.2%}"
    assert abs(est.output_buffer_bytes - logged["output"]) <= PRINTED, label


# (context per sequence, sequences, flash attention, full-size SWA cache) with llama-cpp-python's settings
# otherwise: one row of logits per token of the micro-batch, a cache stream per sequence.
CONTEXTS = [(1000, 1, False, None), (4096, 1, True, None), (16384, 1, False, False), (16384, 1, True, False),
            (2048, 4, False, None), (2048, 4, True, False)]


@pytest.mark.parametrize("n_ctx, n_seq, fa, swa_full", CONTEXTS)
def test_llama_cpp_python_settings(model, n_ctx, n_seq, fa, swa_full):
    measured = measure_context_memory(model, n_ctx=n_ctx * n_seq, n_seq=n_seq, flash_attn=fa, swa_full=swa_full,
                                      n_batch=512)
    est = estimate(model, n_ctx=n_ctx, concurrency=n_seq, flash_attn=fa, swa_full=swa_full)
    check(est, measured["buffers"], measured["kv"].caches,
          f"{model.stem[:14]} llama-cpp-python {n_seq}x{n_ctx} fa={fa} swa_full={swa_full}")


def test_the_llama_class_itself(gemma_path):
    llm, report = load_with_kv_report(gemma_path, n_ctx=2048)
    llm.close()
    check(estimate(gemma_path, n_ctx=2048), engine_buffers(report.log), report.caches,
          "Gemma through Llama(n_ctx=2048)")


# llama-server: (-c, -np, flash attention, full-size SWA cache); None keeps the server's default.
SERVER = [(0, None, None, None), (4096, 1, None, None), (8192, 4, None, None), (8192, 2, "off", None),
          (4096, None, None, True)]


@pytest.mark.parametrize("n_ctx, parallel, fa, swa_full", SERVER)
def test_llama_server_settings(model, n_ctx, parallel, fa, swa_full):
    measured = measure_server_memory(model, n_ctx=n_ctx, parallel=parallel, flash_attn=fa, swa_full=swa_full)
    context = measured["context"]
    assert context["flash_attn"] == ("disabled" if fa == "off" else "enabled")  # auto resolves to on on a CPU
    total = int(context["n_ctx"])
    est = estimate(model, n_ctx=total if parallel is None else total // parallel, concurrency=parallel,
                   engine="llama-server", flash_attn=fa, swa_full=swa_full)
    assert int(context["n_outputs_max"]) == est.engine_settings["n_outputs_max"]
    assert (context["kv_unified"] == "true") == est.engine_settings["kv_unified"]
    check(est, measured["buffers"], measured["kv"].caches,
          f"{model.stem[:14]} llama-server -c {n_ctx} -np {parallel or 'auto'} fa={fa or 'auto'} swa_full={swa_full}")


def test_ollama_launch_flags_in_this_build(gemma_path):
    """Ollama 0.32.15 starts llama-server with -c num_ctx x np, -np 1, -b/-ub 512 and flash attention auto."""
    est = estimate(gemma_path, n_ctx=4096, engine="ollama")
    s = est.engine_settings
    measured = measure_server_memory(gemma_path, n_ctx=s["n_ctx"], parallel=s["n_parallel"], n_batch=s["n_batch"],
                                     n_ubatch=s["n_ubatch"], flash_attn=s["flash_attn_setting"])
    check(est, measured["buffers"], measured["kv"].caches, "Gemma with Ollama's flags (llama-server b11549)")


def test_without_flash_attention_the_scores_outgrow_the_logits(gemma_path):
    """At 65,536 tokens the course's model's attention scores (4 heads x context x 512 x 4 bytes) pass its logits."""
    measured = measure_context_memory(gemma_path, n_ctx=65536, flash_attn=False, swa_full=False, n_batch=512)
    est = estimate(gemma_path, n_ctx=65536, flash_attn=False, swa_full=False)
    check(est, measured["buffers"], measured["kv"].caches, "gemma-3-270m-q llama-cpp-python 1x65536 fa=False")
    with_fa = estimate(gemma_path, n_ctx=65536, flash_attn=True, swa_full=False)
    logits = 4 * 512 * (est.arch.vocab_size + 2 * est.arch.hidden_size)  # what is left with flash attention
    assert with_fa.compute_buffer_bytes == logits < est.compute_buffer_bytes
