"""LoRA memory math: why adapters fit where a full fine-tune does not.

Derived in notebook 07 (choosing your setup, the LoRA section). LoRA freezes
a weight matrix W (d_out x d_in) and learns a low-rank update B @ A with
A: r x d_in and B: d_out x r, so each adapted matrix adds r x (d_in + d_out)
trainable parameters. Training memory is then

* the base weights: 2 bytes each in bf16, or about 4.127 bits for QLoRA's
  NF4 with double-quantized block scales (the QLoRA paper's figure; the
  embeddings and output head stay in bf16);
* per *trainable* parameter: the fp32 value (4 bytes), its gradient (4) and
  AdamW's two moments (8): 16 bytes; a full fine-tune in mixed precision pays
  the same 16 bytes for every parameter (bf16 weights 2 + gradients 2 + fp32
  master copy 4 + moments 8);
* activations kept for the backward pass: a rough bound, see
  `activation_bytes`.
"""

from __future__ import annotations

from dataclasses import dataclass

from course_lib.errors import CourseError, require_positive
from course_lib.sizing.architecture import ModelArch

BF16 = 2
ADAMW_BYTES_PER_TRAINABLE = 4 + 4 + 8  # fp32 value + fp32 gradient + two fp32 moments
FULL_BYTES_PER_PARAM = 2 + 2 + 4 + 8  # bf16 weight + bf16 gradient + fp32 master + two fp32 moments
NF4_BITS_PER_WEIGHT = 4.127  # 4-bit NF4 + double-quantized absmax per 64 weights (QLoRA paper, section 3)
# Activations saved per layer per token, in units of hidden_size bytes, for a transformer layer in
# 16-bit with flash attention (no s x s score matrix stored): 34 (Korthikanti et al. 2022, "Reducing
# activation recomputation in large transformer models", eq. 1 without the 5as/h attention term).
ACTIVATION_FACTOR = 34
MATRICES = ("q", "k", "v", "o", "gate", "up", "down")


def matrix_shapes(arch: ModelArch) -> dict[str, tuple[int, int]]:
    """(d_in, d_out) of each adaptable projection in one layer (dense MLP; MoE uses the expert width)."""
    if arch.uses_mla:
        raise CourseError(f"{arch.name}: LoRA shapes for multi-head latent attention are not modelled here")
    h = arch.hidden_size
    ffn = (arch.moe_intermediate_size or arch.intermediate_size) if arch.is_moe else arch.intermediate_size
    return {"q": (h, arch.n_heads * arch.head_dim), "k": (h, arch.n_kv_heads * arch.head_dim),
            "v": (h, arch.n_kv_heads * arch.v_head_dim), "o": (arch.n_heads * arch.v_head_dim, h),
            "gate": (h, ffn), "up": (h, ffn), "down": (ffn, h)}


def _targets(targets) -> tuple[str, ...]:
    if isinstance(targets, str):
        targets = {"attention": ("q", "k", "v", "o"), "qv": ("q", "v"), "all": MATRICES}.get(targets, (targets,))
    bad = [t for t in targets if t not in MATRICES]
    if bad or not targets:
        raise CourseError(f"unknown LoRA target {bad[0] if bad else targets!r}; choose from {', '.join(MATRICES)}, "
                          "'attention', 'qv' or 'all'")
    return tuple(targets)


def lora_params(arch: ModelArch, r: int = 16, targets=("q", "k", "v", "o")) -> int:
    """Trainable parameters: r x (d_in + d_out) for each target matrix in every layer (each expert of a MoE)."""
    require_positive("LoRA rank r", r)
    shapes = matrix_shapes(arch)
    per_layer = 0
    for t in _targets(targets):
        d_in, d_out = shapes[t]
        copies = arch.n_experts if arch.is_moe and t in ("gate", "up", "down") else 1
        per_layer += copies * r * (d_in + d_out)
    return arch.n_layers * per_layer


def activation_bytes(arch: ModelArch, seq_len: int, batch: int = 1, checkpointing: bool = True) -> int:
    """A rough bound on activations kept for the backward pass, in bytes.

    Without checkpointing every layer keeps ~34 x hidden bytes per token. With
    gradient checkpointing only each layer's 16-bit input is kept and one layer
    is recomputed at a time. The fp32 logits (tokens x vocabulary x 4) are added
    either way: for a 262k-token vocabulary they dominate small models.
    """
    require_positive("sequence length", seq_len)
    require_positive("batch", batch)
    tokens, h = seq_len * batch, arch.hidden_size
    one_layer = ACTIVATION_FACTOR * tokens * h
    layers = arch.n_layers * BF16 * tokens * h + one_layer if checkpointing else arch.n_layers * one_layer
    return layers + 4 * tokens * arch.vocab_size


@dataclass(frozen=True)
class FinetuneMemory:
    method: str  # "full", "lora" or "qlora"
    params: int
    trainable_params: int
    weights_bytes: int  # the (frozen or trained) model weights as stored during training
    trainable_state_bytes: int  # trainable values + gradients + optimizer moments
    activation_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.trainable_state_bytes + self.activation_bytes


def finetune_memory(arch: ModelArch, method: str = "lora", r: int = 16, targets=("q", "k", "v", "o"),
                    seq_len: int = 2048, batch: int = 1, checkpointing: bool = True) -> FinetuneMemory:
    """Training memory of a full fine-tune, LoRA on a bf16 base, or QLoRA on an NF4 base."""
    from course_lib.sizing.params import count_params

    counts = count_params(arch)
    params = counts.text_total
    acts = activation_bytes(arch, seq_len, batch, checkpointing)
    if method == "full":
        return FinetuneMemory(method, params, params, params * BF16, params * (FULL_BYTES_PER_PARAM - BF16), acts)
    if method not in ("lora", "qlora"):
        raise CourseError(f"unknown fine-tuning method {method!r}; choose full, lora or qlora")
    trainable = lora_params(arch, r, targets)
    if method == "lora":
        weights = params * BF16
    else:
        # bitsandbytes quantizes the linear layers; embeddings, head and norms stay in 16-bit.
        kept = counts.embedding + counts.output + counts.norms
        weights = round((params - kept) * NF4_BITS_PER_WEIGHT / 8) + kept * BF16
    return FinetuneMemory(method, params, trainable, weights, trainable * ADAMW_BYTES_PER_TRAINABLE, acts)
