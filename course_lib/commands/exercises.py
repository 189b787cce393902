"""`llm-course exercises`: regenerate exercises/ from solutions/, or (--check) fail listing any drift."""

HELP = "regenerate exercises/ from solutions/ (--check: change nothing, fail if they drifted apart)"


def add_arguments(parser):
    parser.add_argument("--solutions", default="solutions", help="folder of solution notebooks (default: solutions)")
    parser.add_argument("--exercises", default="exercises", help="folder to write exercises to (default: exercises)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 listing every exercise out of sync")


def run(args) -> int:
    import sys
    from pathlib import Path

    from course_lib.errors import CourseError
    from course_lib.grading.generate import drift, generate

    solutions = Path(args.solutions)
    if not solutions.is_dir():
        raise CourseError(f"solutions folder not found: {solutions} (run from the course's root or pass --solutions)")
    if args.check:
        problems = drift(solutions, Path(args.exercises))
        for problem in problems:
            print(f"out of sync: {problem}", file=sys.stderr)
        if problems:
            print("run `llm-course exercises` to regenerate them", file=sys.stderr)
            return 1
        print(f"exercises/ is in sync with {solutions}/")
        return 0
    changed = generate(solutions, Path(args.exercises))
    print(
        f"{len(changed)} exercise notebook(s) written" + (": " + ", ".join(changed) if changed else " (all up to date)")
    )
    return 0
