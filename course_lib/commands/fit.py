"""`llm-course fit`: will a model fit a device, in the engine you run? Weights, KV cache, buffers, verdict, speed."""

HELP = "Memory a model needs (catalogue name, GGUF file or config.json) in an engine, and whether it fits a device"


def add_arguments(parser):
    from course_lib.sizing import ENGINES, FLASH_ATTN_CHOICES

    parser.add_argument("model", nargs="?", help="a catalogue name, a .gguf file or a Hugging Face config.json")
    parser.add_argument(
        "--quant",
        help="GGUF preset or type (Q4_K_M, Q8_0, F16, ...) or AWQ/GPTQ/FP8/BF16; default Q4_K_M (vLLM: BF16), "
        "or a GGUF file's own tensors (with a file, --quant asks: what if requantized?)",
    )
    parser.add_argument("--engine", choices=ENGINES, default="llama-cpp-python",
                        help="the engine that runs the model (default llama-cpp-python, the course's own)")
    parser.add_argument("--engine-version", help="the engine version whose defaults apply (default: the newest "
                                                 "profiled; --list shows them)")
    parser.add_argument("--ctx", type=int, help="context length per sequence, in tokens (default: the engine's "
                                                "own: 4096 for llama-cpp-python, llama-server's fitted context, "
                                                "Ollama's by GPU memory, vLLM's the model's)")
    parser.add_argument("--concurrency", type=int, help="sequences served at once: the engine's parallel slots "
                                                        "(default: the engine's own; llama-server: 4 automatic)")
    parser.add_argument("--kv-type", help="KV cache type: f16 (default), q8_0, q4_0, bf16, f32, ...; vLLM: auto, fp8")
    parser.add_argument("--flash-attn", choices=FLASH_ATTN_CHOICES, help="flash attention (llama.cpp engines; "
                                                                         "default: the engine's)")
    dev = parser.add_mutually_exclusive_group()
    dev.add_argument("--gpu", help="a device from the hardware catalogue, e.g. 'RTX 4090', 'Apple M4 Max 128GB'")
    dev.add_argument("--vram-gb", type=float, help="memory of a device not in the catalogue, in GB (1e9 bytes)")
    parser.add_argument("--gpu-memory-utilization", type=float,
                        help="vLLM only: the share of the GPU's total memory it takes (default: the version's)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--list", action="store_true", help="list catalogue models, devices and engines, then exit")


def _print_table(est, out, device) -> None:
    from course_lib.sizing import budget_rule
    from course_lib.units import format_bytes

    weights = "the file's own tensors" if est.quant == "file" else est.quant
    shared = est.engine_settings.get("kv_unified") and est.concurrency > 1
    sequences = (f"{est.concurrency} slots sharing {est.n_ctx:,} tokens" if shared
                 else f"{est.concurrency} x {est.n_ctx:,} tokens")
    print(f"{est.model} ({weights}, {est.params / 1e9:.2f}B parameters), {sequences}, KV {est.kv_type}")
    print(f"  engine: {est.settings_line}")
    vllm = est.kv_pool_tokens is not None
    rows = [("weights", "weights_bytes"), ("KV cache (the pool vLLM pre-allocates)" if vllm else "KV cache",
                                           "kv_cache_bytes")]
    rows += ([("activation peak + CUDA graphs", "overhead_bytes")] if vllm
             else [("overhead (compute + output buffers)", "overhead_bytes")])
    for label, key in rows + [("total", "total_bytes")]:
        print(f"  {label:38s} {format_bytes(out[key])}")
    windowed = vllm and "sliding" in est.engine_settings["kv_cache_groups"]
    print(f"  KV per token: {est.kv_bytes_per_token:,} bytes"
          + (" (every layer, until the sliding-window layers reach their window)" if windowed else ""))
    if vllm:
        print(f"  KV pool: {est.kv_pool_tokens:,} tokens; maximum concurrency for {est.n_ctx:,} tokens per request: "
              f"{est.max_concurrency_x:.2f}x")
        s = est.engine_settings
        print(f"  KV cache groups: {s['kv_cache_groups']}; one request of {est.n_ctx:,} tokens holds "
              f"{s['kv_blocks_per_request']:,} blocks, {format_bytes(s['kv_bytes_per_request'])}, of the pool's "
              f"{s['kv_blocks']:,}")
        print(f"  the {est.concurrency} x {est.n_ctx:,} tokens asked for need {format_bytes(est.need_bytes)} of it "
              "(weights, activations, CUDA graphs and their KV)")
    if out["model_max_context"] and est.n_ctx > out["model_max_context"]:
        print(f"  note: the model was trained for {out['model_max_context']:,} tokens; longer contexts degrade")
    if device is None:
        return
    print(f"  device {device.name}: {format_bytes(device.memory_bytes)}; model may use "
          f"{format_bytes(out['budget_bytes'])} ({budget_rule(est, device)})")
    print(f"  verdict: {'FITS' if out['fits'] else 'DOES NOT FIT'}; largest context {out['max_context']:,} tokens, "
          f"largest concurrency {out['max_concurrency']} at {est.n_ctx:,} tokens")
    if out["decode_tok_s_bound"]:
        print(f"  decode speed bound: {out['decode_tok_s_bound']:.0f} tokens/s (bandwidth / bytes read per token)")


