"""The architecture numbers that decide a model's memory: one dataclass for all sources.

Derived in notebooks 01 (memory math) and 03 (KV-cache growth). A `ModelArch`
comes from the course's model catalogue, a Hugging Face `config.json`, or a
GGUF file's metadata; the parameter counter, the memory estimator and the KV
estimator all read this one shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from course_lib.errors import CourseError
from course_lib.gguf_file import GGUFContents, read_gguf


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


# ---------------------------------------------------------------- loaders

def _pattern_swa_layers(n_layers: int, period: int) -> tuple[int, ...]:
    """Local layers of a repeating pattern where the last layer of each period is global.

    This is llama.cpp's `set_swa_pattern(period)`: layer i is local when
    i % period < period - 1 (Gemma 2: period 2, Gemma 3: period 6).
    """
    return tuple(i for i in range(n_layers) if i % period < period - 1)


# Attention-free layer kinds in Hugging Face `layer_types` lists (hybrid models).
_NO_KV_LAYER_TYPES = {"linear_attention", "mamba", "mamba2", "recurrent", "conv", "ssm", "rwkv"}


def arch_from_hf_config(config, name: str | None = None) -> ModelArch:
    """A `ModelArch` from a Hugging Face `config.json` (a dict or a path to the file)."""
    source = "config.json"
    if not isinstance(config, dict):
        path = Path(config)
        if not path.is_file():
            raise CourseError(f"config file not found: {path}")
        try:
            config = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CourseError(f"{path} is not valid JSON: {exc}") from None
        source = str(path)
        if not isinstance(config, dict):
            raise CourseError(f"{path} does not hold a JSON object")
    top = config
    # Multimodal wrappers (Gemma 3 4B+, Llama 4, ...) nest the language model's numbers.
    if isinstance(config.get("text_config"), dict) and "num_hidden_layers" in config["text_config"]:
        config = {**config["text_config"], "tie_word_embeddings": top.get("tie_word_embeddings",
                                                                          config["text_config"].get("tie_word_embeddings"))}
    try:
        n_layers = int(config["num_hidden_layers"])
        hidden = int(config["hidden_size"])
        n_heads = int(config["num_attention_heads"])
    except KeyError as exc:
        raise CourseError(f"config.json lacks {exc.args[0]!r}; is it a decoder-only language model's config?") from None
    n_kv = int(config.get("num_key_value_heads") or n_heads)
    model_type = str(config.get("model_type") or top.get("model_type") or "")
    head_dim = config.get("head_dim") or hidden // n_heads
    head_dim_v = config.get("v_head_dim")

    kv_lora_rank = int(config.get("kv_lora_rank") or 0)
    rope_dim = int(config.get("qk_rope_head_dim") or 0)
    nope_dim = int(config.get("qk_nope_head_dim") or 0)
    if kv_lora_rank:
        head_dim = nope_dim + rope_dim

    window = config.get("sliding_window")
    swa_layers: tuple[int, ...] = ()
    no_kv: tuple[int, ...] = ()
    layer_types = config.get("layer_types")
    if isinstance(layer_types, list) and len(layer_types) == n_layers:
        swa_layers = tuple(i for i, t in enumerate(layer_types) if t == "sliding_attention")
        no_kv = tuple(i for i, t in enumerate(layer_types) if t in _NO_KV_LAYER_TYPES)
    elif window and model_type.startswith("gemma3"):
        swa_layers = _pattern_swa_layers(n_layers, int(config.get("sliding_window_pattern") or 6))
    elif window and model_type == "gemma2":
        swa_layers = _pattern_swa_layers(n_layers, 2)
    elif window and config.get("use_sliding_window") and model_type.startswith("qwen"):
        # Qwen: layers from max_window_layers on use the window (off in released configs).
        start = int(config.get("max_window_layers") or n_layers)
        swa_layers = tuple(range(start, n_layers))
    if not swa_layers:
        window = None

    n_experts = int(config.get("n_routed_experts") or config.get("num_local_experts")
                    or config.get("num_experts") or 0)
    return ModelArch(
        name=name or str(top.get("_name_or_path") or model_type or "model"),
        n_layers=n_layers, hidden_size=hidden, n_heads=n_heads, n_kv_heads=n_kv, head_dim=int(head_dim),
        intermediate_size=int(config.get("intermediate_size") or 0),
        vocab_size=int(config.get("vocab_size") or 0),
        tied_embeddings=bool(config.get("tie_word_embeddings", False)),
        head_dim_v=int(head_dim_v) if head_dim_v else None,
        sliding_window=int(window) if window else None, swa_layers=swa_layers,
        n_experts=n_experts,
        n_experts_active=int(config.get("num_experts_per_tok") or 0) if n_experts else 0,
        moe_intermediate_size=int(config.get("moe_intermediate_size") or 0) if n_experts else 0,
        n_shared_experts=int(config.get("n_shared_experts") or 0),
        n_dense_layers=int(config.get("first_k_dense_replace") or 0),
        kv_lora_rank=kv_lora_rank, q_lora_rank=int(config.get("q_lora_rank") or 0),
        qk_rope_head_dim=rope_dim, qk_nope_head_dim=nope_dim,
        no_kv_layers=no_kv,
        max_context=int(config["max_position_embeddings"]) if config.get("max_position_embeddings") else None,
        source=source,
    )


# llama.cpp's fixed local/global patterns per GGUF architecture (period, as in set_swa_pattern).
_GGUF_SWA_PERIOD = {"gemma2": 2, "gemma3": 6}


def arch_from_gguf(path) -> ModelArch:
    """A `ModelArch` from a GGUF file's metadata (the header only, no tensors loaded)."""
    return arch_from_gguf_contents(read_gguf(Path(path)))


