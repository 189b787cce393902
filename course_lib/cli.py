"""`llm-course`: the course's command-line tool.

Each subcommand lives in its own module under `course_lib.commands` and
provides `HELP`, `add_arguments(parser)` and `run(args) -> int`. Modules are
discovered, so adding a command never touches this file. Heavy imports belong
inside `run()`, so `llm-course --help` stays instant.

Bad input (a `CourseError`) is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from course_lib.errors import EXIT_BAD_INPUT, CourseError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own errors: same one-line shape, exit 2
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _command_modules():
    import course_lib.commands as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            # A trailing underscore keeps a keyword out of the module name: commands/class_.py is `class`.
            yield info.name.rstrip("_").replace("_", "-"), importlib.import_module(f"{package.__name__}.{info.name}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="llm-course", description="Run, size, quantize, serve and benchmark LLMs on your own machine."
    )
    from course_lib import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module in _command_modules():
        command_parser = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command_parser)
        command_parser.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return int(args._run(args) or 0)
    except CourseError as exc:
        print(f"llm-course {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"llm-course {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
