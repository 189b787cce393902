"""llm-course quantize IN.gguf OUT.gguf --type Q4_0: requantize with course_lib's own code (notebook 02)."""

HELP = "requantize a GGUF with the course's from-scratch numpy quantizers"

TYPES = ("Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q6_K")


def add_arguments(parser):
    parser.add_argument("input", help="source GGUF file")
    parser.add_argument("output", help="GGUF file to write")
    parser.add_argument("--type", required=True, type=str.upper, choices=TYPES, help="target block type")


def run(args) -> int:
    import collections
    import os

    from course_lib.quant.requantize import requantize
    from course_lib.units import format_bytes

    plans = requantize(args.input, args.output, args.type)
    counts = collections.Counter(p.target_type for p in plans)
    print("tensors by type:", ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    print(f"wrote {args.output}: {format_bytes(os.path.getsize(args.output))}")
    return 0
