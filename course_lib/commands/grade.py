"""`llm-course grade`: grade a folder of submitted exercise notebooks into one CSV."""

HELP = "grade submitted exercise notebooks (each in its own kernel, visible + hidden tests) into a CSV"


def add_arguments(parser):
    parser.add_argument("submissions", help="folder of submitted .ipynb files (searched recursively)")
    parser.add_argument("--out", required=True, help="CSV to write: one row per submission, a column per question")
    parser.add_argument("--timeout", type=float, default=60, help="seconds each cell may run (default 60)")
    parser.add_argument("--test-timeout", type=float, default=60, help="seconds each test may run (default 60)")
    parser.add_argument("--feedback", help="folder to write one feedback file per student into")
    parser.add_argument("--jobs", type=int, default=None,
                        help="submissions graded at once, each in its own kernel (default: usable cores, at most 4)")
    parser.add_argument("--hidden", help="folder of hidden tests NN.py (default: the repository's grading_hidden/)")


def run(args) -> int:
    from pathlib import Path

    from course_lib.errors import require_positive
    from course_lib.grading.grader import grade_folder

    require_positive("--timeout", args.timeout)
    require_positive("--test-timeout", args.test_timeout)
    from course_lib.runtime.machine import usable_cores

    jobs = args.jobs if args.jobs is not None else min(4, usable_cores())
    require_positive("--jobs", jobs)
    results = grade_folder(Path(args.submissions), Path(args.out), args.feedback, args.timeout, args.test_timeout,
                           args.hidden, jobs=jobs)
    for r in results:
        points = f"{r.total:g}" if r.chapter else "-"
        print(f"{r.student}: {points}" + (f"  ({'; '.join(r.notes)})" if r.notes else ""))
    print(
        f"{len(results)} submission(s) graded -> {args.out}"
        + (f", feedback in {args.feedback}" if args.feedback else "")
    )
    return 0
