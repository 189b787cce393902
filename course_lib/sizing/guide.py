"""A popular guide's VRAM formula, reproduced exactly as published (the subject of notebook 01).

Notebook 01 sets it beside the course's exact estimator (`estimate.py`) to
show where rules of thumb land and where they miss.
"""

from __future__ import annotations


def guide_estimate_vram_gb(params_billions: float, bits_per_weight: float, context_length: int,
                           overhead_gb: float = 0.8) -> dict:
    """A popular guide's VRAM estimate, reproduced exactly as published (the subject of notebook 01)."""
    # Model weights: params * bits / 8, converted to GB (decimal)
    weight_gb = (params_billions * 1e9 * bits_per_weight) / (8 * 1e9)
    # Add ~25% for embedding tables, layer norms, and GGUF metadata
    weight_gb *= 1.25

    # KV cache heuristic: ~0.5 GB per 7B params per 4K context
    kv_gb = (params_billions / 7) * (context_length / 4096) * 0.5

    total = weight_gb + kv_gb + overhead_gb
    return {
        "weights_gb": round(weight_gb, 1),
        "kv_cache_gb": round(kv_gb, 1),
        "overhead_gb": overhead_gb,
        "total_gb": round(total, 1)
    }
