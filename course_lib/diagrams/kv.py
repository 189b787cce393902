"""The KV cache drawn: per layer and head with grouped-query sharing, and paged vs contiguous allocation (notebook 03).

`kv_cache_layout` draws one layer's attention heads: every query head reads
the key and value vectors of a KV head, and with grouped-query attention
several query heads share one, which is why the cache holds KV heads, not
query heads; beside it, the cache of every layer against the tokens cached,
sliding-window layers stopping at their window. `paged_vs_contiguous` draws
requests in a KV budget: contiguous allocation reserves each request's maximum
length up front, paged allocation hands out fixed blocks as tokens arrive.
"""

from __future__ import annotations

from course_lib.diagrams.figure import shown

from course_lib.sizing.architecture import ModelArch


def kv_cache_layout(arch: ModelArch, n_tokens: int = 16, window: int | None = None):
    """Left: query heads -> KV heads of one layer. Right: cached tokens per layer, for `n_tokens` tokens."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    fig = plt.figure(figsize=(8, 3.6), facecolor="white", layout="constrained")
    heads, layers = fig.subplots(1, 2, width_ratios=[1, 1.3])
    q, kv = arch.n_heads, arch.n_kv_heads
    group = max(q // max(kv, 1), 1)
    for i in range(q):
        heads.add_patch(Rectangle((i, 2), 0.8, 0.8, color="#4c72b0"))
        heads.plot([i + 0.4, (i // group) * group + group / 2 - 0.1], [2, 0.8], color="grey", lw=0.7)
    for j in range(kv):
        heads.add_patch(Rectangle((j * group + group / 2 - 0.5, 0), 0.8, 0.8, color="#dd8452"))
    heads.set_xlim(-0.5, q + 0.5)
    heads.set_ylim(-0.5, 3.3)
    heads.set_yticks([0.4, 2.4], ["KV heads\n(cached: K and V)", "query heads"])
    heads.set_xlabel("head index")
    heads.set_title(f"one layer: {q} query heads read {kv} KV head(s)\n({group} query heads per KV head)",
                    fontsize=9)

    window = window if window is not None else arch.sliding_window
    local = set(arch.swa_layers) if window else set()
    for layer in range(arch.n_layers):
        kept = min(n_tokens, window) if layer in local else n_tokens
        layers.barh([layer], [kept], height=0.8, color="#55a868" if layer in local else "#dd8452")
        if kept < n_tokens:
            layers.barh([layer], [n_tokens - kept], left=kept, height=0.8, color="#eeeeee")
    layers.barh([0], [0], color="#dd8452", label="global layer: every token")
    if local:
        layers.barh([0], [0], color="#55a868", label=f"sliding-window layer: the last {window}")
    layers.invert_yaxis()
    layers.yaxis.get_major_locator().set_params(integer=True)
    layers.set_xlabel("tokens in the context")
    layers.set_ylabel("layer")
    layers.set_title(f"{arch.name}: tokens each layer caches\n(per token: one K and one V per KV head)", fontsize=9)
    layers.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, fontsize=7, frameon=False)
    return shown(fig)


def paged_vs_contiguous(lengths: list[int], max_len: int, block_size: int = 16):
    """Requests of `lengths` tokens: reserved for `max_len` each (top) or in blocks of `block_size` (bottom)."""
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(8, 3.6), facecolor="white", layout="constrained")
    contiguous, paged = fig.subplots(2, 1, sharex=True)
    for row, length in enumerate(lengths):
        contiguous.barh([row], [length], color="#4c72b0")
        contiguous.barh([row], [max_len - length], left=length, color="#eeeeee", hatch="//", edgecolor="#bbbbbb")
        blocks = -(-length // block_size)
        paged.barh([row], [length], color="#4c72b0")
        paged.barh([row], [blocks * block_size - length], left=length, color="#f0c080")
        for b in range(1, blocks):
            paged.plot([b * block_size] * 2, [row - 0.4, row + 0.4], color="white", lw=0.6)
    reserved = len(lengths) * max_len
    used = sum(lengths)
    held = sum(-(-n // block_size) * block_size for n in lengths)
    contiguous.set_title(f"contiguous: each request reserves {max_len:,} slots; {1 - used / reserved:.0%} "
                         "of them empty (hatched)", fontsize=9)
    paged.set_title(f"paged, blocks of {block_size} from a pool reserved up front: only each request's last "
                    f"block is partly empty ({1 - used / held:.0%}, orange)", fontsize=9)
    for ax in (contiguous, paged):
        ax.set_ylabel("request")
        ax.set_yticks(range(len(lengths)))
    paged.set_xlabel("KV slots (tokens)")
    return shown(fig)
