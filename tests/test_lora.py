"""LoRA / QLoRA / full fine-tune memory math of notebook 07."""

import pytest

from course_lib.choose import (ADAMW_BYTES_PER_TRAINABLE, FULL_BYTES_PER_PARAM, activation_bytes, finetune_memory,
                               lora_params, matrix_shapes)
from course_lib.errors import CourseError
from course_lib.sizing import ModelArch, count_params, get_model


def test_llama3_8b_attention_rank16_is_the_published_13_6m():
    # q 4096->4096, k/v 4096->1024, o 4096->4096: 16 x (8192 + 5120 + 5120 + 8192) x 32 layers.
    assert lora_params(get_model("llama-3.1-8b"), r=16) == 16 * (8192 + 5120 + 5120 + 8192) * 32 == 13_631_488


def test_lora_params_scale_linearly_in_rank_and_add_over_targets():
    arch = get_model("qwen2.5-7b")
    assert lora_params(arch, 32) == 2 * lora_params(arch, 16)
    assert lora_params(arch, 8, "all") == lora_params(arch, 8, ("q", "k", "v", "o")) + lora_params(
        arch, 8, ("gate", "up", "down"))
    assert lora_params(arch, 8, "qv") == lora_params(arch, 8, "q") + lora_params(arch, 8, "v")


def test_moe_mlp_adapters_count_every_expert():
    arch = get_model("mixtral-8x7b")
    d_in, d_out = matrix_shapes(arch)["up"]
    assert lora_params(arch, 4, "up") == arch.n_layers * arch.n_experts * 4 * (d_in + d_out)


def test_methods_order_and_exact_parts():
    arch = get_model("llama-3.1-8b")
    full, lora, qlora = (finetune_memory(arch, m, seq_len=1024) for m in ("full", "lora", "qlora"))
    params = count_params(arch).text_total
    assert full.trainable_state_bytes + full.weights_bytes == params * FULL_BYTES_PER_PARAM
    assert lora.weights_bytes == 2 * params
    assert lora.trainable_state_bytes == lora_params(arch, 16) * ADAMW_BYTES_PER_TRAINABLE
    assert full.total_bytes > 5 * lora.total_bytes
    assert qlora.total_bytes < lora.total_bytes
    # NF4 stores the linear layers at ~4.127 bits: about a quarter of bf16 for them.
    assert 0.25 < qlora.weights_bytes / lora.weights_bytes < 0.40
    # QLoRA of an 8B model fits a 12 GB card, a bf16 LoRA does not, a full fine-tune needs ~128 GB.
    assert qlora.total_bytes < 12e9 < lora.total_bytes
    assert full.total_bytes > 100e9


def test_activations_grow_with_tokens_and_checkpointing_saves():
    arch = get_model("llama-3.1-8b")
    a1, a2 = activation_bytes(arch, 1024), activation_bytes(arch, 2048)
    assert a2 == 2 * a1
    assert activation_bytes(arch, 1024, checkpointing=False) > 5 * a1


def test_bad_inputs():
    arch = get_model("llama-3.1-8b")
    for call in (lambda: lora_params(arch, 0), lambda: lora_params(arch, 8, ("q", "lm_head")),
                 lambda: finetune_memory(arch, "dora"), lambda: activation_bytes(arch, 0),
                 lambda: lora_params(get_model("deepseek-v3"), 8)):
        with pytest.raises(CourseError):
            call()


def test_tiny_arch_by_hand():
    arch = ModelArch("tiny", n_layers=2, hidden_size=8, n_heads=2, n_kv_heads=1, head_dim=4,
                     intermediate_size=16, vocab_size=10)
    # q 8->8, v 8->4: r=2 x (16 + 12) per layer, 2 layers.
    assert lora_params(arch, 2, "qv") == 2 * 2 * (16 + 12)


def test_llama2_7b_qv_rank8_matches_the_widely_printed_peft_count():
    # PEFT's print_trainable_parameters for Llama 2 7B, r=8 on q_proj and v_proj: 4,194,304.
    assert lora_params(get_model("llama-2-7b"), 8, "qv") == 4_194_304
