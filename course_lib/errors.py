"""One exception type for every mistake a user can make.

The command line and the notebooks show a `CourseError` as a single line: what
is wrong and how to fix it. Anything else is a bug in the course.
"""


class CourseError(Exception):
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
