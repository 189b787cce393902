"""`llm-course app`: the calculators as a standalone web page on 127.0.0.1 until Ctrl-C."""

HELP = ("serve the course's calculators (will it fit, KV cache, quantization, GPU choice, offload, cost) as a web page "
        "on 127.0.0.1 (Ctrl-C stops it)")


def add_arguments(parser):
    parser.add_argument("--port", type=int, default=8866, help="TCP port (default 8866, Voilà's; 0 picks a free one)")
    parser.add_argument("--no-token", action="store_true",
                        help="serve without the random access token (anyone on this machine can open the page)")


def run(args) -> int:
    from course_lib.runtime.server import check_port
    from course_lib.widgets.app import serve

    port = None if args.port == 0 else check_port(args.port)
    return serve(port=port, token="" if args.no_token else None)
