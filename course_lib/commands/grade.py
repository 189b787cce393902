"""`llm-course grade`: grade a folder of submitted exercise notebooks into one CSV.

Each submission's code runs in a kernel of its own, with limits (and in a
bubblewrap sandbox with --sandbox); the tests and their verdicts stay in the
grader's process (course_lib/grading/grader.py).
"""

HELP = "grade submitted exercise notebooks (each in its own limited kernel, visible + hidden tests) into a CSV"

def add_arguments(parser):
    from course_lib.grading.session import Limits

    limits = Limits()
    parser.add_argument("submissions", help="folder of submitted .ipynb files (searched recursively)")
    parser.add_argument("--out", required=True, help="CSV to write: one row per submission, a column per question")
    parser.add_argument("--timeout", type=float, default=60, help="seconds each cell may run (default 60)")
    parser.add_argument("--test-timeout", type=float, default=60,
                        help="seconds each call of a learner's function may run in a test (default 60)")
    parser.add_argument("--feedback", help="folder to write one feedback file per student into")
    parser.add_argument("--jobs", type=int, default=None,
                        help="submissions graded at once, each in its own kernel (default: usable cores, at most 4)")
    parser.add_argument("--hidden", help="folder of hidden tests NN.py (default: the repository's grading_hidden/)")
    parser.add_argument("--memory-limit-gb", type=float, default=limits.memory_bytes / 2**30,
                        help="address space each submission's process may map, in GiB (default "
                             f"{limits.memory_bytes / 2**30:g}; the model is mapped, not copied)")
    parser.add_argument("--cpu-limit", type=float, default=limits.cpu_seconds,
                        help=f"CPU seconds each submission's kernel may use in all (default {limits.cpu_seconds})")
    parser.add_argument("--file-limit-mb", type=float, default=limits.file_bytes / 2**20,
                        help=f"largest file a submission may write, in MiB (default {limits.file_bytes / 2**20:g})")
    parser.add_argument("--sandbox", action="store_true",
                        help="run each kernel in a bubblewrap sandbox: the filesystem read-only but its own folder, "
                             "the hidden tests out of sight, no network, its own process ids (needs `bwrap`)")


def run(args) -> int:
    from pathlib import Path

    from course_lib.errors import require_positive
    from course_lib.grading.grader import grade_folder
    from course_lib.grading.session import Limits

    require_positive("--timeout", args.timeout)
    require_positive("--test-timeout", args.test_timeout)
    require_positive("--memory-limit-gb", args.memory_limit_gb)
    require_positive("--cpu-limit", args.cpu_limit)
    require_positive("--file-limit-mb", args.file_limit_mb)
    from course_lib.runtime.machine import usable_cores

    jobs = args.jobs if args.jobs is not None else min(4, usable_cores())
    require_positive("--jobs", jobs)
    limits = Limits(int(args.memory_limit_gb * 2**30), max(1, round(args.cpu_limit)), int(args.file_limit_mb * 2**20))
    results = grade_folder(Path(args.submissions), Path(args.out), args.feedback, args.timeout, args.test_timeout,
                           args.hidden, jobs=jobs, limits=limits, sandbox=args.sandbox)
    for r in results:
        points = f"{r.total:g}" if r.chapter else "-"
        print(f"{r.student}: {points}" + (f"  ({'; '.join(r.notes)})" if r.notes else ""))
    print(
        f"{len(results)} submission(s) graded -> {args.out}"
        + (f", feedback in {args.feedback}" if args.feedback else "")
    )
    return 0
