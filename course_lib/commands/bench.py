"""`llm-course bench`: streamed benchmark of any OpenAI-compatible endpoint, closed or open loop (notebook 06)."""

HELP = "benchmark an OpenAI-compatible endpoint: TTFT, ITL, TPOT, latency tails, tokens/s, goodput"


def add_arguments(parser):
    parser.add_argument("--base-url", help="the endpoint, e.g. http://127.0.0.1:8080/v1")
    parser.add_argument("--model", help="model name to request (default: the server's first model)")
    parser.add_argument("--concurrency", help="closed loop: comma-separated numbers of workers, each sending its "
                                              "next request when the last ends (default 1,2,4,8)")
    parser.add_argument("--request-rate", help="open loop instead: comma-separated requests per second, sent "
                                               "whether or not earlier ones have finished")
    parser.add_argument("--arrivals", default="poisson", choices=("poisson", "constant"),
                        help="open loop: random (Poisson) or evenly spaced arrivals (default poisson)")
    parser.add_argument("--max-concurrency", type=int, help="open loop: at most this many requests in flight")
    parser.add_argument("--requests", type=int, default=8, help="requests per level (default 8)")
    parser.add_argument("--max-tokens", type=int, default=32, help="tokens to generate per request (default 32)")
    parser.add_argument("--input-tokens", type=int,
                        help="prompts of exactly this many tokens, cut from the course text (default: 8 short "
                             "fixed prompts)")
    parser.add_argument("--endpoint", default="completions", choices=("completions", "chat"),
                        help="/v1/completions (default) or /v1/chat/completions")
    parser.add_argument("--slo", help="service-level objectives in seconds for goodput, e.g. ttft=0.5,tpot=0.05 "
                                      "(also e2e)")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted warm-up requests (default 1)")
    parser.add_argument(
        "--seed", type=int, default=1234, help="base sampling seed; request i uses seed+i (default 1234)"
    )
    parser.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (default 0)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before a request counts as timed out")
    parser.add_argument("--api-key", help="bearer token, if the server wants one")
    parser.add_argument("--save-trace", metavar="FILE.jsonl", help="write every request (send time, chunk times, "
                                                                   "tokens, error) to this file")
    parser.add_argument("--from-trace", metavar="FILE.jsonl", help="recompute every figure from a saved trace "
                                                                   "instead of measuring (no server needed)")
    parser.add_argument("--json", action="store_true", help="print JSON, one record per level, instead of a table")


def run(args) -> int:
    import sys

    from course_lib.bench.harness import bench_sync, resolve_model, summaries_to_json
    from course_lib.bench.stats import format_table, parse_slo
    from course_lib.bench.trace import read_trace, summaries_from_trace
    from course_lib.bench.workload import load_levels
    from course_lib.errors import CourseError, require_positive

    slo = parse_slo(args.slo)
    if args.from_trace:
        if args.base_url:
            raise CourseError("--from-trace recomputes a saved run: leave out --base-url")
        summaries = summaries_from_trace(args.from_trace, slo)
        run_info = read_trace(args.from_trace)["levels"][0][2].get("run", {})
        base_url, model, max_tokens = run_info.get("base_url"), run_info.get("model"), run_info.get("max_tokens")
    else:
        if not args.base_url:
            raise CourseError("give --base-url (a server to measure) or --from-trace (a saved run to recompute)")
        concurrency = args.concurrency if args.concurrency or args.request_rate else "1,2,4,8"
        load_levels(concurrency, args.request_rate, args.arrivals, args.max_concurrency)  # bad flags: one line
        require_positive("--requests", args.requests)
        require_positive("--max-tokens", args.max_tokens)
        require_positive("--timeout", args.timeout)
        if args.input_tokens is not None:
            require_positive("--input-tokens", args.input_tokens)
        model = resolve_model(args.base_url, args.model, args.api_key)  # dead endpoint: one line, exit 2
        base_url, max_tokens = args.base_url, args.max_tokens
        summaries = bench_sync(base_url, model, concurrency, requests=args.requests, max_tokens=max_tokens,
                               warmup=args.warmup, seed=args.seed, temperature=args.temperature,
                               timeout_s=args.timeout, api_key=args.api_key,
                               progress=sys.stderr.isatty() or not args.json, request_rate=args.request_rate,
                               arrivals=args.arrivals, max_concurrency=args.max_concurrency, slo=slo,
                               input_tokens=args.input_tokens, endpoint=args.endpoint, save_trace=args.save_trace)
    if args.json:
        print(summaries_to_json(summaries, base_url=base_url, model=model, max_tokens=max_tokens))
        for warning in (w for s in summaries for w in s.warnings):
            print(f"llm-course bench: warning: {warning}", file=sys.stderr)
    else:
        print(format_table(summaries, title=f"{model} at {base_url}, max_tokens={max_tokens}, "
                                            f"output tokens from: {summaries[0].tokens_source}"))
        for s in summaries:
            if s.errors:
                print(f"{s.mode} loop, level {s.concurrency if s.mode == 'closed' else s.request_rate}: "
                      f"{s.errors} of {s.requests} requests failed {s.error_kinds}")
    return 1 if any(s.errors == s.requests for s in summaries) else 0
