"""One exception type for every mistake a user can make, and one exit code for it.

The command line and the notebooks show a `CourseError` as a single line: what
is wrong and how to fix it. Anything else is a bug in the course. It is a
`ValueError`, so code that promises "ValueError on bad input" (the quantizers,
like numpy's own functions) and the rest of the course keep one contract.
"""

# Every `llm-course` command exits with this code on bad input (argparse's own convention).
EXIT_BAD_INPUT = 2


class CourseError(ValueError):
    """A user-facing problem: bad input, a missing file, an unreachable server."""

    def __init__(self, message: str):
        # Keep it on one line: the CLI prints it as `llm-course: error: <message>`.
        super().__init__(" ".join(str(message).split()))


def require_positive(name: str, value, *, allow_zero: bool = False):
    """Return `value` if it is a positive number, else raise a CourseError naming it."""
    try:
        ok = value >= 0 if allow_zero else value > 0
    except TypeError:
        raise CourseError(f"{name} must be a number, got {value!r}") from None
    if not ok or value != value:  # value != value catches NaN
        bound = "zero or more" if allow_zero else "greater than zero"
        raise CourseError(f"{name} must be {bound}, got {value!r}")
    return value


def require_fraction(name: str, value, *, include_zero: bool = False, include_one: bool = True):
    """Return `value` if it lies in (0, 1] (bounds adjustable), else raise a CourseError naming it."""
    try:
        ok = (value >= 0 if include_zero else value > 0) and (value <= 1 if include_one else value < 1)
    except TypeError:
        raise CourseError(f"{name} must be a number, got {value!r}") from None
    if not ok:
        low, high = "[0" if include_zero else "(0", "1]" if include_one else "1)"
        raise CourseError(f"{name} must be in {low}, {high}, got {value!r}")
    return value
