"""`llm-course serve`: an OpenAI-compatible server on 127.0.0.1 until Ctrl-C."""

HELP = "serve the model in use through an OpenAI-compatible API on 127.0.0.1 (Ctrl-C stops it)"


def add_arguments(parser):
    parser.add_argument("--port", type=int, default=8080, help="TCP port (default 8080, llama-server's)")
    parser.add_argument("--model", help="a GGUF file (default: the model in use)")
    parser.add_argument("--n-ctx", type=int, default=2048, help="context window in tokens (default 2048)")
    parser.add_argument(
        "--chat-format",
        default="gemma",
        help="llama-cpp-python chat format; the default model's GGUF carries no template (default: gemma)",
    )
    parser.add_argument("--api-key", help="require this bearer token from clients")


def run(args) -> int:
    from course_lib.errors import require_positive
    from course_lib.runtime.server import LlamaCppPythonServer, run_in_foreground

    require_positive("--n-ctx", args.n_ctx)
    server = LlamaCppPythonServer(args.model, port=args.port, n_ctx=args.n_ctx, chat_format=args.chat_format,
                                  api_key=args.api_key)
    return run_in_foreground(server, lambda s: f"serving {s.model.name} at {s.base_url} (model name: {s.model_alias}); "
                                               "Ctrl-C to stop")
