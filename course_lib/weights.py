"""How many bytes a model's weights take for a quantization type or preset.

Derived in notebook 01 (memory math). A GGUF type stores blocks of values with
their scales, so its bits per weight is 8 x block bytes / block values (read
from `gguf.GGML_QUANT_SIZES`, the table ggml itself uses). A preset such as
"Q4_K_M" is not one type: llama.cpp's quantizer (`llama_tensor_get_type`)
gives some tensors more bits (the output matrix Q6_K, attn_v and ffn_down of
about a third of the layers Q6_K), keeps norms in F32, and falls back to a
non-K type when a row does not divide into 256-value super-blocks (Gemma 3
270M's 640-wide rows). `gguf_tensors` lays out the tensors a GGUF of the
architecture holds and `preset_tensor_type` repeats that rule, so the
predicted file size lands on the real one.
"""

from __future__ import annotations

from dataclasses import dataclass

from course_lib.architecture import ModelArch
from course_lib.errors import CourseError
from course_lib.gguf_inspect import tensor_bytes, type_size

# Presets: (default type of 2-D weights, llama.cpp's name for the rule set).
GGUF_PRESETS = {
    "Q2_K": "Q2_K", "Q3_K_S": "Q3_K", "Q3_K_M": "Q3_K", "Q3_K_L": "Q3_K",
    "Q4_0": "Q4_0", "Q4_1": "Q4_1", "Q5_0": "Q5_0", "Q5_1": "Q5_1",
    "Q4_K_S": "Q4_K", "Q4_K_M": "Q4_K", "Q5_K_S": "Q5_K", "Q5_K_M": "Q5_K", "Q6_K": "Q6_K",
    "Q8_0": "Q8_0", "F16": "F16", "BF16": "BF16", "F32": "F32",
}
# GPU formats: 4-bit integers with one FP16 scale and one 4-bit zero point per group of 128 (AWQ, GPTQ),
# and FP8 (E4M3) with a per-tensor scale. Their non-quantized parts (embedding, norms, lm_head) stay 16-bit.
GPU_FORMATS = {"AWQ": 4 + (16 + 4) / 128, "GPTQ": 4 + (16 + 4) / 128, "FP8": 8.0}
QK_K = 256  # values in a K-quant super-block
_K_FALLBACK = {"Q2_K": "IQ4_NL", "Q3_K": "IQ4_NL", "Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0"}


def bits_per_weight(type_name: str) -> float:
    """Bits per weight of one GGUF type (block layout) or GPU format."""
    key = str(type_name).upper()
    if key in GPU_FORMATS:
        return GPU_FORMATS[key]
    block, nbytes = type_size(key)
    return 8 * nbytes / block


def list_quants() -> list[str]:
    return list(GGUF_PRESETS) + list(GPU_FORMATS)


def normalize_quant(quant: str) -> str:
    key = str(quant).strip().upper()
    if key not in GGUF_PRESETS and key not in GPU_FORMATS:
        raise CourseError(f"unknown quantization type {quant!r}; choose one of {', '.join(list_quants())}")
    return key


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: tuple[int, ...]  # GGUF order: row length first
    layer: int | None = None

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