def arch_from_gguf_contents(contents: GGUFContents) -> ModelArch:
    """A `ModelArch` from a GGUF header already read (`gguf_file.read_gguf`)."""
    path = Path(contents.path)
    fields, tensor_names = contents.metadata, {t.name for t in contents.tensors}

    def value(key, default=None):
        return fields.get(key, default)

    arch = value("general.architecture")
    if not arch:
        raise CourseError(f"{path} has no general.architecture in its metadata")

    def hp(key, default=None):
        return value(f"{arch}.{key}", default)

    n_layers = int(hp("block_count"))
    n_heads = hp("attention.head_count")
    n_kv = hp("attention.head_count_kv", n_heads)
    # Some architectures store per-layer head counts as arrays; a zero means a layer without attention.
    no_kv: tuple[int, ...] = ()
    if isinstance(n_kv, list):
        no_kv = tuple(i for i, h in enumerate(n_kv) if h == 0)
        n_kv = max(n_kv)
    if isinstance(n_heads, list):
        n_heads = max(n_heads)
    hidden = int(hp("embedding_length"))
    head_dim = int(hp("attention.key_length", hidden // int(n_heads)))
    head_dim_v = int(hp("attention.value_length", head_dim))
    if hp("attention.key_length_mla"):
        # Newer DeepSeek GGUFs store the latent layout in key/value_length and the per-head sizes here.
        head_dim, head_dim_v = int(hp("attention.key_length_mla")), int(hp("attention.value_length_mla", head_dim_v))
    window = hp("attention.sliding_window")
    swa_layers: tuple[int, ...] = ()
    if window and arch in _GGUF_SWA_PERIOD:
        swa_layers = _pattern_swa_layers(n_layers, _GGUF_SWA_PERIOD[arch])
    tokens = fields.get("tokenizer.ggml.tokens", 0)  # a list, or its length when the vocabulary is long
    vocab = int(hp("vocab_size", len(tokens) if isinstance(tokens, list) else tokens))
    ffn = hp("feed_forward_length", 0)
    if isinstance(ffn, list):
        ffn = max(ffn)
    kv_lora_rank = int(hp("attention.kv_lora_rank", 0) or 0)
    rope_dim = int(hp("rope.dimension_count", 0) or 0) if kv_lora_rank else 0
    n_experts = int(hp("expert_count", 0) or 0)
    return ModelArch(
        name=str(value("general.name") or path.stem),
        n_layers=n_layers, hidden_size=hidden, n_heads=int(n_heads), n_kv_heads=int(n_kv),
        head_dim=head_dim, head_dim_v=head_dim_v if head_dim_v != head_dim else None,
        intermediate_size=int(ffn), vocab_size=vocab,
        tied_embeddings="output.weight" not in tensor_names,
        sliding_window=int(window) if swa_layers else None, swa_layers=swa_layers,
        n_experts=n_experts, n_experts_active=int(hp("expert_used_count", 0) or 0),
        moe_intermediate_size=int(hp("expert_feed_forward_length", 0) or 0),
        n_shared_experts=int(hp("expert_shared_count", 0) or 0),
        n_dense_layers=int(hp("leading_dense_block_count", 0) or 0),
        kv_lora_rank=kv_lora_rank, q_lora_rank=int(hp("attention.q_lora_rank", 0) or 0),
        qk_rope_head_dim=rope_dim,
        qk_nope_head_dim=(head_dim - rope_dim) if kv_lora_rank else 0,
        no_kv_layers=no_kv,
        max_context=int(hp("context_length")) if hp("context_length") else None,
        source=str(path),
        extra={"gguf_architecture": arch},
    )
