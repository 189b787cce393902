"""One search for "how far can I go?": its boundaries, and every calculator agreeing on the same inputs."""

from __future__ import annotations

import json
import re

import matplotlib
import pytest

from course_lib.sizing import (LLAMA_CPP_CTX_PAD, budget_bytes, estimate, fit_answer, max_concurrency, max_context,
                               resize, solve_budget)

matplotlib.use("Agg")

CASES = [  # model, quant, context, sequences, KV type, device
    ("llama-3.1-8b", "Q4_K_M", 8192, 1, "f16", "RTX 4090"),
    ("gemma-3-27b", "Q4_K_M", 8192, 1, "f16", "RTX 4090"),
    ("qwen2.5-7b", "Q8_0", 4096, 4, "q8_0", "RTX 4070"),
    ("llama-3.1-70b", "Q4_K_M", 4096, 1, "f16", "H100 80GB"),
]


@pytest.mark.parametrize("model, quant, ctx, seqs, kv, device", CASES)
def test_the_limits_are_boundaries(model, quant, ctx, seqs, kv, device):
    est = estimate(model, quant, ctx, seqs, kv)
    budget = budget_bytes(device)
    best_ctx, best_seq = max_context(est, device), max_concurrency(est, device)
    trained = est.arch.max_context
    if best_ctx:
        assert resize(est, n_ctx=best_ctx).total_bytes <= budget
    if best_ctx < trained:  # one more step of context no longer fits
        assert resize(est, n_ctx=best_ctx + LLAMA_CPP_CTX_PAD).total_bytes > budget
    else:
        assert best_ctx == trained
    if best_seq:
        assert resize(est, concurrency=best_seq).total_bytes <= budget
    assert resize(est, concurrency=best_seq + 1).total_bytes > budget


def controls_of(box):
    return {c.description: c for c in box.children if getattr(c, "description", "")}


def verdict_of(box) -> str:
    return next(c for c in box.children if "llm-course-verdict" in c._dom_classes).value


def numbers_after(label: str, text: str) -> int:
    match = re.search(label + r"[^0-9]*([\d,]+)", text)
    assert match, f"{label!r} not in {text!r}"
    return int(match.group(1).replace(",", ""))


AGREEMENT = [c + (engine,) for c in CASES if c[1] == "Q4_K_M" for engine in ("llama-cpp-python", "llama-server",
                                                                               "ollama")]
AGREEMENT += [("llama-3.1-8b", "AWQ", 8192, 1, "auto", "RTX 4090", "vllm"),
              ("gemma-3-27b", "AWQ", 8192, 1, "fp8", "H100 80GB", "vllm")]


@pytest.mark.parametrize("model, quant, ctx, seqs, kv, device, engine", AGREEMENT)
def test_every_calculator_gives_the_same_answer(model, quant, ctx, seqs, kv, device, engine, capsys):
    """Will it fit?, the KV-cache explorer, `llm-course fit`, the GPU chooser and the 24 GB solver, side by side,
    for the same engine."""
    from course_lib.choose import rank_devices
    from course_lib.cli import main
    from course_lib.widgets import fit_widget, kv_widget

    on = device if engine == "vllm" else None
    expected = fit_answer(estimate(model, quant, ctx, seqs, kv, engine=engine, device=on), device)

    fit_box = fit_widget()
    controls = controls_of(fit_box)
    controls["Engine:"].value = engine
    controls["Model:"].value, controls["Quantization:"].value = model, quant
    controls["Context (tokens):"].value, controls["Concurrent sequences:"].value = ctx, seqs
    controls["KV cache type:"].value, controls["Device:"].value = kv, device
    fit_text = verdict_of(fit_box)

    kv_box = kv_widget()
    controls = controls_of(kv_box)
    controls["Engine:"].value = engine
    controls["Model:"].value, controls["Context (tokens):"].value = model, ctx
    controls["Concurrent sequences:"].value, controls["KV cache type:"].value = seqs, kv
    controls["GPU / device:"].label = device
    kv_text = verdict_of(kv_box)

    capsys.readouterr()  # what the widgets drew
    assert main(["fit", model, "--quant", quant, "--ctx", str(ctx), "--concurrency", str(seqs), "--kv-type", kv,
                 "--gpu", device, "--engine", engine, "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert cli["engine"] == engine and cli["engine_settings"]["flags"] in fit_text and cli["engine_settings"]["flags"] \
        in kv_text  # every panel names the settings it assumes

    chooser = next(r for r in rank_devices(model, quant, ctx, seqs, kv, engine=engine) if r.device == device)

    answers = {
        "Will it fit?": (numbers_after("Largest context", fit_text), numbers_after("most sequences at [\\d,]+ tokens",
                                                                                 fit_text)),
        "KV-cache explorer": (numbers_after(r"Largest context.*?sequence\(s\):", kv_text),
                              numbers_after("Most sequences</b> at [\\d,]+ tokens", kv_text)),
        "llm-course fit": (cli["max_context"], cli["max_concurrency"]),
    }
    assert all(a == (expected.max_context, expected.max_concurrency) for a in answers.values()), answers
    assert chooser.fits == expected.fits == cli["fits"] == ("FITS" in fit_text and "DOES NOT" not in fit_text)
    assert ("does not fit" not in kv_text) == expected.fits

    solved = {(r["model"], r["quant"]): r for r in solve_budget(device, models=[model], quants=[quant], n_ctx=ctx,
                                                                kv_type=kv, engine=engine)}
    if (model, quant) in solved and seqs == 1:
        row = solved[(model, quant)]
        assert (row["max_context"], row[f"max_concurrency_at_{ctx}"]) == (expected.max_context,
                                                                           expected.max_concurrency)


def test_the_issue_that_started_it():
    """Llama 3.1 8B Q4_K_M on an RTX 4090 once read 90,624 tokens in one panel and 131,072 in the other."""
    answer = fit_answer(estimate("llama-3.1-8b", "Q4_K_M", 8192), "RTX 4090")
    assert answer.max_context < 131072  # llama-cpp-python's defaults: the compute buffer grows with the context
