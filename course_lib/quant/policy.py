"""Which type each tensor gets: llama.cpp's per-tensor quantization rule, in one place.

Derived in notebook 02 (quantization) and used by notebook 01's size
predictions. A preset such as "Q4_K_M" is not one type: llama.cpp's quantizer
(`llama_tensor_get_type_impl` in `src/llama-quant.cpp`) keeps 1-D tensors
(norms, biases) and the MoE router in F32, gives the output matrix (or a tied
token embedding) Q6_K unless the target is Q8_0, gives attn_v and ffn_down of
about a third of the layers more bits in the _M mixes, and falls back to a
32-value block type when a row does not divide into 256-value super-blocks
(`tensor_type_fallback`; Gemma 3 270M's 640-wide rows). `llm-course quantize`
and the size predictor both ask `tensor_type`, so a predicted file and a
requantized one agree tensor by tensor; tests/test_requantize.py checks the
rule against llama.cpp's own `llama_model_quantize` in the installed
llama-cpp-python (0.3.36), whose fallback for Q2_K and Q3_K is Q4_0 (older
llama.cpp releases fell back to IQ4_NL). An importance matrix changes one
choice: ffn_down of the first eighth of the layers goes from Q4_0/Q5_0 to
Q4_1/Q5_1. Not modelled: the 70B-only bump of attn_v to Q5_K, the IQ1-IQ3
mixes.

A single type (e.g. "Q4_K") is accepted where a preset is: llama.cpp's output
and fallback rules apply to it, without a mix.
"""

from __future__ import annotations

from dataclasses import dataclass

from course_lib.errors import CourseError

# Presets (llama.cpp's file types) -> the type of most 2-D weights.
GGUF_PRESETS = {
    "Q2_K": "Q2_K", "Q3_K_S": "Q3_K", "Q3_K_M": "Q3_K", "Q3_K_L": "Q3_K",
    "Q4_0": "Q4_0", "Q4_1": "Q4_1", "Q5_0": "Q5_0", "Q5_1": "Q5_1",
    "Q4_K_S": "Q4_K", "Q4_K_M": "Q4_K", "Q5_K_S": "Q5_K", "Q5_K_M": "Q5_K", "Q6_K": "Q6_K",
    "Q8_0": "Q8_0", "IQ4_NL": "IQ4_NL", "F16": "F16", "BF16": "BF16", "F32": "F32",
}
# Single types accepted beside the presets (each is its own base type, without a mix).
SINGLE_TYPES = ("Q4_K", "Q5_K", "Q3_K")
FLOAT_TYPES = ("F32", "F16", "BF16")
QK_K = 256  # values in a K-quant super-block
# llama.cpp's fallback when a row is not a whole number of super-blocks (src/llama-quant.cpp, tensor_type_fallback).
K_FALLBACK = {"Q2_K": "Q4_0", "Q3_K": "Q4_0", "Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0"}
BLOCK_32 = 32  # the fallbacks' block; a row that does not divide into it either is kept in F16


@dataclass(frozen=True)
class ModelShape:
    """What the rule needs to know about the model beyond one tensor's name and shape."""
    n_layers: int
    n_gqa: int = 1  # query heads per KV head
    n_experts: int = 0
    has_output: bool = True  # False when the output matrix is tied to the token embedding


def normalize_preset(preset: str) -> str:
    key = str(preset).strip().upper()
    if key not in GGUF_PRESETS and key not in SINGLE_TYPES:
        raise CourseError(f"unknown quantization preset or type {preset!r}; choose one of "
                          f"{', '.join([*GGUF_PRESETS, *SINGLE_TYPES])}")
    return key


def _use_more_bits(i: int, n: int) -> bool:
    # llama.cpp: the first and last eighth of the layers, and every third layer in between.
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def _layer(name: str) -> int:
    return int(name.split(".")[1]) if name.startswith("blk.") else 0


def tensor_type(name: str, shape: tuple[int, ...], preset: str, model: ModelShape, imatrix: bool = False) -> str:
    """The type llama.cpp's quantizer gives tensor `name` (GGUF shape: row length first) under `preset`.

    `imatrix`: whether an importance matrix is given (it changes a few choices).
    """
    preset = normalize_preset(preset)
    base = GGUF_PRESETS.get(preset, preset)
    if len(shape) == 1 or name.endswith(".bias") or "_norm" in name or "ffn_gate_inp" in name:
        return "F32"  # norms, biases and the router stay in full precision
    if base in FLOAT_TYPES:
        return base
    ne0, i, n_layer = shape[0], _layer(name), model.n_layers
    if name == "output.weight" or (name == "token_embd.weight" and not model.has_output):
        return "Q8_0" if ne0 % QK_K or base == "Q8_0" else "Q6_K"
    t = base
    if "attn_v.weight" in name:
        if preset == "Q2_K":
            t = "Q4_K" if model.n_gqa >= 4 else "Q3_K"
        elif preset == "Q3_K_M":
            t = "Q5_K" if i < 2 else "Q4_K"
        elif preset == "Q3_K_L":
            t = "Q5_K"
        elif preset in ("Q4_K_M", "Q5_K_M") and _use_more_bits(i, n_layer):
            t = "Q6_K"
        elif preset == "Q4_K_S" and i < 4:
            t = "Q5_K"
        elif preset == "IQ4_NL" and model.n_gqa >= 4:
            t = "Q5_K"
        if model.n_experts == 8:
            t = "Q8_0"
    elif "attn_qkv.weight" in name:
        t = {"Q3_K_M": "Q4_K", "Q3_K_L": "Q4_K", "Q4_K_M": "Q5_K", "Q5_K_M": "Q6_K"}.get(preset, t)
    elif "attn_k.weight" in name and model.n_experts == 8:
        t = "Q8_0"
    elif "ffn_down" in name:
        if preset == "Q2_K":
            t = "Q3_K"
        elif preset == "Q3_K_M":
            t = "Q5_K" if i < n_layer // 16 else "Q4_K"
        elif preset == "Q3_K_L":
            t = "Q5_K"
        elif preset in ("Q4_K_M", "Q5_K_M") and _use_more_bits(i, n_layer):
            t = "Q6_K"
        elif preset == "IQ4_NL" and i < n_layer // 8 and not imatrix:
            t = "Q5_K"
        elif preset == "Q4_K_S" and i < n_layer // 8:
            t = "Q5_K"
        elif preset in ("Q4_0", "Q5_0") and imatrix and i < n_layer // 8:
            t = {"Q4_0": "Q4_1", "Q5_0": "Q5_1"}[preset]  # llama.cpp guards the first ffn_down layers
    elif "attn_output.weight" in name:
        if model.n_experts == 8:
            if preset in ("Q2_K", "Q3_K_S", "Q3_K_M", "Q4_K_S", "Q4_K_M", "IQ4_NL"):
                t = "Q5_K"
        elif preset == "Q2_K":
            t = "Q3_K"
        elif preset == "Q3_K_M":
            t = "Q4_K"
        elif preset == "Q3_K_L":
            t = "Q5_K"
    if t in K_FALLBACK and ne0 % QK_K:
        t = K_FALLBACK[t]
    if t not in FLOAT_TYPES and ne0 % BLOCK_32:
        t = "F16"
    return t