def run(args) -> int:
    import json

    from course_lib.errors import CourseError, require_positive
    from course_lib.sizing import (ENGINES, VLLM_ONLY_KEYS, custom_device, decode_tok_s_bound, engine_context,
                                   engine_versions, estimate, fit_answer, get_device, get_profile, list_devices,
                                   list_models)

    if args.list:
        print("models:  " + ", ".join(list_models()))
        print("devices: " + ", ".join(d.name for d in list_devices()))
        print("engines: " + "; ".join(f"{e} {', '.join(engine_versions(e))}" for e in ENGINES))
        return 0
    if not args.model:
        raise CourseError("name a model: a catalogue name, a .gguf file or a config.json (see --list)")
    profile = get_profile(args.engine, args.engine_version)
    if args.ctx is not None:
        require_positive("--ctx", args.ctx)
    if args.concurrency is not None:
        require_positive("--concurrency", args.concurrency)
    options = {}
    if args.gpu_memory_utilization is not None:
        if "gpu_memory_utilization" not in profile.defaults:
            raise CourseError(f"{profile.label} has no --gpu-memory-utilization (that is vLLM's)")
        options["gpu_memory_utilization"] = args.gpu_memory_utilization
    if args.flash_attn is not None and profile.engine == "vllm":
        raise CourseError("vLLM has no --flash-attn setting: it always runs a flash-attention kernel")
    device = None
    if args.gpu:
        device = get_device(args.gpu)
    elif args.vram_gb is not None:
        require_positive("--vram-gb", args.vram_gb)
        device = custom_device(args.vram_gb)  # bandwidth unknown for a bare size: no speed bound
    kw = dict(engine=profile, device=device, flash_attn=args.flash_attn, **options)
    n_ctx = args.ctx
    if n_ctx is None:
        n_ctx = engine_context(estimate(args.model, args.quant, 4096, args.concurrency, args.kv_type, **kw), device)
    est = estimate(args.model, args.quant, n_ctx, args.concurrency, args.kv_type, **kw)
    out = {k: v for k, v in est.to_dict().items() if v is not None or k not in VLLM_ONLY_KEYS}
    out["model_max_context"] = est.arch.max_context if est.arch else None
    if device is not None:
        answer = fit_answer(est, device)
        out.update({
            "device": device.name, "device_memory_bytes": device.memory_bytes,
            "budget_bytes": answer.budget_bytes, "fits": answer.fits,
            "max_context": answer.max_context, "max_concurrency": answer.max_concurrency,
            "decode_tok_s_bound": decode_tok_s_bound(est, device) if device.bandwidth_bytes_per_s else None,
        })
    if args.json:
        print(json.dumps(out))
        return 0
    _print_table(est, out, device)
    if str(args.model).lower().endswith(".gguf") and est.quant != "file":
        print("  (a what-if: the file's tensors requantized)")
    return 0
