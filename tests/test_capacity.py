"""The class capacity plan (course_lib.choose.capacity), `llm-course class plan` and its widget.

The plan checked here against the course's own math; tests/browser/test_hub_class.py checks
its prediction for three learners against a measured run of a real shared server.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib.choose import (INTERACTIVE_TOK_S, JUPYTER_SERVER_BYTES, ClassLoad, buy_or_rent, calibrated_device,
                               class_device, class_latency, gpu_prices, learner_resources, plan_class)
from course_lib.errors import CourseError
from course_lib.sizing import count_params, estimate, get_device, list_devices, max_concurrency
from course_lib.units import MIB

ROOT = Path(__file__).resolve().parents[1]
PEAKS = ROOT / "course_lib" / "data" / "notebook_peaks.json"


def llm_course(*args):
    return subprocess.run([sys.executable, "-m", "course_lib.cli", *args], capture_output=True, text=True,
                          timeout=300)


def test_learner_resources_come_from_the_measured_peaks():
    data = json.loads(PEAKS.read_text())
    ok = [row for row in data["notebooks"] if row["status"] == "ok"]
    assert len(ok) >= 8, "measure the teaching notebooks and the solutions: tools/measure_notebooks.py --json"
    r = learner_resources()
    heaviest = max(row["peak_bytes"] for row in ok)
    median = sorted(row["peak_bytes"] for row in ok)[len(ok) // 2]
    assert heaviest + JUPYTER_SERVER_BYTES <= r.mem_limit_bytes < heaviest + JUPYTER_SERVER_BYTES + 64 * MIB
    assert median + JUPYTER_SERVER_BYTES <= r.mem_guarantee_bytes < median + JUPYTER_SERVER_BYTES + 64 * MIB
    assert r.mem_limit_bytes % (64 * MIB) == 0 and r.mem_guarantee_bytes < r.mem_limit_bytes
    busy = statistics.median(row["cpu_seconds"] / row["seconds"] for row in ok)
    assert busy <= r.cpu_guarantee < busy + 0.1 + 1e-9
    assert r.cpu_limit == data["measured"]["usable_cores"]
    # Every notebook fits the Binder budget the course is sized for, so a learner's limit stays under 2 GB.
    assert r.mem_limit_bytes < 2e9


def test_the_course_model_for_thirty_learners_on_one_rtx_4090():
    load = ClassLoad(30)
    plan = plan_class("RTX 4090", "gemma-3-270m", None, 4096, "llama-server", load)
    assert plan.servers == 1 and plan.one_server and plan.latency.slots == 30
    # The memory is notebook 01's estimate for llama-server with 30 slots of 4,096 tokens on this card.
    same = estimate("gemma-3-270m", None, 4096, concurrency=30, engine="llama-server", device="RTX 4090")
    assert plan.estimate.total_bytes == same.total_bytes and plan.estimate.concurrency == 30
    assert plan.max_slots == max_concurrency(estimate("gemma-3-270m", None, 4096, concurrency=1,
                                                      engine="llama-server", device="RTX 4090"), "RTX 4090")
    assert plan.kernels_ram_bytes == 30 * learner_resources().mem_limit_bytes
    verdict = plan.verdict()
    assert verdict.startswith("30 learners, 30 at once: one RTX 4090 (llama-server, gemma-3-270m in Q4_K_M")
    assert f"{plan.latency.answer_max_s:.2f} s" in verdict or f"{plan.latency.answer_max_s:.1f} s" in verdict
    assert "within the 20 s to read" in verdict


def test_batching_shares_a_step_and_serving_one_at_a_time_queues():
    est = estimate("llama-3.1-8b", "Q4_K_M", 4096, concurrency=8, engine="llama-server", device="RTX 4090")
    gpu = get_device("RTX 4090")
    one = class_latency(est, gpu, 1, 1, "continuous")
    batched = class_latency(est, gpu, 8, 8, "continuous")
    serial = class_latency(est, gpu, 8, 1, "serial")
    # A GPU step reads the weights once for the whole batch: eight together cost far less than eight in a row.
    assert batched.answer_max_s < 2 * one.answer_max_s < serial.answer_max_s
    assert serial.answer_max_s == pytest.approx(8 * one.answer_max_s, rel=0.05)
    assert serial.ttft_max_s > 6 * one.answer_max_s  # the last one waits for the seven before it
    assert batched.aggregate_tok_s > 4 * one.aggregate_tok_s


def test_more_learners_than_slots_need_more_servers_or_wait():
    load = ClassLoad(300)
    plan = plan_class("RTX 4090", "llama-3.1-8b", "Q4_K_M", 4096, "llama-server", load, with_options=False)
    assert plan.max_slots < 300 and plan.latency.slots == min(plan.latency.learners, plan.max_slots)
    assert plan.latency.learners * plan.servers >= 300
    # The search is minimal: one server fewer leaves some learner slower than reading speed.
    if plan.servers > 1:
        fewer = math.ceil(300 / (plan.servers - 1))
        slower = class_latency(plan.estimate, plan.device, fewer, min(fewer, plan.max_slots), "continuous")
        assert not slower.comfortable
    assert plan.latency.comfortable == (plan.latency.slowest_tok_s >= INTERACTIVE_TOK_S)


def test_the_alternatives_are_minimal_and_cheapest_first():
    load = ClassLoad(120, 0.5)
    options = buy_or_rent("llama-3.1-8b", "Q4_K_M", 4096, "llama-server", load)
    assert options, "some catalogue GPU carries 60 learners at once"
    priced = [o.rent_usd_per_hour for o in options if o.rent_usd_per_hour is not None]
    assert priced == sorted(priced)
    for o in options:
        assert o.latency.comfortable and o.servers * o.latency.learners >= load.active
        price = gpu_prices().get(o.device)
        if price and price["rent_usd_per_hour"]:
            assert o.rent_usd_per_hour == pytest.approx(o.servers * price["rent_usd_per_hour"])
    listed = {o.device for o in options}
    assert listed <= {d.name for d in list_devices() if d.kind == "gpu"}


def test_a_model_that_does_not_fit_says_so():
    plan = plan_class("RTX 3060 12GB", "llama-3.1-70b", "Q8_0", 4096, "llama-server", ClassLoad(10),
                      with_options=False)
    assert plan.max_slots == 0 and plan.latency is None and plan.servers == 0
    assert "does not fit one RTX 3060 12GB" in plan.verdict()


def test_a_calibrated_machine_reproduces_its_measured_step():
    est = estimate("gemma-3-270m", None, 1024, concurrency=1, engine="llama-server")
    slow = calibrated_device(est, 0.025, 25e9, 24 * 2**30)  # slower than reading the weights: arithmetic-bound
    assert slow.fp16_flops == pytest.approx(2 * count_params(est.arch).active / 0.025)
    fast = calibrated_device(est, 0.005, 25e9, 24 * 2**30)  # faster: the engine reads less than the bound says
    assert fast.fp16_flops is None and fast.bandwidth_bytes_per_s == pytest.approx(est.active_weights_bytes / 0.005)
    for device, step in ((slow, 0.025), (fast, 0.005)):
        one = class_latency(est, device, 1, 1, "continuous", prompt_tokens=1, output_tokens=101)
        assert (one.answer_max_s - one.ttft_max_s) / 100 == pytest.approx(step, rel=0.01)
    # Arithmetic-bound: three sequences take three times the step; bandwidth-bound: about one.
    three = class_latency(est, slow, 3, 3, "continuous", prompt_tokens=1, output_tokens=101)
    assert (three.answer_max_s - three.ttft_max_s) / 100 == pytest.approx(3 * 0.025, rel=0.01)


@pytest.mark.parametrize("make", [
    lambda: ClassLoad(0),
    lambda: ClassLoad(30, 0),
    lambda: ClassLoad(30, 1.5),
    lambda: class_device(None, memory_gb=24),
    lambda: class_device(None, memory_gb=-1, bandwidth_gb_s=100),
    lambda: plan_class("RTX 4090", "llama-3.1-8b", "Q4_K_M", 4096, "llama-server", ClassLoad(5), efficiency=0),
    lambda: plan_class("RTX 4090", "llama-3.1-8b", "Q4_K_M", 4096, "vllm", ClassLoad(5)),
])
def test_bad_input_is_one_course_error(make):
    with pytest.raises(CourseError):
        make()


def test_plan_command_prints_the_plan_and_its_json():
    result = llm_course("class", "plan", "--learners", "30", "--gpu", "RTX 4090")
    assert result.returncode == 0, result.stderr
    assert "Verdict: 30 learners, 30 at once: one RTX 4090 (llama-server" in result.stdout
    assert "llama-server -c 122880 -np 30" in result.stdout  # 30 slots of 4,096 tokens
    result = llm_course("class", "plan", "--learners", "300", "--active", "0.1", "--memory-gb", "24",
                        "--bandwidth-gb-s", "1008", "--model", "llama-3.1-8b", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["active"] == 30 and plan["latency"]["learners"] * plan["servers"] >= 30
    assert plan["device"] == "24 GB, 1008 GB/s gpu"


@pytest.mark.parametrize("args,message", [
    (["--learners", "0", "--gpu", "RTX 4090"], "learners must be greater than zero"),
    (["--learners", "30", "--gpu", "RTX 9999"], "unknown device"),
    (["--learners", "30", "--active", "2", "--gpu", "T4"], "active share must be in (0, 1]"),
    (["--learners", "30"], "name a device from the catalogue"),
    (["--learners", "30", "--gpu", "T4", "--engine", "vllm", "--quant", "Q4_K_M"], "vLLM serves"),
])
def test_plan_command_bad_input_is_one_line_and_exit_2(args, message):
    result = llm_course("class", "plan", *args)
    assert result.returncode == 2, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("llm-course class: error:") and message in lines[0], lines


def test_widget_redraws_names_its_settings_and_follows_the_engine():
    from course_lib.widgets import class_plan_widget

    box = class_plan_widget()
    controls = {c.description: c for c in box.children if getattr(c, "description", "")}
    verdict = next(c for c in box.children if "llm-course-verdict" in c._dom_classes)
    before = verdict.value
    assert before.startswith("30 learners, 30 at once") and "Assumes llama-server b11549: llama-server -c" in before
    controls["Learners:"].value = 300
    assert verdict.value.startswith("300 learners, 300 at once") and verdict.value != before
    controls["Engine:"].value = "vllm"  # vLLM loads checkpoints, not GGUF presets: the formats follow the engine
    assert controls["Quantization:"].value == "BF16"
    assert verdict.value.startswith("300 learners") and "(vllm, llama-3.1-8b in BF16" in verdict.value
    assert "Assumes vllm " in verdict.value
    controls["Model:"].value = "deepseek-v3"  # no catalogue GPU holds it: said, not drawn
    assert "does not fit one RTX 4090" in verdict.value


def test_a_short_wait_is_never_printed_as_zero():
    from course_lib.choose.capacity import seconds

    assert [seconds(s) for s in (0.0004, 0.003, 0.04, 1.8, 16)] == ["0.4 ms", "3 ms", "0.04 s", "1.8 s", "16 s"]
