"""The architecture numbers that decide a model's memory: one dataclass for all sources.

Derived in notebooks 01 (memory math) and 03 (KV-cache growth). A `ModelArch`
comes from the course's model catalogue, a Hugging Face `config.json`, or a
GGUF file's metadata; the parameter counter, the memory estimator and the KV
estimator all read this one shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ModelArch:
    name: str
    n_layers: int
    hidden_size: int
    n_heads: int
    n_kv_heads: int
    head_dim: int  # per-head size of K (and Q)
    intermediate_size: int
    vocab_size: int
    tied_embeddings: bool = False
    head_dim_v: int | None = None  # per-head size of V when it differs from K
    # Sliding-window attention: which layers are local and how far they look.
    sliding_window: int | None = None
    swa_layers: tuple[int, ...] = ()  # indexes of local (windowed) layers
    # Mixture of experts.
    n_experts: int = 0
    n_experts_active: int = 0
    moe_intermediate_size: int = 0
    n_shared_experts: int = 0
    n_dense_layers: int = 0  # leading layers that use a dense MLP in a MoE model
    # Multi-head latent attention (DeepSeek): the cache holds a compressed latent.
    kv_lora_rank: int = 0
    q_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    qk_nope_head_dim: int = 0
    # Layers that keep no KV cache at all (hybrid models, e.g. recurrent or shared-KV layers).
    no_kv_layers: tuple[int, ...] = ()
    max_context: int | None = None
    published_params: int | None = None
    source: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def v_head_dim(self) -> int:
        return self.head_dim_v if self.head_dim_v is not None else self.head_dim

    @property
    def is_moe(self) -> bool:
        return self.n_experts > 0

    @property
    def uses_mla(self) -> bool:
        return self.kv_lora_rank > 0
