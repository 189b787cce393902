"""The engine decision tree and the GPU ranking of notebook 07."""

import pytest

from course_lib.choose import ENGINES, GOALS, HARDWARE, Situation, decide, leaves, rank_devices, tree_text
from course_lib.errors import CourseError


@pytest.mark.parametrize("answers, engine", [
    (dict(hardware="cpu", concurrency=1), "ollama"),  # one user on a laptop (the exercise's rule too)
    (dict(hardware="nvidia", concurrency=20), "vllm"),
    (dict(hardware="cpu", concurrency=4), "llama-server"),
    (dict(hardware="nvidia", concurrency=4), "llama-server"),
    (dict(hardware="apple", concurrency=50), "llama-server"),  # vLLM is GPU-centric
    (dict(hardware="nvidia", concurrency=50, model_format="gguf"), "llama-server"),
    (dict(hardware="nvidia", goal="batch"), "vllm"),  # a batch job is many requests even from one client
    (dict(hardware="nvidia", concurrency=50, multi_node=True), "ray-serve+vllm"),
    (dict(hardware="amd", concurrency=50, hf_stack=True), "tgi"),
    (dict(hardware="mobile"), "mlc-llm"),
    (dict(hardware="browser", concurrency=100), "mlc-llm"),
    (dict(hardware="apple", model_format="mlx"), "mlx-lm"),
    (dict(hardware="nvidia", model_format="awq"), "vllm"),
    (dict(hardware="cpu", bare_metal=True), "llama.cpp"),
    (dict(goal="fine-tune", hardware="nvidia"), "peft"),
])
def test_decisions(answers, engine):
    d = decide(**answers)
    assert d.engine == engine
    assert d.path and d.reason and d.description == ENGINES[engine]
    assert d.engine in d.explain()


def test_path_records_each_answer():
    d = decide(hardware="nvidia", concurrency=20)
    assert d.path[0] == "What is your goal? -> chat"
    assert "Which hardware serves them? -> True" in d.path


def test_situation_and_keywords_agree():
    assert decide(Situation(hardware="nvidia", concurrency=9)) == decide(hardware="nvidia", concurrency=9)
    with pytest.raises(CourseError):
        decide(Situation(), hardware="cpu")


def test_every_leaf_names_a_known_engine_and_every_engine_is_reachable():
    engines = {leaf.engine for leaf in leaves()}
    assert engines == set(ENGINES)
    text = tree_text()
    assert all(f"=> {e}" in text for e in engines)


@pytest.mark.parametrize("bad", [dict(goal="gaming"), dict(hardware="tpu"), dict(model_format="onnx"),
                                 dict(concurrency=0), dict(concurrency=-3)])
def test_bad_answers_are_one_line_errors(bad):
    with pytest.raises(CourseError) as err:
        decide(**bad)
    assert "\n" not in str(err.value)


def test_every_goal_and_hardware_has_an_answer():
    for goal in GOALS:
        for hw in HARDWARE:
            for conc in (1, 3, 64):
                assert decide(goal=goal, hardware=hw, concurrency=conc).engine in ENGINES


def test_rank_devices_capacity_first_then_bandwidth():
    rows = rank_devices("llama-3.1-70b", quant="Q4_K_M", n_ctx=8192)
    fitting = [r for r in rows if r.fits]
    assert fitting and len(fitting) < len(rows)  # a 70B model at 4 bits fits only the big cards
    first_misfit = rows.index(next(r for r in rows if not r.fits))
    assert all(r.fits for r in rows[:first_misfit])
    bws = [r.bandwidth_bytes_per_s for r in fitting]
    assert bws == sorted(bws, reverse=True)
    # Bandwidth orders the cards that fit: the 80 GB A100 (2 TB/s) ranks above the 24 GB RTX 4090 (1 TB/s).
    names = [r.device for r in rows]
    assert names.index("A100 80GB") < names.index("RTX 4090")
    assert all(r.decode_tok_s_bound == 0 for r in rows if not r.fits)


def test_rank_devices_decode_bound_is_bandwidth_over_bytes():
    from course_lib.sizing import estimate, get_device

    row = next(r for r in rank_devices("llama-3.1-8b", n_ctx=4096) if r.device == "RTX 4090")
    est = estimate("llama-3.1-8b", "Q4_K_M", 4096)
    assert row.fits
    assert row.decode_tok_s_bound == pytest.approx(
        get_device("RTX 4090").bandwidth_bytes_per_s / (est.active_weights_bytes + est.kv_cache_bytes))


def test_rank_devices_unknown_kind():
    with pytest.raises(CourseError):
        rank_devices("llama-3.1-8b", kind="tpu")


def test_gpu_chooser_widget_verdicts():
    from course_lib.widgets import gpu_chooser_widget

    w = gpu_chooser_widget()
    engine, model, quant, ctx, conc, verdict, table = w.children
    assert "llm-course-verdict" in verdict._dom_classes
    assert model.description == "Model:" and ctx.description == "Context (tokens):"
    assert "GPUs fit" in verdict.value  # the default 8B model fits some card
    model.value = "deepseek-v3"
    assert "no single GPU in the catalogue fits" in verdict.value
    model.value = "llama-3.1-70b"
    fitting = [r.device for r in rank_devices("llama-3.1-70b", "Q4_K_M", ctx.value, conc.value) if r.fits]
    assert f"{len(fitting)} of" in verdict.value and f"<b>{fitting[0]}</b>" in verdict.value
    assert table.value.count("<tr>") == len(rank_devices("llama-3.1-70b")) + 1
    engine.value = "vllm"  # checkpoints, not GGUF: the formats follow the engine
    assert quant.value == "BF16" and "Q4_K_M" not in quant.options and "Assumes vllm" in verdict.value
    assert "no single GPU in the catalogue fits" in verdict.value  # 70B in 16 bits: 141 GB
    quant.value = "AWQ"
    fitting = [r.device for r in rank_devices("llama-3.1-70b", "AWQ", ctx.value, conc.value, engine="vllm") if r.fits]
    assert fitting and f"{len(fitting)} of" in verdict.value
