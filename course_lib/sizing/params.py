"""How many parameters a transformer has, counted from its architecture.

Derived in notebook 01 (memory math). Every weight matrix of a decoder-only
model follows from a handful of config.json numbers: the embedding table
(vocab x hidden), an output projection unless it is tied to the embedding,
per layer the attention projections (grouped-query attention shrinks K and V;
multi-head latent attention factors them through low-rank matrices), the MLP
(gate, up and down) or its mixture-of-experts version, and the norm vectors.
"""

from __future__ import annotations

from dataclasses import dataclass

from course_lib.sizing.architecture import ModelArch


@dataclass(frozen=True)
class ParamCount:
    embedding: int
    output: int  # 0 when tied to the embedding
    attention: int  # all layers
    mlp: int  # all layers, every expert
    norms: int
    active: int  # used per token: MoE models run only some experts
    vision: int = 0  # a multimodal model's image encoder (published figure; no text tokens use it)

    @property
    def total(self) -> int:
        return self.embedding + self.output + self.attention + self.mlp + self.norms + self.vision

    @property
    def text_total(self) -> int:
        return self.total - self.vision


def _attention(arch: ModelArch, qkv_bias: bool, qk_norm: bool) -> int:
    h = arch.hidden_size
    if arch.uses_mla:
        # DeepSeek MLA: q through a rank-q_lora bottleneck, k/v through the cached latent (+ rotary key).
        q_dim = arch.n_heads * (arch.qk_nope_head_dim + arch.qk_rope_head_dim)
        q = (h * arch.q_lora_rank + arch.q_lora_rank + arch.q_lora_rank * q_dim) if arch.q_lora_rank else h * q_dim
        kv_a = h * (arch.kv_lora_rank + arch.qk_rope_head_dim) + arch.kv_lora_rank
        kv_b = arch.kv_lora_rank * arch.n_heads * (arch.qk_nope_head_dim + arch.v_head_dim)
        return q + kv_a + kv_b + arch.n_heads * arch.v_head_dim * h
    q_out = arch.n_heads * arch.head_dim
    kv_out = arch.n_kv_heads * (arch.head_dim + arch.v_head_dim)
    n = h * q_out + h * kv_out + arch.n_heads * arch.v_head_dim * h
    if qkv_bias:
        n += q_out + kv_out
    if qk_norm:
        n += 2 * arch.head_dim
    return n


def count_params(arch: ModelArch) -> ParamCount:
    """Parameters by part, for the full model and for one token's forward pass (`active`)."""
    extra = arch.extra or {}
    h, L = arch.hidden_size, arch.n_layers
    embedding = arch.vocab_size * h
    output = 0 if arch.tied_embeddings else arch.vocab_size * h
    attention = L * _attention(arch, extra.get("qkv_bias", False), extra.get("qk_norm", False))
    norms = L * extra.get("norms_per_layer", 2) * h + h

    dense_mlp = 3 * h * arch.intermediate_size  # gate, up, down
    if arch.is_moe:
        # Mixtral's config names the expert width intermediate_size; newer configs say moe_intermediate_size.
        expert = 3 * h * (arch.moe_intermediate_size or arch.intermediate_size)
        router = h * arch.n_experts + (arch.n_experts if arch.n_shared_experts else 0)  # + DeepSeek's routing bias
        n_moe = L - arch.n_dense_layers
        moe_layer = arch.n_experts * expert + arch.n_shared_experts * expert + router
        mlp = arch.n_dense_layers * dense_mlp + n_moe * moe_layer
        active_mlp = (arch.n_dense_layers * dense_mlp
                      + n_moe * ((arch.n_experts_active + arch.n_shared_experts) * expert + router))
    else:
        mlp = active_mlp = L * dense_mlp
    active = embedding + output + attention + norms + active_mlp
    return ParamCount(embedding, output, attention, mlp, norms, active, int(extra.get("vision_params") or 0))


def param_count(arch: ModelArch) -> int:
    return count_params(arch).total
