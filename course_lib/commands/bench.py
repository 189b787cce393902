"""`llm-course bench`: streamed, concurrent benchmark of any OpenAI-compatible endpoint (notebook 06)."""

HELP = "benchmark an OpenAI-compatible endpoint at several concurrency levels (TTFT, ITL, tokens/s)"


def add_arguments(parser):
    parser.add_argument("--base-url", required=True, help="the endpoint, e.g. http://127.0.0.1:8080/v1")
    parser.add_argument("--model", help="model name to request (default: the server's first model)")
    parser.add_argument("--concurrency", default="1,2,4,8", help="comma-separated levels (default 1,2,4,8)")
    parser.add_argument("--requests", type=int, default=8, help="requests per level (default 8)")
    parser.add_argument("--max-tokens", type=int, default=32, help="tokens to generate per request (default 32)")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted warm-up requests (default 1)")
    parser.add_argument(
        "--seed", type=int, default=1234, help="base sampling seed; request i uses seed+i (default 1234)"
    )
    parser.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (default 0)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before a request counts as timed out")
    parser.add_argument("--api-key", help="bearer token, if the server wants one")
    parser.add_argument("--json", action="store_true", help="print JSON, one record per level, instead of a table")


def run(args) -> int:
    import sys

    from course_lib.bench.harness import bench_sync, parse_concurrency, resolve_model, summaries_to_json
    from course_lib.bench.stats import format_table
    from course_lib.errors import require_positive

    levels = parse_concurrency(args.concurrency)
    require_positive("--requests", args.requests)
    require_positive("--max-tokens", args.max_tokens)
    require_positive("--timeout", args.timeout)
    model = resolve_model(args.base_url, args.model, args.api_key)  # dead endpoint: one line, exit 2
    summaries = bench_sync(args.base_url, model, levels, requests=args.requests, max_tokens=args.max_tokens,
                           warmup=args.warmup, seed=args.seed, temperature=args.temperature,
                           timeout_s=args.timeout, api_key=args.api_key, progress=sys.stderr.isatty() or not args.json)
    if args.json:
        print(summaries_to_json(summaries, base_url=args.base_url, model=model, max_tokens=args.max_tokens))
    else:
        print(format_table(summaries, title=f"{model} at {args.base_url}, max_tokens={args.max_tokens}, "
                                                   f"output tokens from: {summaries[0].tokens_source}"))
        for s in summaries:
            if s.errors:
                print(f"concurrency {s.concurrency}: {s.errors} of {s.requests} requests failed {s.error_kinds}")
    return 1 if any(s.errors == s.requests for s in summaries) else 0
