"""`llm-course kv`: how much memory a model's KV cache takes at a given context and concurrency."""

HELP = "KV-cache size of a model (catalogue name, GGUF path or config.json path) at a context length"


def add_arguments(parser):
    from course_lib.sizing.engines import ENGINES

    parser.add_argument("model", help="a catalogue name, a .gguf file or a Hugging Face config.json")
    parser.add_argument("--ctx", type=int, required=True, help="context length per sequence, in tokens")
    parser.add_argument(
        "--kv-type",
        default="f16",
        help="cache element type for K and V: f16 (default), q8_0, q4_0, or bf16, f32, q4_1, q5_0, q5_1",
    )
    parser.add_argument("--concurrency", type=int, default=1, help="sequences cached at once (default 1)")
    parser.add_argument("--engine", choices=ENGINES, default="llama-cpp-python",
                        help="whose sliding-window default applies (default llama-cpp-python: full-size; "
                             "llama-server and Ollama: reduced)")
    swa = parser.add_mutually_exclusive_group()
    swa.add_argument("--swa-full", dest="swa_full", action="store_true", default=None,
                     help="size sliding-window caches for the full context (llama-cpp-python's default)")
    swa.add_argument("--swa-reduced", dest="swa_full", action="store_false",
                     help="size sliding-window caches for the window plus one micro-batch (llama-server's default)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args) -> int:
    import json

    from course_lib.errors import CourseError
    from course_lib.sizing.kv import attention_kind, cache_type, kv_bytes_per_token, kv_caches
    from course_lib.sizing.load import load_arch
    from course_lib.units import format_bytes

    from course_lib.sizing.engines import get_profile

    profile = get_profile(args.engine)
    if profile.backend != "llama.cpp":
        raise CourseError("vLLM pages one pool for every layer: use `llm-course fit --engine vllm --gpu NAME` for it")
    swa_full = profile.default("swa_full") if args.swa_full is None else args.swa_full
    arch = load_arch(args.model)
    ctype = cache_type(args.kv_type)
    caches = kv_caches(arch, args.ctx, n_seq=args.concurrency, type_k=ctype.name, swa_full=swa_full)
    total = sum(c.total_bytes for c in caches)
    per_token = kv_bytes_per_token(arch, ctype.name)
    if args.json:
        print(json.dumps({
            "model": arch.name, "attention": attention_kind(arch), "ctx": args.ctx, "concurrency": args.concurrency,
            "kv_type": ctype.name, "kv_bytes_per_token": per_token, "engine": profile.label, "swa_full": swa_full,
            "kv_bytes_per_token_all_layers": kv_bytes_per_token(arch, ctype.name, include_swa=True),
            "kv_cache_bytes": total,
            "caches": [{"kind": c.kind, "cells": c.cells, "layers": c.layers, "bytes": c.total_bytes} for c in caches],
        }))
        return 0
    print(f"{arch.name}: {attention_kind(arch)}; {profile.label}'s sliding-window cache: "
          f"{'full-size' if swa_full else 'reduced'}")
    print(f"  KV per token ({ctype.name}, layers that grow with context): {per_token:,} bytes")
    for c in caches:
        label = "sliding-window layers" if c.kind == "swa" else "full-attention layers"
        print(f"  {label}: {c.layers} layers x {c.cells:,} cells = {format_bytes(c.total_bytes)}")
    print(f"  KV cache for {args.concurrency} x {args.ctx:,} tokens: {format_bytes(total)} ({total:,} bytes)")
    return 0
