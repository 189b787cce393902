"""`llm-course fit`: will a model fit a device? Weights, KV cache, overhead, verdict and a speed bound."""

HELP = "Memory a model needs (catalogue name, GGUF file or config.json) and whether it fits a device"


def add_arguments(parser):
    parser.add_argument("model", nargs="?", help="a catalogue name, a .gguf file or a Hugging Face config.json")
    parser.add_argument(
        "--quant",
        help="GGUF preset or type (Q4_K_M, Q8_0, F16, ...) or AWQ/GPTQ/FP8; default Q4_K_M, "
        "or a GGUF file's own tensors (with a file, --quant asks: what if requantized?)",
    )
    parser.add_argument("--ctx", type=int, default=4096, help="context length per sequence, in tokens (default 4096)")
    parser.add_argument("--concurrency", type=int, default=1, help="sequences served at once (default 1)")
    parser.add_argument("--kv-type", default="f16", help="KV cache type: f16 (default), q8_0, q4_0, bf16, f32, ...")
    dev = parser.add_mutually_exclusive_group()
    dev.add_argument("--gpu", help="a device from the hardware catalogue, e.g. 'RTX 4090', 'Apple M4 Max 128GB'")
    dev.add_argument("--vram-gb", type=float, help="memory of a device not in the catalogue, in GB (1e9 bytes)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--list", action="store_true", help="list catalogue models and devices, then exit")


def run(args) -> int:
    import json

    from course_lib.errors import CourseError, require_positive
    from course_lib.sizing import (CUDA_CONTEXT_BYTES, custom_device, decode_tok_s_bound, estimate, fit_answer,
                                   get_device, list_devices, list_models)
    from course_lib.units import format_bytes

    if args.list:
        print("models:  " + ", ".join(list_models()))
        print("devices: " + ", ".join(d.name for d in list_devices()))
        return 0
    if not args.model:
        raise CourseError("name a model: a catalogue name, a .gguf file or a config.json (see --list)")
    require_positive("--ctx", args.ctx)
    require_positive("--concurrency", args.concurrency)
    device = None
    if args.gpu:
        device = get_device(args.gpu)
    elif args.vram_gb is not None:
        require_positive("--vram-gb", args.vram_gb)
        device = custom_device(args.vram_gb)  # bandwidth unknown for a bare size: no speed bound
    est = estimate(args.model, args.quant, args.ctx, args.concurrency, args.kv_type)
    out = est.to_dict()
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
    weights = "the file's own tensors" if est.quant == "file" else est.quant
    if est.quant != "file" and str(args.model).lower().endswith(".gguf"):
        weights += " (a what-if: the file's tensors requantized)"
    print(f"{est.model} ({weights}, {est.params / 1e9:.2f}B parameters), {est.concurrency} x {est.n_ctx:,} tokens, "
          f"KV {est.kv_type}")
    for label, key in (("weights", "weights_bytes"), ("KV cache", "kv_cache_bytes"),
                       ("overhead (compute + output buffers)", "overhead_bytes"), ("total", "total_bytes")):
        print(f"  {label:38s} {format_bytes(out[key])}")
    print(f"  KV per token: {est.kv_bytes_per_token:,} bytes")
    if out["model_max_context"] and est.n_ctx > out["model_max_context"]:
        print(f"  note: the model was trained for {out['model_max_context']:,} tokens; longer contexts degrade")
    if device is not None:
        extra = f" + CUDA context {format_bytes(CUDA_CONTEXT_BYTES)}" if device.kind == "gpu" else ""
        print(
            f"  device {device.name}: {format_bytes(device.memory_bytes)}; "
            f"model may use {format_bytes(out['budget_bytes'])}"
            f" (10% headroom{extra})"
        )
        print(f"  verdict: {'FITS' if out['fits'] else 'DOES NOT FIT'}; largest context {out['max_context']:,} tokens, "
              f"largest concurrency {out['max_concurrency']} at {est.n_ctx:,} tokens")
        if out["decode_tok_s_bound"]:
            print(f"  decode speed bound: {out['decode_tok_s_bound']:.0f} tokens/s (bandwidth / bytes read per token)")
    return 0