def gguf_tensors(arch: ModelArch) -> list[Tensor]:
    """The tensors llama.cpp's converter writes for this architecture (names and shapes as in a GGUF)."""
    extra = arch.extra or {}
    h, V = arch.hidden_size, arch.vocab_size
    q_out, kv_k, kv_v = arch.n_heads * arch.head_dim, arch.n_kv_heads * arch.head_dim, arch.n_kv_heads * arch.v_head_dim
    out = [Tensor("token_embd.weight", (h, V))]
    for i in range(arch.n_layers):
        b = f"blk.{i}."
        t = [Tensor(b + "attn_norm.weight", (h,), i), Tensor(b + "ffn_norm.weight", (h,), i)]
        if extra.get("norms_per_layer", 2) == 4:
            t += [Tensor(b + "post_attention_norm.weight", (h,), i), Tensor(b + "post_ffw_norm.weight", (h,), i)]
        if arch.uses_mla:
            qd = arch.n_heads * (arch.qk_nope_head_dim + arch.qk_rope_head_dim)
            if arch.q_lora_rank:
                t += [Tensor(b + "attn_q_a.weight", (h, arch.q_lora_rank), i),
                      Tensor(b + "attn_q_a_norm.weight", (arch.q_lora_rank,), i),
                      Tensor(b + "attn_q_b.weight", (arch.q_lora_rank, qd), i)]
            else:
                t.append(Tensor(b + "attn_q.weight", (h, qd), i))
            t += [Tensor(b + "attn_kv_a_mqa.weight", (h, arch.kv_lora_rank + arch.qk_rope_head_dim), i),
                  Tensor(b + "attn_kv_a_norm.weight", (arch.kv_lora_rank,), i),
                  Tensor(b + "attn_kv_b.weight", (arch.kv_lora_rank, arch.n_heads * (arch.qk_nope_head_dim + arch.v_head_dim)), i),
                  Tensor(b + "attn_output.weight", (arch.n_heads * arch.v_head_dim, h), i)]
        elif extra.get("fused_qkv"):
            t += [Tensor(b + "attn_qkv.weight", (h, q_out + kv_k + kv_v), i),
                  Tensor(b + "attn_output.weight", (arch.n_heads * arch.v_head_dim, h), i)]
        else:
            t += [Tensor(b + "attn_q.weight", (h, q_out), i), Tensor(b + "attn_k.weight", (h, kv_k), i),
                  Tensor(b + "attn_v.weight", (h, kv_v), i),
                  Tensor(b + "attn_output.weight", (arch.n_heads * arch.v_head_dim, h), i)]
            if extra.get("qkv_bias"):
                t += [Tensor(b + "attn_q.bias", (q_out,), i), Tensor(b + "attn_k.bias", (kv_k,), i),
                      Tensor(b + "attn_v.bias", (kv_v,), i)]
            if extra.get("qk_norm"):
                t += [Tensor(b + "attn_q_norm.weight", (arch.head_dim,), i),
                      Tensor(b + "attn_k_norm.weight", (arch.head_dim,), i)]
        if arch.is_moe and i >= arch.n_dense_layers:
            ff, E = arch.moe_intermediate_size or arch.intermediate_size, arch.n_experts
            t += [Tensor(b + "ffn_gate_inp.weight", (h, E), i), Tensor(b + "ffn_gate_exps.weight", (h, ff, E), i),
                  Tensor(b + "ffn_up_exps.weight", (h, ff, E), i), Tensor(b + "ffn_down_exps.weight", (ff, h, E), i)]
            if arch.n_shared_experts:
                sf = ff * arch.n_shared_experts
                t += [Tensor(b + "exp_probs_b.bias", (E,), i), Tensor(b + "ffn_gate_shexp.weight", (h, sf), i),
                      Tensor(b + "ffn_up_shexp.weight", (h, sf), i), Tensor(b + "ffn_down_shexp.weight", (sf, h), i)]
        elif extra.get("fused_qkv"):
            ff = arch.intermediate_size
            t += [Tensor(b + "ffn_up.weight", (h, 2 * ff), i), Tensor(b + "ffn_down.weight", (ff, h), i)]
        else:
            ff = arch.intermediate_size
            t += [Tensor(b + "ffn_gate.weight", (h, ff), i), Tensor(b + "ffn_up.weight", (h, ff), i),
                  Tensor(b + "ffn_down.weight", (ff, h), i)]
        out += t
    out.append(Tensor("output_norm.weight", (h,)))
    if not arch.tied_embeddings:
        out.append(Tensor("output.weight", (h, V)))
    return out


