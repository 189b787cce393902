"""`llm-course model`: print the path of the GGUF the course runs on."""

HELP = "print the path of the model in use (assembling the default model on first use)"


def add_arguments(parser):
    parser.add_argument(
        "--model", help="a GGUF file to use instead (default: $LLM_COURSE_MODEL, else Gemma 3 270M Q4_K_M)"
    )


def run(args) -> int:
    from course_lib.runtime.models import model_path

    print(model_path(args.model, progress=True))
    return 0
