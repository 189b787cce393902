"""How many bytes a model's weights take for a quantization type or preset.

Derived in notebook 01 (memory math). A GGUF type stores blocks of values with
their scales, so its bits per weight is 8 x block bytes / block values (read
from `gguf.GGML_QUANT_SIZES`, the table ggml itself uses). A preset such as
"Q4_K_M" is not one type: llama.cpp's per-tensor rule (`quant.policy`, the
one `llm-course quantize` follows too) gives some tensors more bits.
`gguf_tensors` lays out the tensors a GGUF of the architecture holds, and
applying the rule to each lands the predicted file size on the real one.
"""

from __future__ import annotations

from dataclasses import dataclass

from course_lib.errors import CourseError
from course_lib.gguf_file import tensor_bytes, type_size
from course_lib.quant.policy import GGUF_PRESETS, SINGLE_TYPES, ModelShape, tensor_type
from course_lib.sizing.architecture import ModelArch

# GPU formats: 4-bit integers with one FP16 scale and one 4-bit zero point per group of 128 (AWQ, GPTQ),
# and FP8 (E4M3) with a per-tensor scale. Their non-quantized parts (embedding, norms, lm_head) stay 16-bit.
GPU_FORMATS = {"AWQ": 4 + (16 + 4) / 128, "GPTQ": 4 + (16 + 4) / 128, "FP8": 8.0}


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
    """A GGUF preset, a single GGUF type or a GPU format, upper-cased; anything else is a one-line error."""
    key = str(quant).strip().upper()
    if key not in GGUF_PRESETS and key not in SINGLE_TYPES and key not in GPU_FORMATS:
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
            t += [
                Tensor(b + "attn_kv_a_mqa.weight", (h, arch.kv_lora_rank + arch.qk_rope_head_dim), i),
                Tensor(b + "attn_kv_a_norm.weight", (arch.kv_lora_rank,), i),
                Tensor(
                    b + "attn_kv_b.weight",
                    (arch.kv_lora_rank, arch.n_heads * (arch.qk_nope_head_dim + arch.v_head_dim)),
                    i,
                ),
                Tensor(b + "attn_output.weight", (arch.n_heads * arch.v_head_dim, h), i),
            ]
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


def model_shape(arch: ModelArch) -> ModelShape:
    """What llama.cpp's per-tensor rule needs to know about `arch`."""
    return ModelShape(arch.n_layers, arch.n_heads // max(arch.n_kv_heads, 1), arch.n_experts,
                      has_output=not arch.tied_embeddings)


def preset_tensor_type(tensor: Tensor, preset: str, arch: ModelArch) -> str:
    """The type llama.cpp's quantizer gives `tensor` under `preset` (the rule: `quant.policy.tensor_type`)."""
    if normalize_quant(preset) in GPU_FORMATS:
        raise CourseError(f"{preset} is a GPU format, not a GGUF preset")
    return tensor_type(tensor.name, tensor.shape, preset, model_shape(arch))


@dataclass(frozen=True)
class WeightsEstimate:
    quant: str
    params: int
    bytes: int
    by_type: dict  # type -> parameters

    @property
    def bits_per_weight(self) -> float:
        return 8 * self.bytes / self.params


def file_tensors(contents) -> list[Tensor]:
    """The tensors of a GGUF file (`gguf_file.GGUFContents`) as the size predictor lays them out."""
    return [Tensor(t.name, t.shape, int(t.name.split(".")[1]) if t.name.startswith("blk.") else None)
            for t in contents.tensors]


def tensor_sizes(arch: ModelArch, quant: str = "Q4_K_M", tensors: list[Tensor] | None = None
                 ) -> list[tuple[str, int, str, int]]:
    """(name, parameters, type, bytes) of every tensor of `arch` under a GGUF preset or GPU format.

    `tensors` defaults to the layout llama.cpp's converter writes for `arch`;
    pass a file's own (`file_tensors`) to ask what that file would weigh
    requantized.
    """
    quant = normalize_quant(quant)
    out = []
    for t in tensors if tensors is not None else gguf_tensors(arch):
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