def _use_more_bits(i: int, n: int) -> bool:
    # llama.cpp: the first and last eighth of the layers, and every third layer in between.
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def preset_tensor_type(tensor: Tensor, preset: str, arch: ModelArch) -> str:
    """The type llama.cpp's quantizer gives `tensor` under `preset` (no importance matrix)."""
    preset = normalize_quant(preset)
    if preset in GPU_FORMATS:
        raise CourseError(f"{preset} is a GPU format, not a GGUF preset")
    base = GGUF_PRESETS[preset]
    name, n_layer, i = tensor.name, arch.n_layers, tensor.layer
    if len(tensor.shape) == 1 or name.endswith(".bias") or "_norm" in name:
        return "F32"
    if "ffn_gate_inp" in name:
        return "F32"  # the router stays in full precision
    if base in ("F32", "F16", "BF16"):
        return base
    ne0 = tensor.shape[0]
    is_output = name == "output.weight" or (name == "token_embd.weight" and arch.tied_embeddings)
    t = base
    if is_output:
        t = "Q8_0" if ne0 % QK_K else ("Q6_K" if base != "Q8_0" else "Q8_0")
        return t
    n_expert, n_gqa = arch.n_experts, arch.n_heads // max(arch.n_kv_heads, 1)
    if "attn_v.weight" in name:
        if preset == "Q2_K":
            t = "Q4_K" if n_gqa >= 4 else "Q3_K"
        elif preset == "Q3_K_M":
            t = "Q5_K" if i < 2 else "Q4_K"
        elif preset == "Q3_K_L":
            t = "Q5_K"
        elif preset in ("Q4_K_M", "Q5_K_M") and _use_more_bits(i, n_layer):
            t = "Q6_K"
        elif preset == "Q4_K_S" and i < 4:
            t = "Q5_K"
        if n_expert == 8:
            t = "Q8_0"
    elif "attn_qkv.weight" in name:
        t = {"Q3_K_M": "Q4_K", "Q3_K_L": "Q4_K", "Q4_K_M": "Q5_K", "Q5_K_M": "Q6_K"}.get(preset, t)
    elif "attn_k.weight" in name and n_expert == 8:
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
        elif preset in ("Q4_K_S",) and i < n_layer // 8:
            t = "Q5_K"
    elif "attn_output.weight" in name:
        if n_expert == 8:
            if preset in ("Q2_K", "Q3_K_S", "Q3_K_M", "Q4_K_S", "Q4_K_M"):
                t = "Q5_K"
        elif preset == "Q2_K":
            t = "Q3_K"
        elif preset == "Q3_K_M":
            t = "Q4_K"
        elif preset == "Q3_K_L":
            t = "Q5_K"
    if t in _K_FALLBACK and ne0 % QK_K:
        t = _K_FALLBACK[t]
    return t


@dataclass(frozen=True)
class WeightsEstimate:
    quant: str
    params: int
    bytes: int
    by_type: dict  # type -> parameters

    @property
    def bits_per_weight(self) -> float:
        return 8 * self.bytes / self.params


def tensor_sizes(arch: ModelArch, quant: str = "Q4_K_M") -> list[tuple[str, int, str, int]]:
    """(name, parameters, type, bytes) of every tensor of `arch` under a GGUF preset or GPU format."""
    quant = normalize_quant(quant)
    out = []
    for t in gguf_tensors(arch):
        if quant in GPU_FORMATS:
            # Embedding, lm_head and 1-D tensors are left in 16-bit by AWQ/GPTQ/FP8 checkpoints.
            small = len(t.shape) == 1 or t.name in ("token_embd.weight", "output.weight") or "gate_inp" in t.name
            typ = "F16" if small else quant
            nbytes = 2 * t.n_elements if small else int(round(t.n_elements * GPU_FORMATS[quant] / 8))
        else:
            typ = preset_tensor_type(t, quant, arch)
            nbytes = tensor_bytes(typ, t.n_elements)
        out.append((t.name, t.n_elements, typ, nbytes))
    return out


def weights_bytes(arch: ModelArch, quant: str = "Q4_K_M") -> WeightsEstimate:
    """Bytes of the weight tensors of `arch` under a GGUF preset, a single type or a GPU format."""
    quant = normalize_quant(quant)
    sizes = tensor_sizes(arch, quant)
    by_type: dict[str, int] = {}
    for _, n, typ, _ in sizes:
        by_type[typ] = by_type.get(typ, 0) + n
    return WeightsEstimate(quant, sum(s[1] for s in sizes), sum(s[3] for s in sizes), by_type)


# GGUF header: about 40 bytes per vocabulary entry (token string, score, type) plus merges; an estimate.
HEADER_BYTES_PER_VOCAB = 40


def gguf_file_bytes(arch: ModelArch, quant: str = "Q4_K_M") -> int:
    """Predicted size of a GGUF file: tensor bytes plus an estimated header."""
    return weights_bytes(arch, quant).bytes + HEADER_BYTES_PER_VOCAB * arch.vocab_size
