"""llm-course quantize IN.gguf OUT.gguf --type Q4_K_M: requantize with course_lib's own code (notebook 02)."""

HELP = "requantize a GGUF with the course's from-scratch numpy quantizers (a type or a llama.cpp preset)"

TYPES = ("Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_K", "Q5_1", "Q5_0", "Q4_K_M", "Q4_K_S", "Q4_K", "Q4_1", "Q4_0",
         "IQ4_NL", "Q3_K_L", "Q3_K_M", "Q3_K_S", "Q3_K", "Q2_K")


def add_arguments(parser):
    parser.add_argument("input", help="source GGUF file")
    parser.add_argument("output", help="GGUF file to write")
    parser.add_argument("--type", required=True, type=str.upper, choices=TYPES,
                        help="a block type, or a llama.cpp preset (per-tensor mix) such as Q4_K_M")
    matrix = parser.add_mutually_exclusive_group()
    matrix.add_argument("--imatrix", metavar="FILE", help="an importance matrix in llama-imatrix's GGUF format")
    matrix.add_argument("--calibrate", metavar="TEXT", nargs="?", const="",
                        help="measure an importance matrix first, with the input model reading TEXT (a UTF-8 file; "
                             "default: the course text), and save it as OUT.imatrix.gguf")
    parser.add_argument("--reencode", action="store_true",
                        help="quantize again the tensors already of their target type (llama.cpp copies them)")
    parser.add_argument("--compare", metavar="FILE", nargs="?", const="",
                        help="compare the result with FILE (default: the input) tensor by tensor: types and bytes")


def run(args) -> int:
    import collections
    import os
    from pathlib import Path

    from course_lib.errors import CourseError
    from course_lib.quant.requantize import compare_files, requantize
    from course_lib.units import format_bytes

    imatrix = args.imatrix
    if args.calibrate is not None:
        from course_lib.quant.imatrix import collect_imatrix

        text = None
        if args.calibrate:
            try:
                text = Path(args.calibrate).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise CourseError(f"cannot read the calibration text {args.calibrate}: {exc}") from None
        collected = collect_imatrix(args.input, text, dataset=args.calibrate or "course_lib/data/perplexity_text.txt")
        imatrix = collected.save(Path(args.output).with_suffix(".imatrix.gguf"))
        print(f"importance matrix: {len(collected.sums)} matrices, {collected.chunks} chunks of "
              f"{collected.chunk_size} tokens, saved to {imatrix}")
    plans = requantize(args.input, args.output, args.type, imatrix=imatrix, reencode=args.reencode)
    counts = collections.Counter((p.target_type, p.action) for p in plans)
    types = sorted({t for t, _ in counts})
    print("tensors by type:", "; ".join(
        f"{t}: " + ", ".join(f"{counts[t, a]} {a}" for a in ("requantized", "copied") if counts[t, a])
        for t in types))
    print(f"wrote {args.output}: {format_bytes(os.path.getsize(args.output))}")
    if args.compare is not None:
        other = args.compare or args.input
        rows = compare_files(other, args.output)
        same_type = [r for r in rows if r.same_type]
        same_bytes = [r for r in rows if r.same_bytes]
        print(f"compared with {other}, tensor by tensor: {len(same_type)}/{len(rows)} of the same type, "
              f"{len(same_bytes)}/{len(rows)} byte for byte identical")
        for r in rows:
            if not r.same_bytes:
                print(f"  {r.name}: {r.type_a} -> {r.type_b}" + ("" if r.same_type else " (another type)"))
    return 0
